"""Lookalike baselines (GLoM §4.2), all behind one interface: ``fit(train)`` then ``score(task)``.

``score`` returns one float per ``task.candidates`` entry (higher = more likely a buyer). Baselines only
ever see :class:`TrainData`, which :meth:`TrainData.from_split` builds with the held-out edges removed.

- ``random``: uniform noise (the floor; AP ≈ positive rate).
- ``popularity``: user activity = number of training interactions (heavy users buy more of everything).
- ``lr``: the paper's LR on raw features [19], one classifier per task (:class:`LogisticRegressionBaseline`).
- ``cf_pearson``: memory-based CF, mean Pearson correlation of item vectors (see :class:`PearsonCFBaseline`).
- ``lightgcn``: PyG LightGCN trained with BPR on the training interactions, centroid scoring.
- ``transe``: PyKEEN TransE on user–BOUGHT–item and item–IN_CATEGORY–category triples, centroid scoring.
- ``graphsage``: PyG ``SAGEConv`` over learnable id features, BPR-trained end to end (:mod:`.graphsage`).
- ``pinterest``: Pinterest's two-stage model [20]: SVD user embedding, then per seed list an LSH
  seed-density score blended with a logistic classifier (:mod:`.pinterest`).
- ``metaheac``: MetaHeac [2]: hybrid experts and critics, MAML-trained over item campaigns and adapted to
  each task's seeds (:mod:`.metaheac`).

Defaults are sized so that fitting on ~1,000 users × 150 items takes seconds on two CPU cores.
"""

from __future__ import annotations

import gc
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Protocol

import numpy as np
import scipy.sparse as sp
from numpy.typing import ArrayLike, NDArray

from mokg.lookalike.protocol import Split, Task, training_mask
from mokg.lookalike.scoring import Method, score_candidates

if TYPE_CHECKING:
    import torch

FloatArray = NDArray[np.float64]
IntArray = NDArray[np.int64]


@dataclass(frozen=True)
class TrainData:
    """Training interactions as a binary users × items CSR matrix, optional ratings (same sparsity pattern;
    the last rating wins for a repeated pair) and each item's category ids."""

    interactions: sp.csr_matrix
    ratings: sp.csr_matrix | None = None
    item_categories: tuple[tuple[int, ...], ...] | None = None

    @property
    def n_users(self) -> int:
        return int(self.interactions.shape[0])

    @property
    def n_items(self) -> int:
        return int(self.interactions.shape[1])

    @classmethod
    def from_pairs(
        cls,
        user_idx: ArrayLike,
        item_idx: ArrayLike,
        n_users: int,
        n_items: int,
        ratings: ArrayLike | None = None,
        item_categories: Sequence[Sequence[int]] | None = None,
    ) -> TrainData:
        users = np.asarray(user_idx, dtype=np.int64).ravel()
        items = np.asarray(item_idx, dtype=np.int64).ravel()
        binary = sp.csr_matrix((np.ones(users.size), (users, items)), shape=(n_users, n_items))
        binary.sum_duplicates()
        binary.data[:] = 1.0
        rated = None
        if ratings is not None:
            # keep the last rating of a repeated pair (a CSR built from duplicates would sum them)
            keys = users * n_items + items
            _, first_from_end = np.unique(keys[::-1], return_index=True)
            last = keys.size - 1 - first_from_end
            values = np.asarray(ratings, dtype=np.float64).ravel()[last]
            rated = sp.csr_matrix((values, (users[last], items[last])), shape=(n_users, n_items))
        cats = None
        if item_categories is not None:
            if len(item_categories) != n_items:
                raise ValueError(f"item_categories has {len(item_categories)} entries, expected {n_items}")
            cats = tuple(tuple(int(c) for c in cs) for cs in item_categories)
        return cls(interactions=binary, ratings=rated, item_categories=cats)

    @classmethod
    def from_split(
        cls,
        split: Split,
        user_idx: ArrayLike,
        item_idx: ArrayLike,
        ratings: ArrayLike | None = None,
        item_categories: Sequence[Sequence[int]] | None = None,
    ) -> TrainData:
        """The training data of ``split``: every held-out edge removed (see ``protocol.training_mask``)."""
        keep = training_mask(split, user_idx, item_idx)
        users = np.asarray(user_idx, dtype=np.int64).ravel()[keep]
        items = np.asarray(item_idx, dtype=np.int64).ravel()[keep]
        kept_ratings = None if ratings is None else np.asarray(ratings, dtype=np.float64).ravel()[keep]
        return cls.from_pairs(users, items, split.n_users, split.n_items, kept_ratings, item_categories)

    def category_matrix(self) -> sp.csr_matrix:
        """Binary items × categories matrix (zero columns when no categories are known)."""
        if not self.item_categories:
            return sp.csr_matrix((self.n_items, 0))
        rows = np.repeat(np.arange(self.n_items), [len(c) for c in self.item_categories])
        cols = np.fromiter((c for cs in self.item_categories for c in cs), dtype=np.int64, count=rows.size)
        n_cats = int(cols.max()) + 1 if cols.size else 0
        m = sp.csr_matrix((np.ones(rows.size), (rows, cols)), shape=(self.n_items, n_cats))
        m.data[:] = 1.0
        return m


class Baseline(Protocol):
    name: str

    def fit(self, train: TrainData) -> None: ...

    def score(self, task: Task) -> FloatArray: ...


def _require(value: object, name: str) -> None:
    if value is None:
        raise RuntimeError(f"{name}: call fit() before score()")


def _other_items(n_items: int, item: int) -> IntArray:
    """All item columns except the task item: seeds hold that edge and held-out candidates never do, so a
    feature built on it would only separate the training labels, never rank candidates."""
    return np.delete(np.arange(n_items, dtype=np.int64), item)


def seed_list_negatives(task: Task, n_users: int, n_neg: int, rng: np.random.Generator) -> IntArray:
    """``n_neg`` users to contrast a task's seeds with, using no label: drawn without replacement from the
    users who are neither seeds nor candidates (non-buyers of the task item in training), topped up from
    the candidates (labelled 0 whatever their true label, the PU view) when that pool is too small.
    Raises when there is nobody to draw."""
    banned = np.zeros(n_users, bool)
    banned[task.seeds] = True
    banned[task.candidates] = True
    pool = np.flatnonzero(~banned)
    disjoint = rng.choice(pool, size=min(n_neg, pool.size), replace=False)
    topup = rng.choice(task.candidates, size=min(n_neg - disjoint.size, task.candidates.size), replace=False)
    negatives = np.concatenate([disjoint, topup]).astype(np.int64)
    if negatives.size == 0:
        raise ValueError(f"task {task.item}: no users to sample negatives from")
    return negatives


class RandomBaseline:
    """Uniform scores from a stream keyed by (seed, item): the same task always gets the same scores."""

    name = "random"

    def __init__(self, seed: int = 0) -> None:
        self.seed = seed

    def fit(self, train: TrainData) -> None:
        return None

    def score(self, task: Task) -> FloatArray:
        return np.random.default_rng([self.seed, task.item]).random(task.candidates.size)


class PopularityBaseline:
    """Score = the candidate's number of training interactions."""

    name = "popularity"

    def __init__(self) -> None:
        self.activity: FloatArray | None = None

    def fit(self, train: TrainData) -> None:
        self.activity = np.asarray(train.interactions.getnnz(axis=1), dtype=np.float64)

    def score(self, task: Task) -> FloatArray:
        _require(self.activity, self.name)
        assert self.activity is not None
        return self.activity[task.candidates]


class LogisticRegressionBaseline:
    """The paper's LR lookalike [19]: per task, an L2 logistic regression on raw user features.

    Features of a user: bag of items (binary) over all items except the task item, and bag of categories
    (share of the user's other items in each category). Positives = the seeds; negatives =
    ``neg_ratio`` × seeds users drawn (stream keyed by seed and item) from those who are neither seeds nor
    candidates (users with a training edge to the task item are exactly the seeds, so these are
    non-buyers), so no candidate's label is used. When that pool is too small (small catalogues, where
    the 1:10 candidate sampling already took most non-buyers), the rest is drawn from the candidates and
    labelled 0 regardless of their true label: the PU-style "seeds versus everybody else" view, which uses
    no held-out information. Candidates are scored by the decision function.
    """

    name = "lr"

    def __init__(self, neg_ratio: float = 10.0, c: float = 1.0, max_iter: int = 200, seed: int = 0) -> None:
        self.neg_ratio, self.c, self.max_iter, self.seed = neg_ratio, c, max_iter, seed
        self.train: TrainData | None = None
        self.categories: sp.csr_matrix | None = None

    def fit(self, train: TrainData) -> None:
        self.train = train
        self.categories = train.category_matrix()

    def _features(self, users: IntArray, item: int) -> sp.csr_matrix:
        assert self.train is not None and self.categories is not None
        keep = _other_items(self.train.n_items, item)
        bag = self.train.interactions[users][:, keep]
        cats = sp.csr_matrix(bag @ self.categories[keep])
        n_other = np.asarray(bag.sum(axis=1)).ravel()
        share = sp.diags(np.divide(1.0, n_other, out=np.zeros_like(n_other), where=n_other > 0)) @ cats
        return sp.hstack([bag, share], format="csr")

    def score(self, task: Task) -> FloatArray:
        from sklearn.linear_model import LogisticRegression

        _require(self.train, self.name)
        assert self.train is not None
        n_neg = round(self.neg_ratio * task.seeds.size)
        rng = np.random.default_rng([self.seed, task.item])
        negatives = seed_list_negatives(task, self.train.n_users, n_neg, rng)
        rows = np.concatenate([task.seeds, negatives])
        labels = np.r_[np.ones(task.seeds.size), np.zeros(negatives.size)]
        # liblinear: tens of times faster than lbfgs on these small per-task problems (lbfgs's BLAS threads
        # thrash on a shared two-core box), and seeded
        clf = LogisticRegression(C=self.c, max_iter=self.max_iter, solver="liblinear", random_state=self.seed)
        clf.fit(self._features(rows, task.item), labels)
        return np.asarray(clf.decision_function(self._features(task.candidates, task.item)), dtype=np.float64)


class PearsonCFBaseline:
    """Memory-based CF: score(c) = mean over seeds s of Pearson(x_c, x_s).

    x_u is user u's item vector (binary, or star ratings with ``use_ratings``; 0 where not interacted)
    over all items except the task item (see ``_other_items``), and Pearson is taken over that full
    vector: corr = (x_c·x_s − n·m_c·m_s) / (‖x_c − m_c‖·‖x_s − m_s‖) with n items and means m. Computed in
    closed form on the sparse rows, never densified. Users with a constant vector correlate 0 with all.
    """

    name = "cf_pearson"

    def __init__(self, use_ratings: bool = False) -> None:
        self.use_ratings = use_ratings
        self.values: sp.csr_matrix | None = None
        self.n_items = 0

    def fit(self, train: TrainData) -> None:
        if self.use_ratings and train.ratings is None:
            raise ValueError("use_ratings=True but the training data has no ratings")
        self.values = train.ratings if self.use_ratings else train.interactions
        self.n_items = train.n_items

    def score(self, task: Task) -> FloatArray:
        _require(self.values, self.name)
        values = self.values
        assert values is not None
        keep = _other_items(self.n_items, task.item)
        n = keep.size

        def rows_stats(users: IntArray) -> tuple[sp.csr_matrix, FloatArray, FloatArray]:
            x = sp.csr_matrix(values[users][:, keep])
            mean = np.asarray(x.sum(axis=1)).ravel() / n
            sq = np.asarray(x.multiply(x).sum(axis=1)).ravel()
            return x, mean, np.sqrt(np.maximum(sq - n * mean**2, 0.0))

        xs, ms, ds = rows_stats(task.seeds)
        xc, mc, dc = rows_stats(task.candidates)
        w = np.divide(1.0, ds, out=np.zeros_like(ds), where=ds > 1e-12)
        v = np.asarray(xs.T @ w).ravel()  # Σ_s x_s / ‖x_s − m_s‖
        a = float(w @ ms)  # Σ_s m_s / ‖x_s − m_s‖
        num = np.asarray(xc @ v).ravel() - n * mc * a
        return np.divide(num, dc * task.seeds.size, out=np.zeros_like(num), where=dc > 1e-12)


class EmbeddingBaseline:
    """Scores candidates from user embeddings with a ``scoring`` rule. Given ``embeddings`` it uses them as
    they are (e.g. PM or GLoM output trained on the same split); subclasses learn them in :meth:`fit`."""

    name = "embeddings"

    def __init__(self, embeddings: ArrayLike | None = None, method: Method = "centroid") -> None:
        self.method: Method = method
        self.user_embeddings: FloatArray | None = None
        self._fixed = embeddings is not None
        if embeddings is not None:
            self.user_embeddings = np.asarray(embeddings, dtype=np.float64)

    def fit(self, train: TrainData) -> None:
        if not self._fixed:
            self.user_embeddings = self._train(train)

    def _train(self, train: TrainData) -> FloatArray:
        raise NotImplementedError("give embeddings, or use a subclass that trains them")

    def score(self, task: Task) -> FloatArray:
        _require(self.user_embeddings, self.name)
        assert self.user_embeddings is not None
        return score_candidates(self.user_embeddings, task.seeds, task.candidates, self.method)


def bipartite_edges(train: TrainData) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """The training interactions as one homogeneous graph for PyG: users ``0..U-1``, items ``U..U+I-1``.
    Returns each interaction's user and item node, and the edge index with every edge in both directions."""
    import torch

    coo = train.interactions.tocoo()
    users = torch.as_tensor(coo.row, dtype=torch.long)
    items = torch.as_tensor(coo.col, dtype=torch.long) + train.n_users
    return users, items, torch.stack([torch.cat([users, items]), torch.cat([items, users])])


def bpr_batches(
    train: TrainData,
    users: torch.Tensor,
    items: torch.Tensor,
    *,
    epochs: int,
    batch_size: int,
    gen: torch.Generator,
) -> Iterator[tuple[torch.Tensor, torch.Tensor, torch.Tensor]]:
    """BPR's (user, item, negative item) batches over :func:`bipartite_edges`' nodes: every epoch the
    interactions in a fresh order, each against an item node drawn uniformly (not filtered for false
    negatives, as in the common PyG recipe)."""
    import torch

    n_u = train.n_users
    for _ in range(epochs):
        for batch in torch.randperm(users.numel(), generator=gen).split(batch_size):
            neg = torch.randint(n_u, n_u + train.n_items, (batch.numel(),), generator=gen)
            yield users[batch], items[batch], neg


class LightGCNBaseline(EmbeddingBaseline):
    """``torch_geometric.nn.models.LightGCN`` on the user–item graph (users ``0..U-1``, items ``U..``; both
    edge directions), trained end-to-end with BPR: each training edge against a uniformly drawn item
    (not filtered for false negatives, as in the common PyG recipe). Seeded; user rows of the propagated
    embeddings are scored by ``method``."""

    name = "lightgcn"

    def __init__(
        self,
        dim: int = 32,
        num_layers: int = 2,
        epochs: int = 40,
        batch_size: int = 1024,
        lr: float = 0.01,
        reg: float = 1e-4,
        seed: int = 0,
        method: Method = "centroid",
    ) -> None:
        super().__init__(method=method)
        self.dim, self.num_layers, self.epochs = dim, num_layers, epochs
        self.batch_size, self.lr, self.reg, self.seed = batch_size, lr, reg, seed

    def _train(self, train: TrainData) -> FloatArray:
        import torch
        from torch_geometric.nn.models import LightGCN

        n_u, n_i = train.n_users, train.n_items
        users, items, edge_index = bipartite_edges(train)

        torch.manual_seed(self.seed)  # embedding init
        gen = torch.Generator().manual_seed(self.seed)  # batches and negatives
        model = LightGCN(num_nodes=n_u + n_i, embedding_dim=self.dim, num_layers=self.num_layers)
        opt = torch.optim.Adam(model.parameters(), lr=self.lr)
        model.train()
        batches = bpr_batches(train, users, items, epochs=self.epochs, batch_size=self.batch_size, gen=gen)
        for src, pos, neg in batches:
            label_index = torch.stack([torch.cat([src, src]), torch.cat([pos, neg])])
            pos_rank, neg_rank = model(edge_index, label_index).chunk(2)
            loss = model.recommendation_loss(
                pos_rank, neg_rank, node_id=label_index.unique(), lambda_reg=self.reg
            )
            opt.zero_grad()
            loss.backward()
            opt.step()
        model.eval()
        with torch.no_grad():
            return model.get_embedding(edge_index)[:n_u].double().numpy()


class TransEBaseline(EmbeddingBaseline):
    """TransE trained by PyKEEN's ``pipeline`` on (user, BOUGHT, item) and (item, IN_CATEGORY, category)
    triples with a margin ranking loss (the PM-style objective of §3.5, margin γ); user entity embeddings
    are scored by ``method``. Entities: users ``0..U-1``, items ``U..U+I-1``, categories after them."""

    name = "transe"

    def __init__(
        self,
        dim: int = 32,
        epochs: int = 100,
        batch_size: int = 256,
        lr: float = 0.01,
        margin: float = 1.0,
        seed: int = 0,
        method: Method = "centroid",
    ) -> None:
        super().__init__(method=method)
        self.dim, self.epochs, self.batch_size = dim, epochs, batch_size
        self.lr, self.margin, self.seed = lr, margin, seed

    def triples(self, train: TrainData) -> IntArray:
        """Mapped (head, relation, tail) triples: relation 0 = BOUGHT, 1 = IN_CATEGORY."""
        n_u, n_i = train.n_users, train.n_items
        coo = train.interactions.tocoo()
        bought = np.column_stack([coo.row, np.zeros(coo.nnz, np.int64), coo.col + n_u])
        cats = train.category_matrix().tocoo()
        in_cat = np.column_stack([cats.row + n_u, np.ones(cats.nnz, np.int64), cats.col + n_u + n_i])
        return np.concatenate([bought, in_cat]).astype(np.int64)

    def _train(self, train: TrainData) -> FloatArray:
        import torch
        from pykeen.models import ERModel
        from pykeen.pipeline import pipeline
        from pykeen.triples import CoreTriplesFactory

        mapped = torch.as_tensor(self.triples(train))
        n_entities = train.n_users + train.n_items + train.category_matrix().shape[1]
        training = CoreTriplesFactory.create(mapped, num_entities=n_entities, num_relations=2)
        # the pipeline insists on a test set; one triple keeps its link-prediction evaluation negligible
        testing = CoreTriplesFactory.create(mapped[:1], num_entities=n_entities, num_relations=2)
        # PyKEEN runs a full gc.collect() after every epoch; with torch and PyG loaded that costs up to a
        # second each on a busy 2-core box. Freezing the objects that exist now skips them in those sweeps
        # (garbage made during training is still collected) and is undone right after.
        gc.freeze()
        try:
            result = pipeline(
                training=training,
                testing=testing,
                model="TransE",
                model_kwargs={"embedding_dim": self.dim},
                loss="marginranking",
                loss_kwargs={"margin": self.margin},
                optimizer="Adam",
                optimizer_kwargs={"lr": self.lr},
                training_kwargs={"num_epochs": self.epochs, "batch_size": self.batch_size},
                # the pipeline insists on evaluating its one dummy test triple; a fixed batch size stops
                # it probing for one, which it warns about on CPUs
                evaluation_kwargs={"batch_size": 32},
                random_seed=self.seed,
                device="cpu",
                use_tqdm=False,
            )
        finally:
            gc.unfreeze()
        # the model is typed as a plain Module in PipelineResult; TransE is an ERModel
        model: ERModel = result.model  # type: ignore[assignment]
        with torch.no_grad():
            emb = model.entity_representations[0](indices=torch.arange(train.n_users))
        return emb.detach().double().cpu().numpy()
