"""The numpy logistic regression that serves `logreg` (no scikit-learn in the web service): it solves the
same problem as scikit-learn's ``LogisticRegression(C=c)``, and its unit weight vector ranks unit rows
exactly as its decision function does."""

from __future__ import annotations

import numpy as np
import pytest

from mokg.lookalike.scoring import fit_logreg, unit_rows


def _data(seed: int = 0, n_pos: int = 20, n_neg: int = 200, dim: int = 16) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    x = rng.normal(size=(n_pos + n_neg, dim))
    direction = rng.normal(size=dim)
    x[:n_pos] += 2.0 * direction / np.linalg.norm(direction)
    return unit_rows(x), np.r_[np.ones(n_pos), np.zeros(n_neg)]


@pytest.mark.parametrize("c", [0.1, 1.0, 10.0])
def test_matches_scikit_learn(c: float) -> None:
    sklearn = pytest.importorskip("sklearn.linear_model")
    x, y = _data()
    w, b = fit_logreg(x, y, c=c)
    ref = sklearn.LogisticRegression(C=c, tol=1e-10, max_iter=10_000).fit(x, y)
    assert w == pytest.approx(ref.coef_[0], abs=1e-4)
    assert b == pytest.approx(float(ref.intercept_[0]), abs=1e-4)


def test_unit_weight_cosine_orders_like_the_decision_value() -> None:
    x, y = _data(seed=1)
    w, b = fit_logreg(x, y)
    decision = x @ w + b
    cosine = x @ (w / np.linalg.norm(w))  # what the vector index ranks by (rows are unit)
    assert np.array_equal(np.argsort(-decision, kind="stable"), np.argsort(-cosine, kind="stable"))
    assert decision == pytest.approx(np.linalg.norm(w) * cosine + b)
    # the positives rank above the negatives far better than chance (AP of random ~ 0.09)
    order = np.argsort(-cosine)
    hits = y[order]
    ap = float(np.mean(np.cumsum(hits)[hits == 1] / (np.flatnonzero(hits == 1) + 1)))
    assert ap > 0.6


def test_separable_data_stays_finite_and_bad_input_is_refused() -> None:
    x = np.array([[1.0, 0.0], [0.9, 0.1], [-1.0, 0.0], [-0.9, -0.1]])
    w, b = fit_logreg(x, [1, 1, 0, 0])
    assert np.all(np.isfinite(w)) and np.isfinite(b) and w[0] > 0
    with pytest.raises(ValueError):
        fit_logreg(x, [1, 0])
    with pytest.raises(ValueError):
        fit_logreg(x, [1, 1, 0, 0], c=0.0)
