"""`mokg train` refuses what it cannot train on before any stage writes, records a serving choice only for
vectors it wrote, and reads the graph in an order that does not depend on the server's."""

from __future__ import annotations

import random
from collections.abc import Callable
from pathlib import Path
from typing import Any, cast

import numpy as np
import pytest
from click.testing import CliRunner

import mokg.glom.pipeline as pipeline
from mokg.config import Settings, SettingsError
from mokg.data import DataError
from mokg.glom.data import Embeddings, KGData, TrainConfig
from mokg.glom.pipeline import train
from mokg.glom.stages import item_prompts, load_kg, user_prompts
from mokg.graph import Graph
from mokg.lookalike.audience import MethodChoice
from mokg.lookalike.scoring import ActivityTerm
from mokg.polarity.sentiment import label_scores_to_sentiment


class FakeGraph:
    """Answers named read statements from ``rows``; records every statement that writes."""

    def __init__(self, rows: dict[str, list[dict[str, Any]]] | None = None) -> None:
        self.rows = rows or {}
        self.writes: list[str] = []

    def query(self, name: str, **params: Any) -> list[dict[str, Any]]:
        return [dict(r) for r in self.rows.get(name, [])]

    def execute(self, name: str, **params: Any) -> list[dict[str, Any]]:
        self.writes.append(name)
        return [{"n": 0}]

    def write_batches(self, name: str, rows: Any, **kwargs: Any) -> Any:
        self.writes.append(name)
        raise AssertionError(f"{name}: nothing should be written")


def fake(rows: dict[str, list[dict[str, Any]]] | None = None) -> Graph:
    return cast(Graph, FakeGraph(rows))


def _review(user: str, asin: str, polarity: float | None, time: int = 1) -> dict[str, Any]:
    return {"user_id": user, "asin": asin, "time": time, "rating": 5.0, "polarity": polarity}


def _settings(tmp_path: Path) -> Settings:
    return Settings(home=tmp_path)


ALL_BUT_POLARITY = ("profiles", "text-embeddings", "write-back")


def test_an_empty_graph_is_refused_in_one_line_before_any_stage_writes(tmp_path: Path) -> None:
    graph = FakeGraph()
    with pytest.raises(DataError, match=r"no reviews.*mokg ingest"):
        train(cast(Graph, graph), _settings(tmp_path), TrainConfig(), skip=("profiles", "text-embeddings"))
    assert graph.writes == []  # the old SIMILAR_TO edges are still there


def test_an_empty_graph_is_refused_with_the_polarity_stage_skipped(tmp_path: Path) -> None:
    graph = FakeGraph()
    with pytest.raises(DataError, match="no reviews"):
        train(cast(Graph, graph), _settings(tmp_path), TrainConfig(), skip=("polarity", *ALL_BUT_POLARITY))
    assert graph.writes == []


def test_reviews_without_polarity_are_refused_when_the_polarity_stage_is_skipped(tmp_path: Path) -> None:
    graph = FakeGraph(
        {
            "glom/review_polarity": [
                _review("u1", "a", 0.5),
                _review("u2", "a", None),
                _review("u3", "b", None),
            ]
        }
    )
    with pytest.raises(DataError, match=r"2 of 3 reviews have no polarity.*--skip polarity"):
        train(cast(Graph, graph), _settings(tmp_path), TrainConfig(), skip=("polarity", *ALL_BUT_POLARITY))
    assert graph.writes == []


def test_reviews_without_polarity_train_when_nothing_reads_it(tmp_path: Path, monkeypatch: Any) -> None:
    """The "w/o polarity" ablation without the similarity stage reads no polarity: nothing to refuse."""
    graph = fake({"glom/review_polarity": [_review("u1", "a", None)]})
    monkeypatch.setattr(pipeline, "fit", _fake_fit)
    cfg = TrainConfig(use_polarity=False)
    report = train(graph, _settings(tmp_path), cfg, skip=("polarity", "similarity", *ALL_BUT_POLARITY))
    assert [s.stage for s in report.stages] == ["pm+glm"]


def _fake_fit(kg: KGData, cfg: TrainConfig, *args: Any) -> Embeddings:
    users = sorted(set(kg.reviews.user))
    vec = np.ones((len(users), 2), dtype=np.float32)
    return Embeddings(cfg.version, users, [], vec, vec[:0], vec, vec[:0], [1.0], [], 0, cfg)


TERM = ActivityTerm(0.5, 1.0, 0.5, 0.0, 2.0)


def _choice(kg: KGData, cfg: TrainConfig, progress: Any) -> MethodChoice:
    return MethodChoice(
        method="centroid",
        validation_ap={"centroid": 0.3},
        n_validation_tasks=4,
        min_buyers=2,
        split_seed=cfg.seed,
        reason="test",
        activity={"weight": TERM.weight, "mean": TERM.mean, "spread": TERM.spread, "low": 0.0, "high": 2.0},
    )


def _record_calls(monkeypatch: Any, fail_at: str | None = None) -> list[tuple[str, Any]]:
    calls: list[tuple[str, Any]] = []

    def step(name: str) -> Callable[..., Any]:
        def run(graph: Any, *args: Any) -> int:
            if name == fail_at:
                raise RuntimeError(f"{name} failed")
            calls.append((name, args))
            return 1

        return run

    monkeypatch.setattr(pipeline, "fit", _fake_fit)
    monkeypatch.setattr(pipeline, "write_back", step("vectors"))
    monkeypatch.setattr(pipeline, "write_activity_index", step("activity index"))
    monkeypatch.setattr(pipeline, "record_method", step("record"))
    monkeypatch.setattr(pipeline, "recorded_serving", lambda graph, version: None)
    return calls


def _train_choosing(tmp_path: Path) -> Any:
    graph = fake({"glom/review_polarity": [_review("u1", "a", 0.5), _review("u2", "a", -0.5)]})
    skip = ("polarity", "similarity", "profiles", "text-embeddings")
    return train(graph, _settings(tmp_path), TrainConfig(), skip=skip, choose_method=_choice)


def test_the_serving_choice_is_recorded_after_the_vectors_and_the_activity_index(
    tmp_path: Path, monkeypatch: Any
) -> None:
    calls = _record_calls(monkeypatch)
    report = _train_choosing(tmp_path)
    assert [name for name, _ in calls] == ["vectors", "activity index", "record"]
    assert calls[1][1] == (TERM, report.version)  # the term chosen now, not one read back from the graph
    assert calls[2][1][:2] == (report.version, "centroid")


@pytest.mark.parametrize("fail_at", ["vectors", "activity index"])
def test_no_choice_is_recorded_when_the_write_back_fails(
    tmp_path: Path, monkeypatch: Any, fail_at: str
) -> None:
    calls = _record_calls(monkeypatch, fail_at)
    with pytest.raises(RuntimeError, match="failed"):
        _train_choosing(tmp_path)
    assert "record" not in [name for name, _ in calls]


def test_choosing_a_method_without_the_write_back_is_refused(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="write-back"):
        train(fake(), _settings(tmp_path), TrainConfig(), skip=("write-back",), choose_method=_choice)


def test_the_cli_refuses_choose_method_with_skip_write_back() -> None:
    from mokg.apps.cli.train import train as train_command

    result = CliRunner().invoke(train_command, ["--choose-method", "--skip", "write-back"])
    assert result.exit_code == 2, result.output
    assert "--choose-method goes without --skip write-back" in result.output


def _shuffled(rows: list[dict[str, Any]], seed: int) -> list[dict[str, Any]]:
    rows = list(rows)
    random.Random(seed).shuffle(rows)
    return rows


def test_load_kg_reads_the_supkg_links_in_one_order_whatever_the_server_returns() -> None:
    links = [{"item": f"a{k % 7}", "rel": "ALSO_BOUGHT", "target": f"i:a{(k * 3) % 7}"} for k in range(20)]
    links += [{"item": f"a{k}", "rel": "IN_CATEGORY", "target": f"c:cat{k % 2}"} for k in range(7)]
    reviews = [_review("u1", "a0", 0.5)]
    read = [
        load_kg(fake({"glom/supkg_triples": _shuffled(links, seed), "glom/review_polarity": reviews}))
        for seed in range(3)
    ]
    assert read[0].supkg == read[1].supkg == read[2].supkg


def test_item_prompts_quote_the_same_reviews_whatever_the_collect_order(tmp_path: Path) -> None:
    reviews = [{"time": 100 - k, "user_id": f"u{k}", "text": f"t: review {k}"} for k in range(30)]
    item = {"asin": "a", "title": "A", "description": None, "features": None, "details": None}
    item |= {"category": "Gift Cards", "store": None}
    prompts = [
        item_prompts(
            fake({"glom/item_profile_inputs": [item | {"reviews": _shuffled(reviews, s)}]}),
            _settings(tmp_path),
        )
        for s in range(3)
    ]
    assert prompts[0] == prompts[1] == prompts[2]
    # the sample: the 20 earliest reviews, in time order
    from mokg.glom.stages import review_sample

    assert review_sample(_shuffled(reviews, 9)) == tuple(f"t: review {k}" for k in range(29, 9, -1))


def test_user_prompts_and_their_guideline_do_not_depend_on_the_collect_order(tmp_path: Path) -> None:
    items = [
        {"asin": f"a{k}", "title": f"T{k}", "profile": "p", "category": cat, "rating": 5.0}
        | {"review_title": "r", "review": f"text {k}"}
        for k, cat in enumerate(["Gift Cards > x", "Beauty > y", None, "Gift Cards > z"])
    ]
    prompts = [
        user_prompts(
            fake({"glom/user_profile_inputs": [{"user_id": "u", "items": _shuffled(items, s)}]}),
            _settings(tmp_path),
        )
        for s in range(6)
    ]
    assert all(p == prompts[0] for p in prompts)


def test_a_sentiment_model_without_positive_negative_labels_is_a_setting_error() -> None:
    with pytest.raises(SettingsError, match=r"MOKG_SENTIMENT_MODEL='some/model'.*positive/negative"):
        label_scores_to_sentiment([{"label": "LABEL_0", "score": 0.7}], "some/model")
