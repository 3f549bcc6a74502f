"""The lookalike baselines by name: ``mokg eval --baselines`` and the evaluation's model list.

One module per model beyond the simple ones (:mod:`~mokg.lookalike.graphsage`, :mod:`~mokg.lookalike.pinterest`,
:mod:`~mokg.lookalike.metaheac`), each building on :mod:`mokg.lookalike.baselines`; this registry sits above
them all, so none of them imports another's registry.
"""

from __future__ import annotations

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

BASELINE_NAMES = (
    "random",
    "popularity",
    "lr",
    "cf_pearson",
    "lightgcn",
    "transe",
    "graphsage",
    "pinterest",
    "metaheac",
)


def make_baseline(name: str, seed: int = 0) -> Baseline:
    """A baseline with its default (small) size, seeded where it draws random numbers."""
    if name == "random":
        return RandomBaseline(seed=seed)
    if name == "popularity":
        return PopularityBaseline()
    if name == "lr":
        return LogisticRegressionBaseline(seed=seed)
    if name == "cf_pearson":
        return PearsonCFBaseline()
    if name == "lightgcn":
        return LightGCNBaseline(seed=seed)
    if name == "transe":
        return TransEBaseline(seed=seed)
    if name == "graphsage":
        return GraphSAGEBaseline(seed=seed)
    if name == "pinterest":
        return PinterestBaseline(seed=seed)
    if name == "metaheac":
        return MetaHeacBaseline(seed=seed)
    raise ValueError(f"unknown baseline {name!r}; expected one of {', '.join(BASELINE_NAMES)}")
