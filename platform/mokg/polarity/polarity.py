"""User–item polarity (GLoM §3.3): ``p_uv = α·r_uv + (1 − α)·s_uv`` plus the like/dislike split.

Scale: both terms live on [−1, 1], and so does ``p``.

* rating ``r ∈ [1, 5]`` is normalised to ``(r − 3) / 2``: 1★ → −1, 3★ → 0, 5★ → +1;
* sentiment ``s ∈ [−1, 1]`` is used as the scorers produce it (VADER compound, or
  ``P(pos) − P(neg)``, see :mod:`mokg.polarity.sentiment`), so no information-losing rescale is needed.

Why this scale:

1. α is a real weight only if both terms span the same range. Mixing a [0, 1] rating with a [−1, 1]
   sentiment would make α = 0.5 favour the sentiment twice as much as it claims.
2. The paper calls ``p`` the "strength and direction" of the interaction: on [−1, 1] the sign is the
   direction (0 = a neutral 3★ review with neutral text) and ``|p|`` the strength, so a ``POLARITY`` edge
   weight can be read without knowing the normalisation.
3. The Pearson similarity of §3.4 is invariant to one affine map applied to every ``p``, so [0, 1] vs.
   [−1, 1] alone would not change a single similarity; what matters for it is the relative weighting of
   rating and sentiment, which point 1 keeps honest.
4. The like/dislike split compares a review's sentiment to its item's mean sentiment, which no common
   rescaling changes.

Like flag: the paper compares a review's sentiment to "the average sentiment score across all reviews".
We read that average per item (the review's own item), which is what separates a user's outlier opinion
from the general perspective on that item: ``like = s ≥ mean_item(s)``. Equality counts as like, as in the
paper; a 1e-12 tolerance keeps ties (e.g. all reviews of an item with the same sentiment) from being
broken by floating-point rounding of the mean. The polarity itself uses the raw ``s`` (the paper's
``s_v^u``), not ``s − mean``; the item-relative view is exposed only through ``like``.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

RATING_MIN = 1.0
RATING_MAX = 5.0
# Absolute slack for ``s >= item mean``: sentiments are O(1), so the mean's rounding error is ~1e-16.
LIKE_TOLERANCE = 1e-12


@dataclass(frozen=True)
class PolarityResult:
    """Per-review arrays, all aligned with the input reviews."""

    sentiment: np.ndarray  # s_uv on [−1, 1] (float64)
    item_mean_sentiment: np.ndarray  # mean sentiment of the review's item (float64)
    like: np.ndarray  # s_uv ≥ item mean (bool)
    polarity: np.ndarray  # p_uv = α·(r − 3)/2 + (1 − α)·s_uv on [−1, 1] (float64)


def _as_float(name: str, values: npt.ArrayLike) -> np.ndarray:
    array = np.asarray(values, dtype=np.float64)
    if array.ndim != 1:
        raise ValueError(f"{name} must be one-dimensional, got shape {array.shape}")
    if not np.all(np.isfinite(array)):
        raise ValueError(f"{name} contains NaN or infinite values")
    return array


def normalise_rating(rating: npt.ArrayLike) -> np.ndarray:
    """Star ratings in [1, 5] → ``(r − 3) / 2`` on [−1, 1]; ``ValueError`` outside [1, 5]."""
    r = _as_float("rating", rating)
    bad = (r < RATING_MIN) | (r > RATING_MAX)
    if bad.any():
        raise ValueError(f"ratings must lie in [1, 5]; got {r[bad][:5].tolist()} ({int(bad.sum())} bad)")
    return (r - 3.0) / 2.0


def item_mean_sentiment(item_idx: npt.ArrayLike, sentiment: npt.ArrayLike) -> np.ndarray:
    """For every review, the mean sentiment over all reviews of the same item (ids need not be dense)."""
    items = np.asarray(item_idx)
    s = _as_float("sentiment", sentiment)
    if items.shape != s.shape:
        raise ValueError(f"item_idx {items.shape} and sentiment {s.shape} differ in shape")
    _, inverse = np.unique(items, return_inverse=True)
    sums = np.bincount(inverse, weights=s)
    counts = np.bincount(inverse)
    return (sums / counts)[inverse]


def compute_polarity(
    item_idx: npt.ArrayLike,
    rating: npt.ArrayLike,
    sentiment: npt.ArrayLike,
    *,
    alpha: float = 0.5,
) -> PolarityResult:
    """Polarity of each review (one row per (user, item) review; the user id is not needed here).

    ``alpha`` is the rating weight α ∈ [0, 1]; ratings must lie in [1, 5] and sentiments in [−1, 1].
    """
    if not 0.0 <= alpha <= 1.0:
        raise ValueError(f"alpha must lie in [0, 1], got {alpha}")
    r = normalise_rating(rating)
    s = _as_float("sentiment", sentiment)
    if r.shape != s.shape:
        raise ValueError(f"rating {r.shape} and sentiment {s.shape} differ in shape")
    if np.any(np.abs(s) > 1.0):
        raise ValueError("sentiment must lie in [-1, 1]")
    mean = item_mean_sentiment(item_idx, s)
    return PolarityResult(
        sentiment=s,
        item_mean_sentiment=mean,
        like=s >= mean - LIKE_TOLERANCE,
        polarity=alpha * r + (1.0 - alpha) * s,
    )
