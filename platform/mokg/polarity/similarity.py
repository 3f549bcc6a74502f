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

Sa/Saa and Sb/Sbb come out of one complex product each, ``(P + iQ) Bᵀ = Sa + i·Saa`` and
``B (P + iQ)ᵀ = Sb + i·Sbb`` (multiplying by the mask's 1 + 0i is exact), so a block costs four sparse
products: B Bᵀ, P Pᵀ and the two complex ones.

B is kept separately from P because a polarity can be exactly 0 (a neutral 3★ review), and a stored zero in
P would otherwise be indistinguishable from "not rated" and shrink CM.

Numerics: Eq. 1 is invariant to adding a per-user constant to all of that user's values (the CM mean moves
with it), so each user's polarities are first shifted to near zero, which keeps the ``Saa − Sa²/n``
differences from cancelling catastrophically without changing any similarity. The shift is the user's mean
plus ``CENTRE_SHIFT`` (1/2π) times the user's value range rather than the exact mean: with discrete polarities
the exact mean often equals a value, sums over CM then cancel to exactly 0, and scipy drops such entries from
a product, which forces a slower re-alignment (still correct, see ``_EntryIndex``). An irrational offset makes
such exact cancellation practically impossible while costing almost nothing in conditioning.

Kept pairs: ``a < b``, ``n ≥ min_co_rated`` and ``sim > t_sim`` (strictly: "exceeds the threshold").
With ``max_item_raters`` (our bound, not the paper's), an item rated by more users than that is left out of
every CM, as item-to-item recommenders treat best-sellers: co-rating an item that most users rated says
little about two users' likeness, and such items are what makes Eq. 1 quadratic (the Cost below). On the
100k synthetic set 44 items have more than 1,000 raters and make 92% of Σ deg²; at 1M users, 415 items make
98%.
With ``top_k`` (our bound, not the paper's), a pair is kept only if it is among the ``top_k`` best of ``a``'s
or of ``b``'s candidates, best meaning higher sim, then more co-rated items, then lower user index. Eq. 1
on two co-rated items is always ±1, so on real and synthetic data thousands of pairs tie at 1.0: without
the bound, 10k synthetic users gave 526k edges, 50 per user, and the graph and both models grew with them.
A pair whose polarities are constant on CM for either user (variance ≤ 1e-10 · Σ_CM p² after the shift,
which absorbs rounding) has an undefined correlation and is skipped -- never reported as 0 or 1. In
particular a single co-rated item (n = 1) never yields an edge. Users with fewer than max(2, min_co_rated)
ratings, or with the same polarity on every item, can never get an edge and are dropped up front.

Cost: time is linear in the number of (user, user, shared item) triples, Σ_v deg(v)², which is inherent to
exact Eq. 1 over all pairs; a handful of items rated by a large share of users dominates it.

Memory: users are processed in row blocks. A block holds at most ``block_size`` users and, via the
per-user upper bound w_u = Σ_{v rated by u} deg(v) on the number of candidate pairs (B Bᵀ row nnz), at most
``max_block_pairs`` bounded candidates -- unless one user alone exceeds it, then that user forms a block with
≤ n_users candidates. Working memory per block measured ≈ 55 bytes per bounded candidate (the products are
taken one at a time), so the default 2 M stays near 110 MB whatever the item-popularity skew. On top come
O(nnz) for the input, the matrices and their transposes (≈ 150 B per rating) and 2 × 28 B per kept edge
(block parts plus their concatenation). For 100k users × 50k items with 5 ratings each that is ≈ 75 MB
+ ≤ 110 MB per block + edges: measured peak RSS of the whole process ≈ 190 MB, numpy/scipy included.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TypeAlias

import numpy as np
import numpy.typing as npt
import scipy.sparse as sp

# Variance below this fraction of Σ p² (after the shift) is rounding noise: the correlation is undefined.
ZERO_VARIANCE_RTOL = 1e-10
# Per-user shift off the mean, as a fraction of the user's value range; see "Numerics" above.
CENTRE_SHIFT = 1.0 / (2.0 * np.pi)
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


def _check_options(
    t_sim: float,
    min_co_rated: int,
    block_size: int,
    max_block_pairs: int,
    top_k: int | None = None,
    max_item_raters: int | None = None,
) -> None:
    if top_k is not None and top_k < 1:
        raise ValueError(f"top_k must be at least 1 (or None for no bound), got {top_k}")
    if max_item_raters is not None and max_item_raters < 2:
        raise ValueError(f"max_item_raters must be at least 2 (or None for no bound), got {max_item_raters}")
    if np.isnan(t_sim):
        raise ValueError("t_sim must not be NaN")
    if min_co_rated < 1:
        raise ValueError(f"min_co_rated must be at least 1, got {min_co_rated}")
    if block_size < 1 or max_block_pairs < 1:
        raise ValueError("block_size and max_block_pairs must be positive")


@dataclass(frozen=True)
class _Transposes:
    """Items × users transposes, built once and shared by every block."""

    mask: sp.csr_array
    mask_complex: sp.csr_array  # kept complex so complex @ mask does not upcast a copy per block
    pol: sp.csr_array
    packed: sp.csr_array


class _EntryIndex:
    """Puts a sparse product's values onto the entries of the co-rating count matrix of the same block.

    Every product's pattern is a subset of the count matrix's pattern, and scipy emits entries in the same
    order for operands of equal structure, so usually the patterns are identical and the data is used as is.
    Sums that cancel to exactly 0 are dropped by scipy, though; only then is a sorted key lookup built.
    """

    def __init__(self, counts: sp.csr_array) -> None:
        self.counts = counts
        self._order: np.ndarray | None = None
        self._sorted_keys: np.ndarray | None = None

    def _keys(self, matrix: sp.csr_array) -> np.ndarray:
        return _row_of_entries(matrix.indptr) * self.counts.shape[1] + matrix.indices

    def values(self, product: sp.csr_array) -> np.ndarray:
        counts = self.counts
        if np.array_equal(product.indptr, counts.indptr) and np.array_equal(product.indices, counts.indices):
            return product.data
        if self._order is None or self._sorted_keys is None:
            keys = self._keys(counts)
            self._order = np.argsort(keys)
            self._sorted_keys = keys[self._order]
        out = np.zeros(counts.nnz, dtype=product.dtype)
        out[self._order[np.searchsorted(self._sorted_keys, self._keys(product))]] = product.data
        return out


@dataclass(frozen=True)
class _Prepared:
    """The rated pattern as the products need it: users that can have an edge, values shifted (Numerics)."""

    mask: sp.csr_array
    pol: sp.csr_array
    packed: sp.csr_array
    transposes: _Transposes
    bound: np.ndarray  # cumulative upper bound on candidate pairs, per user (blocks are cut by it)


def _candidates(
    m: _Prepared,
    rows_of: np.ndarray | slice,
    row_ids: np.ndarray,
    *,
    t_sim: float,
    min_co_rated: int,
    both: bool,
) -> tuple[np.ndarray, ...]:
    """Every kept-worthy pair of the rows ``rows_of`` (``row_ids`` their users): (src, dst, sim, n) with src
    the row's user, unordered; ``both``: every other user as dst, else only those after src."""
    mask_blk, pol_blk, packed_blk, transposes = (
        m.mask[rows_of],
        m.pol[rows_of],
        m.packed[rows_of],
        m.transposes,
    )
    counts = mask_blk @ transposes.mask
    rows = row_ids[_row_of_entries(counts.indptr)]
    cols = counts.indices.astype(np.int64)
    keep = (counts.data >= min_co_rated) & (cols != rows if both else cols > rows)
    index = _EntryIndex(counts)

    n = counts.data[keep]
    own = index.values(packed_blk @ transposes.mask_complex)[keep]  # Sa + i·Saa
    other = index.values(mask_blk @ transposes.packed)[keep]  # Sb + i·Sbb
    sum_ab = index.values(pol_blk @ transposes.pol)[keep].real
    sum_a, sq_a, sum_b, sq_b = own.real, own.imag, other.real, other.imag
    cov = sum_ab - sum_a * sum_b / n
    var_a = sq_a - sum_a**2 / n
    var_b = sq_b - sum_b**2 / n
    defined = (var_a > ZERO_VARIANCE_RTOL * sq_a) & (var_b > ZERO_VARIANCE_RTOL * sq_b)
    sim = np.full(n.size, -np.inf)
    sim[defined] = np.clip(cov[defined] / np.sqrt(var_a[defined] * var_b[defined]), -1.0, 1.0)
    out = defined & (sim > t_sim)
    return rows[keep][out], cols[keep][out], sim[out], n[out].astype(np.int64)


def rank_key(sim: npt.ArrayLike) -> np.ndarray:
    """The similarity as ``top_k`` ranks it: rounded, since 1 − 2e-15 and 1.0 are the same correlation and
    the co-rated count should decide between them."""
    return np.round(np.asarray(sim, dtype=np.float64), 9)


def _block_edges(candidates: tuple[np.ndarray, ...], top_k: int | None) -> tuple[np.ndarray, ...]:
    """A block's candidates, cut to each row's ``top_k`` best (if bounded), ordered by (src, dst)."""
    src, dst, sim, n = candidates
    if top_k is not None:
        best = np.lexsort((dst, -n, -rank_key(sim), src))
        src, dst, sim, n = src[best], dst[best], sim[best], n[best]
        rank = np.arange(src.size) - np.searchsorted(src, src, side="left")
        chosen = rank < top_k
        src, dst = np.minimum(src, dst)[chosen], np.maximum(src, dst)[chosen]
        sim, n = sim[chosen], n[chosen]
    # scipy leaves each row's columns unsorted; order the block's edges by (src, dst).
    order = np.lexsort((dst, src))
    return src[order], dst[order], sim[order], n[order]


def _prepare(
    indptr: np.ndarray,
    indices: np.ndarray,
    values: np.ndarray,
    shape: tuple[int, int],
    *,
    min_co_rated: int,
    max_item_raters: int | None,
) -> _Prepared:
    n_users, n_items = shape
    rows = _row_of_entries(indptr)
    if max_item_raters is not None:
        # items rated by more users than the bound leave every CM (see "Kept pairs" above)
        kept = (np.bincount(indices, minlength=n_items) <= max_item_raters)[indices]
        indices, values, rows = indices[kept], values[kept], rows[kept]
        indptr = np.concatenate([[0], np.cumsum(np.bincount(rows, minlength=n_users))])
    per_user = np.diff(indptr)
    # Users that can never get an edge are dropped before any product: too few ratings for a pair, or one
    # polarity on every item (zero variance on every CM).
    starts = indptr[:-1][per_user > 0]
    spread = np.zeros(n_users)
    spread[per_user > 0] = np.maximum.reduceat(values, starts) - np.minimum.reduceat(values, starts)
    active = (per_user >= max(min_co_rated, 2)) & (spread > 0)
    indices, values = indices[active[rows]], values[active[rows]]
    per_user = np.where(active, per_user, 0)
    indptr = np.concatenate([[0], np.cumsum(per_user)])
    rows = _row_of_entries(indptr)
    user_mean = np.bincount(rows, weights=values, minlength=n_users) / np.maximum(per_user, 1)
    shifted = values - (user_mean + CENTRE_SHIFT * spread)[rows]

    def matrix(data: np.ndarray) -> sp.csr_array:
        return sp.csr_array((data, indices, indptr), shape=shape)

    # Complex packing: Σ (p + i·p²) gives Σp and Σp² in one product; it is 0 only if every p on CM is 0.
    mask, pol, packed = matrix(np.ones(indices.size)), matrix(shifted), matrix(shifted + 1j * shifted**2)
    mask_t = mask.T.tocsr()
    transposes = _Transposes(mask_t, mask_t.astype(np.complex128), pol.T.tocsr(), packed.T.tocsr())

    # Upper bound on each user's candidate pairs: Σ over their items of the item's number of raters.
    item_degree = np.bincount(indices, minlength=n_items)
    bound = np.concatenate(
        [[0.0], np.cumsum(np.bincount(rows, weights=item_degree[indices], minlength=n_users))]
    )
    return _Prepared(mask, pol, packed, transposes, bound)


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
    top_k: int | None = None,
    max_item_raters: int | None = None,
) -> SimilarityEdges:
    """Core: one canonical CSR pattern (= rated entries, no duplicates) with its polarity values."""
    n_users = shape[0]
    m = _prepare(indptr, indices, values, shape, min_co_rated=min_co_rated, max_item_raters=max_item_raters)
    parts: list[tuple[np.ndarray, ...]] = []
    start = 0
    while start < n_users:
        by_budget = int(np.searchsorted(m.bound, m.bound[start] + max_block_pairs, side="right")) - 1
        end = min(start + block_size, n_users, max(by_budget, start + 1))
        # a top-k choice needs each row's whole candidate list, so both orientations are scored
        block = _candidates(
            m,
            slice(start, end),
            np.arange(start, end, dtype=np.int64),
            t_sim=t_sim,
            min_co_rated=min_co_rated,
            both=top_k is not None,
        )
        parts.append(_block_edges(block, top_k))
        start = end
    src, dst, sim, n_co = _concatenate(parts)
    if top_k is not None:
        # a pair chosen by both users came from two blocks (or twice from one): keep it once, in (src, dst) order
        _, first = np.unique(src * n_users + dst, return_index=True)
        src, dst, sim, n_co = src[first], dst[first], sim[first], n_co[first]
    return SimilarityEdges(src=src, dst=dst, sim=sim, n_co_rated=n_co)


def _concatenate(parts: list[tuple[np.ndarray, ...]]) -> tuple[np.ndarray, ...]:
    if not parts:
        parts = [(np.empty(0, np.int64), np.empty(0, np.int64), np.empty(0), np.empty(0, np.int64))]
    return tuple(np.concatenate(column) for column in zip(*parts, strict=True))


def similarity_edges(
    polarity: SparseMatrix,
    rated: SparseMatrix,
    *,
    t_sim: float,
    min_co_rated: int = 2,
    block_size: int = DEFAULT_BLOCK_SIZE,
    max_block_pairs: int = DEFAULT_MAX_BLOCK_PAIRS,
    top_k: int | None = None,
    max_item_raters: int | None = None,
) -> SimilarityEdges:
    """Eq. 1 similarity edges from a users × items polarity matrix and its binary "rated" mask.

    ``rated``: every stored non-zero entry marks a rated (user, item); its values are otherwise ignored.
    ``polarity``: values at rated entries (missing ones are polarity 0). A non-zero polarity at an entry not
    in ``rated`` raises ``ValueError``. Duplicate stored entries follow scipy semantics (summed); use
    :func:`user_similarity` to average duplicate reviews instead.
    """
    _check_options(t_sim, min_co_rated, block_size, max_block_pairs, top_k, max_item_raters)
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
        top_k=top_k,
        max_item_raters=max_item_raters,
    )


def _merged_pattern(
    user_idx: npt.ArrayLike, item_idx: npt.ArrayLike, polarity: npt.ArrayLike, n_users: int, n_items: int
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """COO reviews as one canonical CSR pattern (indptr, indices, values), duplicates merged by their mean."""
    users = np.asarray(user_idx)
    items = np.asarray(item_idx)
    values = np.asarray(polarity, dtype=np.float64)
    if not (users.ndim == items.ndim == values.ndim == 1 and users.size == items.size == values.size):
        raise ValueError("user_idx, item_idx and polarity must be 1-D arrays of equal length")
    # np.asarray([]) is float64: only non-empty index arrays must be integer typed.
    if users.size and not (np.issubdtype(users.dtype, np.integer) and np.issubdtype(items.dtype, np.integer)):
        raise ValueError("user_idx and item_idx must be integer arrays")
    users, items = users.astype(np.int64), items.astype(np.int64)
    if users.size and (
        users.min() < 0 or users.max() >= n_users or items.min() < 0 or items.max() >= n_items
    ):
        raise ValueError("user_idx or item_idx out of range [0, n_users) / [0, n_items)")
    if not np.all(np.isfinite(values)):
        raise ValueError("polarity contains NaN or infinite values")

    keys, inverse = np.unique(users * n_items + items, return_inverse=True)
    merged = np.bincount(inverse, weights=values) / np.bincount(inverse)
    rows = keys // n_items
    indptr = np.concatenate([[0], np.cumsum(np.bincount(rows, minlength=n_users))])
    return indptr, keys % n_items, merged


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
    top_k: int | None = None,
    max_item_raters: int | None = None,
) -> SimilarityEdges:
    """Eq. 1 similarity edges from COO review arrays (one polarity per (user, item) review).

    Several reviews of the same item by the same user are merged into one rating whose polarity is their
    mean: Eq. 1 needs one value per (user, item), and averaging keeps it on the polarity scale (summing would
    not). Zero polarities stay rated.
    """
    _check_options(t_sim, min_co_rated, block_size, max_block_pairs, top_k, max_item_raters)
    indptr, indices, values = _merged_pattern(user_idx, item_idx, polarity, n_users, n_items)
    return _edges_from_pattern(
        indptr,
        indices,
        values,
        (n_users, n_items),
        t_sim=t_sim,
        min_co_rated=min_co_rated,
        block_size=block_size,
        max_block_pairs=max_block_pairs,
        top_k=top_k,
        max_item_raters=max_item_raters,
    )


def candidate_pairs(
    user_idx: npt.ArrayLike,
    item_idx: npt.ArrayLike,
    polarity: npt.ArrayLike,
    n_users: int,
    n_items: int,
    rows: npt.ArrayLike,
    *,
    t_sim: float,
    min_co_rated: int,
    max_block_pairs: int = DEFAULT_MAX_BLOCK_PAIRS,
    max_item_raters: int | None = None,
) -> SimilarityEdges:
    """Every candidate of the users ``rows`` (indices): each pair with one of them as ``src`` and any other
    user as ``dst`` that passes ``t_sim`` and ``min_co_rated``, before any ``top_k`` choice. A pair of two
    such users comes twice, once from each side. Only the rows' products are taken, so the cost is that of
    their own co-ratings (the stream's bounded §3.4 update); the reviews need only cover the items the rows
    rated. Same review semantics as :func:`user_similarity`; ordered by (src, dst)."""
    _check_options(t_sim, min_co_rated, DEFAULT_BLOCK_SIZE, max_block_pairs, None, max_item_raters)
    indptr, indices, values = _merged_pattern(user_idx, item_idx, polarity, n_users, n_items)
    m = _prepare(
        indptr,
        indices,
        values,
        (n_users, n_items),
        min_co_rated=min_co_rated,
        max_item_raters=max_item_raters,
    )
    wanted = np.unique(np.asarray(rows, dtype=np.int64))
    if wanted.size and (wanted[0] < 0 or wanted[-1] >= n_users):
        raise ValueError("rows out of range [0, n_users)")
    pairs = m.bound[wanted + 1] - m.bound[wanted]
    parts: list[tuple[np.ndarray, ...]] = []
    start = 0
    while start < wanted.size:
        # as many rows as fit in the pair budget, at least one
        end = max(
            start + 1, int(np.searchsorted(np.cumsum(pairs[start:]), max_block_pairs, side="right")) + start
        )
        block = wanted[start:end]
        parts.append(_candidates(m, block, block, t_sim=t_sim, min_co_rated=min_co_rated, both=True))
        start = end
    src, dst, sim, n_co = _concatenate(parts)
    order = np.lexsort((dst, src))
    return SimilarityEdges(src=src[order], dst=dst[order], sim=sim[order], n_co_rated=n_co[order])
