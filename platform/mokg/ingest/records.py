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
    return value.strip()


def _votes(value: Any) -> int:
    """Helpful votes: 2018 gives "1,234", 2014 gives [helpful, total], 2023 an int."""
    if value is None or value == "":
        return 0
    if isinstance(value, list):
        value = value[0] if value else 0
    if isinstance(value, bool):
        raise RecordError(f"helpful votes: expected a number, got {value!r}")
    if isinstance(value, int | float):
        return int(value)
    try:
        return int(str(value).replace(",", "").strip())
    except ValueError:
        raise RecordError(f"helpful votes: not a number: {value!r}") from None


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
    if not (1 <= float(rating) <= 5) or math.isnan(float(rating)):
        raise RecordError(f"field {rating_name!r}: rating {rating} is outside 1..5")
    if isinstance(ts, bool) or not isinstance(ts, int | float):
        raise RecordError(f"field {ts_name!r}: expected a number, got {type(ts).__name__}")
    if ts < 0:
        raise RecordError(f"field {ts_name!r}: negative timestamp {ts}")
    if verified is not None and not isinstance(verified, bool):
        raise RecordError(f"verified flag: expected true/false, got {verified!r}")
    return Review(
        user_id=user,
        asin=asin,
        rating=float(rating),
        time=int(ts // seconds_div),
        title=clean_text(title, max_len=500),
        text=clean_text(text),
        verified=verified,
        helpful_votes=_votes(votes),
        user_name=clean_text(name, max_len=200),
    )


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


def _asin_list(obj: dict[str, Any], name: str) -> list[str]:
    value = obj.get(name) or []
    if not isinstance(value, list):
        raise RecordError(f"field {name!r}: expected a list of ASINs, got {type(value).__name__}")
    return sorted({v.strip() for v in value if isinstance(v, str) and v.strip()})


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
    if isinstance(value, int | float) and not isinstance(value, bool):
        return float(value)
    m = re.fullmatch(r"\s*\$?\s*([0-9][0-9,]*(?:\.[0-9]+)?)\s*", str(value or ""))
    return float(m.group(1).replace(",", "")) if m else None


def parse_item(obj: Any) -> ItemMeta:
    if not isinstance(obj, dict):
        raise RecordError(f"expected a JSON object, got {type(obj).__name__}")
    if "parent_asin" in obj:  # 2023
        asin = _str_id(obj, "parent_asin")
        raw_path = obj.get("categories") or []
        store = obj.get("store")
        main = obj.get("main_category")
        also_bought: list[str] = []
        also_viewed: list[str] = []
        together = _asin_list(obj, "bought_together")
    else:  # 2018 / 2014
        asin = _str_id(obj, "asin")
        raw_path = obj.get("category") or obj.get("categories") or []
        if raw_path and isinstance(raw_path[0], list):  # 2014: a list of paths; the first is the main one
            raw_path = raw_path[0]
        store = obj.get("brand")
        main = obj.get("main_cat")
        also_bought = _asin_list(obj, "also_buy")
        also_viewed = _asin_list(obj, "also_view")
        related: dict[str, Any] = obj["related"] if isinstance(obj.get("related"), dict) else {}
        also_bought = also_bought or sorted(set(related.get("also_bought", [])))
        together = sorted(set(related.get("bought_together", [])))
    if not isinstance(raw_path, list):
        raise RecordError(f"category path: expected a list, got {type(raw_path).__name__}")
    path = tuple(p for p in (_clean_category(c) for c in raw_path) if p)
    details = obj.get("details")
    return ItemMeta(
        asin=asin,
        title=clean_text(obj.get("title"), max_len=500),
        store=clean_text(store, max_len=200),
        main_category=clean_text(main, max_len=200),
        category_path=path,
        description=clean_text(obj.get("description"), max_len=4000),
        features=clean_text(obj.get("feature") or obj.get("features"), max_len=4000),
        price=_price(obj.get("price")),
        details=json.dumps(
            {k.strip(" :\n"): v for k, v in details.items()}, ensure_ascii=False, sort_keys=True
        )
        if isinstance(details, dict) and details
        else None,
        also_bought=[a for a in also_bought if a != asin],
        also_viewed=[a for a in also_viewed if a != asin],
        bought_together=[a for a in together if a != asin],
    )


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
