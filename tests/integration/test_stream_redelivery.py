"""One streamed batch against a real ArcadeDB server: a redelivered batch changes nothing, and an item link
to an item not in the graph is counted, not silently dropped."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from mokg.graph import Graph
from mokg.stream.batch import write_batch
from mokg.stream.incremental import update_polarity

pytestmark = pytest.mark.integration


class Scorer:
    """The review text is its sentiment."""

    def score(self, texts: list[str | None]) -> np.ndarray:
        return np.array([float(t) for t in texts])


def _lines(reviews: list[tuple[str, int, str]], first: int = 1) -> list[tuple[int, str, None]]:
    return [
        (
            n,
            json.dumps({"reviewerID": u, "asin": "A", "overall": 4.0, "unixReviewTime": t, "reviewText": s}),
            None,
        )
        for n, (u, t, s) in enumerate(reviews, first)
    ]


def _edges(graph: Graph) -> list[dict[str, Any]]:
    return graph.run_text(
        "MATCH (u:User)-[r:REVIEWED]->(i:Item) RETURN u.user_id AS user, r.time AS time, "
        "r.sentiment AS sentiment, r.like AS like, r.polarity AS polarity ORDER BY user, time",
        {},
    )


def _apply(graph: Graph, lines: list[tuple[int, str, None]], tmp_path: Path) -> None:
    result = write_batch(graph, "reviews", lines, source="s", rejects=tmp_path / f"{lines[0][0]}.jsonl")
    update_polarity(graph, result.reviews, Scorer(), 0.5)  # type: ignore[arg-type]


def test_a_redelivered_batch_changes_no_property(fresh_graph: Graph, tmp_path: Path) -> None:
    # earlier reviews of the item, mean sentiment 0.2
    _apply(fresh_graph, _lines([(f"P{k}", k, "0.2") for k in range(4)]), tmp_path)
    # U2's 0.42 is above the mean with the batch's reviews counted once (0.353), below it counted twice (0.43)
    batch = _lines([("U1", 10, "0.9"), ("U2", 11, "0.42")], first=5)
    _apply(fresh_graph, batch, tmp_path)
    first = _edges(fresh_graph)
    assert [(e["user"], e["like"]) for e in first if e["user"].startswith("U")] == [
        ("U1", True),
        ("U2", True),
    ]
    _apply(fresh_graph, batch, tmp_path)  # redelivered
    assert _edges(fresh_graph) == first


def test_links_to_items_not_in_the_graph_are_counted(fresh_graph: Graph, tmp_path: Path) -> None:
    fresh_graph.run_text("CREATE (:Item {asin: 'OLD'})", {})
    items = [{"asin": "I1", "also_buy": ["I2", "LATER", "OLD"]}, {"asin": "I2", "also_view": ["LATER"]}]
    lines = [(n, json.dumps(i), None) for n, i in enumerate(items, 1)]
    result = write_batch(fresh_graph, "meta", lines, source="m", rejects=tmp_path / "r.jsonl")
    assert result.links == {"ALSO_BOUGHT": 2, "ALSO_VIEWED": 0, "BOUGHT_TOGETHER": 0}
    assert result.links_listed == {"ALSO_BOUGHT": 3, "ALSO_VIEWED": 1, "BOUGHT_TOGETHER": 0}
    assert result.links_unmatched == 2
    got = fresh_graph.run_text(
        "MATCH (a:Item)-[:ALSO_BOUGHT]->(b:Item) RETURN a.asin AS a, b.asin AS b ORDER BY b", {}
    )
    assert got == [{"a": "I1", "b": "I2"}, {"a": "I1", "b": "OLD"}]
