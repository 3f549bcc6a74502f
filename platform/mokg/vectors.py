"""Vector helpers shared by serving, evaluation and PAIR's entity resolution."""

from __future__ import annotations

from typing import Any

import numpy as np
from numpy.typing import ArrayLike, DTypeLike, NDArray


def unit_rows(embeddings: ArrayLike, dtype: DTypeLike = np.float64) -> NDArray[Any]:
    """Rows scaled to unit L2 norm, as ``dtype``; zero rows stay zero."""
    x = np.asarray(embeddings, dtype=dtype)
    if x.ndim != 2:
        raise ValueError(f"embeddings must be 2-D (rows × dims), got shape {x.shape}")
    norms = np.linalg.norm(x, axis=1, keepdims=True)
    return np.divide(x, norms, out=np.zeros_like(x), where=norms > 0)


def standardise(x: ArrayLike) -> NDArray[np.float64]:
    """``x`` shifted to mean 0 and scaled to standard deviation 1; all zeros when it is (nearly) constant."""
    a = np.asarray(x, dtype=np.float64)
    sd = float(a.std())
    return (a - a.mean()) / sd if sd > 1e-12 else np.zeros_like(a)
