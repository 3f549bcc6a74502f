"""The served activity term's own vector index: a request with a term costs one index query, like any other.

``mokg train --choose-method`` may record an activity term with the serving method
(:class:`~mokg.lookalike.scoring.ActivityTerm`): a user then scores ``cos(u, q) + w·σ·a(u)``. Counting a(u)
for every hit and fetching until no unfetched user could catch up made such a request cost over 3× a plain
one on Gift_Cards, and up to 150× on 100,000 users, where a positive weight lets low-cosine heavy users
catch up from deep in the index. Instead, every user of the model version carries ``activity_embedding``
(:meth:`ActivityTerm.rows`), under its own cosine index: its rows all have one norm, so one query returns
the exact top k, and the index's cosine times a per-request factor (:meth:`ActivityTerm.query`) is the
score.

The activity is counted when a row is written: for the whole graph after training's write-back, and by the
streaming workers for each user they re-embed (:mod:`mokg.stream.incremental`), so a row is as fresh as its
user's embedding.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from mokg.graph import Graph
from mokg.lookalike.scoring import ActivityTerm
from mokg.vectors import unit_rows

ACTIVITY_PROPERTY = "activity_embedding"


@dataclass(frozen=True)
class ActivityInputs:
    """The users of one model version: ids, unit embeddings and distinct items reviewed, aligned."""

    user_ids: list[str]
    vectors: np.ndarray
    items: np.ndarray


def activity_inputs(graph: Graph, version: str) -> ActivityInputs:
    """Every user with an embedding of model ``version``, as the activity rows are computed from."""
    rows = graph.query("lookalike/activity_inputs", version=version)
    rows = [r for r in rows if r["embedding"]]
    dim = len(rows[0]["embedding"]) if rows else 0
    return ActivityInputs(
        user_ids=[str(r["user_id"]) for r in rows],
        vectors=unit_rows(np.array([r["embedding"] for r in rows], dtype=np.float64).reshape(len(rows), dim)),
        items=np.array([int(r["items"]) for r in rows], dtype=np.int64),
    )


def activity_index_name(graph: Graph) -> str:
    return graph.dialect.vector_index_name("User", ACTIVITY_PROPERTY)


def write_activity_index(graph: Graph, term: ActivityTerm, version: str) -> int:
    """Write the activity rows of every user of model ``version`` behind their index; how many users."""
    inputs = activity_inputs(graph, version)
    if not inputs.user_ids:
        return 0
    # the index first: ArcadeDB types the property by it
    graph.dialect.create_vector_index(graph, "User", ACTIVITY_PROPERTY, inputs.vectors.shape[1] + 2)
    rows = term.rows(inputs.vectors, inputs.items)
    graph.write_batches(
        "lookalike/set_activity_embeddings",
        ({"key": u, "vec": r.tolist()} for u, r in zip(inputs.user_ids, rows, strict=True)),
        batch_size=500,
    )
    return len(inputs.user_ids)
