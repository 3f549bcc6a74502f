"""Scoring candidate users from user embeddings given a seed list (GLoM §3.7).

Four rules; the first three on cosine similarity:

- ``max_seed`` (the paper's rule): a candidate's score is its highest cosine similarity to any seed;
  thresholding it at T keeps exactly the users that lie within T of some seed, i.e. the union of the seeds'
  T-neighbourhoods that §3.7 outputs as the audience.
- ``centroid``: cosine to the mean of the (unit-normalised) seed embeddings, so every seed weighs the same
  whatever its norm.
- ``knn_vote``: every seed votes for its ``m`` nearest users among the scored pool; a candidate's score is
  the sum of the similarities of the seeds that chose it (``vote="sum"``) or their number (``"count"``).
- ``logreg`` (the per-campaign stage, §1/§4.1: "customized prediction models for each campaign", seeds :
  non-seeds = 1 : 10): a logistic regression on the unit embeddings, the task's seeds as positives against
  ``neg_ratio`` × as many non-seeds drawn from a background of users that are neither seeds nor candidates
  (so a held-out buyer can never be trained on as a negative); scores are its decision values (scikit-learn
  here; serving fits the same objective with :func:`fit_logreg`, numpy only, and ranks in the vector index).

Rows of ``embeddings`` are users; a zero row has cosine 0 to everybody.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any, Literal

import numpy as np
from numpy.typing import ArrayLike, NDArray

from mokg.vectors import standardise, unit_rows

# the rules the served audience search (mokg.lookalike.audience) runs in the graph's vector index; logreg
# is served too (seeds against a random sample of users, then one index query with the unit weight vector)
Method = Literal["max_seed", "centroid", "knn_vote", "logreg"]
# every rule score_candidates knows (the same set since logreg is served)
AnyMethod = Method
Vote = Literal["sum", "count"]
FloatArray = NDArray[np.float64]
IntArray = NDArray[np.int64]

# candidate rows per block in max_seed/knn_vote, bounding the (block × seeds) similarity matrix
_BLOCK = 4096


def mean_pairwise_cosine(embeddings: ArrayLike, *, sample: int = 2000, seed: int = 0) -> float:
    """Mean cosine similarity over distinct pairs of non-zero rows (at most ``sample`` rows, drawn at
    random): the collapse check. Near 0 for well-spread embeddings; near 1 when every row points into one
    narrow cone, where rankings live in tiny differences (over-smoothing)."""
    u = unit_rows(embeddings)
    u = u[np.linalg.norm(u, axis=1) > 0]
    if len(u) > sample:
        u = u[np.random.default_rng(seed).choice(len(u), size=sample, replace=False)]
    n = len(u)
    if n < 2:
        return float("nan")
    total = u.sum(axis=0)
    # sum over i != j of u_i . u_j = |sum u|^2 - sum |u_i|^2
    return float((total @ total - n) / (n * (n - 1)))


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


def score_logreg(
    embeddings: ArrayLike,
    seeds: ArrayLike,
    candidates: ArrayLike,
    *,
    background: ArrayLike | None = None,
    neg_ratio: float = 10.0,
    c: float = 1.0,
    seed: int = 0,
) -> FloatArray:
    """A per-task logistic regression on unit embeddings: seeds (label 1) against ``round(neg_ratio ·
    seeds)`` non-seeds (label 0) drawn without replacement from ``background`` (default: every user that is
    neither a seed nor a candidate; when that is empty, as when the candidates are everybody else in
    serving, the non-seed candidates themselves, i.e. unlabelled users standing in for negatives). Returns
    the decision value of each candidate. Deterministic for a given ``seed``."""
    from sklearn.linear_model import LogisticRegression

    u = unit_rows(embeddings)
    s = np.unique(_indices(seeds, len(u), "seed"))
    c_idx = _indices(candidates, len(u), "candidate")
    if s.size == 0:
        raise ValueError("no seeds")
    if neg_ratio <= 0:
        raise ValueError(f"neg_ratio={neg_ratio} must be positive")
    if background is None:
        banned = np.zeros(len(u), bool)
        banned[s] = True
        banned[c_idx] = True
        pool = np.flatnonzero(~banned)
        if pool.size == 0:
            pool = np.setdiff1d(c_idx, s)
    else:
        pool = np.setdiff1d(_indices(background, len(u), "background"), s)
    if pool.size == 0:
        return score_centroid(u, s, c_idx)  # nobody to contrast the seeds with
    rng = np.random.default_rng(seed)
    neg = rng.choice(pool, size=min(pool.size, max(1, round(neg_ratio * s.size))), replace=False)
    x = np.concatenate([u[s], u[neg]])
    y = np.concatenate([np.ones(s.size), np.zeros(neg.size)])
    model = LogisticRegression(C=c, max_iter=500)
    model.fit(x, y)
    return np.asarray(model.decision_function(u[c_idx]), dtype=np.float64)


def fit_logreg(
    x: ArrayLike, y: ArrayLike, *, c: float = 1.0, steps: int = 25, tol: float = 1e-8
) -> tuple[FloatArray, float]:
    """L2-regularised logistic regression in plain numpy (no scikit-learn, so serving needs none): minimises
    ``½‖w‖² + c · Σ log(1 + exp(−ỹ (w·x + b)))`` with ỹ = ±1 and an unpenalised intercept ``b`` (the
    objective of scikit-learn's ``LogisticRegression(C=c)``) by at most ``steps`` Newton steps, stopping
    once a step moves the parameters by less than ``tol``. Returns ``(w, b)``. The problem is strictly
    convex in ``w``, so Newton converges in a handful of steps at these sizes (≤ a few thousand rows of a
    few hundred dimensions)."""
    xa = np.asarray(x, dtype=np.float64)
    ya = np.asarray(y, dtype=np.float64).ravel()
    if xa.ndim != 2 or xa.shape[0] != ya.size:
        raise ValueError(f"x must be (n, d) with n = len(y), got {xa.shape} and {ya.size}")
    if c <= 0:
        raise ValueError(f"c={c} must be positive")
    n, d = xa.shape
    z = np.hstack([xa, np.ones((n, 1))])  # the last column carries the intercept
    reg = np.full(d + 1, 1.0 / c)
    reg[-1] = 0.0
    theta = np.zeros(d + 1)
    for _ in range(steps):
        p = 0.5 * (1.0 + np.tanh(0.5 * (z @ theta)))  # a sigmoid that cannot overflow
        grad = z.T @ (p - ya) + reg * theta
        hess = (z * (p * (1.0 - p))[:, None]).T @ z + np.diag(reg) + 1e-10 * np.eye(d + 1)
        step = np.linalg.solve(hess, grad)
        theta -= step
        if float(np.abs(step).max()) < tol:
            break
    return theta[:-1], float(theta[-1])


def score_candidates(
    embeddings: ArrayLike,
    seeds: ArrayLike,
    candidates: ArrayLike,
    method: AnyMethod = "max_seed",
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
    if method == "logreg":
        return score_logreg(embeddings, seeds, candidates)
    raise ValueError(f"method={method!r}: expected 'max_seed', 'centroid', 'knn_vote' or 'logreg'")


def user_activity(interactions: Any) -> FloatArray:
    """Each user's activity: log(1 + distinct items in ``interactions``, a users × items sparse matrix),
    standardised over users (all zero when every user is alike)."""
    items = interactions.getnnz(axis=1)
    return ActivityTerm.of(items, 1.0).activity(items)


@dataclass(frozen=True)
class ActivityTerm:
    """The activity term as served: ``weight`` × a user's standardised log(1 + items reviewed), with the mean
    and spread of the training users' values, so a serving-time count lands on the scale the weight was chosen
    on. Counts are clipped to the training range [``low``, ``high``] (of log(1 + items)): a user who reviewed
    more since training gets no more than the most active did, which bounds every row of the activity index
    (:meth:`rows`) by one norm."""

    weight: float
    mean: float
    spread: float
    low: float
    high: float

    @classmethod
    def of(cls, items: ArrayLike, weight: float) -> ActivityTerm:
        """The term for training users who reviewed ``items`` distinct items each."""
        raw = np.log1p(np.asarray(items, dtype=np.float64))
        if raw.size == 0:
            return cls(weight, 0.0, 0.0, 0.0, 0.0)
        return cls(weight, float(raw.mean()), float(raw.std()), float(raw.min()), float(raw.max()))

    def activity(self, items: ArrayLike) -> FloatArray:
        """Standardised activity of users who reviewed ``items`` items (zeros when the training users were alike)."""
        raw = np.clip(np.log1p(np.asarray(items, dtype=np.float64)), self.low, self.high)
        return (raw - self.mean) / self.spread if self.spread > 1e-12 else np.zeros_like(raw)

    def bonus(self, items: ArrayLike, spread: float) -> FloatArray:
        """What the term adds to a cosine whose standard deviation over users is ``spread``: ranking by
        ``cos + bonus`` is ranking by standardised cos + weight × activity, as :func:`with_activity` does, and
        weight 0 leaves the cosine as it is."""
        return self.weight * spread * self.activity(items)

    @property
    def radius(self) -> float:
        """The norm every served row is padded to (:meth:`rows`): that of a unit embedding beside the
        largest standardised activity the clipped range allows."""
        ends = self.activity(np.expm1([self.low, self.high]))
        return float(np.sqrt(1.0 + np.max(ends**2)))

    def rows(self, unit: ArrayLike, items: ArrayLike) -> FloatArray:
        """What the activity index holds per user: ``[û, a(u), pad]``, the unit embedding, the standardised
        activity and a pad that gives every row the norm :attr:`radius`. A query ``[q̂, weight × spread, 0]``
        (:meth:`query`) then has the dot product ``cos(u, q) + bonus`` with every row, and, the rows' norm
        being one constant, the index's cosine order is that score's order."""
        u = np.atleast_2d(np.asarray(unit, dtype=np.float64))
        a = self.activity(items)
        pad = np.sqrt(np.maximum(self.radius**2 - 1.0 - a**2, 0.0))
        return np.column_stack([u, a, pad])

    def query(self, unit: ArrayLike, spread: float) -> tuple[FloatArray, float]:
        """The activity index's query for the unit direction ``unit``, and the factor that turns the index's
        cosine into ``cos + bonus`` (:meth:`bonus` at ``spread``)."""
        q = np.concatenate([np.asarray(unit, dtype=np.float64), [self.weight * spread, 0.0]])
        return q, self.radius * float(np.sqrt(q @ q))

    def detail(self) -> dict[str, float]:
        return asdict(self)


def activity_label(method: str, weight: float) -> str:
    """How reports, the training summary and the CLI name a scoring rule served with an activity term:
    ``centroid -0.5·activity``; the rule alone at weight 0, the term alone for a model with no rule (``-``)."""
    if weight == 0:
        return method
    return f"{weight:+g}·activity" if method == "-" else f"{method} {weight:+g}·activity"


def with_activity(scores: ArrayLike, activity: ArrayLike, weight: float) -> FloatArray:
    """A task's scores standardised over its candidates, plus ``weight`` × the candidates' activity.

    Whether an audience leans to heavy or light users is a property of the data, not of the model: heavy
    users buy most items on one set (MovieLens), and sit close to every seed centroid without buying the
    item on another (hubs). Standardising first lets one weight grid serve any model's score scale; weight
    0 keeps the model's own ranking."""
    return standardise(scores) + weight * np.asarray(activity, dtype=np.float64)


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
    method: AnyMethod = "max_seed",
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
