"""Which sources a PAIR run picks first, against the real graph: the ones whose triples reach the most users
(items by reviews, categories and stores by items), so that a run stopped early has mined what matters most."""

from __future__ import annotations

from pathlib import Path

import pytest
from conftest import GIFT_META, GIFT_REVIEWS

from mokg.config import Settings
from mokg.graph import Graph
from mokg.graph.schema import apply_schema
from mokg.ingest import ingest
from mokg.pair import store

pytestmark = pytest.mark.integration

DEGREE = {
    "Item": "MATCH (s:Item) WHERE s.title IS NOT NULL "
    "RETURN s.asin AS id, COUNT { (s)<-[:REVIEWED]-() } AS n",
    "Category": "MATCH (s:Category) RETURN s.path AS id, COUNT { (s)<-[:IN_CATEGORY]-() } AS n",
    "Store": "MATCH (s:Store) RETURN s.name AS id, COUNT { (s)<-[:SOLD_BY]-() } AS n",
}


def test_sources_come_most_connected_first_and_skip_done_ones(
    fresh_settings: Settings, tmp_path: Path
) -> None:
    with Graph(fresh_settings) as graph:
        apply_schema(graph)
        ingest(graph, reviews=GIFT_REVIEWS, meta=GIFT_META, rejects_path=tmp_path / "rejects.jsonl")
        for kind, text in DEGREE.items():
            rows = graph.run_text(text, {}, read_only=True)
            expected = [r["id"] for r in sorted(rows, key=lambda r: (-r["n"], r["id"]))][:20]
            picked = store.select_sources(graph, [kind], 20)
            assert [ref.id for ref, _ in picked] == expected, kind
            assert len({r["n"] for r in rows}) > 1  # the order is decided by the degree, not only by id
        # a source marked pending by a run is not picked again until it is stale
        (_, first_node), (second_ref, _) = store.select_sources(graph, ["Item"], 2)
        store.mark_pending(graph, [first_node], "test-run")
        assert store.select_sources(graph, ["Item"], 1)[0][0] == second_ref
