"""The Celery task wraps the same training function (run eagerly here: the broker is exercised by PAIR's tests)."""

from __future__ import annotations

import gzip
import json
from pathlib import Path

import pytest
from conftest import GIFT_REVIEWS

from mokg.graph import Graph
from mokg.ingest import ingest

pytestmark = pytest.mark.integration


def test_train_task_writes_embeddings(
    fresh_graph: Graph, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    with gzip.open(GIFT_REVIEWS, "rt") as f:
        rows = [json.loads(line) for line in f][:300]
    path = tmp_path / "slice.json"
    path.write_text("".join(json.dumps(r) + "\n" for r in rows))
    ingest(fresh_graph, reviews=path, rejects_path=tmp_path / "r.jsonl")
    monkeypatch.setenv("MOKG_GRAPH_DATABASE", fresh_graph.settings.graph_database)
    from mokg.config import get_settings

    get_settings.cache_clear()
    try:
        from mokg.apps.workers.tasks import train_glom

        result = train_glom.apply(
            kwargs={"config": {"dim": 8, "pm_epochs": 3, "glm_epochs": 2, "use_profiles": False}}
        ).get()
    finally:
        get_settings.cache_clear()
    assert [s[0] for s in result["stages"]] == ["polarity", "similarity", "pm+glm", "write-back"]
    n = fresh_graph.run_text("MATCH (u:User) WHERE size(u.embedding) = 8 RETURN count(u) AS n", {})[0]["n"]
    assert n == len({r["reviewerID"] for r in rows})
