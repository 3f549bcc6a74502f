"""The graph around a streamed batch, brought up to date without a retrain, in bounded work:

* polarity (§3.3) of the batch's reviews only, the like flag against each item's mean sentiment so far;
* SIMILAR_TO (§3.4) of the users the batch touched: only their own candidate pairs are scored, from every
  review of the items they reviewed (Eq. 1 takes its means over the co-rated items, so that is all their
  similarities depend on); a co-rater's ``top_k`` is ranked over its stored edges to untouched users, whose
  similarities did not change (:func:`kept_pairs`). The touched users keep every edge a full
  recomputation keeps on them, and only those when they are new to the graph; see :func:`kept_pairs` for
  the extra edges a known user may keep. Pairs of two untouched users stay as they are until a retrain;
* embeddings of the touched users and items from their current edges by the model the graph serves
  (:mod:`mokg.glom.inductive`), marked ``embedding_source = 'inductive'``.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

import numpy as np

from mokg.clock import stamp
from mokg.config import Settings
from mokg.glom.data import Reviews, TrainConfig
from mokg.glom.fitting import review_relation, similarity_candidates
from mokg.glom.inductive import Inductive, InductiveEmbedder, Triple
from mokg.glom.stages import USER_EMBEDDING, write_similar_to
from mokg.graph import Graph
from mokg.ingest.records import Review
from mokg.polarity import normalise_rating
from mokg.polarity.polarity import LIKE_TOLERANCE
from mokg.polarity.sentiment import SentimentScorer
from mokg.polarity.similarity import rank_key


def update_polarity(graph: Graph, reviews: Sequence[Review], scorer: SentimentScorer, alpha: float) -> int:
    """Sentiment, like and polarity of ``reviews``, written onto their REVIEWED edges."""
    if not reviews:
        return 0
    s = np.asarray(scorer.score([" ".join(t for t in (r.title, r.text) if t) for r in reviews]), dtype=float)
    before = {
        r["asin"]: (float(r["total"]), int(r["n"]))
        for r in graph.query("stream/item_sentiment", asins=sorted({r.asin for r in reviews}))
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


# (user, other user, sim, co-rated count): one §3.4 candidate pair, seen from ``user``
Candidate = tuple[str, str, float, int]
# the stored SIMILAR_TO edges of the given users to users outside the batch: user -> [(other, sim, n)]
Outside = Callable[[list[str]], dict[str, list[tuple[str, float, int]]]]


def kept_pairs(
    candidates: Sequence[Candidate], touched: set[str], top_k: int, outside: Outside
) -> list[dict[str, object]]:
    """The SIMILAR_TO edges of the touched users under training's ``top_k`` rule: a pair is kept if it is
    among the ``top_k`` best candidates of either user (0: every candidate is kept). Best: higher similarity
    (rounded as training rounds it), then more co-rated items, then the lower user id.

    ``candidates``: every candidate of every touched user (a pair of two touched users comes from both
    sides), so a touched user's own rank is exact. A pair its touched user does not keep may still be among
    the other user's best: that user is ranked over its batch candidates and its stored edges to untouched
    users (``outside``, asked once, only for those users). Those edges are a subset of its candidates, so
    its rank is never worse than the true one and no edge a full computation keeps is lost. When the
    touched users are new, the stored edges hold each other user's ``top_k`` among untouched users and the
    result is exact; when a touched user was in another user's stored ``top_k``, that user has one
    untouched edge too few to rank against and may keep a pair a full computation drops."""
    Key = tuple[float, int, str]
    rounded = rank_key([c[2] for c in candidates]).tolist()
    own: dict[str, list[tuple[Key, Candidate]]] = defaultdict(list)
    theirs: dict[str, list[tuple[Key, Candidate]]] = defaultdict(list)
    for c, sim in zip(candidates, rounded, strict=True):
        a, b, _, n = c
        own[a].append(((-sim, -n, b), c))
        if b not in touched:
            theirs[b].append(((-sim, -n, a), c))

    def pair(c: Candidate) -> tuple[str, str]:
        return (c[0], c[1]) if c[0] < c[1] else (c[1], c[0])

    kept = {pair(c): c for ranked in own.values() for _, c in sorted(ranked)[: top_k or None]}
    if top_k:
        open_ = sorted({b for b, ranked in theirs.items() if any(pair(c) not in kept for _, c in ranked)})
        stored = outside(open_) if open_ else {}
        for b in open_:
            edges = stored.get(b, [])
            listed: list[tuple[Key, Candidate | None]] = [*theirs[b]]
            listed += [
                ((-sim, -n, w), None)
                for (w, _, n), sim in zip(edges, rank_key([e[1] for e in edges]).tolist(), strict=True)
            ]
            kept |= {pair(c): c for _, c in sorted(listed)[:top_k] if c is not None}
    return [{"src": a, "dst": b, "sim": c[2], "n": c[3]} for (a, b), c in sorted(kept.items())]


def update_similarity(graph: Graph, settings: Settings, user_ids: Sequence[str]) -> int:
    """Recompute the SIMILAR_TO edges of ``user_ids``; the number now on them. Only their own candidates
    are scored: the reviews of the items they rated, and for a co-rater whose ``top_k`` decides, its stored
    edges to the other users (:func:`kept_pairs`)."""
    if not user_ids:
        return 0
    cfg = TrainConfig.from_settings(settings)
    items = graph.query(
        "stream/co_rater_reviews", ids=list(user_ids), max_raters=settings.sim_max_item_raters
    )
    # (user, item, time, rating, polarity), in a canonical order: the server returns them unordered
    rows = sorted(
        ((u, item["asin"], t, rating, pol) for item in items for u, t, rating, pol in item["reviews"]),
        key=lambda r: (r[0], r[1], r[2] if r[2] is not None else -1),
    )
    reviews = Reviews(
        [r[0] for r in rows],
        [r[1] for r in rows],
        np.array([r[3] for r in rows], dtype=np.float64),
        np.array([np.nan if r[4] is None else r[4] for r in rows], dtype=np.float64),
    )
    touched = set(user_ids)
    users, edges = similarity_candidates(reviews, cfg, sorted(touched))
    candidates = [
        (users[a], users[b], float(s), int(n))
        for a, b, s, n in zip(edges.src, edges.dst, edges.sim, edges.n_co_rated, strict=True)
    ]

    def outside(others: list[str]) -> dict[str, list[tuple[str, float, int]]]:
        rows = graph.query("stream/similar_outside", ids=others)
        return {
            r["user_id"]: [(w, float(sim), int(n)) for w, sim, n in r["edges"] if w not in touched]
            for r in rows
        }

    keep = kept_pairs(candidates, touched, cfg.sim_top_k, outside)
    graph.execute("stream/delete_user_similar", ids=list(user_ids))
    return write_similar_to(graph, keep)


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


def item_triples(graph: Graph, asins: Sequence[str], *, use_polarity: bool = True) -> dict[str, list[Triple]]:
    """Each item's current triples as training builds them: its reviews and its SupKG edges."""
    out: dict[str, list[Triple]] = {}
    for row in graph.query("stream/item_edges", asins=list(asins)):
        key = f"i:{row['asin']}"
        triples: list[Triple] = [
            (f"u:{user}", review_relation(polarity, use_polarity), key)
            for user, polarity in row["reviews"]
            if user is not None
        ]
        triples += [(key, "IN_CATEGORY", f"c:{c}") for c in row["categories"] if c is not None]
        triples += [(key, "SOLD_BY", f"s:{s}") for s in row["stores"] if s is not None]
        triples += [(key, "ALSO_BOUGHT", f"i:{b}") for b in row["bought_out"] if b is not None]
        triples += [(f"i:{a}", "ALSO_BOUGHT", key) for a in row["bought_in"] if a is not None]
        out[key] = triples
    return out


def _props(result: Inductive, key: str, at: str) -> dict[str, object]:
    return {
        USER_EMBEDDING: result.served[key].astype(float).tolist(),
        "pm_embedding": result.pm[key].astype(float).tolist(),
        "embedding_version": result.version,
        "embedding_at": at,
        "embedding_source": "inductive",
    }


def embed_touched(
    graph: Graph,
    embedder: InductiveEmbedder | None,
    user_ids: Sequence[str],
    asins: Sequence[str] = (),
) -> EmbedReport:
    """Embed ``user_ids`` and the items ``asins`` from their current edges with ``embedder``, in one pass
    of the model, and write the vectors onto them."""
    if embedder is None:
        reason = "no trained model yet: run `mokg train`"
        return EmbedReport(None, skipped=dict.fromkeys(user_ids, reason))
    use_polarity = bool(embedder.state.config["use_polarity"])
    users = user_triples(graph, user_ids, use_polarity=use_polarity) if user_ids else {}
    items = item_triples(graph, asins, use_polarity=use_polarity) if asins else {}
    result = embedder.embed(users | items)
    at = stamp()
    user_keys = [k for k in result.served if k in users]
    item_keys = [k for k in result.served if k in items]
    for statement, keys, prefix in (
        ("glom/set_user_properties", user_keys, "u:"),
        ("glom/set_item_properties", item_keys, "i:"),
    ):
        if keys:
            graph.write_batches(
                statement, ({"key": k.removeprefix(prefix), "props": _props(result, k, at)} for k in keys)
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
