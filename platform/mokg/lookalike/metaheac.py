"""MetaHeac baseline (GLoM §4.2, [2]: Zhu et al., "Learning to Expand Audience via Meta Hybrid Experts and
Critics for Recommendation and Advertising", KDD 2021), written from the paper's outline (experts and
critics mixed by gates, meta-trained over many campaigns with MAML, fine-tuned on a new campaign's seeds);
the paper's text and code were not consulted, so details below are this module's own choices.

Inputs. A (user, campaign) pair is described by the user's id embedding, the mean embedding of the items
the user interacted with in training **other than the campaign's item** (seeds hold that edge and
candidates never do; cf. ``baselines._other_items``) and the campaign embedding (a campaign is an item).
All three tables are learned.

Model (``dim`` = 64 by default). ``n_experts`` (8) experts, each a one-hidden-layer ReLU MLP of the
concatenated inputs, are mixed by a softmax gate on the campaign embedding; ``n_critics`` (5) critics,
each a one-hidden-layer MLP from the mixed representation to a logit, are mixed by a second softmax gate on
the campaign embedding. Output: the gated sum of critic logits (its sigmoid: P(user in the audience)).

Meta-training (``fit``), over campaigns built from the training interactions only: every item with at
least ``min_campaign_buyers`` training buyers is a campaign. Each meta-step draws ``tasks_per_step``
campaigns; per campaign a support set (``shots`` buyers + ``neg_ratio`` × as many uniformly drawn
non-buyers) and a disjoint query set of the same shape. MAML with one inner step: the critics' parameters
take one SGD step of size ``inner_lr`` on the support BCE loss (kept in the graph, second order), the
query BCE loss under the adapted critics is averaged over the campaigns and Adam updates everything
(embeddings, experts, gates, critics' initialisation).

Scoring (``score``): the task's campaign is its item; the critics take the same inner step(s) on the task's
seeds against ``neg_ratio`` × seeds non-seeds (``seed_list_negatives``), then every candidate is scored by
the adapted model. Nothing else is updated at scoring time, so tasks are independent.

Known or likely departures from the paper: no user attribute features (the data has ids and
interactions only, so the user input is an id embedding plus a bag-of-items embedding); a campaign is
represented by its item's learned embedding, not by campaign features; the inner loop adapts only the
critics (experts, gates and embeddings learn in the outer loop only), which may be narrower than the
original's local update; expert/critic depth and sizes are small guesses; training is sized to run in
seconds to a minute on CPU (a few hundred meta-steps), far smaller than WeChat's. Seeded: parameter
init, campaign/user sampling and score-time negatives (keyed by task item).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np
import scipy.sparse as sp

from mokg.lookalike.baselines import FloatArray, TrainData, _require, seed_list_negatives
from mokg.lookalike.protocol import Task

if TYPE_CHECKING:
    import torch


class _Graph:
    """The training interactions as the network reads them: a sparse users × items tensor, each user's
    number of items, and each item's sorted buyers."""

    def __init__(self, train: TrainData) -> None:
        import torch

        csr = train.interactions.tocsr()
        coo = csr.tocoo()
        self.x = torch.sparse_coo_tensor(
            torch.as_tensor(np.vstack([coo.row, coo.col]), dtype=torch.long),
            torch.ones(coo.nnz),
            (train.n_users, train.n_items),
            check_invariants=False,
        ).coalesce()
        self.counts = torch.as_tensor(np.asarray(csr.sum(axis=1)).ravel(), dtype=torch.float32)
        csc = sp.csc_matrix(csr)
        csc.sort_indices()
        self.buyers = [
            csc.indices[csc.indptr[j] : csc.indptr[j + 1]].astype(np.int64) for j in range(train.n_items)
        ]

    def has(self, users: torch.Tensor, item: int) -> torch.Tensor:
        """1.0 where the user has a training edge to ``item``."""
        import torch

        return torch.as_tensor(np.isin(users.numpy(), self.buyers[item]), dtype=torch.float32)


class _Net:
    """Parameters of the hybrid experts/critics network as plain tensors, so the critics can be swapped
    for adapted ("fast") copies in the functional forward pass."""

    def __init__(self, n_users: int, n_items: int, dim: int, hidden: int, n_experts: int, n_critics: int):
        import torch

        def p(*shape: int, std: float) -> torch.Tensor:
            return (torch.randn(*shape) * std).requires_grad_()

        d_in = 3 * dim
        self.user = p(n_users, dim, std=0.1)
        self.item = p(n_items, dim, std=0.1)  # items as bag members
        self.campaign = p(n_items, dim, std=0.1)  # items as campaigns
        self.expert_w = p(n_experts, d_in, hidden, std=(2.0 / d_in) ** 0.5)
        self.expert_b = torch.zeros(n_experts, hidden, requires_grad=True)
        self.expert_gate = p(dim, n_experts, std=0.1)
        self.critic_gate = p(dim, n_critics, std=0.1)
        h2 = max(hidden // 2, 1)
        self.critics: tuple[torch.Tensor, ...] = (
            p(n_critics, hidden, h2, std=(2.0 / hidden) ** 0.5),
            torch.zeros(n_critics, h2, requires_grad=True),
            p(n_critics, h2, std=(1.0 / h2) ** 0.5),
            torch.zeros(n_critics, requires_grad=True),
        )

    def parameters(self) -> list[torch.Tensor]:
        return [
            self.user,
            self.item,
            self.campaign,
            self.expert_w,
            self.expert_b,
            self.expert_gate,
            self.critic_gate,
            *self.critics,
        ]

    def item_sums(self, g: _Graph) -> torch.Tensor:
        """Every user's summed item embeddings (computed once per meta-step and shared by its tasks)."""
        import torch

        return torch.sparse.mm(g.x, self.item)

    def bag(self, g: _Graph, sums: torch.Tensor, users: torch.Tensor, item: int) -> torch.Tensor:
        """Mean item embedding of each user's training items, the campaign's item left out."""
        has = g.has(users, item)
        mine = sums[users] - has[:, None] * self.item[item]
        n = (g.counts[users] - has).clamp(min=1.0)
        return mine / n[:, None]

    def represent(self, g: _Graph, sums: torch.Tensor, users: torch.Tensor, item: int) -> torch.Tensor:
        """Gated mixture of experts for (users, campaign ``item``); ``sums`` from :meth:`item_sums`."""
        import torch

        c = self.campaign[item]
        z = torch.cat([self.user[users], self.bag(g, sums, users, item), c.expand(users.numel(), -1)], dim=1)
        experts = torch.relu(torch.einsum("nd,kdh->knh", z, self.expert_w) + self.expert_b[:, None, :])
        gate = torch.softmax(c @ self.expert_gate, dim=0)
        return torch.einsum("k,knh->nh", gate, experts)

    def logits(self, h: torch.Tensor, item: int, critics: tuple[torch.Tensor, ...]) -> torch.Tensor:
        import torch

        w1, b1, w2, b2 = critics
        hidden = torch.relu(torch.einsum("nh,chm->cnm", h, w1) + b1[:, None, :])
        out = torch.einsum("cnm,cm->cn", hidden, w2) + b2[:, None]
        gate = torch.softmax(self.campaign[item] @ self.critic_gate, dim=0)
        return gate @ out


class MetaHeacBaseline:
    """Meta hybrid experts and critics, MAML-trained over item campaigns; see the module docstring."""

    name = "metaheac"

    def __init__(
        self,
        dim: int = 64,
        n_experts: int = 8,
        n_critics: int = 5,
        steps: int = 300,
        tasks_per_step: int = 8,
        shots: int = 10,
        neg_ratio: float = 4.0,
        min_campaign_buyers: int = 4,
        inner_lr: float = 0.1,
        inner_steps: int = 1,
        lr: float = 0.005,
        seed: int = 0,
    ) -> None:
        self.dim, self.n_experts, self.n_critics = dim, n_experts, n_critics
        self.steps, self.tasks_per_step, self.shots, self.neg_ratio = steps, tasks_per_step, shots, neg_ratio
        self.min_campaign_buyers, self.inner_lr, self.inner_steps = min_campaign_buyers, inner_lr, inner_steps
        self.lr, self.seed = lr, seed
        self.net: _Net | None = None
        self.train_data: TrainData | None = None
        self.graph: _Graph | None = None

    def _adapt(
        self, net: _Net, h: torch.Tensor, labels: torch.Tensor, item: int, create_graph: bool
    ) -> tuple[torch.Tensor, ...]:
        """The critics after ``inner_steps`` SGD steps on the BCE loss of (h, labels): the MAML inner loop."""
        import torch

        fast = net.critics
        for _ in range(self.inner_steps):
            loss = torch.nn.functional.binary_cross_entropy_with_logits(net.logits(h, item, fast), labels)
            grads = torch.autograd.grad(loss, fast, create_graph=create_graph)
            fast = tuple(w - self.inner_lr * g for w, g in zip(fast, grads, strict=True))
        return fast

    def fit(self, train: TrainData) -> None:
        import torch

        n_u, n_i = train.n_users, train.n_items
        g = _Graph(train)
        buyers = g.buyers
        campaigns = [j for j, b in enumerate(buyers) if b.size >= self.min_campaign_buyers]

        torch.manual_seed(self.seed)
        net = _Net(n_u, n_i, self.dim, self.dim, self.n_experts, self.n_critics)
        self.net, self.train_data, self.graph = net, train, g
        if not campaigns:
            return  # nothing to meta-train on: the scorer still adapts the initial critics per task
        opt = torch.optim.Adam(net.parameters(), lr=self.lr)
        rng = np.random.default_rng([self.seed, 4])

        def episode(j: int) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor]:
            pos = rng.permutation(buyers[j])
            k = min(self.shots, max(1, pos.size // 2))
            n_neg = max(1, round(self.neg_ratio * k))
            draw = rng.integers(0, n_u, 4 * n_neg + 8)
            neg = draw[~np.isin(draw, buyers[j])]
            if neg.size < 2 * n_neg:  # an item almost everybody bought: take whoever is left
                neg = np.resize(neg, 2 * n_neg) if neg.size else rng.integers(0, n_u, 2 * n_neg)
            sup = np.r_[pos[:k], neg[:n_neg]]
            qry = np.r_[pos[k : 2 * k], neg[n_neg : 2 * n_neg]]
            ys = np.r_[np.ones(k), np.zeros(n_neg)]
            yq = np.r_[np.ones(pos[k : 2 * k].size), np.zeros(n_neg)]

            def t(a: np.ndarray, dtype: torch.dtype) -> torch.Tensor:
                return torch.as_tensor(a, dtype=dtype)

            return t(sup, torch.long), t(ys, torch.float32), t(qry, torch.long), t(yq, torch.float32)

        for _ in range(self.steps):
            chosen = rng.choice(len(campaigns), size=min(self.tasks_per_step, len(campaigns)), replace=False)
            loss = torch.zeros(())
            sums = net.item_sums(g)
            for c in chosen.tolist():
                j = campaigns[c]
                sup, ys, qry, yq = episode(j)
                fast = self._adapt(net, net.represent(g, sums, sup, j), ys, j, create_graph=True)
                q_logits = net.logits(net.represent(g, sums, qry, j), j, fast)
                loss = loss + torch.nn.functional.binary_cross_entropy_with_logits(q_logits, yq)
            opt.zero_grad()
            (loss / chosen.size).backward()
            opt.step()

    def score(self, task: Task) -> FloatArray:
        import torch

        _require(self.net, self.name)
        net, g, train = self.net, self.graph, self.train_data
        assert net is not None and g is not None and train is not None
        rng = np.random.default_rng([self.seed, 5, task.item])
        negatives = seed_list_negatives(task, train.n_users, round(self.neg_ratio * task.seeds.size), rng)
        sup = torch.as_tensor(np.r_[task.seeds, negatives], dtype=torch.long)
        ys = torch.as_tensor(np.r_[np.ones(task.seeds.size), np.zeros(negatives.size)], dtype=torch.float32)
        with torch.no_grad():
            sums = net.item_sums(g)
            h = net.represent(g, sums, sup, task.item)
        fast = tuple(w.detach() for w in self._adapt(net, h, ys, task.item, create_graph=False))
        with torch.no_grad():
            cand = torch.as_tensor(task.candidates, dtype=torch.long)
            out = net.logits(net.represent(g, sums, cand, task.item), task.item, fast)
        return out.double().numpy()
