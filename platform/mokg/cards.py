"""What the graph knows of one user, item or MoKG entity: the cards of ``GET /v1/users|items|entities``.

Each card is a plain dict (JSON values only) or None when the graph has no such node; the web views only
validate their parameters, call these and answer 404 for None.
"""

from __future__ import annotations

from typing import Any

from mokg.graph import Graph
from mokg.lookalike.audience import (
    AudienceRequest,
    EmbeddingsUnavailable,
    Seeds,
    expand_audience,
    top_categories,
)
from mokg.pair.resolution import normalize_name

SUMMARY_FIELDS = ("n_reviews", "mean_rating", "mean_sentiment", "mean_polarity", "n_likes")


def user_card(
    graph: Graph, user_id: str, *, neighbours: int = 10, reviews: int = 10, similar: int = 100
) -> dict[str, Any] | None:
    """The user's profile and embedding version, a review summary with the ``reviews`` most recent, the
    ``neighbours`` nearest users by embedding and up to ``similar`` SIMILAR_TO users."""
    rows = graph.query("analyst/user", user_id=user_id)
    if not rows:
        return None
    u = rows[0]
    nearest: list[dict[str, Any]] = []
    if u["embedding"] and neighbours:
        try:
            found = expand_audience(
                graph, AudienceRequest(seeds=Seeds(user_ids=(user_id,)), k=neighbours, method="centroid")
            )
            nearest = [{"user_id": m.user_id, "score": m.score} for m in found.users]
        except EmbeddingsUnavailable:
            nearest = []
    summary = {k: u[k] for k in SUMMARY_FIELDS}
    summary |= {
        "first_review": u["first_review"],
        "last_review": u["last_review"],
        "top_categories": top_categories(graph, [user_id], limit=5),
        "recent": graph.query("analyst/user_reviews", user_id=user_id, limit=reviews) if reviews else [],
    }
    return {
        "user_id": u["user_id"],
        "name": u["name"],
        "profile": u["profile"],
        "embedding_version": u["embedding_version"],
        "embedding_at": u["embedding_at"],
        "review_summary": summary,
        "nearest_users": nearest,
        "similar_users": graph.query("analyst/user_similar", user_id=user_id, limit=similar),
    }


def item_card(graph: Graph, asin: str) -> dict[str, Any] | None:
    """The item's properties and its mined MoKG triples (through PAIR's own analyst statement)."""
    rows = graph.query("analyst/item", asin=asin)
    if not rows:
        return None
    return {**rows[0], "relations": graph.query("analyst/mokg_item_triples", asin=asin)}


def entity_card(graph: Graph, name: str, *, limit: int = 100) -> dict[str, Any] | None:
    """The MoKG entities named ``name`` (as written or normalised) with their relations."""
    normalised = normalize_name(name)
    # entity keys are "<Type>:<normalised-name-with-dashes>" (mokg.pair.resolution)
    suffix = ":" + normalised.replace(" ", "-") if normalised else name
    rows = graph.query(
        "analyst/entity_relations", names=sorted({name, normalised}), key=name, key_suffix=suffix, limit=limit
    )
    return {"name": name, "entities": rows} if rows else None
