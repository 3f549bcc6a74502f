"""`mokg train --choose-method`: the serving method is chosen on validation tasks, recorded for the model
version on the graph and in the train report, and then used by expansion when a request names none."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from conftest import GIFT_META, GIFT_REVIEWS, run_mokg

from mokg.glom.data import TrainConfig
from mokg.glom.inductive import NO_LIGHTGCN_FOLD_IN, InductiveEmbedder
from mokg.glom.stages import load_kg
from mokg.graph import Graph
from mokg.ingest import ingest
from mokg.lookalike.audience import (
    ACTIVITY_METHODS,
    METHODS,
    AudienceRequest,
    Seeds,
    expand_audience,
    recorded_method,
)
from mokg.lookalike.baselines import LightGCNBaseline, TrainData
from mokg.lookalike.evaluation import ACTIVITY_WEIGHTS, CHOOSE_FOLDS, CHOOSE_MODELS, choose_serving_method
from mokg.lookalike.glom_model import ReviewIndex
from mokg.vectors import unit_rows

pytestmark = pytest.mark.integration


def test_train_records_the_validation_choice_and_expansion_uses_it(
    fresh_graph: Graph, tmp_path: Path
) -> None:
    ingest(fresh_graph, reviews=GIFT_REVIEWS, meta=GIFT_META, rejects_path=tmp_path / "r.jsonl")
    proc = run_mokg(
        "train", "--no-profiles", "--dim", "8", "--pm-epochs", "5", "--epochs", "2", "--choose-method",
        "--choose-min-buyers", "30", settings=fresh_graph.settings,
    )  # fmt: skip
    assert proc.returncode == 0, proc.stderr
    assert "choose-method" in proc.stdout and "embeddings, method" in proc.stdout
    (row,) = fresh_graph.run_text(
        "MATCH (u:User) WHERE u.embedding_version IS NOT NULL RETURN DISTINCT u.embedding_version AS v", {}
    )
    version = str(row["v"])
    chosen = recorded_method(fresh_graph, version)
    assert chosen in METHODS and chosen != "knn_vote"
    report = json.loads((fresh_graph.settings.home / "artifacts" / "glom" / f"{version}.json").read_text())
    detail = report["serving_method"]
    assert detail["method"] == chosen and detail["n_validation_tasks"] >= 1 and detail["min_buyers"] == 30
    # every task scored once, in the default number of folds (one more fit each)
    assert detail["folds"] == min(CHOOSE_FOLDS, detail["n_validation_tasks"]) and "folds" in detail["reason"]
    assert set(detail["validation_ap"]) == {"centroid", "max_seed", "logreg"}
    # the served vectors are the GLM's or the PM's (the default candidates), and the rule, whichever scored
    # highest with the rule's best activity weight (max_seed has none): what is served is rule and term
    by_model, with_term = detail["by_model"], detail["by_model_activity"]
    assert set(by_model) == set(with_term) == set(CHOOSE_MODELS)
    assert by_model[detail["model"]] == detail["validation_ap"]
    assert "served" not in detail  # LightGCN's vectors, when it wins, go to the graph, not into the record
    assert all(with_term[g]["max_seed"] == by_model[g]["max_seed"] for g in by_model)
    assert with_term[detail["model"]][chosen] == max(v for aps in with_term.values() for v in aps.values())
    # the activity term: weighed on the same validation tasks for the methods it is served with, else none
    weight = 0.0
    if chosen in ACTIVITY_METHODS:
        by_weight = detail["activity_ap"]
        assert len(by_weight) == len(ACTIVITY_WEIGHTS) and by_weight["+0"] == detail["validation_ap"][chosen]
        weight = detail["activity"]["weight"] if detail["activity"] else 0.0
        assert by_weight[f"{weight:+g}"] == max(by_weight.values())
        assert weight == 0.0 or by_weight[f"{weight:+g}"] >= by_weight["+0"]  # ties keep the plain ranking
        assert with_term[detail["model"]][chosen] == by_weight[f"{weight:+g}"]
    else:
        assert detail["activity"] is None and detail["activity_ap"] == {}
    assert version.endswith("+pm") == (detail["model"] == "pm")
    assert version.endswith("+lightgcn") == (detail["model"] == "lightgcn")
    (node,) = fresh_graph.run_text(
        "MATCH (m:Model {version: $v}) RETURN m.serving_method AS m, m.method_detail AS d", {"v": version}
    )
    assert node["m"] == chosen and json.loads(node["d"])["validation_ap"] == detail["validation_ap"]
    # a request without a method is served by the recorded one; an explicit one wins
    buyers = fresh_graph.run_text(
        "MATCH (u:User)-[:REVIEWED]->(:Item {asin: 'B00AR51Y5I'}) RETURN u.user_id AS u ORDER BY u", {}
    )
    seeds = Seeds(user_ids=tuple(str(r["u"]) for r in buyers[:20]))
    a = expand_audience(fresh_graph, AudienceRequest(seeds, k=10))
    assert (a.stats.method, a.stats.method_source, a.model_version) == (chosen, "model", version)
    assert a.stats.activity_weight == weight
    b = expand_audience(fresh_graph, AudienceRequest(seeds, k=10, method="knn_vote"))
    assert (b.stats.method, b.stats.method_source) == ("knn_vote", "request")
    # without validation tasks there is nothing to choose by: centroid, said so, and no model is fitted
    none = choose_serving_method(load_kg(fresh_graph), TrainConfig(dim=8), min_buyers=10_000)
    assert none.method == "centroid" and none.n_validation_tasks == 0 and "no validation tasks" in none.reason


def test_a_served_lightgcn_puts_its_user_vectors_behind_the_index(fresh_graph: Graph, tmp_path: Path) -> None:
    ingest(fresh_graph, reviews=GIFT_REVIEWS, meta=GIFT_META, rejects_path=tmp_path / "r.jsonl")
    proc = run_mokg(
        "train", "--no-profiles", "--dim", "8", "--pm-epochs", "5", "--seed", "3", "--choose-method",
        "--choose-models", "lightgcn", "--choose-min-buyers", "30", "--choose-folds", "2",
        settings=fresh_graph.settings,
    )  # fmt: skip
    assert proc.returncode == 0, proc.stderr
    assert "serving lightgcn embeddings" in proc.stdout.replace("\n", " ")
    rows = fresh_graph.run_text(
        "MATCH (u:User) RETURN u.user_id AS u, u.embedding_version AS v, u.embedding AS e, u.pm_embedding AS p",
        {},
    )
    (version,) = {str(r["v"]) for r in rows}
    assert version.endswith("+lightgcn") and recorded_method(fresh_graph, version) in METHODS
    # LightGCN's vectors at the model's dimension, not the PM's (kept beside them as pm_embedding): the same
    # seeded fit here points every user the same way (threads may move the last digits)
    assert all(len(r["e"]) == 8 and r["e"] != r["p"] for r in rows)
    ix = ReviewIndex.of(load_kg(fresh_graph))
    mine = LightGCNBaseline(dim=8, seed=3)
    mine.fit(TrainData.from_pairs(ix.u_idx, ix.i_idx, len(ix.users), len(ix.items)))
    assert mine.user_embeddings is not None
    stored = ix.user_matrix([str(r["u"]) for r in rows], np.array([r["e"] for r in rows]))
    assert float(np.mean(np.sum(unit_rows(stored) * unit_rows(mine.user_embeddings), axis=1))) > 0.99
    report = json.loads((fresh_graph.settings.home / "artifacts" / "glom" / f"{version}.json").read_text())
    assert set(report["serving_method"]["by_model"]) == {"lightgcn"}
    # a request without a method is served from LightGCN's vectors, by the recorded method
    buyers = fresh_graph.run_text(
        "MATCH (u:User)-[:REVIEWED]->(:Item {asin: 'B00AR51Y5I'}) RETURN u.user_id AS u ORDER BY u", {}
    )
    a = expand_audience(
        fresh_graph, AudienceRequest(Seeds(user_ids=tuple(str(r["u"]) for r in buyers[:20])), k=10)
    )
    assert a.model_version == version and len(a.users) == 10
    # streamed users get no vector from LightGCN (no fold-in), said so; the GLoM state still loads, and a
    # streamed item folds in through the GLM, whose item vectors this version serves
    embedder = InductiveEmbedder.load(fresh_graph.settings.home / "artifacts" / "glom")
    assert embedder is not None and embedder.version == version
    result = embedder.embed({"u:someone-new": [("u:someone-new", "LIKES", "i:B00AR51Y5I")]})
    assert result.served == {} and result.skipped == {"u:someone-new": NO_LIGHTGCN_FOLD_IN}
    known = f"u:{rows[0]['u']}"
    both = embedder.embed(
        {known: [(known, "LIKES", "i:new-item")], "i:new-item": [(known, "LIKES", "i:new-item")]}
    )
    assert set(both.served) == {"i:new-item"} and both.new == {"i:new-item"}
    assert both.skipped == {known: NO_LIGHTGCN_FOLD_IN} and len(both.served["i:new-item"]) == 8
    bad = run_mokg("train", "--choose-method", "--choose-models", "glom,svd", settings=fresh_graph.settings)
    assert bad.returncode != 0 and "--choose-models" in bad.stderr and "svd" in bad.stderr
