"""GraphSAGE baseline (GLoM §4.2, [6]): end-to-end user embeddings from PyG ``SAGEConv`` on the user–item
graph of the training interactions.

What is implemented: users ``0..U-1`` and items ``U..U+I-1`` form one homogeneous graph (each training
interaction as an edge in both directions). Node inputs are learnable id embeddings (the reviews carry no
other node features that every baseline shares), passed through ``num_layers`` ``SAGEConv`` layers (mean
aggregator, root weight, ReLU between layers). The whole stack is trained end to end with BPR: each
training edge (u, i) against a uniformly drawn item j, maximising ⟨h_u, h_i⟩ − ⟨h_u, h_j⟩ plus L2 on the id
embeddings of the batch. The final-layer user rows are the user embeddings, scored like every other
embedding baseline (``method``, centroid by default).

Departures from Hamilton et al.: the graph is small enough (thousands of nodes) that every step runs the
full-graph forward pass instead of sampling fixed-size neighbourhoods per mini-batch (sampling only
approximates this full aggregation), and the unsupervised objective is BPR on user–item edges rather than
the random-walk co-occurrence loss, since the graph is bipartite and BPR is what LightGCN here uses too.
Negatives are not filtered for false negatives (as for LightGCN).
"""

from __future__ import annotations

import numpy as np

from mokg.lookalike.baselines import EmbeddingBaseline, FloatArray, TrainData, bipartite_edges, bpr_batches
from mokg.lookalike.scoring import Method


class GraphSAGEBaseline(EmbeddingBaseline):
    """``SAGEConv`` stack over learnable id embeddings, BPR-trained; see the module docstring."""

    name = "graphsage"

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
        if num_layers < 1:
            raise ValueError("num_layers must be at least 1")
        self.dim, self.num_layers, self.epochs = dim, num_layers, epochs
        self.batch_size, self.lr, self.reg, self.seed = batch_size, lr, reg, seed

    def _train(self, train: TrainData) -> FloatArray:
        import torch
        from torch import nn
        from torch_geometric.nn import SAGEConv

        n_u, n_i = train.n_users, train.n_items
        users, items, edge_index = bipartite_edges(train)

        torch.manual_seed(self.seed)  # parameter init
        gen = torch.Generator().manual_seed(self.seed)  # batches and negatives
        emb = nn.Embedding(n_u + n_i, self.dim)
        nn.init.normal_(emb.weight, std=0.1)
        convs = nn.ModuleList(SAGEConv(self.dim, self.dim, aggr="mean") for _ in range(self.num_layers))
        params = [*emb.parameters(), *convs.parameters()]
        opt = torch.optim.Adam(params, lr=self.lr)

        def forward() -> torch.Tensor:
            h = emb.weight
            for k, conv in enumerate(convs):
                h = conv(h, edge_index)
                if k < len(convs) - 1:
                    h = torch.relu(h)
            return h

        convs.train()
        for src, pos, neg in bpr_batches(
            train, users, items, epochs=self.epochs, batch_size=self.batch_size, gen=gen
        ):
            h = forward()
            diff = (h[src] * (h[pos] - h[neg])).sum(dim=1)
            nodes = torch.cat([src, pos, neg])
            loss = -torch.nn.functional.logsigmoid(diff).mean()
            loss = loss + self.reg * emb.weight[nodes].pow(2).sum(dim=1).mean()
            opt.zero_grad()
            loss.backward()
            opt.step()
        convs.eval()
        with torch.no_grad():
            out: FloatArray = forward()[:n_u].double().numpy()
        return np.ascontiguousarray(out)
