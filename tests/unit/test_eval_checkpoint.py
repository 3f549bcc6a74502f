"""An interrupted `mokg eval` resumes from its finished units and reports what one whole run reports."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import asdict, replace
from pathlib import Path

import numpy as np
import pytest
import torch
from test_tuning import _toy_kg

from mokg.glom.data import TrainConfig
from mokg.lookalike.checkpoint import Checkpoint, CheckpointBusy
from mokg.lookalike.evaluation import EvalConfig, EvalResult, evaluate_kg, fingerprint
from mokg.lookalike.registry import BASELINE_NAMES
from mokg.lookalike.tuning import GRIDS

torch.set_num_threads(1)


def test_entries_survive_a_reopen_and_a_line_cut_short(tmp_path: Path) -> None:
    path = tmp_path / "c.jsonl"
    with Checkpoint(path, "f1") as c:
        assert (c.resumed, c.discarded) == (0, False)
        c.put("a", {"x": 1.5})
        c.put("b", [1, 2])
    with path.open("a") as f:
        f.write('{"key": "c", "val')  # killed mid-write
    with Checkpoint(path, "f1") as c:
        assert c.resumed == 2 and c.get("a") == {"x": 1.5} and c.get("b") == [1, 2] and c.get("c") is None
        c.put("c", 3)
    with Checkpoint(path, "f1") as c:
        assert c.entries == {"a": {"x": 1.5}, "b": [1, 2], "c": 3}


def test_a_kill_while_reopening_loses_nothing(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    path = tmp_path / "c.jsonl"
    with Checkpoint(path, "f1") as c:
        c.put("a", 1)
        c.put("b", 2)
    with path.open("a") as f:
        f.write('{"key": "c", "val')  # killed mid-write: the reopening below rewrites the file

    def killed(*args: object) -> None:
        raise KeyboardInterrupt

    # killed at the reopening's first sync, the moment its rewrite first reaches the disk
    monkeypatch.setattr("mokg.lookalike.checkpoint.os.fsync", killed)
    with pytest.raises(KeyboardInterrupt), Checkpoint(path, "f1"):
        pass
    monkeypatch.undo()
    # the lock went with the failed opening, and the old file still holds both entries
    with Checkpoint(path, "f1") as c:
        assert c.entries == {"a": 1, "b": 2}
        c.put("c", 3)
    assert not (tmp_path / "c.jsonl.tmp").exists()
    with Checkpoint(path, "f1") as c:
        assert c.entries == {"a": 1, "b": 2, "c": 3}


def test_another_fingerprint_or_fresh_starts_empty(tmp_path: Path) -> None:
    path = tmp_path / "c.jsonl"
    with Checkpoint(path, "f1") as c:
        c.put("a", 1)
    with Checkpoint(path, "f2") as c:
        assert (c.resumed, c.discarded) == (0, True)
    # and the file now belongs to f2: f1's entry is gone
    with Checkpoint(path, "f1") as c:
        assert c.discarded and c.get("a") is None
        c.put("a", 1)
    with Checkpoint(path, "f1", fresh=True) as c:
        assert (c.resumed, c.discarded) == (0, False)
    with Checkpoint(path, "f1") as c:
        assert c.resumed == 0


def test_one_writer_at_a_time_and_remove_deletes(tmp_path: Path) -> None:
    path = tmp_path / "c.jsonl"
    with Checkpoint(path, "f1") as c:
        with pytest.raises(CheckpointBusy, match="another `mokg eval` is writing"), Checkpoint(path, "f1"):
            pass
        c.remove()
    assert not path.exists()


class _Stop(Exception):
    pass


# the tuning's resumption with cheap models; then, untuned, every other baseline: each model's fit must
# depend on its split and configuration alone, not on what was fitted before it in the process
CHEAP = ("popularity", "lr", "lightgcn")
CONFIGS = {
    "tuned": EvalConfig(
        seeds=(0, 1),
        baselines=CHEAP,
        seed_sizes=(1, 5),
        tune_budget=2,
        train=TrainConfig(dim=8, pm_epochs=3, glm_epochs=1, use_profiles=False),
    ),
    "the other baselines": EvalConfig(
        seeds=(0, 1),
        baselines=tuple(b for b in BASELINE_NAMES if b not in CHEAP),
        ablations=False,
        seed_sizes=(1, 5),
        tune_budget=0,
        train=TrainConfig(dim=8, pm_epochs=3, glm_epochs=1, use_profiles=False),
    ),
}


def _figures(result: EvalResult) -> tuple[object, object]:
    runs = [{k: v for k, v in asdict(r).items() if k != "fit_seconds"} for r in result.runs]
    trials = {
        m: [(t.params, t.validation_ap, t.method, t.task_aps) for t in tuned.trials]
        for m, tuned in result.tuning.items()
    }
    return runs, trials


@pytest.mark.parametrize("name", CONFIGS)
def test_a_resumed_run_reports_what_an_uninterrupted_one_does(tmp_path: Path, name: str) -> None:
    kg, cfg = _toy_kg(2), CONFIGS[name]
    key = fingerprint(kg, cfg)
    # what decides the units is in the fingerprint: the configuration and the data
    assert fingerprint(kg, replace(cfg, tune_budget=3)) != key
    assert fingerprint(replace(kg, supkg=kg.supkg[1:]), cfg) != key
    assert fingerprint(_toy_kg(2), replace(cfg)) == key
    small = {"dim": (8, 12), "lr_pm": (0.01,), "margin": (1.0,), "pm_epochs": (3,), "lr_glm": (0.005,)}
    totals: list[int | None] = []

    def stop_after(n: int) -> Callable[[str, int | None], Callable[[int], None]]:
        def factory(label: str, total: int | None) -> Callable[[int], None]:
            totals.append(total)

            def advance(done: int) -> None:
                if done >= n:
                    raise _Stop

            return advance

        return factory

    with pytest.MonkeyPatch.context() as mp:
        mp.setitem(GRIDS, "glom", small | {"glm_epochs": (1,)})
        with Checkpoint(tmp_path / "whole.jsonl", key) as c:
            whole = evaluate_kg(kg, cfg, dataset="toy", checkpoint=c)
        assert whole.resumed == 0
        # stopped twice, at the 7th unit and 5 units later: in the tuning where there is one (a trial's first
        # split done, its second not), else among the runs
        for n in (7, 5):
            with Checkpoint(tmp_path / "cut.jsonl", key) as c, pytest.raises(_Stop):
                evaluate_kg(kg, cfg, dataset="toy", checkpoint=c, progress=stop_after(n))
        with Checkpoint(tmp_path / "cut.jsonl", key) as c:
            assert c.resumed > 0
            resumed = evaluate_kg(kg, cfg, dataset="toy", checkpoint=c, progress=stop_after(10**6))
    full_total = totals[0]
    assert full_total is not None and resumed.resumed >= 10
    # the last bar counts only what that run fitted
    assert totals[-1] == full_total - resumed.resumed
    assert _figures(resumed) == _figures(whole)
    assert [r.model for r in resumed.runs] == [r.model for r in whole.runs]
    assert np.isfinite([r.metrics["average_precision"] for r in resumed.runs]).all()
