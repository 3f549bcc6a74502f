"""The graph around a streamed batch, brought up to date without a retrain, in bounded work:

* polarity (§3.3) of the batch's reviews only, the like flag against each item's mean sentiment so far;
* SIMILAR_TO (§3.4) of the users the batch touched: only their own candidate pairs are scored, from every
  review of the items they reviewed (Eq. 1 takes its means over the co-rated items, so that is all their
  similarities depend on); every co-rater's ``top_k`` is ranked over its stored edges to untouched users,
  whose similarities did not change, or over its whole row where that is not enough, and the edges
  between untouched users that enter or leave it are added or dropped (:func:`kept_pairs`). After each
  batch the stored edges are exactly those of a full recomputation, provided they were before it and no
  other batch wrote in between (the runtime makes a graph's batches take turns: :mod:`mokg.stream.lock`).
  An item the batch pushes past ``MOKG_SIM_MAX_ITEM_RATERS`` leaves every co-rated set, so all its raters
  count as touched;
* embeddings of the touched users and items from their current edges by the model the graph serves
  (:mod:`mokg.glom.inductive`), marked ``embedding_source = 'inductive'``.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field

import numpy as np

from mokg.clock import stamp
from mokg.config import Settings
from mokg.glom.data import Reviews, TrainConfig
from mokg.glom.fitting import review_relation, similarity_candidates
from mokg.glom.inductive import Inductive, InductiveEmbedder, Triple
from mokg.glom.stages import USER_EMBEDDING, checked_similar, similar_positions
from mokg.graph import Graph
from mokg.ingest.records import Review
from mokg.lookalike.activity_index import ACTIVITY_PROPERTY
from mokg.lookalike.audience import recorded_serving
from mokg.lookalike.scoring import ActivityTerm
from mokg.polarity import normalise_rating
from mokg.polarity.polarity import LIKE_TOLERANCE
from mokg.polarity.sentiment import SentimentScorer
from mokg.polarity.similarity import rank_key
from mokg.vectors import unit_rows


def update_polarity(graph: Graph, reviews: Sequence[Review], scorer: SentimentScorer, alpha: float) -> int:
    """Sentiment, like and polarity of ``reviews``, written onto their REVIEWED edges; the number written.

    Each item's mean is taken over its other scored reviews and the batch's, each key once (the last repeat
    wins, as written), so a redelivered batch, whose edges are scored already, writes the same values."""
    reviews = list({r.key: r for r in reviews}.values())
    if not reviews:
        return 0
    s = np.asarray(scorer.score([" ".join(t for t in (r.title, r.text) if t) for r in reviews]), dtype=float)
    skip: dict[str, list[list[object]]] = defaultdict(list)
    for r in reviews:
        skip[r.asin].append([r.user_id, r.time])
    before = {
        r["asin"]: (float(r["total"]), int(r["n"]))
        for r in graph.query(
            "stream/item_sentiment", items=[{"asin": a, "skip": skip[a]} for a in sorted(skip)]
        )
    }
    totals: dict[str, list[float]] = defaultdict(lambda: [0.0, 0])
    for r, v in zip(reviews, s, strict=True):
        totals[r.asin][0] += v
        totals[r.asin][1] += 1
    mean = {
        a: (t + before.get(a, (0.0, 0))[0]) / (n + before.get(a, (0.0, 0))[1]) for a, (t, n) in totals.items()
    }
    polarity = alpha * normalise_rating([r.rating for r in reviews]) + (1.0 - alpha) * s
    graph.write_batches(
        "glom/set_review_polarity",
        (
            {
                "user_id": r.user_id,
                "asin": r.asin,
                "time": r.time,
                "sentiment": float(v),
                "like": bool(v >= mean[r.asin] - LIKE_TOLERANCE),
                "polarity": float(p),
            }
            for r, v, p in zip(reviews, s, polarity, strict=True)
        ),
    )
    return len(reviews)


# asin -> its reviews as (user, time, rating, polarity): what the §3.4 step reads, and the embedding step reuses
ItemReviews = dict[str, list[tuple[str, int | None, float, float | None]]]
# (user, other user, sim, co-rated count): one §3.4 candidate pair, seen from ``user``
Candidate = tuple[str, str, float, int]
# the stored SIMILAR_TO edges of the given users: user -> [(other user, sim, n)]
Stored = Callable[[list[str]], dict[str, list[tuple[str, float, int]]]]
# every candidate pair of the given users, as they are now (``user`` first)
Rows = Callable[[list[str]], Sequence[Candidate]]


@dataclass
class SimilarChange:
    """What a batch changes in SIMILAR_TO: ``edges`` to write (``{src, dst, sim, n}``, ``src < dst``), and
    ``dropped`` pairs of two untouched users that left both users' ``top_k``; the touched users' other edges
    are deleted by the caller."""

    edges: list[dict[str, object]]
    dropped: list[tuple[str, str]] = field(default_factory=list)


def kept_pairs(
    candidates: Sequence[Candidate], touched: set[str], top_k: int, stored: Stored, rows: Rows
) -> SimilarChange:
    """The SIMILAR_TO edges the batch changes, under training's ``top_k`` rule (a pair is kept if it is
    among the ``top_k`` best candidates of either user; 0: every candidate is kept). Best: higher similarity
    (rounded as training rounds it), then more co-rated items, then the lower user id.

    ``candidates``: every candidate of every touched user (a pair of two touched users comes from both
    sides), so a touched user's own rank is exact. Every untouched co-rater is ranked too: over its batch
    candidates and its ``stored`` edges to untouched users, which did not change (neither user's reviews
    did) and hold its ``top_k`` (training keeps them so, and so does this update). That is exact unless one
    of its stored edges to a touched user is gone or now ranks lower: then the untouched edge next in line
    may never have been stored, so such a user is ranked over its whole current candidate list (``rows``),
    and the untouched pairs it now keeps are written too (unless stored already). A stored edge between two
    untouched users that left a co-rater's ``top_k`` is dropped unless the other user still keeps it, so
    the stored edges stay exactly those of a full recomputation. ``stored`` is asked at most twice (the
    touched users and their co-raters; then the far ends of edges that may go), ``rows`` at most once."""
    Key = tuple[float, int, str]

    def keyed(cs: Sequence[Candidate]) -> list[tuple[Key, Candidate]]:
        return [
            ((-sim, -c[3], c[1]), c) for c, sim in zip(cs, rank_key([c[2] for c in cs]).tolist(), strict=True)
        ]

    def pair(c: Candidate) -> tuple[str, str]:
        return (c[0], c[1]) if c[0] < c[1] else (c[1], c[0])

    def best(ranked: list[tuple[Key, Candidate]]) -> dict[str, Candidate]:
        return {c[1]: c for _, c in sorted(ranked)[:top_k]}

    own: dict[str, list[tuple[Key, Candidate]]] = defaultdict(list)
    for k, c in keyed(candidates):
        own[c[0]].append((k, c))
    kept = {pair(c): c for ranked in own.values() for _, c in sorted(ranked)[: top_k or None]}
    if not top_k:
        return SimilarChange(_edges(kept))
    # the other side of each pair, seen from the untouched user: (b, a, sim, n)
    theirs: dict[str, list[Candidate]] = defaultdict(list)
    for a, b, sim, n in candidates:
        if b not in touched:
            theirs[b].append((b, a, sim, n))
    edges = stored(sorted(set(theirs) | touched))

    def untouched(b: str, of: Mapping[str, list[tuple[str, float, int]]]) -> list[Candidate]:
        return [(b, w, sim, n) for w, sim, n in of.get(b, []) if w not in touched]

    # A user whose stored edge to a touched user is gone or now ranks lower may have an untouched edge next in
    # line that was never stored: it is ranked over its whole row. If every such edge kept or raised its
    # rank, its top_k can only have taken in touched users.
    now = {(c[0], c[1]): k for k, c in keyed([(b, a, sim, n) for a, b, sim, n in candidates])}
    was = keyed([(w, a, sim, n) for a in touched for w, sim, n in edges.get(a, []) if w not in touched])
    changed = sorted({c[0] for k, c in was if (c[0], c[1]) not in now or now[(c[0], c[1])] > k})
    whole: dict[str, list[Candidate]] = defaultdict(list)
    for c in rows(changed) if changed else []:
        whole[c[0]].append(c)
    tops: dict[str, dict[str, Candidate]] = {}
    for b in sorted(set(theirs) | set(changed)):
        tops[b] = best(keyed(whole[b] if b in changed else theirs[b] + untouched(b, edges)))
        # the touched side's values: the same pair, scored from the touched user's reads
        kept |= {pair(c): kept.get(pair(c), (c[1], c[0], c[2], c[3])) for c in theirs[b] if c[1] in tops[b]}
        if b in changed:
            have = {w for w, _, _ in edges.get(b, [])}
            kept |= {pair(c): c for w, c in tops[b].items() if w not in touched and w not in have}
    # an untouched edge that left a ranked user's top_k (ranked over all its stored edges, as they were)
    # stays only if its other user keeps it; any other stored edge was, and is, kept by its other user
    leaving = {
        pair(c)
        for b, top in tops.items()
        for c in best(keyed([(b, w, sim, n) for w, sim, n in edges.get(b, [])])).values()
        if c[1] not in touched and c[1] not in top
    }
    far = sorted({w for p in leaving for w in p} - set(tops))
    far_edges = stored(far) if far else {}
    for w in far:  # not a co-rater: its candidates did not change, and its stored edges hold its top_k
        tops[w] = best(keyed(untouched(w, far_edges)))
    dropped = sorted(p for p in leaving if p[1] not in tops[p[0]] and p[0] not in tops[p[1]])
    return SimilarChange(_edges(kept), dropped)


def _edges(kept: dict[tuple[str, str], Candidate]) -> list[dict[str, object]]:
    return [{"src": a, "dst": b, "sim": c[2], "n": c[3]} for (a, b), c in sorted(kept.items())]


def reviews_around(graph: Graph, settings: Settings, user_ids: Sequence[str]) -> ItemReviews:
    """Every review of the items ``user_ids`` reviewed (items past the rater bound left out): all that the
    §3.4 similarities of those users depend on."""
    items = graph.query(
        "stream/co_rater_reviews", ids=list(user_ids), max_raters=settings.sim_max_item_raters
    )
    return {item["asin"]: [(u, t, rating, pol) for u, t, rating, pol in item["reviews"]] for item in items}


def _as_reviews(items: ItemReviews) -> Reviews:
    # (user, item, time, rating, polarity), in a canonical order: the server returns them unordered
    rows = sorted(
        ((u, asin, t, rating, pol) for asin, reviews in items.items() for u, t, rating, pol in reviews),
        key=lambda r: (r[0], r[1], r[2] if r[2] is not None else -1),
    )
    return Reviews(
        [r[0] for r in rows],
        [r[1] for r in rows],
        np.array([r[3] for r in rows], dtype=np.float64),
        np.array([np.nan if r[4] is None else r[4] for r in rows], dtype=np.float64),
    )


def update_similarity(
    graph: Graph,
    settings: Settings,
    user_ids: Sequence[str],
    around: ItemReviews | None = None,
    reviewed: Mapping[str, set[str]] | None = None,
) -> int:
    """Recompute the SIMILAR_TO edges of ``user_ids`` (and add or drop those that enter or leave a
    co-rater's ``top_k``); the number written. Only their own candidates are scored, and the stored edges
    of their co-raters read (:func:`kept_pairs`). ``around``: :func:`reviews_around` of ``user_ids``, when
    the caller read it already. ``reviewed``: the batch's items and who reviewed each in it; the raters of an
    item it pushed past ``MOKG_SIM_MAX_ITEM_RATERS`` are recomputed too (their pairs lost that item)."""
    if not user_ids:
        return 0
    cfg = TrainConfig.from_settings(settings)
    touched = set(user_ids)
    around = reviews_around(graph, settings, sorted(touched)) if around is None else around
    crossed = _crossed_raters(graph, settings, around, reviewed or {}) - touched
    if crossed:
        touched |= crossed
        around = around | reviews_around(graph, settings, sorted(crossed))

    def rows(ids: list[str], read: ItemReviews | None = None) -> list[Candidate]:
        read = reviews_around(graph, settings, ids) if read is None else read
        users, edges = similarity_candidates(_as_reviews(read), cfg, ids)
        return [
            (users[a], users[b], float(s), int(n))
            for a, b, s, n in zip(edges.src, edges.dst, edges.sim, edges.n_co_rated, strict=True)
        ]

    def stored(ids: list[str]) -> dict[str, list[tuple[str, float, int]]]:
        return {
            r["user_id"]: [(w, float(sim), int(n)) for w, sim, n in r["edges"]]
            for r in graph.query("stream/stored_similar", ids=ids)
        }

    change = kept_pairs(rows(sorted(touched), around), touched, cfg.sim_top_k, stored, rows)
    # deleted and rewritten in one transaction: the next batch (or this one, redelivered) ranks against them
    users, edges = similar_positions(change.edges)
    gone = [{"id": u, "other": None} for u in sorted(touched)]
    gone += [{"id": a, "other": b} for a, b in change.dropped]
    done = graph.execute("stream/replace_user_similar", gone=gone, users=users, rows=edges)
    return checked_similar(graph, users, edges, int(done[0]["n"]) if done else 0)


def _crossed_raters(
    graph: Graph, settings: Settings, around: ItemReviews, reviewed: Mapping[str, set[str]]
) -> set[str]:
    """Every rater of the items the batch pushed past the rater bound. Its items that ``around`` left out
    are past it now; those that were within it without the batch's raters crossed in this batch (a batch
    that re-sends old reviews may count an item as crossing again: more work, the same edges)."""
    bound = settings.sim_max_item_raters
    past = [{"asin": a, "new": len(users)} for a, users in sorted(reviewed.items()) if a not in around]
    if not bound or not past:
        return set()
    return {
        u
        for row in graph.query("stream/crossing_raters", items=past, max_raters=bound)
        for u in row["raters"]
    }


@dataclass
class EmbedReport:
    version: str | None
    embedded: int = 0
    new: int = 0
    skipped: dict[str, str] = field(default_factory=dict)  # user id -> why it has no embedding
    items_embedded: int = 0


def user_triples(
    graph: Graph, user_ids: Sequence[str], *, use_polarity: bool = True
) -> dict[str, list[Triple]]:
    """Each user's current triples as training builds them (:func:`mokg.glom.fitting.kg_triples`)."""
    out: dict[str, list[Triple]] = {}
    for row in graph.query("stream/user_edges", ids=list(user_ids)):
        key = f"u:{row['user_id']}"
        triples: list[Triple] = []
        for r in row["reviews"]:
            if r.get("asin") is None:
                continue
            triples.append((key, review_relation(r.get("polarity"), use_polarity), f"i:{r['asin']}"))
        triples += [(key, "SIMILAR_TO", f"u:{w}") for w in row["similar_out"] if w is not None]
        triples += [(f"u:{w}", "SIMILAR_TO", key) for w in row["similar_in"] if w is not None]
        out[key] = triples
    return out


def item_triples(
    graph: Graph, asins: Sequence[str], *, use_polarity: bool = True, known: ItemReviews | None = None
) -> dict[str, list[Triple]]:
    """Each item's current triples as training builds them: its reviews and its SupKG edges. The reviews of
    the items in ``known`` (the §3.4 step's read, after this batch's polarity) are not read again."""
    known = known or {}
    reviews = {a: [(u, pol) for u, _, _, pol in known[a]] for a in asins if a in known}
    unread = [a for a in asins if a not in known]
    if unread:
        reviews |= {r["asin"]: r["reviews"] for r in graph.query("stream/item_reviews", asins=unread)}
    out: dict[str, list[Triple]] = {}
    for row in graph.query("stream/item_links", asins=list(asins)):
        key = f"i:{row['asin']}"
        triples: list[Triple] = [
            (f"u:{user}", review_relation(polarity, use_polarity), key)
            for user, polarity in reviews.get(row["asin"], [])
            if user is not None
        ]
        triples += [(key, "IN_CATEGORY", f"c:{c}") for c in row["categories"] if c is not None]
        triples += [(key, "SOLD_BY", f"s:{s}") for s in row["stores"] if s is not None]
        triples += [(key, "ALSO_BOUGHT", f"i:{b}") for b in row["bought_out"] if b is not None]
        triples += [(f"i:{a}", "ALSO_BOUGHT", key) for a in row["bought_in"] if a is not None]
        out[key] = triples
    return out


def _props(
    result: Inductive, key: str, at: str, activity: tuple[ActivityTerm, int] | None = None
) -> dict[str, object]:
    """A vector's properties; ``activity`` (the served term and the user's distinct items) adds its row of
    the activity index, so the term is served from the user's new embedding and current count."""
    props: dict[str, object] = {
        USER_EMBEDDING: result.served[key].astype(float).tolist(),
        "pm_embedding": result.pm[key].astype(float).tolist(),
        "embedding_version": result.version,
        "embedding_at": at,
        "embedding_source": "inductive",
    }
    if activity is not None:
        term, items = activity
        row = term.rows(unit_rows(result.served[key][None, :]), [items])[0]
        props[ACTIVITY_PROPERTY] = row.astype(float).tolist()
    return props


def embed_touched(
    graph: Graph,
    embedder: InductiveEmbedder | None,
    user_ids: Sequence[str],
    asins: Sequence[str] = (),
    known: ItemReviews | None = None,
) -> EmbedReport:
    """Embed ``user_ids`` and the items ``asins`` from their current edges with ``embedder``, in one pass
    of the model, and write the vectors onto them. ``known``: item reviews already read (:func:`item_triples`)."""
    if embedder is None:
        reason = "no trained model yet: run `mokg train`"
        return EmbedReport(None, skipped=dict.fromkeys(user_ids, reason))
    use_polarity = bool(embedder.state.config["use_polarity"])
    users = user_triples(graph, user_ids, use_polarity=use_polarity) if user_ids else {}
    items = item_triples(graph, asins, use_polarity=use_polarity, known=known) if asins else {}
    result = embedder.embed(users | items)
    at = stamp()
    user_keys = [k for k in result.served if k in users]
    item_keys = [k for k in result.served if k in items]
    served = recorded_serving(graph, result.version) if user_keys else None
    term = served.activity if served is not None else None

    def activity(k: str) -> tuple[ActivityTerm, int] | None:
        if term is None or k not in users:
            return None
        return term, len({o for s, _, o in users[k] if s == k and o.startswith("i:")})

    for statement, keys, prefix in (
        ("glom/set_user_properties", user_keys, "u:"),
        ("glom/set_item_properties", item_keys, "i:"),
    ):
        if keys:
            graph.write_batches(
                statement,
                ({"key": k.removeprefix(prefix), "props": _props(result, k, at, activity(k))} for k in keys),
            )
    skipped = {k.removeprefix("u:"): why for k, why in result.skipped.items() if k in users}
    skipped |= {u: "no such user" for u in user_ids if f"u:{u}" not in users}
    return EmbedReport(
        result.version,
        embedded=len(user_keys),
        new=sum(k in users for k in result.new),
        skipped=skipped,
        items_embedded=len(item_keys),
    )
