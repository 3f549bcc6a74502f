"""User–user similarity edges (GLoM §3.4, Eq. 1) from sparse polarity matrices.

For users a, b with co-rated item set CM (items both rated), Eq. 1 is a Pearson correlation whose means are
taken over CM itself, not over each user's full history::

    sim(a, b) = Σ_CM (p_a − p̄_a)(p_b − p̄_b) / ( sqrt(Σ_CM (p_a − p̄_a)²) · sqrt(Σ_CM (p_b − p̄_b)²) ),
    p̄_a = (1/|CM|) Σ_CM p_a,   p̄_b = (1/|CM|) Σ_CM p_b.

(The paper's prose calls this "cosine similarity"; we implement the formula, i.e. Pearson on CM.)

Because the means depend on the pair, everything is expressed with pair-wise sums that are sparse matrix
products. With B the binary "rated" mask, P the polarity and Q = P∘P (element-wise), for pair (a, b)::

    n    = (B Bᵀ)_ab = |CM|          Sa  = (P Bᵀ)_ab = Σ_CM p_a      Sb  = (B Pᵀ)_ab = Σ_CM p_b
    Sab  = (P Pᵀ)_ab = Σ_CM p_a p_b  Saa = (Q Bᵀ)_ab = Σ_CM p_a²     Sbb = (B Qᵀ)_ab = Σ_CM p_b²
    cov = Sab − Sa·Sb/n,   var_a = Saa − Sa²/n,   var_b = Sbb − Sb²/n,   sim = cov / sqrt(var_a·var_b).

B is kept separately from P because a polarity can be exactly 0 (a neutral 3★ review), and a stored zero in
P would otherwise be indistinguishable from "not rated" and shrink CM.

Numerics: Eq. 1 is invariant to adding a per-user constant to all of that user's values (the CM mean moves
with it), so each user's polarities are first centred on the user's overall mean. That keeps the
``Saa − Sa²/n`` differences from cancelling catastrophically without changing any similarity.

Kept pairs: ``a < b``, ``n ≥ min_co_rated`` and ``sim > t_sim`` (strictly: "exceeds the threshold").
A pair whose polarities are constant on CM for either user (variance ≤ 1e-10 · Σ_CM p², centred, which
absorbs rounding) has an undefined correlation and is skipped -- never reported as 0 or 1. In particular a
single co-rated item (n = 1) never yields an edge.

Memory: users are processed in row blocks. A block holds at most ``block_size`` users and, via the
per-user upper bound w_u = Σ_{v rated by u} deg(v) on the number of candidate pairs (B Bᵀ row nnz), at most
``max_block_pairs`` candidate pairs -- unless one user alone exceeds it, then that user forms a block with
≤ n_users candidates. Working memory per block is ≈ 100 bytes per candidate pair (six sparse products
handled one at a time, plus their keys), so the default 2 M pairs stay near 200 MB whatever the item
popularity skew. On top of that come O(nnz) for the three matrices and their transposes (≈ 100 B per
rating) and 28 B per kept edge. For 100k users × 50k items with a few ratings each, the whole run therefore
needs a few hundred MB, dominated by the per-block working set.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TypeAlias

import numpy as np
import numpy.typing as npt
import scipy.sparse as sp

# Variance below this fraction of Σ p² (after centring) is rounding noise: the correlation is undefined.
ZERO_VARIANCE_RTOL = 1e-10
DEFAULT_BLOCK_SIZE = 4096
DEFAULT_MAX_BLOCK_PAIRS = 2_000_000

SparseMatrix: TypeAlias = sp.spmatrix | sp.sparray


@dataclass(frozen=True)
class SimilarityEdges:
    """Kept user pairs as COO arrays, ordered by (src, dst) with ``src < dst``."""

    src: np.ndarray  # int64 user index
    dst: np.ndarray  # int64 user index
    sim: np.ndarray  # float64 in (t_sim, 1]
    n_co_rated: np.ndarray  # int64 |CM|

    def __len__(self) -> int:
        return int(self.src.size)


def _row_of_entries(indptr: np.ndarray) -> np.ndarray:
    return np.repeat(np.arange(indptr.size - 1, dtype=np.int64), np.diff(indptr))


def _check_options(t_sim: float, min_co_rated: int, block_size: int, max_block_pairs: int) -> None:
    if np.isnan(t_sim):
        raise ValueError("t_sim must not be NaN")
    if min_co_rated < 1:
        raise ValueError(f"min_co_rated must be at least 1, got {min_co_rated}")
    if block_size < 1 or max_block_pairs < 1:
        raise ValueError("block_size and max_block_pairs must be positive")


def _gather(product: sp.csr_array, keys: np.ndarray, n_cols: int) -> np.ndarray:
    """Values of ``product`` at the (sorted) entry keys of the co-rating count matrix.

    Sparse products drop sums that cancel to exactly 0, so their patterns are subsets of n's pattern; a
    key lookup re-aligns them (missing entries are true zeros).
    """
    product.sort_indices()
    product_keys = _row_of_entries(product.indptr) * n_cols + product.indices
    out = np.zeros(keys.size, dtype=np.float64)
    out[np.searchsorted(keys, product_keys)] = product.data
    return out


def _block_edges(
    start: int,
    b_blk: sp.csr_array,
    p_blk: sp.csr_array,
    q_blk: sp.csr_array,
    transposes: tuple[sp.csr_array, sp.csr_array, sp.csr_array],
    *,
    t_sim: float,
    min_co_rated: int,
) -> tuple[np.ndarray, ...]:
    b_t, p_t, q_t = transposes
    n_users = b_t.shape[1]
    counts = b_blk @ b_t
    counts.sort_indices()
    rows = _row_of_entries(counts.indptr)
    cols = counts.indices.astype(np.int64)
    keys = rows * n_users + cols
    keep = (counts.data >= min_co_rated) & (cols > rows + start)

    def at_keep(product: sp.csr_array) -> np.ndarray:
        return _gather(product, keys, n_users)[keep]

    n = counts.data[keep]
    sum_a, sum_b = at_keep(p_blk @ b_t), at_keep(b_blk @ p_t)
    sum_ab = at_keep(p_blk @ p_t)
    sq_a, sq_b = at_keep(q_blk @ b_t), at_keep(b_blk @ q_t)
    cov = sum_ab - sum_a * sum_b / n
    var_a = sq_a - sum_a**2 / n
    var_b = sq_b - sum_b**2 / n
    defined = (var_a > ZERO_VARIANCE_RTOL * sq_a) & (var_b > ZERO_VARIANCE_RTOL * sq_b)
    sim = np.full(n.size, -np.inf)
    sim[defined] = np.clip(cov[defined] / np.sqrt(var_a[defined] * var_b[defined]), -1.0, 1.0)
    out = defined & (sim > t_sim)
    return rows[keep][out] + start, cols[keep][out], sim[out], n[out].astype(np.int64)


def _edges_from_pattern(
    indptr: np.ndarray,
    indices: np.ndarray,
    values: np.ndarray,
    shape: tuple[int, int],
    *,
    t_sim: float,
    min_co_rated: int,
    block_size: int,
    max_block_pairs: int,
) -> SimilarityEdges:
    """Core: one canonical CSR pattern (= rated entries, no duplicates) with its polarity values."""
    n_users, n_items = shape
    rows = _row_of_entries(indptr)
    per_user = np.diff(indptr)
    user_mean = np.bincount(rows, weights=values, minlength=n_users) / np.maximum(per_user, 1)
    centred = values - user_mean[rows]

    mask = sp.csr_array((np.ones(indices.size), indices, indptr), shape=shape)
    pol = sp.csr_array((centred, indices, indptr), shape=shape)
    sq = sp.csr_array((centred**2, indices, indptr), shape=shape)
    transposes = (mask.T.tocsr(), pol.T.tocsr(), sq.T.tocsr())

    # Upper bound on each user's candidate pairs: Σ over their items of the item's number of raters.
    item_degree = np.bincount(indices, minlength=n_items)
    bound = np.concatenate(
        [[0.0], np.cumsum(np.bincount(rows, weights=item_degree[indices], minlength=n_users))]
    )

    parts: list[tuple[np.ndarray, ...]] = []
    start = 0
    while start < n_users:
        by_budget = int(np.searchsorted(bound, bound[start] + max_block_pairs, side="right")) - 1
        end = min(start + block_size, n_users, max(by_budget, start + 1))
        parts.append(
            _block_edges(
                start,
                mask[start:end],
                pol[start:end],
                sq[start:end],
                transposes,
                t_sim=t_sim,
                min_co_rated=min_co_rated,
            )
        )
        start = end
    if not parts:
        parts.append((np.empty(0, np.int64), np.empty(0, np.int64), np.empty(0), np.empty(0, np.int64)))
    src, dst, sim, n_co = (np.concatenate(column) for column in zip(*parts, strict=True))
    return SimilarityEdges(src=src, dst=dst, sim=sim, n_co_rated=n_co)


def similarity_edges(
    polarity: SparseMatrix,
    rated: SparseMatrix,
    *,
    t_sim: float,
    min_co_rated: int = 2,
    block_size: int = DEFAULT_BLOCK_SIZE,
    max_block_pairs: int = DEFAULT_MAX_BLOCK_PAIRS,
) -> SimilarityEdges:
    """Eq. 1 similarity edges from a users × items polarity matrix and its binary "rated" mask.

    ``rated``: every stored non-zero entry marks a rated (user, item); its values are otherwise ignored.
    ``polarity``: values at rated entries (missing ones are polarity 0). A non-zero polarity at an entry not
    in ``rated`` raises ``ValueError``. Duplicate stored entries follow scipy semantics (summed); use
    :func:`user_similarity` to average duplicate reviews instead.
    """
    _check_options(t_sim, min_co_rated, block_size, max_block_pairs)
    if polarity.shape != rated.shape:
        raise ValueError(f"polarity {polarity.shape} and rated {rated.shape} differ in shape")
    shape = (int(rated.shape[0]), int(rated.shape[1]))
    mask = sp.csr_array(rated, dtype=np.float64, copy=True)
    mask.sum_duplicates()
    mask.eliminate_zeros()
    pol = sp.csr_array(polarity, dtype=np.float64, copy=True)
    pol.sum_duplicates()
    if not np.all(np.isfinite(pol.data)):
        raise ValueError("polarity contains NaN or infinite values")

    mask_keys = _row_of_entries(mask.indptr) * shape[1] + mask.indices
    pol_keys = _row_of_entries(pol.indptr) * shape[1] + pol.indices
    pos = np.searchsorted(mask_keys, pol_keys)
    found = pos < mask_keys.size
    found[found] = mask_keys[pos[found]] == pol_keys[found]
    if np.any(~found & (pol.data != 0)):
        raise ValueError("polarity has non-zero entries where rated is empty")
    values = np.zeros(mask.nnz)
    values[pos[found]] = pol.data[found]
    return _edges_from_pattern(
        mask.indptr,
        mask.indices,
        values,
        shape,
        t_sim=t_sim,
        min_co_rated=min_co_rated,
        block_size=block_size,
        max_block_pairs=max_block_pairs,
    )


def user_similarity(
    user_idx: npt.ArrayLike,
    item_idx: npt.ArrayLike,
    polarity: npt.ArrayLike,
    n_users: int,
    n_items: int,
    *,
    t_sim: float,
    min_co_rated: int,
    block_size: int = DEFAULT_BLOCK_SIZE,
    max_block_pairs: int = DEFAULT_MAX_BLOCK_PAIRS,
) -> SimilarityEdges:
    """Eq. 1 similarity edges from COO review arrays (one polarity per (user, item) review).

    Several reviews of the same item by the same user are merged into one rating whose polarity is their
    mean: Eq. 1 needs one value per (user, item), and averaging keeps it on the polarity scale (summing would
    not). Zero polarities stay rated.
    """
    _check_options(t_sim, min_co_rated, block_size, max_block_pairs)
    users = np.asarray(user_idx)
    items = np.asarray(item_idx)
    values = np.asarray(polarity, dtype=np.float64)
    if not (users.ndim == items.ndim == values.ndim == 1 and users.size == items.size == values.size):
        raise ValueError("user_idx, item_idx and polarity must be 1-D arrays of equal length")
    if not (np.issubdtype(users.dtype, np.integer) and np.issubdtype(items.dtype, np.integer)):
        raise ValueError("user_idx and item_idx must be integer arrays")
    if users.size and (
        users.min() < 0 or users.max() >= n_users or items.min() < 0 or items.max() >= n_items
    ):
        raise ValueError("user_idx or item_idx out of range [0, n_users) / [0, n_items)")
    if not np.all(np.isfinite(values)):
        raise ValueError("polarity contains NaN or infinite values")

    keys, inverse = np.unique(users.astype(np.int64) * n_items + items, return_inverse=True)
    merged = np.bincount(inverse, weights=values) / np.bincount(inverse)
    rows = keys // n_items
    indptr = np.concatenate([[0], np.cumsum(np.bincount(rows, minlength=n_users))])
    return _edges_from_pattern(
        indptr,
        keys % n_items,
        merged,
        (n_users, n_items),
        t_sim=t_sim,
        min_co_rated=min_co_rated,
        block_size=block_size,
        max_block_pairs=max_block_pairs,
    )
