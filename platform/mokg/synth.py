"""Synthetic Amazon Review Data 2018 files at any size, fitted to a small real category (`mokg synth`).

The real 5-core sets we have are tiny (Gift_Cards: 458 users, All_Beauty: 991 users), so scale tests need
generated data. :func:`synthesize` fits simple distributions to a real reviews file (and, when given, its meta
file) and streams gzip JSON Lines files with the same field names and types as the 2018 release:

* item popularity: a Zipf exponent fitted to the real rank-frequency curve of item degrees;
* user activity: the empirical distinct-items-per-user distribution, floored at ``min_reviews`` (5-core);
* baskets: each user's items drawn by popularity *without replacement* (so no duplicate user-item pair);
* ratings: the rating distribution of a real "template" item (matched on review share), shrunk towards the
  global distribution;
* reviewText, summary, verified, style, vote and the date: copied from one real review with the same
  rating, preferably of the template item; the date jittered by ``_TIME_JITTER_DAYS`` within the real range;
* meta: brand, category path, main_cat, title, description, feature, price and details drawn jointly from one
  real meta record; without a meta file, titles come from the template item's review keywords and the category
  is a default one; ``also_buy`` / ``also_view`` point preferentially to items co-reviewed by the same users.

Everything synthetic is labelled: file names start with ``SYNTHETIC_``, every record has
``"synthetic": true``, ids are ``SYN-U…`` / ``SYN-I…``, and ``SYNTHETIC_README.json`` records the sources,
their checksums, the seed and the fitted values.
"""

from __future__ import annotations

import gzip
import json
import math
import re
import time
from collections import Counter
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
from numpy.typing import NDArray

from mokg import __version__
from mokg.artifacts import file_sha256
from mokg.ingest.readers import InputFileError, JsonLines
from mokg.ingest.records import RecordError, Review, parse_review

IntArray = NDArray[np.int64]
FloatArray = NDArray[np.float64]

README_NAME = "SYNTHETIC_README.json"


class SynthInputError(InputFileError, ValueError):
    """A real file synth cannot fit: a bad line, or no records (a ValueError, as it always was)."""


_DAY = 86_400
_USER_BLOCK = 65_536  # users per basket-sampling block; fixed because the output depends on it
_WRITE_BLOCK = 8_192  # users formatted and compressed per write; fixed for the same reason
_MAX_REJECTION_ROUNDS = 6  # then the few users still short finish with exact Gumbel top-k
_GUMBEL_CELLS = 1 << 22  # users x items cells per Gumbel chunk
_RATING_PRIOR = 5.0  # pseudo-reviews shrinking a template item's rating distribution to the global one
_TIME_JITTER_DAYS = 90
_NO_META_LINKS = 5  # also_buy / also_view per item when there is no meta file to fit them to
_BACKGROUND_WEIGHT = 1e-6  # link candidates that were never co-reviewed: used only to fill up
_TITLE_WORDS = 3
_KEYWORD_POOL = 8
_GZIP_LEVEL = 6

_META_DEFAULTS: dict[str, Any] = {
    "title": "",
    "brand": "",
    "main_cat": "",
    "category": [],
    "description": [],
    "feature": [],
    "price": "",
}  # fields copied from a real meta record, with their value when it lacks one
_REVIEW_COPIED = ("verified", "style", "reviewText", "summary", "vote")
# fmt: off
_STOPWORDS = frozenset([
    "a", "about", "after", "again", "all", "also", "am", "an", "and", "any", "are", "as", "at", "be",
    "because", "been", "before", "being", "but", "by", "can", "could", "did", "do", "does", "doesn",
    "don", "dont", "for", "from", "get", "got", "had", "has", "have", "having", "he", "her", "here",
    "him", "his", "how", "i", "if", "in", "into", "is", "it", "its", "just", "like", "love", "loved",
    "me", "more", "most", "my", "no", "not", "now", "of", "off", "on", "one", "only", "or", "other",
    "our", "out", "over", "product", "products", "really", "she", "so", "some", "such", "than", "that",
    "the", "their", "them", "then", "there", "these", "they", "this", "those", "through", "to", "too",
    "very", "was", "way", "we", "well", "were", "what", "when", "where", "which", "while", "who", "why",
    "will", "with", "would", "you", "your", "great", "good", "nice", "best", "bought", "buy", "use",
    "used", "using", "item", "items", "five", "four", "three", "two", "stars", "star", "much", "works",
    "work", "even", "still", "make", "makes", "made", "little", "lot", "time", "times", "bit", "first",
    "amazon"
])
# fmt: on


@dataclass(frozen=True)
class SynthReport:
    """Where :func:`synthesize` wrote its files and how big they are."""

    reviews_path: Path
    meta_path: Path
    n_users: int
    n_items: int
    n_reviews: int
    seconds: float
    readme_path: Path


@dataclass(frozen=True)
class _RealReviews:
    """The real reviews file, deduplicated on (reviewerID, asin, unixReviewTime) and reduced to arrays."""

    asins: list[str]  # real item index -> asin
    item: IntArray  # per review: real item index
    rating: IntArray  # per review: 1..5
    time: IntArray  # per review: unix seconds
    verified: NDArray[np.bool_]  # per review
    fragment: list[str]  # per review: its copied fields as JSON members (no braces)
    text: list[str]  # per review: summary + reviewText, for keyword titles
    user_activity: IntArray  # per real user: distinct items reviewed
    item_degree: IntArray  # per real item: distinct users


@dataclass(frozen=True)
class _Links:
    """Item -> item links in CSR form: targets of item i are ``dst[start[i]:start[i + 1]]``."""

    start: IntArray
    dst: IntArray


def synthesize(
    reviews_path: Path,
    meta_path: Path | None,
    out_dir: Path,
    *,
    n_users: int,
    n_items: int,
    seed: int = 7,
    progress: Callable[[int], None] | None = None,
    min_reviews: int = 5,
    default_category: str | None = None,
) -> SynthReport:
    """Write ``SYNTHETIC_reviews_<n_users>u.json.gz``, ``SYNTHETIC_meta_<n_users>u.json.gz`` and the sidecar.

    ``meta_path=None`` synthesises titles from review keywords and uses ``default_category`` (default: the
    reviews file's category, e.g. "All Beauty" for ``All_Beauty_5.json.gz``). ``progress`` is called with the
    number of reviews written so far after each block. The same arguments give byte-identical files.
    """
    started = time.perf_counter()
    if n_users < 1:
        raise ValueError(f"n_users={n_users}: must be at least 1")
    if min_reviews < 1 or n_items < min_reviews:
        raise ValueError(f"n_items={n_items}: need at least min_reviews={min_reviews} items for a 5-core")
    category = default_category or _category_from_name(reviews_path)
    real = _read_reviews(reviews_path)
    meta = [rec for _, rec in _records(meta_path)] if meta_path is not None else None
    if meta is not None and not meta:
        raise SynthInputError(f"{meta_path}: no meta records")
    rng_items, rng_users, rng_links, rng_reviews = (
        np.random.default_rng(s) for s in np.random.SeedSequence(seed).spawn(4)
    )

    # Popularity: rank r gets weight r^-s; ranks are shuffled over ids so an asin does not reveal its rank.
    zipf_s = _fit_zipf(real.item_degree)
    rank_of_item = rng_items.permutation(n_items)
    weight = ((rank_of_item + 1.0) ** -zipf_s).astype(np.float64)
    degrees = np.clip(rng_users.choice(real.user_activity, n_users), min_reviews, n_items).astype(np.int64)
    items = _sample_baskets(rng_users, degrees, weight)
    offsets = np.concatenate([[0], np.cumsum(degrees)])
    template = _match_templates(np.bincount(items, minlength=n_items), real.item_degree)

    link_counts = _link_count_samples(meta)
    also_buy = _sample_links(rng_links, items, degrees, weight, rng_links.choice(link_counts[0], n_items))
    also_view = _sample_links(rng_links, items, degrees, weight, rng_links.choice(link_counts[1], n_items))

    out_dir.mkdir(parents=True, exist_ok=True)
    reviews_out = out_dir / f"SYNTHETIC_reviews_{n_users}u.json.gz"
    meta_out = out_dir / f"SYNTHETIC_meta_{n_users}u.json.gz"
    asins = _ids("SYN-I", n_items, 5)
    titles = None if meta is not None else _keyword_titles(rng_items, real, template, category)
    proto = rng_items.integers(0, len(meta), n_items) if meta is not None else None
    _write_gzip_lines(
        meta_out,
        _meta_lines(asins, rank_of_item, also_buy, also_view, meta, proto, titles, category),
    )
    rating_table = _rating_cdf(real, _RATING_PRIOR)
    stats = np.zeros(6, dtype=np.int64)  # ratings 1..5 and verified, filled while streaming
    _write_gzip_lines(
        reviews_out,
        _review_lines(rng_reviews, real, asins, items, offsets, template, rating_table, stats, progress),
    )
    n_reviews = int(offsets[-1])

    readme = out_dir / README_NAME
    sources = [("reviews", reviews_path)] + ([("meta", meta_path)] if meta_path is not None else [])
    sidecar = {
        "synthetic": True,
        "note": "SYNTHETIC data fitted to a real Amazon Review Data 2018 category; not real reviews.",
        "generator": f"mokg.synth {__version__}",
        "seed": seed,
        "n_users": n_users,
        "n_items": n_items,
        "n_reviews": n_reviews,
        "sources": [{"role": r, "path": str(p.resolve()), "sha256": file_sha256(p)} for r, p in sources],
        "outputs": [
            {"path": p.name, "bytes": p.stat().st_size, "sha256": file_sha256(p)}
            for p in (reviews_out, meta_out)
        ],
        "params": {
            "zipf_exponent": zipf_s,
            "min_reviews": min_reviews,
            "real_users": len(real.user_activity),
            "real_items": len(real.asins),
            "real_reviews_dedup": len(real.rating),
            "user_activity_hist": _hist(real.user_activity),
            "rating_share_real": _shares(real.rating),
            "rating_prior_strength": _RATING_PRIOR,
            "verified_share_real": float(real.verified.mean()),
            "time_range_real": [int(real.time.min()), int(real.time.max())],
            "time_jitter_days": _TIME_JITTER_DAYS,
            "links_source": "meta in-file targets" if meta is not None else f"default {_NO_META_LINKS}",
            "also_buy_count_hist": _hist(link_counts[0]),
            "also_view_count_hist": _hist(link_counts[1]),
            "default_category": category if meta is None else None,
        },
        "synthetic_stats": {
            "mean_reviews_per_user": n_reviews / n_users,
            "rating_share": {str(k + 1): int(c) / n_reviews for k, c in enumerate(stats[:5])},
            "verified_share": int(stats[5]) / n_reviews,
            "items_reviewed": int(np.unique(items).size),
        },
    }
    readme.write_text(json.dumps(sidecar, indent=2) + "\n", encoding="utf-8")
    return SynthReport(
        reviews_out, meta_out, n_users, n_items, n_reviews, time.perf_counter() - started, readme
    )


# -- fitting --------------------------------------------------------------------------------------------


def _records(path: Path) -> Iterator[tuple[int, Any]]:
    """The decoded records of a JSON Lines file (gzip or plain) with their line numbers; a bad line is an error."""
    with JsonLines(path) as lines:
        for line in lines:
            if line.error is not None:
                raise SynthInputError(f"{path}, line {line.number}: {line.error}")
            yield line.number, line.obj


def _read_reviews(path: Path) -> _RealReviews:
    """The reviews, parsed by :func:`~mokg.ingest.records.parse_review`; the copied fields and the keyword text
    come from the record as it is, so synthetic reviews carry the real text unchanged."""
    seen: set[tuple[str, str, int]] = set()
    rows: list[tuple[Review, dict[str, Any]]] = []
    for number, rec in _records(path):
        try:
            if isinstance(rec, dict) and "reviewerID" not in rec:
                raise RecordError("missing field 'reviewerID' (synth fits the 2014/2018 format)")
            review = parse_review(rec)
        except RecordError as e:
            raise SynthInputError(f"{path}, line {number}: {e}") from None
        # The 2018 files repeat one review for sibling variants; count it once (see the dataset README).
        if review.key not in seen:
            seen.add(review.key)
            rows.append((review, rec))
    if not rows:
        raise SynthInputError(f"{path}: no reviews")
    asins = sorted({r.asin for r, _ in rows})
    index = {a: i for i, a in enumerate(asins)}
    pairs = {(r.user_id, r.asin) for r, _ in rows}
    return _RealReviews(
        asins=asins,
        item=np.array([index[r.asin] for r, _ in rows], dtype=np.int64),
        rating=np.array([round(r.rating) for r, _ in rows], dtype=np.int64),  # parse_review checked 1..5
        time=np.array([r.time for r, _ in rows], dtype=np.int64),
        verified=np.array([bool(r.verified) for r, _ in rows], dtype=np.bool_),
        fragment=[json.dumps({k: raw[k] for k in _REVIEW_COPIED if k in raw})[1:-1] for _, raw in rows],
        text=[f"{raw.get('summary', '')} {raw.get('reviewText', '')}" for _, raw in rows],
        user_activity=np.sort(np.array(list(Counter(u for u, _ in pairs).values()), dtype=np.int64)),
        item_degree=np.bincount([index[a] for _, a in pairs], minlength=len(asins)).astype(np.int64),
    )


def _fit_zipf(degree: IntArray) -> float:
    """Least-squares slope of log(degree) on log(rank): degree_r ∝ r^-s. 0 for fewer than two items."""
    d = np.sort(degree[degree > 0])[::-1].astype(np.float64)
    if d.size < 2:
        return 0.0
    slope = np.polyfit(np.log(np.arange(1, d.size + 1)), np.log(d), 1)[0]
    return max(float(-slope), 0.0)


def _match_templates(syn_degree: IntArray, real_degree: IntArray) -> IntArray:
    """Template real item per synthetic item, matched on cumulative review share (both sorted by degree).

    Popular synthetic items borrow popular real items' ratings and text, and each real item ends up behind
    about its real share of synthetic reviews, so rating, verified and text mixes stay close to the real
    ones whatever the fitted popularity curve. Realised degrees are used because without-replacement
    baskets flatten the head of the weights. Unreviewed items spread over real items by rank.
    """
    template = np.empty(syn_degree.size, dtype=np.int64)
    by_real = np.argsort(-real_degree, kind="stable")
    real_cum = np.cumsum(real_degree[by_real]) / real_degree.sum()
    reviewed = np.flatnonzero(syn_degree > 0)
    by_syn = reviewed[np.argsort(-syn_degree[reviewed], kind="stable")]
    syn_cum = np.cumsum(syn_degree[by_syn])
    mid = (syn_cum - syn_degree[by_syn] / 2) / max(int(syn_cum[-1]) if syn_cum.size else 1, 1)
    template[by_syn] = by_real[np.minimum(np.searchsorted(real_cum, mid, side="right"), by_real.size - 1)]
    unreviewed = np.flatnonzero(syn_degree == 0)
    template[unreviewed] = by_real[(np.arange(unreviewed.size) * by_real.size) // max(unreviewed.size, 1)]
    return template


def _rating_cdf(real: _RealReviews, prior: float) -> FloatArray:
    """Per real item, the cumulative rating distribution shrunk to the global one by ``prior`` reviews."""
    counts = np.zeros((len(real.asins), 5))
    np.add.at(counts, (real.item, real.rating - 1), 1.0)
    glob = counts.sum(axis=0) / counts.sum()
    cdf = np.cumsum((counts + prior * glob) / (counts.sum(axis=1, keepdims=True) + prior), axis=1)
    cdf[:, -1] = 1.0
    return cdf


def _link_count_samples(meta: list[dict[str, Any]] | None) -> tuple[IntArray, IntArray]:
    """Per real meta item, how many also_buy / also_view targets lie inside the file (synthetic links can
    only point inside). Without meta, a fixed default."""
    if meta is None:
        default = np.array([_NO_META_LINKS], dtype=np.int64)
        return default, default
    inside = {m["asin"] for m in meta}
    buy, view = (
        np.array([sum(t in inside for t in m.get(field) or []) for m in meta], dtype=np.int64)
        for field in ("also_buy", "also_view")
    )
    return buy, view


def _category_from_name(path: Path) -> str:
    stem = path.name.split(".")[0]
    return re.sub(r"_5$", "", stem).replace("_", " ")


# -- sampling -------------------------------------------------------------------------------------------


def _rank_within_groups(groups: IntArray) -> IntArray:
    """Position of each element inside its run of equal values (``groups`` must be grouped)."""
    n = groups.size
    if n == 0:
        return np.zeros(0, dtype=np.int64)
    starts = np.flatnonzero(np.concatenate([[True], groups[1:] != groups[:-1]]))
    return np.arange(n, dtype=np.int64) - np.repeat(starts, np.diff(np.concatenate([starts, [n]])))


def _sample_baskets(rng: np.random.Generator, degrees: IntArray, weight: FloatArray) -> IntArray:
    """Per user, ``degrees[u]`` distinct items drawn proportionally to ``weight`` without replacement.

    Returns the items concatenated in user order. Successive sampling with rejection (draw with replacement,
    drop repeats) is exact and cheap while a user's need is small against the item count; the rare users
    still short after a few rounds finish with Gumbel top-k over the items they do not have yet.
    """
    cdf = np.cumsum(weight / weight.sum())
    cdf[-1] = 1.0
    log_w = np.log(weight)
    return np.concatenate(
        [
            _sample_block(rng, degrees[s : s + _USER_BLOCK], cdf, log_w)
            for s in range(0, degrees.size, _USER_BLOCK)
        ]
    )


def _sample_block(
    rng: np.random.Generator, degrees: IntArray, cdf: FloatArray, log_w: FloatArray
) -> IntArray:
    n_users, n_items = degrees.size, cdf.size
    need = degrees.copy()
    accepted: list[IntArray] = []  # keys user * n_items + item, in acceptance order
    for round_ in range(_MAX_REJECTION_ROUNDS):
        pending = np.flatnonzero(need > 0)
        if pending.size == 0:
            break
        users = np.repeat(pending, need[pending] * (2**round_) + 2)
        keys = users * n_items + np.searchsorted(cdf, rng.random(users.size), side="right")
        if accepted:
            keys = keys[~np.isin(keys, np.concatenate(accepted))]
        first = np.sort(np.unique(keys, return_index=True)[1])  # first draws in draw order
        keys = keys[first]
        keys = keys[_rank_within_groups(keys // n_items) < need[keys // n_items]]
        accepted.append(keys)
        need -= np.bincount(keys // n_items, minlength=n_users)
    pending = np.flatnonzero(need > 0)
    rows = max(1, _GUMBEL_CELLS // n_items)
    for s in range(0, pending.size, rows):
        users = pending[s : s + rows]
        score = log_w[None, :] - np.log(-np.log(rng.random((users.size, n_items))))
        taken = np.concatenate(accepted) if accepted else np.zeros(0, dtype=np.int64)
        taken = taken[np.isin(taken // n_items, users)]
        score[np.searchsorted(users, taken // n_items), taken % n_items] = -np.inf
        order = np.argsort(-score, axis=1, kind="stable")
        pick = np.arange(n_items)[None, :] < need[users][:, None]
        accepted.append((users[:, None] * n_items + order)[pick])
    keys = np.concatenate(accepted)
    keys = keys[np.argsort(keys // n_items, kind="stable")]  # group by user, keep acceptance order
    return keys % n_items


def _sample_links(
    rng: np.random.Generator, items: IntArray, degrees: IntArray, weight: FloatArray, counts: IntArray
) -> _Links:
    """``counts[i]`` distinct targets per item, preferring items co-reviewed with ``i`` (by how often).

    Co-review evidence: every review pairs its item with one other random item of the same user's basket.
    Items with too few co-reviewed partners are filled up with popularity-drawn items.
    """
    n_items = weight.size
    counts = np.minimum(counts, n_items - 1)
    starts = np.repeat(np.concatenate([[0], np.cumsum(degrees)[:-1]]), degrees)
    d = np.repeat(degrees, degrees)
    pos = np.arange(items.size) - starts
    # (a one-item basket pairs the item with itself; self links are dropped below)
    partner = items[starts + (pos + rng.integers(1, np.maximum(d, 2), size=d.size)) % d]
    co_keys, co_n = np.unique(
        np.concatenate([items * n_items + partner, partner * n_items + items]), return_counts=True
    )
    src_bg = np.repeat(np.arange(n_items), counts)
    cdf = np.cumsum(weight / weight.sum())
    cdf[-1] = 1.0
    bg_keys = src_bg * n_items + np.searchsorted(cdf, rng.random(src_bg.size), side="right")
    keys = np.concatenate([co_keys, bg_keys])
    w = np.concatenate([co_n.astype(np.float64), np.full(bg_keys.size, _BACKGROUND_WEIGHT)])
    order = np.lexsort((-w, keys))
    keys, w = keys[order], w[order]
    first = np.unique(keys, return_index=True)[1]  # the strongest weight of each (src, dst)
    keys, w = keys[first], w[first]
    src, dst = keys // n_items, keys % n_items
    keep = (src != dst) & (counts[src] > 0)
    src, dst, w = src[keep], dst[keep], w[keep]
    # Weighted sampling without replacement per source (Efraimidis-Spirakis: smallest Exp(1)/w first).
    order = np.lexsort((rng.exponential(size=w.size) / w, src))
    src, dst = src[order], dst[order]
    keep = _rank_within_groups(src) < counts[src]
    src, dst = src[keep], dst[keep]
    return _Links(np.searchsorted(src, np.arange(n_items + 1)).astype(np.int64), dst)


def _keyword_titles(
    rng: np.random.Generator, real: _RealReviews, template: IntArray, category: str
) -> list[str]:
    """Without meta, a title of a few distinctive (tf-idf) review words of the template item + category."""
    tf: list[Counter[str]] = [Counter() for _ in real.asins]
    for i, text in zip(real.item.tolist(), real.text, strict=True):
        tf[i].update(w for w in re.findall(r"[a-z]{3,}", text.lower()) if w not in _STOPWORDS)
    df = Counter(w for c in tf for w in c)
    pools = []
    for c in tf:
        ranked = sorted(c, key=lambda w: (-c[w] * math.log((1 + len(tf)) / df[w]), w))[:_KEYWORD_POOL]
        ranked = ranked or ["item"]
        pools.append([ranked[k % len(ranked)] for k in range(_KEYWORD_POOL)])
    pick = np.argsort(rng.random((template.size, _KEYWORD_POOL)), axis=1)[:, :_TITLE_WORDS]
    return [
        " ".join(dict.fromkeys(pools[t][k].capitalize() for k in ks)) + f" - {category}"
        for t, ks in zip(template.tolist(), pick.tolist(), strict=True)
    ]


# -- writing --------------------------------------------------------------------------------------------


def _ids(prefix: str, n: int, min_width: int) -> list[str]:
    width = max(min_width, len(str(n)))
    return [f"{prefix}{k:0{width}d}" for k in range(1, n + 1)]


def _meta_lines(
    asins: list[str],
    rank_of_item: IntArray,
    also_buy: _Links,
    also_view: _Links,
    meta: list[dict[str, Any]] | None,
    proto: IntArray | None,
    titles: list[str] | None,
    category: str,
) -> Iterator[list[str]]:
    lines: list[str] = []
    for i, asin in enumerate(asins):
        if meta is not None and proto is not None:
            src = meta[int(proto[i])]
            copied = {k: src.get(k, v) for k, v in _META_DEFAULTS.items()}
            details = {k: v for k, v in (src.get("details") or {}).items() if "ASIN" not in k}
        else:
            title = titles[i] if titles is not None else asin
            copied = _META_DEFAULTS | {"title": title, "main_cat": category, "category": [category]}
            details = {}
        root = (copied["category"] or [copied["main_cat"] or category])[0]
        rec = {
            "asin": asin,
            **copied,
            "also_buy": [asins[j] for j in also_buy.dst[also_buy.start[i] : also_buy.start[i + 1]].tolist()],
            "also_view": [
                asins[j] for j in also_view.dst[also_view.start[i] : also_view.start[i + 1]].tolist()
            ],
            "rank": f"{int(rank_of_item[i]) + 1:,} in {root} (",
            "details": {**details, "ASIN:": asin},
            "date": "",
            "tech1": "",
            "tech2": "",
            "fit": "",
            "similar_item": "",
            "imageURL": [],
            "imageURLHighRes": [],
            "synthetic": True,
        }
        lines.append(json.dumps(rec) + "\n")
        if len(lines) >= _WRITE_BLOCK:
            yield lines
            lines = []
    yield lines


def _review_lines(
    rng: np.random.Generator,
    real: _RealReviews,
    asins: list[str],
    items: IntArray,
    offsets: IntArray,
    template: IntArray,
    rating_cdf: FloatArray,
    stats: IntArray,
    progress: Callable[[int], None] | None,
) -> Iterator[list[str]]:
    # Real reviews grouped by (template item, rating), with the rating alone as fallback.
    group = real.item * 5 + real.rating - 1
    by_group = np.argsort(group, kind="stable")
    g_start = np.searchsorted(group[by_group], np.arange(len(real.asins) * 5))
    g_count = np.bincount(group, minlength=len(real.asins) * 5)
    by_rating = np.argsort(real.rating, kind="stable")
    r_start = np.searchsorted(real.rating[by_rating], np.arange(1, 6))
    r_count = np.bincount(real.rating - 1, minlength=5)
    t_lo, t_hi = int(real.time.min()), int(real.time.max())
    n_users = offsets.size - 1
    user_ids = _ids("SYN-U", n_users, 6)
    for u0 in range(0, n_users, _WRITE_BLOCK):
        u1 = min(u0 + _WRITE_BLOCK, n_users)
        lo, hi = int(offsets[u0]), int(offsets[u1])
        user = np.repeat(np.arange(u0, u1), np.diff(offsets[u0 : u1 + 1]))
        item = items[lo:hi]
        tpl = template[item]
        rating = (rng.random(item.size)[:, None] > rating_cdf[tpl]).sum(axis=1) + 1
        g = tpl * 5 + rating - 1
        u = rng.random(item.size)
        own = by_group[np.minimum(g_start[g] + (u * g_count[g]).astype(np.int64), len(by_group) - 1)]
        any_ = by_rating[r_start[rating - 1] + (u * r_count[rating - 1]).astype(np.int64)]
        src = np.where(g_count[g] > 0, own, any_)
        jitter = rng.integers(-_TIME_JITTER_DAYS, _TIME_JITTER_DAYS + 1, size=item.size) * _DAY
        ts = np.clip(real.time[src] + jitter, t_lo, t_hi)
        stats[:5] += np.bincount(rating - 1, minlength=5)
        stats[5] += int(real.verified[src].sum())
        day = (ts // _DAY).astype("datetime64[D]")
        year = day.astype("datetime64[Y]").astype(np.int64) + 1970
        month = day.astype("datetime64[M]").astype(np.int64) % 12 + 1
        dom = (day - day.astype("datetime64[M]")).astype(np.int64) + 1
        yield [
            f'{{"overall": {r}.0, "reviewerID": "{user_ids[us]}", "asin": "{asins[it]}", '
            f'"reviewerName": "Synthetic Reviewer {us + 1}", "unixReviewTime": {t}, '
            f'"reviewTime": "{mo:02d} {dd}, {yy}", {real.fragment[s]}, "synthetic": true}}\n'
            for r, us, it, t, mo, dd, yy, s in zip(
                rating.tolist(),
                user.tolist(),
                item.tolist(),
                ts.tolist(),
                month.tolist(),
                dom.tolist(),
                year.tolist(),
                src.tolist(),
                strict=True,
            )
        ]
        if progress is not None:
            progress(hi)


def _write_gzip_lines(path: Path, blocks: Iterator[list[str]]) -> None:
    """Stream blocks of lines into ``path`` via a temporary file renamed at the end, so a crash never
    leaves a truncated file under the final name. mtime=0 and a fixed member name keep the bytes reproducible.
    """
    tmp = path.with_name(path.name + ".part")
    with tmp.open("wb") as raw, gzip.GzipFile(path.name, "wb", _GZIP_LEVEL, raw, mtime=0) as gz:
        for lines in blocks:
            gz.write("".join(lines).encode("utf-8"))
    tmp.replace(path)


def _hist(values: IntArray) -> dict[str, int]:
    return {str(k): int(c) for k, c in enumerate(np.bincount(values)) if c}


def _shares(ratings: IntArray) -> dict[str, float]:
    return {str(k + 1): float(c) / ratings.size for k, c in enumerate(np.bincount(ratings - 1, minlength=5))}
