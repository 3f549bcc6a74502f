"""Lookalike audience expansion on the graph (GLoM §3.7, served): seeds in, the most similar users out.

Seeds are user ids, the buyers of a campaign item, or the rows of a named seed query
(``cypher/lookalike/seeds_<name>.cypher``, returning ``user_id``). The search runs in the graph's vector
index over ``User.embedding`` through ``cypher/lookalike/vector_neighbours.cypher``:

- ``centroid`` (the default): one index query with the normalised mean of the unit seed embeddings.
- ``knn_vote``: every seed picks its nearest users; a candidate scores the sum of the similarities of the seeds
  that picked it divided by the number of seeds (the ranking of :func:`mokg.lookalike.scoring.score_knn_vote`
  with ``vote="sum"``, scaled into [-1, 1] so a threshold means the same for any seed count).
- ``max_seed`` (the paper's rule): a candidate's score is its highest similarity to any seed, so a threshold T
  returns the union of the seeds' T-neighbourhoods.
- ``logreg`` (the per-campaign classifier): an L2-regularised logistic regression
  (:func:`mokg.lookalike.scoring.fit_logreg`, numpy only) of the unit seed embeddings against
  ``min(10 × seeds, 2,000)`` unit embeddings of users drawn at random from the graph
  (``cypher/lookalike/background_users.cypher``; seeds are never drawn as negatives, other users are
  unlabelled and stand in for negatives), then one index query with the classifier's unit weight vector
  ``w/|w|``: on unit rows ``w·x = |w| cos(w, x)``, so the index's cosine order is the classifier's order. The
  score is ``cos(w, x)``, a cosine like every other method's (the decision value is ``|w|·score + b``). One
  extra round trip for the sample; a :class:`SeedCache` keeps the sample per model version.

With no method in the request, the method recorded for the seeds' model version by ``mokg train
--choose-method`` (a ``:Model {version}`` node, ``cypher/lookalike/serving_method.cypher``) is used, else
``centroid``; an explicit method always wins. With centroid and logreg the record may carry an activity term
(:class:`~mokg.lookalike.scoring.ActivityTerm`): the score is then the cosine plus ``w × σ × a(u)``, σ the
cosines' standard deviation over the background sample and a(u) the user's standardised log(1 + items
reviewed). Such a request searches the activity index instead (:mod:`mokg.lookalike.activity_index`), whose
rows of one norm make its cosine order the score's order: one query, exact like any other.

Per-seed searches send a batch of seed vectors per round trip (``UNWIND $rows … CALL db.index.vector…``).
Filters (category interest, minimum reviews) are evaluated after the index search, so every search
over-fetches and fetches again, doubled, only for the vectors whose hits did not yet suffice. Scores are
cosine similarities (the index reports (1 + cos) / 2). Seeds and excluded users are never returned; unknown
seed ids and seeds without an embedding are reported, not dropped silently.

A long-running caller (the web service) passes a :class:`SeedCache`, so seeds seen before cost no round
trip. It cannot serve stale vectors for long: every index hit reports its embedding version, and hits of a
version the cached seeds do not have mean a write-back happened, so the cache is cleared and the request
is answered again from fresh seeds.
"""

from __future__ import annotations

import itertools
import json
import math
import re
import threading
import time
from collections import Counter, OrderedDict
from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass, field, replace
from operator import itemgetter
from typing import Any, NamedTuple, cast, get_args

import numpy as np
from neo4j.exceptions import ClientError

from mokg.clock import stamp
from mokg.graph import Graph, cypher
from mokg.lookalike.activity_index import activity_index_name
from mokg.lookalike.explain import Explanation, explain
from mokg.lookalike.scoring import ActivityTerm, Method, fit_logreg
from mokg.vectors import unit_rows

METHODS: tuple[str, ...] = get_args(Method)
EMBEDDING_PROPERTY = "embedding"
# Bounds shared by the library, the CLI and the API (the API's OpenAPI document states the same numbers).
MAX_K = 10_000
MAX_SEEDS = 2_000
MAX_EXCLUDE = 10_000
# the most hits one index query may ask for; a threshold search that reaches it stops there (stats.complete)
MAX_FETCH = 50_000
# the most hits one request may fetch over all its query vectors: a per-seed method multiplies the fetch by
# the seeds, and every hit becomes a Python object, so 2,000 seeds at k = 10,000 would be ~84M of them
MAX_REQUEST_HITS = 2_000_000
SEED_QUERY_PREFIX = "lookalike/seeds_"
_SEED_QUERY_NAME = re.compile(r"^[a-z][a-z0-9_]{0,63}$")
_PARAM = re.compile(r"\$([A-Za-z_][A-Za-z0-9_]*)")
# vectors per round trip of a per-seed search
_VECTORS_PER_CALL = 64
# the random non-seed users a logreg request contrasts its seeds with: 10 per seed, at most this many
LOGREG_NEG_RATIO = 10
LOGREG_MAX_BACKGROUND = 2_000
DEFAULT_METHOD: Method = "centroid"
# the methods served with a recorded activity term: one query direction, which the activity index extends
ACTIVITY_METHODS: tuple[str, ...] = ("centroid", "logreg")
# a version with no recorded method is asked again after this many seconds (a choice may be recorded later)
_UNRECORDED_TTL_S = 60.0
# first fetch = need × over-fetch + margin (+ room for banned users); filters make kept hits scarcer
_OVERFETCH_FILTERED = 3.0
_MARGIN = 8


class AudienceError(ValueError):
    """A request the graph cannot answer as asked; ``field`` names the request field at fault."""

    def __init__(self, field_name: str, message: str) -> None:
        super().__init__(message)
        self.field = field_name


class UnknownItem(AudienceError):
    """The campaign item named as the seed is not in the graph."""


class EmbeddingsUnavailable(RuntimeError):
    """The vector index over user embeddings is missing (no model has been trained and written yet)."""


@dataclass(frozen=True)
class Seeds:
    """Exactly one of: user ids, a campaign item (its buyers), a named seed query with parameters."""

    user_ids: tuple[str, ...] = ()
    item: str | None = None
    query: str | None = None
    params: Mapping[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        given = [bool(self.user_ids), self.item is not None, self.query is not None]
        if sum(given) != 1:
            raise AudienceError("seeds", "give exactly one of seed user ids, a seed item or a seed query")


@dataclass(frozen=True)
class Filters:
    """Candidate filters applied after the index search; ``None`` disables one."""

    category: str | None = None
    min_reviews: int | None = None

    @property
    def active(self) -> bool:
        return self.category is not None or self.min_reviews is not None


@dataclass(frozen=True)
class AudienceRequest:
    seeds: Seeds
    k: int | None = 100
    threshold: float | None = None
    # None: the method recorded for the model version by `mokg train --choose-method`, else centroid
    method: Method | None = None
    exclude: tuple[str, ...] = ()
    filters: Filters = field(default_factory=Filters)
    explain: bool = False
    # knn_vote: each seed votes for at least this many neighbours (and at least k when k is given)
    m: int = 10
    # explanations for the first this many users (each costs graph traversals)
    explain_top: int = 50

    def __post_init__(self) -> None:
        if self.k is None and self.threshold is None:
            raise AudienceError("k", "give k, threshold or both")
        if self.k is not None and not 1 <= self.k <= MAX_K:
            raise AudienceError("k", f"k must lie in [1, {MAX_K}]")
        if self.threshold is not None and not -1.0 <= self.threshold <= 1.0:
            raise AudienceError("threshold", "threshold is a cosine similarity in [-1, 1]")
        if self.method is not None and self.method not in METHODS:
            raise AudienceError("method", f"method must be one of {', '.join(METHODS)}")
        if len(self.seeds.user_ids) > MAX_SEEDS:
            raise AudienceError("seed_user_ids", f"at most {MAX_SEEDS} seed user ids")
        if len(self.exclude) > MAX_EXCLUDE:
            raise AudienceError("exclude_user_ids", f"at most {MAX_EXCLUDE} excluded user ids")
        if self.m < 1:
            raise AudienceError("m", "m must be at least 1")


class Member(NamedTuple):
    """One user of an audience (a named tuple: a response builds a hundred of these, and they are cheap)."""

    user_id: str
    score: float
    rank: int
    explanation: Explanation | None = None


@dataclass(frozen=True)
class AudienceStats:
    n_seeds: int
    n_seeds_found: int
    n_returned: int
    threshold: float | None
    method: str
    # "request" (named in the request), "model" (recorded for the model version), "default" (centroid)
    method_source: str
    k: int | None
    unknown_seed_ids: tuple[str, ...]
    seeds_without_embedding: tuple[str, ...]
    # index queries sent and the round trips that carried them
    index_queries: int
    round_trips: int
    # False when a search stopped before its answer was certain: at MAX_FETCH hits for some query vector or
    # MAX_REQUEST_HITS for the request (a threshold reached that deep), or a threshold-only answer cut at MAX_K
    complete: bool
    # the recorded activity term's weight (0: none; only with the model's recorded method)
    activity_weight: float = 0.0


@dataclass(frozen=True)
class Audience:
    users: tuple[Member, ...]
    stats: AudienceStats
    model_version: str | None
    seed_ids: tuple[str, ...]


@dataclass
class _Hits:
    """The index hits of one query vector, best first, and whether more could be fetched."""

    user_ids: list[str] = field(default_factory=list)
    cos: list[float] = field(default_factory=list)
    keep: list[bool] = field(default_factory=list)
    fetched: int = 0
    exhausted: bool = False


class SeedCache:
    """Seed embeddings by user id, least recently used out first; shared by a process's threads.

    An entry older than ``ttl_s`` is read again: the streaming workers re-embed an already-trained user under
    the same model version, which the index hits cannot reveal, so that is what bounds how long a seed's old
    vector may be served (``None``: until a new model version or eviction)."""

    def __init__(self, max_entries: int = 100_000, *, ttl_s: float | None = None) -> None:
        self.max_entries = max_entries
        self.ttl_s = ttl_s
        # user id -> (row, monotonic time it was read)
        self._rows: OrderedDict[str, tuple[dict[str, Any], float]] = OrderedDict()
        self._lock = threading.Lock()
        self.hits = self.misses = 0
        # model version -> (recorded serving choice or None, monotonic time it was read)
        self.methods: dict[str, tuple[Serving | None, float]] = {}
        # the logreg background sample: (model versions, user ids, unit vectors)
        self.background: tuple[frozenset[str], tuple[str, ...], np.ndarray] | None = None

    def get(self, ids: Sequence[str]) -> dict[str, dict[str, Any]]:
        found: dict[str, dict[str, Any]] = {}
        oldest = -math.inf if self.ttl_s is None else time.monotonic() - self.ttl_s
        with self._lock:
            rows = self._rows
            for i in ids:
                if (entry := rows.get(i)) is None:
                    continue
                if entry[1] < oldest:
                    del rows[i]
                    continue
                found[i] = entry[0]
                rows.move_to_end(i)
            self.hits += len(found)
            self.misses += len(ids) - len(found)
            return found

    def put(self, rows: Sequence[dict[str, Any]]) -> None:
        """Store ``seed_users`` rows as :func:`_seed_rows` gives them (embeddings already unit arrays)."""
        now = time.monotonic()
        with self._lock:
            for r in rows:
                self._rows[str(r["user_id"])] = (r, now)
                self._rows.move_to_end(str(r["user_id"]))
            while len(self._rows) > self.max_entries:
                self._rows.popitem(last=False)

    def clear(self) -> None:
        with self._lock:
            self._rows.clear()
            self.methods.clear()
            self.background = None

    def __len__(self) -> int:
        return len(self._rows)


# -- seeds -----------------------------------------------------------------------------------------------


def seed_query_names() -> list[str]:
    """The named seed queries (``cypher/lookalike/seeds_*.cypher``), without the folder and prefix."""
    return [
        n.removeprefix(SEED_QUERY_PREFIX)
        for n in cypher.names("lookalike")
        if n.startswith(SEED_QUERY_PREFIX)
    ]


def seed_query_parameters(name: str) -> list[str]:
    """The parameters a named seed query needs from the caller (``$limit`` is supplied here)."""
    text = cypher.load(SEED_QUERY_PREFIX + name)
    return sorted(set(_PARAM.findall(text)) - {"limit"})


def _check_seed_query(seeds: Seeds) -> str:
    name = seeds.query or ""
    if not _SEED_QUERY_NAME.match(name) or name not in seed_query_names():
        raise AudienceError(
            "seed_query", f"unknown seed query {name!r}; known: {', '.join(seed_query_names())}"
        )
    missing = [p for p in seed_query_parameters(name) if p not in seeds.params]
    if missing:
        raise AudienceError(f"params.{missing[0]}", f"seed query {name!r} needs parameter {missing[0]!r}")
    if "limit" in seeds.params:
        raise AudienceError("params.limit", "the seed limit is set by the server")
    return SEED_QUERY_PREFIX + name


def resolve_seed_ids(graph: Graph, seeds: Seeds, *, limit: int = MAX_SEEDS) -> list[str]:
    """The seed user ids a request names: as given, the item's buyers, or the seed query's rows."""
    if seeds.user_ids:
        return list(dict.fromkeys(seeds.user_ids))
    if seeds.item is not None:
        rows = graph.query("lookalike/item_buyers", asin=seeds.item, limit=limit)
        if not rows:
            raise UnknownItem("seed_item", f"no item {seeds.item!r} in the graph")
        return [str(u) for u in rows[0]["user_ids"]]
    name = _check_seed_query(seeds)
    rows = graph.query(name, **dict(seeds.params), limit=limit)
    return list(dict.fromkeys(str(r["user_id"]) for r in rows if r.get("user_id") is not None))[:limit]


@dataclass(frozen=True)
class _SeedVectors:
    ids: tuple[str, ...]
    vectors: np.ndarray
    unknown: tuple[str, ...]
    without_embedding: tuple[str, ...]
    model_version: str | None


def _has_vector(row: Mapping[str, Any]) -> bool:
    return bool(row["found"]) and row["embedding"] is not None and len(row["embedding"]) > 0


def _unit(row: dict[str, Any]) -> dict[str, Any]:
    # a vector as an array: a quarter of a float list's memory in the seed cache, and nothing for the garbage
    # collector to walk (a full cache of lists is 200 MB per worker and slows every full collection)
    if not _has_vector(row):
        return row
    return {**row, "embedding": unit_rows([row["embedding"]])[0]}


def _seed_rows(graph: Graph, ids: Sequence[str], cache: SeedCache | None) -> list[dict[str, Any]]:
    """One ``seed_users`` row per id, in order, its embedding a unit vector; only the ids the cache lacks go
    to the graph. Vectors are normalised once, on the way into the cache: numpy calls on small arrays cost
    several times their usual price inside a server thread whose caches the graph's work has just cooled."""
    cached = cache.get(ids) if cache is not None else {}
    missing = [i for i in ids if i not in cached]
    fetched = (
        {str(r["user_id"]): _unit(r) for r in graph.query("lookalike/seed_users", ids=missing)}
        if missing
        else {}
    )
    if cache is not None and fetched:
        # unknown users and users without an embedding may appear any moment: only vectors are kept
        cache.put([r for r in fetched.values() if _has_vector(r)])
    return [cached[i] if i in cached else fetched[i] for i in ids]


def _seed_vectors(graph: Graph, ids: Sequence[str], cache: SeedCache | None = None) -> _SeedVectors:
    found_ids: list[str] = []
    vectors: list[np.ndarray] = []
    versions: list[str | None] = []
    unknown: list[str] = []
    without: list[str] = []
    for r in _seed_rows(graph, ids, cache):
        if _has_vector(r):
            found_ids.append(str(r["user_id"]))
            vectors.append(r["embedding"])
            versions.append(r.get("version") or None)
        else:
            (without if r["found"] else unknown).append(str(r["user_id"]))
    # one version is the norm; a mix (a write-back in progress) is reported as such, most common first
    distinct = set(versions) - {None}
    if len(distinct) > 1:
        model_version: str | None = ",".join(
            str(v) for v, _ in Counter(v for v in versions if v).most_common()
        )
    else:
        model_version = str(distinct.pop()) if distinct else None
    dims = {len(v) for v in vectors}
    if len(dims) > 1:
        raise EmbeddingsUnavailable(f"seed embeddings have different dimensions {sorted(dims)}: retrain")
    return _SeedVectors(
        ids=tuple(found_ids),
        vectors=np.array(vectors, dtype=np.float64).reshape(len(vectors), dims.pop() if dims else 0),
        unknown=tuple(unknown),
        without_embedding=tuple(without),
        model_version=model_version,
    )


# -- the index search ------------------------------------------------------------------------------------


def first_fetch(need: int | None, n_banned: int, *, filtered: bool) -> int:
    """How many hits the first index query of a search asks for (later ones double it as needed)."""
    base = need or 64
    over = _OVERFETCH_FILTERED if filtered else 1.0
    # seeds crowd their own neighbourhoods, so room is made for the banned users, within reason
    return min(math.ceil(base * over) + _MARGIN + min(n_banned, max(4 * base, 256)), MAX_FETCH)


class _Search:
    """Batched, over-fetching nearest-user searches for a set of query vectors. With an activity ``term`` it
    searches the activity index, and a hit's score is the index's cosine times ``scale`` (set per query
    direction, :meth:`ActivityTerm.query`): the cosine plus the term's bonus."""

    def __init__(
        self, graph: Graph, filters: Filters, banned: set[str], term: ActivityTerm | None = None
    ) -> None:
        self.graph = graph
        self.filters = filters
        self.banned = banned
        self.term = term
        self.scale = 1.0
        self.index = (
            activity_index_name(graph)
            if term is not None
            else graph.dialect.vector_index_name("User", EMBEDDING_PROPERTY)
        )
        self.index_queries = 0
        self.round_trips = 0
        self.complete = True
        self.versions: set[str] = set()  # the embedding versions of the hits

    def _fetch(self, vectors: np.ndarray, sizes: dict[int, int], hits: list[_Hits]) -> None:
        todo = sorted(sizes)
        for start in range(0, len(todo), _VECTORS_PER_CALL):
            chunk = todo[start : start + _VECTORS_PER_CALL]
            rows = [{"i": i, "k": sizes[i], "vec": vectors[i].tolist()} for i in chunk]
            try:
                result = self.graph.query(
                    "lookalike/vector_neighbours",
                    rows=rows,
                    index=self.index,
                    category=self.filters.category,
                    min_reviews=self.filters.min_reviews,
                )
            except ClientError as e:
                if self.term is not None:
                    raise EmbeddingsUnavailable(
                        f"the activity index {self.index} failed ({e.code}): the model's recorded activity "
                        "term is served from it, which `mokg train --choose-method` writes (retrain a graph "
                        "trained before it existed)"
                    ) from e
                raise EmbeddingsUnavailable(
                    f"the vector search over {self.index} failed ({e.code}): are user embeddings and their "
                    "index written (run the training pipeline)?"
                ) from e
            self.round_trips += 1
            self.index_queries += len(chunk)
            # this runs for every hit of every request, in plain Python: a handful of numpy calls on arrays
            # this small cost more than the loops inside a server thread whose caches the query has cooled
            per_vector: dict[int, list[dict[str, Any]]] = {i: [] for i in chunk}
            if len(chunk) == 1:
                per_vector[chunk[0]] = result
            else:
                for r in result:
                    per_vector[int(r["i"])].append(r)
            banned, scale = self.banned, self.scale
            for i, rs in per_vector.items():
                cos = [scale * (2.0 * r["score"] - 1.0) for r in rs]
                if any(b > a for a, b in itertools.pairwise(cos)):  # the index answers best first, usually
                    order = sorted(range(len(cos)), key=cos.__getitem__, reverse=True)  # stable
                    cos = [cos[j] for j in order]
                    rs = [rs[j] for j in order]
                ids = [str(r["user_id"]) for r in rs]
                keep = [bool(r["keep"]) and u not in banned for r, u in zip(rs, ids, strict=True)]
                self.versions.update(str(v) for v in {r["version"] for r in rs} - {None})
                hits[i] = _Hits(
                    user_ids=ids, cos=cos, keep=keep, fetched=sizes[i], exhausted=len(rs) < sizes[i]
                )

    def run(self, vectors: np.ndarray, need: int | None, threshold: float | None) -> list[_Hits]:
        """Hits per vector until each has ``need`` kept hits, or its last hit falls below ``threshold``, or
        the index has no more. Re-fetches (doubling) only the vectors not yet satisfied."""
        first = first_fetch(need, len(self.banned), filtered=self.filters.active)
        if len(vectors) * first > MAX_REQUEST_HITS:
            raise AudienceError(
                "k" if need is not None else "seed_user_ids",
                f"{len(vectors)} seed searches of {first} hits each exceed the {MAX_REQUEST_HITS:,} hits one "
                "request may fetch: ask for a smaller k (or m), or give fewer seeds",
            )
        sizes = dict.fromkeys(range(len(vectors)), first)
        hits = [_Hits() for _ in range(len(vectors))]
        budget = MAX_REQUEST_HITS
        while sizes:
            if sum(sizes.values()) > budget:  # only re-fetches get here: the request has had its share
                self.complete = False
                break
            budget -= sum(sizes.values())
            self._fetch(vectors, sizes, hits)
            again = {}
            for i in sizes:
                h = hits[i]
                enough = need is not None and sum(h.keep) >= need
                below = threshold is not None and bool(h.cos) and h.cos[-1] < threshold
                if h.exhausted or enough or below:
                    continue
                if h.fetched >= MAX_FETCH:
                    self.complete = False
                    continue
                again[i] = min(2 * h.fetched, MAX_FETCH)
            sizes = again
        return hits


# -- scoring of the hits ---------------------------------------------------------------------------------


def _kept(h: _Hits) -> tuple[list[str], list[float]]:
    """The kept hits and their scores."""
    kept = [(u, c) for u, c, k in zip(h.user_ids, h.cos, h.keep, strict=True) if k]
    return [u for u, _ in kept], [c for _, c in kept]


def _aggregate(hits: Sequence[_Hits], per_seed: int | None, how: str) -> dict[str, float]:
    """Per-seed hits to one score per user: the max (max_seed) or the summed votes over seeds (knn_vote)."""
    scores: dict[str, float] = {}
    for h in hits:
        ids, cos = _kept(h)
        if per_seed is not None:
            ids, cos = ids[:per_seed], cos[:per_seed]
        for u, c in zip(ids, cos, strict=True):
            if how == "max":
                scores[u] = max(scores.get(u, -math.inf), c)
            else:
                scores[u] = scores.get(u, 0.0) + c
    if how == "vote":
        n = max(len(hits), 1)
        scores = {u: s / n for u, s in scores.items()}
    return scores


def _rank(scores: Mapping[str, float], k: int | None, threshold: float | None) -> list[tuple[str, float]]:
    # best first, ties by id: two stable sorts on C-level keys (a key tuple per user costs more)
    ranked = sorted(scores.items(), key=itemgetter(0))
    ranked.sort(key=itemgetter(1), reverse=True)
    if threshold is not None:
        ranked = [x for x in ranked if x[1] >= threshold]
    return ranked[: k if k is not None else MAX_K + 1]  # one more: expand_audience says the cut was made


def _one_direction(
    search: _Search, direction: np.ndarray, req: AudienceRequest, background: np.ndarray
) -> list[tuple[str, float]]:
    """The kept users nearest to one query direction (centroid, logreg), ranked by their cosine to it (plus
    the activity bonus, scaled by the cosines' spread over the ``background`` users)."""
    norm = float(np.sqrt(direction @ direction))
    if norm == 0.0:
        return []
    query = direction / norm
    if search.term is not None:
        spread = float((background @ query).std()) if len(background) > 1 else 0.0
        query, search.scale = search.term.query(query, spread)
    (h,) = search.run(query[None, :], req.k, req.threshold)
    ids, cos = _kept(h)
    return _rank(dict(zip(ids, cos, strict=True)), req.k, req.threshold)


def _background(graph: Graph, sv: _SeedVectors, cache: SeedCache | None, want: int) -> np.ndarray:
    """Unit embeddings of up to ``want`` (at most ``LOGREG_MAX_BACKGROUND``) random non-seed users of the
    seeds' model version. A cache keeps one sample of ``LOGREG_MAX_BACKGROUND + MAX_SEEDS`` users per
    model version (seeds are dropped from it per request); without one, just enough users are drawn."""
    want = min(want, LOGREG_MAX_BACKGROUND)
    versions = frozenset((sv.model_version or "").split(",")) - {""}
    sample = cache.background if cache is not None else None
    if sample is None or not versions <= sample[0]:
        limit = LOGREG_MAX_BACKGROUND + MAX_SEEDS if cache is not None else want + len(sv.ids)
        dim = sv.vectors.shape[1]
        rows = [
            r
            for r in map(_unit, graph.query("lookalike/background_users", limit=limit))
            if _has_vector(r) and len(r["embedding"]) == dim
        ]
        vectors = np.array([r["embedding"] for r in rows], dtype=np.float64).reshape(len(rows), dim)
        got = frozenset(str(r["version"]) for r in rows if r.get("version")) or versions
        sample = (got, tuple(str(r["user_id"]) for r in rows), vectors)
        if cache is not None:
            cache.background = sample
    seeds = set(sv.ids)
    keep = [j for j, u in enumerate(sample[1]) if u not in seeds][:want]
    return sample[2][keep]


def _logreg_direction(sv: _SeedVectors, background: np.ndarray) -> np.ndarray:
    """The weight vector of the seeds-vs-sampled-users classifier, against the first ``min(10 × seeds,
    LOGREG_MAX_BACKGROUND)`` users of ``background`` (the centroid when nobody else has an embedding)."""
    negatives = background[: LOGREG_NEG_RATIO * len(sv.ids)]
    if len(negatives) == 0:
        return np.asarray(sv.vectors.sum(axis=0))
    x = np.concatenate([sv.vectors, negatives])
    y = np.concatenate([np.ones(len(sv.vectors)), np.zeros(len(negatives))])
    w, _ = fit_logreg(x, y)
    return w


def _score(
    graph: Graph,
    search: _Search,
    sv: _SeedVectors,
    req: AudienceRequest,
    method: Method,
    cache: SeedCache | None,
) -> list[tuple[str, float]]:
    if method in ACTIVITY_METHODS:
        # the activity term's spread is estimated on as large a sample as the logreg rule may draw
        want = LOGREG_MAX_BACKGROUND if search.term is not None else LOGREG_NEG_RATIO * len(sv.ids)
        background = (
            _background(graph, sv, cache, want) if method == "logreg" or search.term else sv.vectors[:0]
        )
        direction = sv.vectors.sum(axis=0) if method == "centroid" else _logreg_direction(sv, background)
        return _one_direction(search, direction, req, background)
    if method == "max_seed":
        # exact up to the index's approximation: a user in the top k by max similarity is among the k best
        # kept hits of the seed it is most similar to, and every user >= T lies in some seed's T-ball
        hits = search.run(sv.vectors, req.k, req.threshold)
        return _rank(_aggregate(hits, None, "max"), req.k, req.threshold)
    # knn_vote: each seed votes for its m nearest kept users (at least k, so k users can be reached)
    per_seed = max(req.m, req.k or 0)
    hits = search.run(sv.vectors, per_seed, None)
    return _rank(_aggregate(hits, per_seed, "vote"), req.k, req.threshold)


def expand_audience(graph: Graph, req: AudienceRequest, *, seed_cache: SeedCache | None = None) -> Audience:
    """Resolve the seeds, search the vector index, rank, and (if asked) explain the top users.

    With ``seed_cache``, seed embeddings come from it where it has them (see the module notes)."""
    seed_ids = resolve_seed_ids(graph, req.seeds)
    banned = set(seed_ids) | set(req.exclude)

    def search_once() -> tuple[_SeedVectors, _Search, Serving, str, list[tuple[str, float]]]:
        sv = _seed_vectors(graph, seed_ids, seed_cache)
        serving, source = _method_for(graph, req, sv.model_version, seed_cache)
        search = _Search(graph, req.filters, banned, serving.activity)
        ranked = _score(graph, search, sv, req, serving.method, seed_cache) if len(sv.ids) else []
        return sv, search, serving, source, ranked

    sv, search, serving, source, ranked = search_once()
    if seed_cache is not None and sv.model_version and search.versions - set(sv.model_version.split(",")):
        # the hits are of a model written after the cached seeds: answer again from fresh seeds
        seed_cache.clear()
        sv, search, serving, source, ranked = search_once()
    complete = search.complete
    if len(ranked) > MAX_K:  # a threshold-only request is answered with the MAX_K best users
        ranked, complete = ranked[:MAX_K], False
    explanations: dict[str, Explanation] = {}
    if req.explain and ranked:
        explanations = explain(graph, [u for u, _ in ranked[: req.explain_top]], list(sv.ids))
    ids = [u for u, _ in ranked]
    scores = [round(s, 6) for _, s in ranked]
    ranks = range(1, len(ids) + 1)
    users = tuple(map(Member._make, zip(ids, scores, ranks, map(explanations.get, ids), strict=True)))
    stats = AudienceStats(
        n_seeds=len(seed_ids),
        n_seeds_found=len(seed_ids) - len(sv.unknown),
        n_returned=len(users),
        threshold=req.threshold,
        method=serving.method,
        method_source=source,
        k=req.k,
        unknown_seed_ids=sv.unknown,
        seeds_without_embedding=sv.without_embedding,
        index_queries=search.index_queries,
        round_trips=search.round_trips,
        complete=complete,
        activity_weight=serving.activity.weight if serving.activity is not None else 0.0,
    )
    return Audience(users=users, stats=stats, model_version=sv.model_version, seed_ids=sv.ids)


# -- the recorded serving method --------------------------------------------------------------------------


class Serving(NamedTuple):
    """What `mokg train --choose-method` recorded for a model version: the method, and the activity term
    chosen with it (None: none, or weight 0)."""

    method: Method
    activity: ActivityTerm | None = None


def recorded_serving(graph: Graph, version: str) -> Serving | None:
    """The serving choice recorded for a model version, or None."""
    try:
        rows = graph.query("lookalike/serving_method", version=version)
    except ClientError:
        return None  # no :Model type yet (nothing ever recorded) on a server that types labels
    if not rows:
        return None
    return serving_of(rows[0]["method"], (json.loads(rows[0]["detail"] or "{}") or {}).get("activity"))


def serving_of(method: str | None, term: Mapping[str, Any] | None) -> Serving | None:
    """What a choice of ``method`` with the activity ``term`` (as recorded) serves: the method, and the term
    where it has a nonzero weight and the method takes one; None for an unknown method."""
    if method not in METHODS:
        return None
    served = ActivityTerm(**term) if term and term.get("weight") and method in ACTIVITY_METHODS else None
    return Serving(cast(Method, method), served)


def recorded_method(graph: Graph, version: str) -> str | None:
    """The scoring method `mokg train --choose-method` recorded for a model version, or None."""
    serving = recorded_serving(graph, version)
    return serving.method if serving is not None else None


@dataclass(frozen=True)
class MethodChoice:
    """The serving model and method chosen for a trained model on validation tasks (``mokg train
    --choose-method``). ``model`` is which user vectors the index serves: ``glom`` (the GLM's), ``pm`` (the
    pre-trained model's) or ``lightgcn`` (LightGCN's, fitted on every review: ``served`` holds them, as user
    ids and rows, and is not part of :meth:`detail`), whichever scored highest on validation."""

    method: str
    validation_ap: dict[str, float]  # the chosen model's mean AP over the validation tasks per method
    n_validation_tasks: int
    min_buyers: int
    split_seed: int
    reason: str
    model: str = "glom"
    by_model: dict[str, dict[str, float]] = field(default_factory=dict)  # every model's validation_ap
    # every model's AP per rule at the rule's best activity weight: what the choice compares
    by_model_activity: dict[str, dict[str, float]] = field(default_factory=dict)
    # the activity term served with the method (ActivityTerm.detail(); None: weight 0, or a method it is not
    # served with), and the validation AP of each weight tried
    activity: dict[str, float] | None = None
    activity_ap: dict[str, float] = field(default_factory=dict)
    folds: int = 0  # the folds the tasks were dealt into, one model fit each
    served: tuple[list[str], np.ndarray] | None = field(default=None, repr=False, compare=False)

    def detail(self) -> dict[str, Any]:
        out = asdict(replace(self, served=None))  # the vectors are not evidence, and asdict would copy them
        del out["served"]
        return out


def record_method(graph: Graph, version: str, method: str, detail: Mapping[str, Any]) -> None:
    """Record ``method`` as the serving default of model ``version`` (``detail``: how it was chosen, kept as
    JSON on the node)."""
    if method not in METHODS:
        raise ValueError(f"method={method!r}: expected one of {', '.join(METHODS)}")
    graph.execute(
        "lookalike/set_serving_method",
        version=version,
        method=method,
        detail=json.dumps(dict(detail), sort_keys=True),
        at=stamp(),
    )


def _method_for(
    graph: Graph, req: AudienceRequest, version: str | None, cache: SeedCache | None
) -> tuple[Serving, str]:
    """What to run and where it came from: the request's method (without an activity term), the model
    version's recorded choice, or the default. A mixed version (a write-back in progress) uses its most
    common version's record."""
    if req.method is not None:
        return Serving(req.method), "request"
    if not version:
        return Serving(DEFAULT_METHOD), "default"
    main = version.split(",")[0]
    now = time.monotonic()
    known = cache.methods.get(main) if cache is not None else None
    if known is None or (known[0] is None and now - known[1] > _UNRECORDED_TTL_S):
        known = (recorded_serving(graph, main), now)
        if cache is not None:
            cache.methods[main] = known
    if known[0] is None:
        return Serving(DEFAULT_METHOD), "default"
    return known[0], "model"


def top_categories(graph: Graph, user_ids: Sequence[str], *, limit: int = 10) -> list[dict[str, Any]]:
    """The categories most of these users reviewed items in: ``{category, name, users}``, most first."""
    if not user_ids:
        return []
    return graph.query("lookalike/top_categories", user_ids=list(user_ids), limit=limit)
