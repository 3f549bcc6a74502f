"""Pinterest's two-stage lookalike baseline (GLoM §4.2, [20]: Liu et al., "Audience Expansion for Online
Social Network Advertising", KDD 2019), following GLoM §4.2's summary (stage 1 a global user embedding,
stage 2 an embedding-based affinity score per campaign) and the original's outline as recalled (an
LSH-based seed-density scorer and a per-advertiser classifier on the embeddings, blended); the paper's
text and code were not consulted, so the details below are this module's own choices.

Stage 1, once per split (``fit``): a global user embedding from user–item co-engagement. The training
interaction matrix X is degree-normalised (X̃ = D_u^{-1/2} X D_i^{-1/2}, as in item-based CF) and
factorised by a seeded randomised truncated SVD, X̃ ≈ U S Vᵀ; user u's embedding is X̃_u V S^{-1/2}
(= U_u S^{1/2} for an exact SVD).

Stage 2, once per seed list (``score``): the task item's column is folded out of every user's embedding
(E − X̃[:, j] ⊗ V_j S^{-1/2}: seeds hold that edge and candidates never do, so it would only separate the
seeds from everybody else, cf. ``baselines._other_items``), rows are unit-normalised, then two affinity
scores over **all** users are blended:

- *LSH seed density*: ``n_tables`` tables of ``n_bits`` random hyperplanes each hash every user; a
  bucket's affinity is the log ratio of its smoothed seed rate to the global seed rate,
  ((s_b + α·p) / (n_b + α)) / p with s_b seeds among n_b users in the bucket and p = seeds / users; a
  user's score is the mean affinity of its buckets over the tables.
- *Per-seed-list classifier*: an L2 logistic regression on the embeddings, seeds against
  ``neg_ratio`` × seeds sampled non-seeds (``seed_list_negatives``).

Each score is standardised over all users (no candidate or label statistics enter) and the final score is
``lsh_weight`` · z_lsh + (1 − ``lsh_weight``) · z_classifier.

Known or likely departures from the original: the global embedding is an SVD of co-engagement, not
Pinterest's learned embedding trained on its engagement data (no such side data exists here); the blend
weight is a fixed 0.5, not tuned per advertiser or seed-list size; the LSH table/bit counts and smoothing
are guesses; no production-side filtering or serving machinery. Everything is deterministic for a given
``seed`` (SVD, hyperplanes, negatives keyed by task item).
"""

from __future__ import annotations

import numpy as np
import scipy.sparse as sp

from mokg.lookalike.baselines import FloatArray, TrainData, _require, seed_list_negatives
from mokg.lookalike.protocol import Task
from mokg.vectors import standardise, unit_rows


class PinterestBaseline:
    """Two-stage: SVD user embedding, then per seed list an LSH seed-density score blended with a logistic
    classifier; see the module docstring."""

    name = "pinterest"

    def __init__(
        self,
        dim: int = 32,
        n_tables: int = 16,
        n_bits: int | None = None,
        smoothing: float = 5.0,
        neg_ratio: float = 10.0,
        c: float = 1.0,
        lsh_weight: float = 0.5,
        seed: int = 0,
    ) -> None:
        if not 0.0 <= lsh_weight <= 1.0:
            raise ValueError("lsh_weight must lie in [0, 1]")
        self.dim, self.n_tables, self.n_bits, self.smoothing = dim, n_tables, n_bits, smoothing
        self.neg_ratio, self.c, self.lsh_weight, self.seed = neg_ratio, c, lsh_weight, seed
        self.user_embeddings: FloatArray | None = None
        self.normalised: sp.csc_matrix | None = None
        self.item_factors: FloatArray | None = None  # V S^{-1/2}: row j = item j's contribution per unit X̃

    def fit(self, train: TrainData) -> None:
        from sklearn.utils.extmath import randomized_svd

        x = train.interactions.astype(np.float64)
        du = np.asarray(x.sum(axis=1)).ravel()
        di = np.asarray(x.sum(axis=0)).ravel()
        inv_u = np.divide(1.0, np.sqrt(du), out=np.zeros_like(du), where=du > 0)
        inv_i = np.divide(1.0, np.sqrt(di), out=np.zeros_like(di), where=di > 0)
        xn = sp.csr_matrix(sp.diags(inv_u) @ x @ sp.diags(inv_i))
        k = max(1, min(self.dim, min(xn.shape) - 1))
        _, s, vt = randomized_svd(xn, n_components=k, n_iter=7, random_state=self.seed)
        s = np.maximum(s, 1e-12)
        self.item_factors = vt.T / np.sqrt(s)
        # the fold-in X̃ V S^{-1/2} (= U S^{1/2} for an exact SVD) keeps stage 2's fold-out exact and linear
        self.user_embeddings = np.asarray(xn @ self.item_factors)
        self.normalised = xn.tocsc()

    def task_embeddings(self, item: int) -> FloatArray:
        """Unit user embeddings with the task item's column folded out."""
        _require(self.user_embeddings, self.name)
        assert (
            self.user_embeddings is not None and self.normalised is not None and self.item_factors is not None
        )
        col = self.normalised[:, item].toarray().ravel()
        emb = self.user_embeddings - np.outer(col, self.item_factors[item])
        return unit_rows(emb, emb.dtype)

    def lsh_scores(self, emb: FloatArray, seeds: np.ndarray, item: int) -> FloatArray:
        n_users, dim = emb.shape
        bits = self.n_bits or int(np.clip(round(np.log2(max(n_users, 2) / 20.0)), 1, 16))
        rng = np.random.default_rng([self.seed, 2, item])
        p = seeds.size / n_users
        total = np.zeros(n_users)
        weights = 1 << np.arange(bits)
        for _ in range(self.n_tables):
            planes = rng.normal(size=(dim, bits))
            bucket = ((emb @ planes) > 0).astype(np.int64) @ weights
            n_b = np.bincount(bucket, minlength=1 << bits)
            s_b = np.bincount(bucket[seeds], minlength=1 << bits)
            affinity = np.log((s_b + self.smoothing * p) / (n_b + self.smoothing) / p)
            total += affinity[bucket]
        return total / self.n_tables

    def classifier_scores(self, emb: FloatArray, task: Task) -> FloatArray:
        from sklearn.linear_model import LogisticRegression

        rng = np.random.default_rng([self.seed, 3, task.item])
        negatives = seed_list_negatives(task, emb.shape[0], round(self.neg_ratio * task.seeds.size), rng)
        rows = np.concatenate([task.seeds, negatives])
        labels = np.r_[np.ones(task.seeds.size), np.zeros(negatives.size)]
        clf = LogisticRegression(C=self.c, solver="liblinear", random_state=self.seed)
        clf.fit(emb[rows], labels)
        return np.asarray(clf.decision_function(emb), dtype=np.float64)

    def score(self, task: Task) -> FloatArray:
        emb = self.task_embeddings(task.item)
        blended = np.zeros(emb.shape[0])
        if self.lsh_weight > 0:
            blended += self.lsh_weight * standardise(self.lsh_scores(emb, task.seeds, task.item))
        if self.lsh_weight < 1:
            blended += (1 - self.lsh_weight) * standardise(self.classifier_scores(emb, task))
        return blended[task.candidates]
