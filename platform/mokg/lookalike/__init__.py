"""Lookalike audience expansion (GLoM §3.7, §4): what the API serves, and the offline evaluation.

Served (imported by every web worker; numpy only, no scipy, scikit-learn or torch at import):
:mod:`.audience` (expansion over the graph's vector index, the recorded serving method),
:mod:`.activity_index` (the recorded activity term's own index), :mod:`.scoring` (max-seed, centroid,
kNN-vote and logreg rules, the activity term, ``expand``) and :mod:`.explain`.

Offline (``mokg eval``, ``mokg train --choose-method``, the benchmarks): :mod:`.metrics` (precision/recall
at k and at T, PR-AUC, tuning T), :mod:`.protocol` (tasks, seed/held-out split, leakage-free training
interactions, evaluation loop), :mod:`.baselines` (random, popularity, LR, Pearson CF, LightGCN, TransE;
:mod:`.graphsage`, :mod:`.pinterest`, :mod:`.metaheac`; by name in :mod:`.registry`), :mod:`.glom_model`
(PM and GLoM as baselines), :mod:`.tuning` and :mod:`.evaluation`. Baselines import torch, PyG, PyKEEN and
sklearn lazily, inside ``fit``/``score``.

This package imports none of its modules, so importing the served ones loads nothing of the evaluation.
"""
