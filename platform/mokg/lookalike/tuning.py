"""Hyperparameters chosen on validation tasks, with the same budget for every learned model.

Each model has a grid: the paper's (§4.3: d ∈ {25, 50, 100, 150, 200}, lr ∈ {0.001, 0.01, 0.05, 0.1},
margin ∈ {1, 5, 10} where the model has a margin) plus its own training length and the one or two settings
that matter most for it. A search evaluates ``budget`` configurations per model: its defaults first, then
distinct configurations drawn at random from the grid. The objective is mean average precision on the
validation tasks only, or on tasks built inside the training reviews (``mokg eval --tune-on inner``), with
the scoring rule chosen the same way, and ties keep the earlier configuration,
so a search never reports a configuration worse on validation than the defaults.

``rule`` says when the best configuration displaces the defaults (:func:`displaces`). ``"best"`` (the
default): on any lead. ``"one_se"``: only on a lead larger than one standard error of its per-task
difference from the defaults, on the same tasks (:func:`clear_lead`); `mokg eval --tune-rule one_se`
applies it to the activity weight too. It is not the default because it did not help GLoM across sets
(``docs/lookalike-evaluation.md``, "Stop 45"): on All_Beauty the GLoM defaults it kept lost on test to
configurations that had led them on validation by less than 0.002.

PM and the GLoM variants draw from one stream of configurations, so the PM a GLoM trial starts from is the
PM trial with the same index (and is trained once, see :class:`~mokg.lookalike.glom_model.PMCache`).
"""

from __future__ import annotations

import itertools
import json
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
from numpy.typing import ArrayLike

Params = dict[str, Any]
Grid = Mapping[str, Sequence[Any]]

DIMS = (25, 50, 100, 150, 200)
LRS = (0.001, 0.01, 0.05, 0.1)
MARGINS = (1.0, 5.0, 10.0)

# constructor keywords of each baseline (mokg.lookalike.registry) and TrainConfig fields for PM / GLoM
GRIDS: dict[str, Grid] = {
    "lr": {"c": (0.01, 0.1, 1.0, 10.0)},
    "cf_pearson": {"use_ratings": (False, True)},
    "lightgcn": {"dim": DIMS, "lr": LRS, "epochs": (20, 40, 80), "num_layers": (1, 2, 3)},
    "transe": {"dim": DIMS, "lr": LRS, "margin": MARGINS, "epochs": (50, 100, 200)},
    "graphsage": {"dim": DIMS, "lr": LRS, "epochs": (20, 40, 80), "num_layers": (1, 2)},
    "pinterest": {"dim": DIMS, "c": (0.1, 1.0, 10.0), "lsh_weight": (0.0, 0.25, 0.5, 0.75, 1.0)},
    "metaheac": {"dim": DIMS, "lr": (0.001, 0.005, 0.01, 0.05), "steps": (150, 300)},
    "glom": {
        "dim": DIMS,
        "lr_pm": LRS,
        "margin": MARGINS,
        "pm_epochs": (30, 50, 100),
        "lr_glm": (0.0005, 0.001, 0.005, 0.01),
        "glm_epochs": (0, 1, 10, 50),
        "layers": (1, 2),  # as LightGCN and GraphSAGE search their depth
        "glm_share": (0.25, 0.5, 0.75),
    },
}
# GLoM's draws, group by group from one generator: the PM's part, the GLM's, then keys added later, so
# that adding a key to a later group leaves the draws of the groups before it as they were
_PM_KEYS = ("dim", "lr_pm", "margin", "pm_epochs")
_GLOM_LATER_KEYS = ("glm_share",)


def grid_of(model: str) -> tuple[str, Grid] | None:
    """The stream name and grid of ``model``; None for a model with nothing to tune (random, popularity)."""
    if model == "PM":
        return "glom", {k: v for k, v in GRIDS["glom"].items() if k in _PM_KEYS}
    if model.startswith("GLoM"):
        return "glom", GRIDS["glom"]
    return (model, GRIDS[model]) if model in GRIDS else None


def _draw(grid: Grid, n: int, rng: np.random.Generator) -> list[Params]:
    """``n`` distinct random points of ``grid`` (repeating only once every point has been drawn)."""
    keys = sorted(grid)
    points = list(itertools.product(*(grid[k] for k in keys)))
    order = np.concatenate([rng.permutation(len(points)) for _ in range(-(-n // len(points)))])[:n]
    return [dict(zip(keys, points[j], strict=True)) for j in order.tolist()]


def configurations(stream: str, grid: Grid, budget: int, seed: int) -> list[Params]:
    """``budget`` configurations: the defaults (``{}``) first, then random points of ``grid``.

    The draws depend on ``stream``'s full grid, not on ``grid``. GLoM's draws pair distinct PM settings
    with GLM settings, and PM (whose grid is the PM part) gets the PM part of the same draws, so it too
    sees distinct configurations and each GLoM trial starts from the PM trial with its index."""
    if budget < 1:
        return []
    full = GRIDS.get(stream, grid)
    rng = np.random.default_rng([seed, sum(map(ord, stream))])
    n = budget - 1
    if stream == "glom":
        pm = _draw({k: v for k, v in full.items() if k in _PM_KEYS}, n, rng)
        glm = _draw({k: v for k, v in full.items() if k not in _PM_KEYS + _GLOM_LATER_KEYS}, n, rng)
        later = _draw({k: v for k, v in full.items() if k in _GLOM_LATER_KEYS}, n, rng)
        draws = [a | b | c for a, b, c in zip(pm, glm, later, strict=True)]
    else:
        draws = _draw(full, n, rng)
    return [{}] + [{k: v for k, v in d.items() if k in grid} for d in draws]


RULES = ("best", "one_se")


@dataclass(frozen=True)
class Trial:
    params: Params
    validation_ap: float
    method: str
    seconds: float
    # the AP of each task tuned on (a validation task's averaged over the tuning splits; inner tasks, which
    # differ by split, side by side), in one order for every trial
    task_aps: tuple[float, ...] = ()


def clear_lead(challenger: ArrayLike, incumbent: ArrayLike) -> bool:
    """Whether per-task APs ``challenger`` beat ``incumbent``'s, on the same tasks, by more than one standard
    error of their paired difference (by any margin where there are fewer than two tasks)."""
    diff = np.subtract(challenger, incumbent)
    if diff.size < 2:
        return bool(diff.sum() > 0)
    return bool(diff.mean() > diff.std(ddof=1) / np.sqrt(diff.size))


def tuned_params(path: Path, model: str) -> Params:
    """The configuration `mokg eval` scored best for ``model`` (the PM or a GLoM variant) on its validation
    tasks, as TrainConfig fields of its grid, read from the ``eval.json`` its ``--out`` folder holds
    (``path``: the folder or the file): `mokg train --tuned`. A trial's values are its changes to the eval's
    starting configuration (``config.train``), so every grid field comes from that configuration unless the
    chosen trial changed it; where the starting configuration won, its values are the answer. A
    ``ValueError`` naming the file says what is missing."""
    file = path / "eval.json" if path.is_dir() else path
    try:
        record = json.loads(file.read_text())
    except FileNotFoundError:
        raise ValueError(f"{file}: no such file (give a `mokg eval --out` folder or its eval.json)") from None
    except (json.JSONDecodeError, UnicodeDecodeError) as e:
        raise ValueError(f"{file}: not a `mokg eval` record ({e})") from None
    tuning = record.get("tuning") if isinstance(record, dict) else None
    if not isinstance(tuning, dict):
        raise ValueError(f"{file}: no 'tuning' in the record (not written by `mokg eval`?)")
    if model not in tuning:
        tuned = ", ".join(sorted(tuning)) or "none (--tune-budget 0 or --quick)"
        raise ValueError(f"{file}: {model} was not tuned in this run; tuned: {tuned}")
    spec = grid_of(model)
    if spec is None or spec[0] != "glom":  # the PM and the GLoM variants draw from GLoM's stream
        raise ValueError(f"{model}: not a model `mokg train` trains (PM or a GLoM variant)")
    keys = set(spec[1])
    params = tuning[model].get("params") if isinstance(tuning[model], dict) else None
    if not isinstance(params, dict) or set(params) - keys:
        raise ValueError(
            f"{file}: {model}'s tuned values {params!r} are not its grid's ({', '.join(sorted(keys))})"
        )
    start = record.get("config", {}).get("train") if isinstance(record.get("config"), dict) else None
    if not isinstance(start, dict) or keys - set(start):
        raise ValueError(f"{file}: no starting configuration with {', '.join(sorted(keys))} in config.train")
    return {k: start[k] for k in sorted(keys)} | params


def check_rule(rule: str) -> None:
    """Raise a one-line error unless ``rule`` is one of :data:`RULES`."""
    if rule not in RULES:
        raise ValueError(f"tuning rule {rule!r}: expected one of {', '.join(RULES)}")


def displaces(challenger: ArrayLike, incumbent: ArrayLike, rule: str) -> bool:
    """Whether the best-scoring ``challenger`` (per-task APs) replaces the default ``incumbent`` under
    ``rule``: always under ``"best"``, on a :func:`clear_lead` under ``"one_se"``."""
    check_rule(rule)
    return rule == "best" or clear_lead(challenger, incumbent)


@dataclass
class Tuned:
    """The outcome of one model's search; ``params`` is ``{}`` when the defaults won."""

    model: str
    budget: int
    trials: list[Trial] = field(default_factory=list)
    rule: str = "best"

    @property
    def top(self) -> Trial:
        """The trial of highest validation AP (max keeps the first of equal values: the defaults win ties)."""
        return max(self.trials, key=lambda t: t.validation_ap)

    @property
    def best(self) -> Trial:
        """The chosen trial: :attr:`top`, or under ``one_se`` the defaults unless it clearly leads them."""
        top, defaults = self.top, self.trials[0]
        return top if displaces(top.task_aps, defaults.task_aps, self.rule) else defaults

    @property
    def params(self) -> Params:
        return dict(self.best.params)

    @property
    def default_ap(self) -> float:
        return self.trials[0].validation_ap

    @property
    def seconds(self) -> float:
        return sum(t.seconds for t in self.trials)


Objective = Callable[[Params], tuple[Sequence[float], str]]


def tune(
    model: str,
    objective: Objective,
    budget: int,
    seed: int = 0,
    rule: str = "best",
    *,
    known: Callable[[Params], Trial | None] = lambda params: None,
    record: Callable[[Trial], None] = lambda trial: None,
) -> Tuned | None:
    """Search ``model``'s grid with ``budget`` configurations; ``objective(params)`` fits the model with
    ``params`` over its defaults and returns the AP of each task tuned on, in one order for every call,
    and the scoring rule that reached them. ``rule`` is how the defaults give way (:func:`displaces`).
    ``known(params)`` may return a trial an earlier, interrupted search finished (it is not run again);
    ``record(trial)`` sees each trial this search runs."""
    check_rule(rule)  # before any fit
    spec = grid_of(model)
    if spec is None or budget < 1:
        return None
    stream, grid = spec
    result = Tuned(model, budget, rule=rule)
    for params in configurations(stream, grid, budget, seed):
        trial = known(params)
        if trial is None:
            t0 = time.perf_counter()
            aps, method = objective(params)
            per_task = tuple(float(a) for a in aps)
            mean = round(float(np.mean(per_task)), 4) if per_task else float("nan")
            trial = Trial(params, mean, method, round(time.perf_counter() - t0, 2), per_task)
            record(trial)
        result.trials.append(trial)
    return result
