"""One model for Amazon reviews and item metadata, whatever the release (2014, 2018, 2023).

``parse_review`` / ``parse_item`` take one decoded JSON object and return the model or raise
:class:`RecordError` naming the field and the reason. Cleaning of scraped fields (HTML fragments,
entities, markup-only titles) happens here, once.
"""

from __future__ import annotations

import html
import json
import math
import re
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

_TAG = re.compile(r"<[^>]*>")
_SPACE = re.compile(r"\s+")
_MAX_TEXT = 20_000  # characters kept of a review body; longer ones are truncated, not rejected
_INT64 = 2**63 - 1  # the graph stores integers as 64-bit: a larger one fails in the driver, not here


class RecordError(ValueError):
    """A record that cannot become a review or item; the message names the field and the reason."""


def clean_text(value: Any, *, max_len: int = _MAX_TEXT) -> str | None:
    """Unescape entities, drop HTML tags and collapse spaces; empty → None."""
    if value is None:
        return None
    if isinstance(value, list):
        value = " ".join(str(v) for v in value if v)
    text = value if isinstance(value, str) else str(value)
    # each step only where it can change something: most fields have no entity, tag or odd space, and
    # these tests cost a tenth of the regular expressions (ingestion spends most of its parsing time here)
    if "&" in text:
        text = html.unescape(text)
    if "<" in text:
        text = _TAG.sub(" ", text)
    # a printable text holds no whitespace but the ASCII space, so without "  " there is nothing to collapse
    if "  " in text or not text.isprintable():
        text = _SPACE.sub(" ", text)
    return text.strip()[:max_len] or None


def _require(obj: dict[str, Any], *names: str) -> tuple[str, Any]:
    for n in names:
        if n in obj and obj[n] is not None:
            return n, obj[n]
    raise RecordError(f"missing field {' / '.join(repr(n) for n in names)}")


def _str_id(obj: dict[str, Any], *names: str) -> str:
    name, value = _require(obj, *names)
    if not isinstance(value, str) or not value.strip():
        raise RecordError(f"field {name!r}: expected a non-empty string, got {type(value).__name__}")
    _check_unicode(name, value)
    return value.strip()


def _check_unicode(name: str, value: str | None) -> None:
    """A lone surrogate ("\\ud800", which JSON allows) cannot be sent to the graph as UTF-8."""
    if value is None or value.isascii():
        return
    try:
        value.encode("utf-8")
    except UnicodeEncodeError as e:
        raise RecordError(
            f"field {name!r}: not valid Unicode (a lone surrogate at character {e.start})"
        ) from None


def _number(name: str, value: Any) -> float | int:
    """A JSON number the graph can store: finite, and an integer within 64 bits."""
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise RecordError(f"field {name!r}: expected a number, got {type(value).__name__}")
    if isinstance(value, float) and not math.isfinite(value):
        raise RecordError(f"field {name!r}: not a finite number: {value}")
    if isinstance(value, int) and abs(value) > _INT64:
        raise RecordError(f"field {name!r}: {value} is beyond a 64-bit integer")
    return value


def _votes(value: Any) -> int:
    """Helpful votes: 2018 gives "1,234", 2014 gives [helpful, total], 2023 an int."""
    if value is None or value == "":
        return 0
    if isinstance(value, list):
        value = value[0] if value else 0
    if isinstance(value, bool):
        raise RecordError(f"helpful votes: expected a number, got {value!r}")
    if isinstance(value, float) and not math.isfinite(value):
        raise RecordError(f"helpful votes: not a finite number: {value}")
    if isinstance(value, int | float):
        votes = int(value)
    else:
        try:
            votes = int(str(value).replace(",", "").strip())
        except ValueError:
            raise RecordError(f"helpful votes: not a number: {value!r}") from None
    if not 0 <= votes <= _INT64:
        raise RecordError(f"helpful votes: {votes} is not a count (0 up to a 64-bit integer)")
    return votes


@dataclass(frozen=True)
class Review:
    user_id: str
    asin: str
    rating: float
    time: int  # seconds since the epoch, UTC
    title: str | None = None
    text: str | None = None
    verified: bool | None = None
    helpful_votes: int = 0
    user_name: str | None = None

    @property
    def key(self) -> tuple[str, str, int]:
        # the 2018 release repeats one review for sibling variants: same user, item and time
        return (self.user_id, self.asin, self.time)

    def row(self) -> dict[str, Any]:
        return {
            "user_id": self.user_id,
            "asin": self.asin,
            "rating": self.rating,
            "time": self.time,
            "title": self.title,
            "text": self.text,
            "verified": self.verified,
            "helpful_votes": self.helpful_votes,
            "user_name": self.user_name,
        }


def parse_review(obj: Any) -> Review:
    if not isinstance(obj, dict):
        raise RecordError(f"expected a JSON object, got {type(obj).__name__}")
    if "user_id" in obj or "parent_asin" in obj:  # Amazon Reviews 2023
        user = _str_id(obj, "user_id")
        asin = _str_id(obj, "parent_asin", "asin")
        rating_name, rating = _require(obj, "rating")
        ts_name, ts = _require(obj, "timestamp")
        title, text = obj.get("title"), obj.get("text")
        verified, votes = obj.get("verified_purchase"), obj.get("helpful_vote")
        seconds_div = 1000  # 2023 timestamps are milliseconds
        name = None
    else:  # 2018 / 2014 5-core
        user = _str_id(obj, "reviewerID")
        asin = _str_id(obj, "asin")
        rating_name, rating = _require(obj, "overall")
        if obj.get("unixReviewTime") is not None:
            ts_name, ts = "unixReviewTime", obj["unixReviewTime"]
        elif obj.get("reviewTime"):
            ts_name, ts = "reviewTime", _parse_review_time(obj["reviewTime"])
        else:
            raise RecordError("missing field 'unixReviewTime' / 'reviewTime'")
        title, text = obj.get("summary"), obj.get("reviewText")
        verified, votes = obj.get("verified"), obj.get("vote", obj.get("helpful"))
        seconds_div = 1
        name = obj.get("reviewerName")
    if isinstance(rating, bool) or not isinstance(rating, int | float):
        raise RecordError(f"field {rating_name!r}: expected a number, got {type(rating).__name__}")
    # a comparison with NaN is false, so NaN fails the range test too
    if not (1 <= rating <= 5):
        raise RecordError(f"field {rating_name!r}: rating {rating} is outside 1..5")
    ts = _number(ts_name, ts)
    if ts < 0:
        raise RecordError(f"field {ts_name!r}: negative timestamp {ts}")
    seconds = int(ts // seconds_div)
    if seconds > _INT64:  # a float below 1.8e308 can still be beyond 64 bits
        raise RecordError(f"field {ts_name!r}: {ts} is beyond a 64-bit integer")
    if verified is not None and not isinstance(verified, bool):
        raise RecordError(f"verified flag: expected true/false, got {verified!r}")
    review = Review(
        user_id=user,
        asin=asin,
        rating=float(rating),
        time=seconds,
        title=clean_text(title, max_len=500),
        text=clean_text(text),
        verified=verified,
        helpful_votes=_votes(votes),
        user_name=clean_text(name, max_len=200),
    )
    for f in ("title", "text", "user_name"):
        _check_unicode(f, getattr(review, f))
    return review


def _parse_review_time(value: Any) -> int:
    try:
        dt = datetime.strptime(str(value).strip(), "%m %d, %Y").replace(tzinfo=UTC)
    except ValueError:
        raise RecordError(f"field 'reviewTime': not a date like '06 17, 2018': {value!r}") from None
    return int(dt.timestamp())


def _clean_category(name: Any) -> str | None:
    """A category path element; scraped junk (HTML, sentences ending in '.') is dropped."""
    if not isinstance(name, str) or "<" in name or ">" in name:
        return None
    text = clean_text(name, max_len=200)
    if not text or text.endswith("."):
        return None
    return text


def _asin_list(obj: dict[str, Any], name: str, label: str | None = None) -> list[str]:
    """The ASINs listed in ``obj[name]`` (``label``: the field's name in messages), sorted and distinct."""
    label = label or name
    value = obj.get(name) or []
    if not isinstance(value, list):
        raise RecordError(f"field {label!r}: expected a list of ASINs, got {type(value).__name__}")
    for k, v in enumerate(value):
        if not isinstance(v, str):
            raise RecordError(
                f"field {label!r}: element {k}: expected an ASIN string, got {type(v).__name__}"
            )
        _check_unicode(label, v)
    return sorted({v.strip() for v in value if v.strip()})


@dataclass(frozen=True)
class ItemMeta:
    asin: str
    title: str | None = None
    store: str | None = None
    main_category: str | None = None
    category_path: tuple[str, ...] = ()
    description: str | None = None
    features: str | None = None
    price: float | None = None
    details: str | None = None
    also_bought: list[str] = field(default_factory=list)
    also_viewed: list[str] = field(default_factory=list)
    bought_together: list[str] = field(default_factory=list)

    def row(self) -> dict[str, Any]:
        return {
            "asin": self.asin,
            "title": self.title,
            "main_category": self.main_category,
            "description": self.description,
            "features": self.features,
            "price": self.price,
            "details": self.details,
            "category_path": " > ".join(self.category_path) if self.category_path else None,
        }


def _price(value: Any) -> float | None:
    """A number, or a scraped "$1,234.56"; any other text (a range, "N/A") is no price."""
    if isinstance(value, int | float) and not isinstance(value, bool):
        if isinstance(value, int) and abs(value) > _INT64:
            raise RecordError(f"field 'price': {value} is beyond a 64-bit integer")
        price = float(value)
    else:
        m = re.fullmatch(r"\s*\$?\s*([0-9][0-9,]*(?:\.[0-9]+)?)\s*", str(value or ""))
        if not m:
            return None
        price = float(m.group(1).replace(",", ""))
    if not math.isfinite(price) or price < 0:
        raise RecordError(f"field 'price': {value!r} is not a price (a finite number, 0 or more)")
    return price


def _details(value: Any) -> str | None:
    """The details object as sorted JSON (keys trimmed of " :"); empty or absent → None."""
    if value is None or value == {} or value == "":
        return None
    if not isinstance(value, dict):
        raise RecordError(f"field 'details': expected an object, got {type(value).__name__}")
    for k in value:
        if not isinstance(k, str):
            raise RecordError(f"field 'details': key {k!r}: expected a string, got {type(k).__name__}")
    try:
        text = json.dumps({k.strip(" :\n"): v for k, v in value.items()}, ensure_ascii=False, sort_keys=True)
    except (TypeError, ValueError) as e:  # a set or bytes of a 2014 Python literal; a circular value
        raise RecordError(f"field 'details': not JSON ({e})") from None
    _check_unicode("details", text)
    return text


def _category_path(raw: Any, name: str) -> tuple[str, ...]:
    """A category path: a list of names, or (2014) a list of such lists whose first is the main one."""
    if raw is None or raw == []:
        return ()
    if not isinstance(raw, list):
        raise RecordError(f"field {name!r}: expected a list of category names, got {type(raw).__name__}")
    if isinstance(raw[0], list):
        raw = raw[0]
    for k, c in enumerate(raw):
        if c is not None and not isinstance(c, str):
            raise RecordError(
                f"field {name!r}: element {k}: expected a category name, got {type(c).__name__}"
            )
    return tuple(p for p in (_clean_category(c) for c in raw) if p)


def parse_item(obj: Any) -> ItemMeta:
    if not isinstance(obj, dict):
        raise RecordError(f"expected a JSON object, got {type(obj).__name__}")
    if "parent_asin" in obj:  # 2023
        asin = _str_id(obj, "parent_asin")
        path = _category_path(obj.get("categories"), "categories")
        store = obj.get("store")
        main = obj.get("main_category")
        also_bought: list[str] = []
        also_viewed: list[str] = []
        together = _asin_list(obj, "bought_together")
    else:  # 2018 / 2014
        asin = _str_id(obj, "asin")
        cat_name = "category" if obj.get("category") else "categories"
        path = _category_path(obj.get(cat_name), cat_name)
        store = obj.get("brand")
        main = obj.get("main_cat")
        also_bought = _asin_list(obj, "also_buy")
        also_viewed = _asin_list(obj, "also_view")
        related = obj.get("related")
        if related is None:
            related = {}
        if not isinstance(related, dict):
            raise RecordError(f"field 'related': expected an object, got {type(related).__name__}")
        also_bought = also_bought or _asin_list(related, "also_bought", "related.also_bought")
        together = _asin_list(related, "bought_together", "related.bought_together")
    item = ItemMeta(
        asin=asin,
        title=clean_text(obj.get("title"), max_len=500),
        store=clean_text(store, max_len=200),
        main_category=clean_text(main, max_len=200),
        category_path=path,
        description=clean_text(obj.get("description"), max_len=4000),
        features=clean_text(obj.get("feature") or obj.get("features"), max_len=4000),
        price=_price(obj.get("price")),
        details=_details(obj.get("details")),
        also_bought=[a for a in also_bought if a != asin],
        also_viewed=[a for a in also_viewed if a != asin],
        bought_together=[a for a in together if a != asin],
    )
    for f in ("title", "store", "main_category", "description", "features"):
        _check_unicode(f, getattr(item, f))
    for c in path:
        _check_unicode("category", c)
    return item


def category_rows(path: tuple[str, ...]) -> list[dict[str, Any]]:
    """One row per prefix of a category path, each naming its parent: the tree, root first."""
    rows = []
    for depth in range(1, len(path) + 1):
        rows.append(
            {
                "path": " > ".join(path[:depth]),
                "name": path[depth - 1],
                "depth": depth,
                "parent": " > ".join(path[: depth - 1]) or None,
            }
        )
    return rows
