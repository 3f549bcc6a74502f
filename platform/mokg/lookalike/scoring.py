"""Scoring candidate users from user embeddings given a seed list (GLoM §3.7).

Three rules, all on cosine similarity:

- ``max_seed`` (the paper's rule): a candidate's score is its highest cosine similarity to any seed;
  thresholding it at T keeps exactly the users that lie within T of some seed, i.e. the union of the seeds'
  T-neighbourhoods that §3.7 outputs as the audience.
- ``centroid``: cosine to the mean of the (unit-normalised) seed embeddings, so every seed weighs the same
  whatever its norm.
- ``knn_vote``: every seed votes for its ``m`` nearest users among the scored pool; a candidate's score is
  the sum of the similarities of the seeds that chose it (``vote="sum"``) or their number (``"count"``).

Rows of ``embeddings`` are users; a zero row has cosine 0 to everybody.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

import numpy as np
from numpy.typing import ArrayLike, NDArray

Method = Literal["max_seed", "centroid", "knn_vote"]
Vote = Literal["sum", "count"]
FloatArray = NDArray[np.float64]
IntArray = NDArray[np.int64]

# candidate rows per block in max_seed/knn_vote, bounding the (block × seeds) similarity matrix
_BLOCK = 4096


def unit_rows(embeddings: ArrayLike) -> FloatArray:
    """Rows scaled to unit L2 norm; zero rows stay zero."""
    x = np.asarray(embeddings, dtype=np.float64)
    if x.ndim != 2:
        raise ValueError(f"embeddings must be 2-D (users × dims), got shape {x.shape}")
    norms = np.linalg.norm(x, axis=1, keepdims=True)
    return np.divide(x, norms, out=np.zeros_like(x), where=norms > 0)


def _indices(idx: ArrayLike, n_users: int, what: str) -> IntArray:
    out = np.asarray(idx, dtype=np.int64).ravel()
    if out.size and (out.min() < 0 or out.max() >= n_users):
        raise ValueError(f"{what} indices out of range [0, {n_users})")
    return out


def score_centroid(embeddings: ArrayLike, seeds: ArrayLike, candidates: ArrayLike) -> FloatArray:
    """Cosine of each candidate to the mean unit seed embedding."""
    u = unit_rows(embeddings)
    s = _indices(seeds, len(u), "seed")
    c = _indices(candidates, len(u), "candidate")
    if s.size == 0:
        raise ValueError("no seeds")
    centre = u[s].mean(axis=0)
    norm = np.linalg.norm(centre)
    return u[c] @ (centre / norm) if norm > 0 else np.zeros(c.size)


def score_max_seed(embeddings: ArrayLike, seeds: ArrayLike, candidates: ArrayLike) -> FloatArray:
    """The paper's rule: max over seeds of the cosine similarity to the candidate."""
    u = unit_rows(embeddings)
    s = _indices(seeds, len(u), "seed")
    c = _indices(candidates, len(u), "candidate")
    if s.size == 0:
        raise ValueError("no seeds")
    seed_t = u[s].T
    return np.concatenate(
        [(u[c[i : i + _BLOCK]] @ seed_t).max(axis=1) for i in range(0, c.size, _BLOCK)] or [np.zeros(0)]
    )


def score_knn_vote(
    embeddings: ArrayLike, seeds: ArrayLike, candidates: ArrayLike, *, m: int = 10, vote: Vote = "sum"
) -> FloatArray:
    """Every seed picks its ``m`` most similar candidates (ties: lower candidate position first); a
    candidate scores the sum of the pickers' similarities, or their count. Unpicked candidates score 0."""
    u = unit_rows(embeddings)
    s = _indices(seeds, len(u), "seed")
    c = _indices(candidates, len(u), "candidate")
    if s.size == 0:
        raise ValueError("no seeds")
    if m < 1:
        raise ValueError(f"m={m} must be at least 1")
    if vote not in ("sum", "count"):
        raise ValueError(f"vote={vote!r}: expected 'sum' or 'count'")
    mm = min(m, c.size)
    cand = u[c]
    scores = np.zeros(c.size)
    for i in range(0, s.size, _BLOCK):
        sims = u[s[i : i + _BLOCK]] @ cand.T  # seeds × candidates
        picked = np.argsort(-sims, axis=1, kind="stable")[:, :mm]
        weights = np.take_along_axis(sims, picked, axis=1) if vote == "sum" else np.ones(picked.shape)
        scores += np.bincount(picked.ravel(), weights=weights.ravel(), minlength=c.size)
    return scores


def score_candidates(
    embeddings: ArrayLike,
    seeds: ArrayLike,
    candidates: ArrayLike,
    method: Method = "max_seed",
    *,
    m: int = 10,
    vote: Vote = "sum",
) -> FloatArray:
    """Dispatch to one of the scoring rules; scores are aligned with ``candidates``."""
    if method == "max_seed":
        return score_max_seed(embeddings, seeds, candidates)
    if method == "centroid":
        return score_centroid(embeddings, seeds, candidates)
    if method == "knn_vote":
        return score_knn_vote(embeddings, seeds, candidates, m=m, vote=vote)
    raise ValueError(f"method={method!r}: expected 'max_seed', 'centroid' or 'knn_vote'")


@dataclass(frozen=True)
class Expansion:
    """An expanded audience, best first; ``scores`` aligned with ``users``."""

    users: IntArray
    scores: FloatArray


def expand(
    embeddings: ArrayLike,
    seeds: ArrayLike,
    *,
    k: int | None = None,
    threshold: float | None = None,
    exclude: ArrayLike | None = None,
    method: Method = "max_seed",
    m: int = 10,
    vote: Vote = "sum",
) -> Expansion:
    """Rank every user that is neither a seed nor in ``exclude`` and return those with score >= ``threshold``
    (when given), at most ``k`` of them (when given). At least one of ``k`` and ``threshold`` is required.
    Ties are ordered by user index, so the result is deterministic."""
    if k is None and threshold is None:
        raise ValueError("give k, threshold or both")
    if k is not None and k < 0:
        raise ValueError(f"k={k} must be non-negative")
    u = np.asarray(embeddings, dtype=np.float64)
    n_users = len(u)
    banned = np.zeros(n_users, bool)
    banned[_indices(seeds, n_users, "seed")] = True
    if exclude is not None:
        banned[_indices(exclude, n_users, "exclude")] = True
    pool = np.flatnonzero(~banned)
    scores = score_candidates(u, seeds, pool, method, m=m, vote=vote)
    order = np.argsort(-scores, kind="stable")  # pool is ascending, so ties stay in user order
    if threshold is not None:
        order = order[scores[order] >= threshold]
    if k is not None:
        order = order[:k]
    return Expansion(users=pool[order], scores=scores[order])
