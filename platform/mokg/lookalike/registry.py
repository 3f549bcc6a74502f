"""The lookalike baselines by name: ``mokg eval --baselines`` and the evaluation's model list.

One module per model beyond the simple ones (:mod:`~mokg.lookalike.graphsage`, :mod:`~mokg.lookalike.pinterest`,
:mod:`~mokg.lookalike.metaheac`), each building on :mod:`mokg.lookalike.baselines`; this registry sits above
them all, so none of them imports another's registry.
"""

from __future__ import annotations

from typing import Any

from mokg.lookalike.baselines import (
    Baseline,
    LightGCNBaseline,
    LogisticRegressionBaseline,
    PearsonCFBaseline,
    PopularityBaseline,
    RandomBaseline,
    TransEBaseline,
)
from mokg.lookalike.graphsage import GraphSAGEBaseline
from mokg.lookalike.metaheac import MetaHeacBaseline
from mokg.lookalike.pinterest import PinterestBaseline

_CLASSES: dict[str, type] = {
    "random": RandomBaseline,
    "popularity": PopularityBaseline,
    "lr": LogisticRegressionBaseline,
    "cf_pearson": PearsonCFBaseline,
    "lightgcn": LightGCNBaseline,
    "transe": TransEBaseline,
    "graphsage": GraphSAGEBaseline,
    "pinterest": PinterestBaseline,
    "metaheac": MetaHeacBaseline,
}
BASELINE_NAMES = tuple(_CLASSES)
_UNSEEDED = ("popularity", "cf_pearson")


def make_baseline(name: str, seed: int = 0, **params: Any) -> Baseline:
    """A baseline with its default (small) size overridden by ``params`` (constructor keywords, e.g. the
    values :mod:`mokg.lookalike.tuning` chose), seeded where it draws random numbers."""
    if name not in _CLASSES:
        raise ValueError(f"unknown baseline {name!r}; expected one of {', '.join(BASELINE_NAMES)}")
    seeded = {} if name in _UNSEEDED else {"seed": seed}
    model: Baseline = _CLASSES[name](**seeded, **params)
    return model
