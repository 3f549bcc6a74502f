"""Lookalike audience expansion: scoring rules, evaluation protocol, metrics and baselines (GLoM §3.7, §4).

Submodules: :mod:`.metrics` (precision/recall at k and at T, PR-AUC, tuning T), :mod:`.protocol` (tasks,
seed/held-out split, leakage-free training interactions, evaluation loop), :mod:`.scoring` (max-seed,
centroid and kNN-vote rules, ``expand``) and :mod:`.baselines` (random, popularity, LR, Pearson CF,
LightGCN, TransE). Baselines import torch, PyG, PyKEEN and sklearn lazily, inside ``fit``/``score``.
"""

from mokg.lookalike.metrics import (
    TaskMetrics,
    ThresholdChoice,
    average_precision,
    mean_metrics,
    precision_at_k,
    precision_recall_at_threshold,
    recall_at_k,
    task_metrics,
    tune_threshold,
)
from mokg.lookalike.protocol import (
    Evaluation,
    Split,
    Task,
    build_split,
    evaluate,
    training_interactions,
    training_mask,
)
from mokg.lookalike.scoring import Expansion, expand, score_candidates

__all__ = [
    "Evaluation",
    "Expansion",
    "Split",
    "Task",
    "TaskMetrics",
    "ThresholdChoice",
    "average_precision",
    "build_split",
    "evaluate",
    "expand",
    "mean_metrics",
    "precision_at_k",
    "precision_recall_at_threshold",
    "recall_at_k",
    "score_candidates",
    "task_metrics",
    "training_interactions",
    "training_mask",
    "tune_threshold",
]
