"""The library functions the command line is a shell over: audience files and the training configuration."""

from __future__ import annotations

import csv
import json
from dataclasses import replace
from pathlib import Path
from typing import Any, cast

import pytest

from mokg.config import Settings, SettingsError, get_settings, usable_cores
from mokg.export import read_user_ids, write_audience
from mokg.glom.data import TrainConfig
from mokg.lookalike.audience import Audience, Member
from mokg.lookalike.explain import Explanation


def _audience() -> Audience:
    members = (
        Member("u1", 0.9, 1, Explanation(shared_items=[{"asin": "A", "n_seeds": 2}])),
        Member("u2", 0.5, 2, None),
    )
    return Audience(users=members, stats=cast(Any, None), model_version="v", seed_ids=("s",))


def test_an_audience_written_as_jsonl_or_csv_reads_back_as_its_user_ids(tmp_path: Path) -> None:
    for name in ("a.jsonl", "sub/a.csv"):
        path = tmp_path / name
        assert write_audience(path, _audience(), explain=True) == 2
        assert read_user_ids(path) == ["u1", "u2"]
    rows = [json.loads(line) for line in (tmp_path / "a.jsonl").read_text().splitlines()]
    assert rows[0]["explanation"]["shared_items"] == [{"asin": "A", "n_seeds": 2}]
    assert rows[1] == {"rank": 2, "user_id": "u2", "score": 0.5, "explanation": None}
    with (tmp_path / "sub/a.csv").open() as f:
        header = next(csv.reader(f))
    assert header == ["rank", "user_id", "score", "explanation"]


def test_plain_id_files_skip_comments_and_blank_lines(tmp_path: Path) -> None:
    path = tmp_path / "ids.txt"
    path.write_text("# seeds\nu1\n\n u2 \n")
    assert read_user_ids(path) == ["u1", "u2"]


def test_an_audience_file_must_be_csv_or_jsonl(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match=r"\.csv or \.jsonl"):
        write_audience(tmp_path / "a.txt", _audience())


def test_train_config_from_settings_takes_the_similarity_bounds_and_seed() -> None:
    s = replace(
        get_settings(), sim_threshold=0.3, sim_min_co_rated=4, sim_top_k=9, sim_max_item_raters=50, seed=11
    )
    cfg = TrainConfig.from_settings(s, dim=16, seed=None)
    assert cfg.similarity_bounds == (0.3, 4, 9, 50) and (cfg.seed, cfg.dim) == (11, 16)
    assert TrainConfig.from_settings(s, seed=5).seed == 5


def test_train_config_changes_are_typed_and_unknown_fields_refused() -> None:
    change = TrainConfig.changes("dim=8, use_profiles=false,lr_pm=0.1,aggregator=mean,")
    assert change == {"dim": 8, "use_profiles": False, "lr_pm": 0.1, "aggregator": "mean"}
    assert TrainConfig(**change).dim == 8
    with pytest.raises(ValueError, match="'dimm' is not a TrainConfig field"):
        TrainConfig.changes("dimm=8")


@pytest.mark.parametrize("raw", ["1", "-5"])
def test_a_bad_item_rater_bound_is_one_clear_error(monkeypatch: pytest.MonkeyPatch, raw: str) -> None:
    monkeypatch.setenv("MOKG_SIM_MAX_ITEM_RATERS", raw)
    with pytest.raises(SettingsError, match=f"MOKG_SIM_MAX_ITEM_RATERS={raw}: must be 0"):
        Settings()


def test_sentiment_processes_default_to_one_per_core(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("MOKG_SENTIMENT_PROCESSES", raising=False)
    assert Settings().sentiment_workers == usable_cores()
    monkeypatch.setenv("MOKG_SENTIMENT_PROCESSES", "3")
    assert Settings().sentiment_workers == 3
    monkeypatch.setenv("MOKG_SENTIMENT_PROCESSES", "-1")
    with pytest.raises(SettingsError, match="MOKG_SENTIMENT_PROCESSES=-1: must be 0"):
        Settings()


def test_a_large_graph_trains_the_pm_on_batch_negatives_unless_told_otherwise() -> None:
    cfg = TrainConfig(pm_large_graph_triples=1_000)
    assert cfg.sized_for(999) is cfg
    large = cfg.sized_for(1_000)
    assert (large.pm_shared_negatives, large.pm_negatives, large.pm_epochs) == (True, 16, 50)
    assert large.version != cfg.version  # the version names what trained
    assert TrainConfig(pm_large_graph_triples=0).sized_for(10**9).pm_shared_negatives is False
    chosen = TrainConfig(pm_shared_negatives=True, pm_negatives=4, pm_large_graph_triples=1)
    assert chosen.sized_for(10**9) is chosen  # batch negatives already asked for: kept as asked


def test_a_pm_option_given_anywhere_turns_the_large_graph_switch_off() -> None:
    settings = Settings()
    assert TrainConfig.from_settings(settings).pm_large_graph_triples == 200_000
    assert TrainConfig.from_settings(settings, pm_epochs=None).pm_large_graph_triples == 200_000
    # the train_glom task's partial dict, as the CLI's --pm-epochs: the PM asked for, on any graph
    for option in ({"pm_epochs": 40}, {"pm_negatives": 4}, {"pm_shared_negatives": False}):
        cfg = TrainConfig.from_settings(settings, **option)
        assert cfg.pm_large_graph_triples == 0 and cfg.sized_for(10**9) == cfg, option
    # a full configuration (the stream's retrain sends the served model's) keeps its own threshold
    both = TrainConfig.from_settings(settings, pm_epochs=40, pm_large_graph_triples=1_000)
    assert both.pm_large_graph_triples == 1_000 and both.sized_for(1_000).pm_epochs == 50
