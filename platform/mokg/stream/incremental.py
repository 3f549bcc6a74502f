"""The graph around a streamed batch, brought up to date without a retrain, in bounded work:

* polarity (§3.3) of the batch's reviews only, the like flag against each item's mean sentiment so far;
* SIMILAR_TO (§3.4) of the users the batch touched, recomputed from every review of the items they reviewed
  (Eq. 1 takes its means over the co-rated items, so that is all their similarities depend on); exact for
  the touched users, ``top_k`` included; a co-rater's ``top_k`` is taken among those reviews only;
* embeddings of the touched users and items from their current edges by the model the graph serves
  (:mod:`mokg.glom.inductive`), marked ``embedding_source = 'inductive'``.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np

from mokg.clock import stamp
from mokg.config import Settings
from mokg.glom.data import Reviews, TrainConfig
from mokg.glom.fitting import review_relation, similarity
from mokg.glom.inductive import Inductive, InductiveEmbedder, Triple
from mokg.glom.stages import USER_EMBEDDING, write_similar_to
from mokg.graph import Graph
from mokg.ingest.records import Review
from mokg.polarity import normalise_rating
from mokg.polarity.polarity import LIKE_TOLERANCE
from mokg.polarity.sentiment import SentimentScorer


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


def update_similarity(graph: Graph, settings: Settings, user_ids: Sequence[str]) -> int:
    """Recompute the SIMILAR_TO edges of ``user_ids``; the number now on them."""
    if not user_ids:
        return 0
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
    users, edges = similarity(reviews, TrainConfig.from_settings(settings))
    touched = set(user_ids)
    keep = [
        {"src": users[a], "dst": users[b], "sim": float(s), "n": int(n)}
        for a, b, s, n in zip(edges.src, edges.dst, edges.sim, edges.n_co_rated, strict=True)
        if users[a] in touched or users[b] in touched
    ]
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
            (f"u:{r['user_id']}", review_relation(r.get("polarity"), use_polarity), key)
            for r in row["reviews"]
            if r.get("user_id") is not None
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
