"""Knowledge-query aggregators of GLM (§3.6.1).

Along an edge (u, r, v) the message to destination v is the knowledge query ``Q = h_u + h_r`` and the
aggregate is ``m_v = Σ_(u,r,v) α_(u,r,v) Q`` over v's incoming edges (one message per edge, so parallel
relations between the same pair each contribute):

* ``mean``  (Eq. 3): ``α = 1 / in-degree(v)``.
* ``attn1`` (Eq. 6): logit ``e = Qᵀ h_v``.
* ``attn2`` (Eq. 7): logit ``e = LeakyReLU(aᵀ [Q ‖ h_v])`` with trainable ``a ∈ R^{2H}``.

Eq. 5 writes ``α = e / Σ_k e``; the raw logits can be negative or sum to zero, so — as in KGAT/GAT, which
the paper cites — we read it as a softmax over each destination's incoming edges
(``torch_geometric.utils.softmax``). Nodes without incoming edges receive ``m_v = 0``.

With no gradient to keep (the final pass, the frozen first message, inductive embedding), the edges are
taken in chunks of :data:`INFERENCE_CHUNK`: PyG's pass materialises several ``[E, H]`` tensors, about 4 GB
for the 3.7M edges of 100k synthetic users and ten times that at 1M; the chunks keep ``[E]`` logits only.
"""

from __future__ import annotations

import math
from typing import Literal, get_args

import torch
import torch.nn.functional as F
from torch import nn
from torch_geometric.nn import MessagePassing
from torch_geometric.utils import degree, softmax

Aggregator = Literal["mean", "attn1", "attn2"]
AGGREGATORS: tuple[str, ...] = get_args(Aggregator)
INFERENCE_CHUNK = 1 << 18  # edges per chunk without gradients: 64 MB per [chunk, 64] float tensor


class KnowledgeQueryConv(MessagePassing):
    """Aggregates knowledge queries ``h_u + h_r`` into each destination node; returns ``m`` (``[N, H]``).

    ``edge_index`` is ``[2, E]`` (row 0 source u, row 1 destination v), ``edge_type`` indexes ``rel``.
    """

    def __init__(self, dim: int, aggregator: Aggregator = "mean", negative_slope: float = 0.2) -> None:
        super().__init__(aggr="add", node_dim=0)
        if aggregator not in AGGREGATORS:
            raise ValueError(f"aggregator must be one of {AGGREGATORS}, got {aggregator!r}")
        self.dim = dim
        self.aggregator = aggregator
        self.negative_slope = negative_slope
        self.att: nn.Parameter | None = None
        self.chunk = INFERENCE_CHUNK
        if aggregator == "attn2":
            self.att = nn.Parameter(torch.empty(2 * dim))
        self.reset_parameters()

    def reset_parameters(self) -> None:
        super().reset_parameters()
        if self.att is not None:
            bound = 1.0 / math.sqrt(2 * self.dim)
            nn.init.uniform_(self.att, -bound, bound)

    def attention(
        self, h: torch.Tensor, edge_index: torch.Tensor, edge_type: torch.Tensor, rel: torch.Tensor
    ) -> torch.Tensor:
        """Normalised weight α of every edge (``[E]``); sums to 1 over each destination's incoming edges."""
        return self.edge_updater(edge_index, h=h, rel_e=rel[edge_type])

    def forward(
        self, h: torch.Tensor, edge_index: torch.Tensor, edge_type: torch.Tensor, rel: torch.Tensor
    ) -> torch.Tensor:
        trained = [h, rel, *self.parameters()]
        if not torch.is_grad_enabled() or not any(t.requires_grad for t in trained):
            return self._chunked(h, edge_index, edge_type, rel)
        rel_e = rel[edge_type]
        alpha = self.edge_updater(edge_index, h=h, rel_e=rel_e)
        return self.propagate(edge_index, h=h, rel_e=rel_e, alpha=alpha)

    def _chunked(
        self, h: torch.Tensor, edge_index: torch.Tensor, edge_type: torch.Tensor, rel: torch.Tensor
    ) -> torch.Tensor:
        """The same ``m`` as the PyG pass, holding ``[chunk, H]`` tensors at a time instead of ``[E, H]``."""
        src, dst = edge_index
        n = h.shape[0]
        spans = [slice(i, i + self.chunk) for i in range(0, len(dst), self.chunk)]

        def queries(s: slice) -> torch.Tensor:
            return h[src[s]] + rel[edge_type[s]]

        if self.aggregator == "mean":
            alpha = degree(dst, n, dtype=h.dtype).reciprocal()[dst]
        else:
            logits = [self.logits(queries(s), h[dst[s]]) for s in spans]
            alpha = softmax(torch.cat(logits) if logits else h.new_zeros(0), dst, num_nodes=n)
        out = h.new_zeros(n, h.shape[1])
        for s in spans:
            out.index_add_(0, dst[s], alpha[s].unsqueeze(-1) * queries(s))
        return out

    def logits(self, query: torch.Tensor, h_dst: torch.Tensor) -> torch.Tensor:
        """Eq. 6 (attn1) or Eq. 7 (attn2) for each (query, destination) row, before the softmax."""
        if self.att is None:
            return (query * h_dst).sum(-1)
        return F.leaky_relu(torch.cat([query, h_dst], dim=-1) @ self.att, self.negative_slope)

    def edge_update(
        self,
        h_j: torch.Tensor,
        h_i: torch.Tensor,
        rel_e: torch.Tensor,
        index: torch.Tensor,
        ptr: torch.Tensor | None,
        dim_size: int | None,
    ) -> torch.Tensor:
        if self.aggregator == "mean":
            return degree(index, dim_size, dtype=h_j.dtype).reciprocal()[index]
        return softmax(self.logits(h_j + rel_e, h_i), index, ptr, dim_size)

    def message(self, h_j: torch.Tensor, rel_e: torch.Tensor, alpha: torch.Tensor) -> torch.Tensor:
        return alpha.unsqueeze(-1) * (h_j + rel_e)

    def __repr__(self) -> str:
        return f"{self.__class__.__name__}({self.dim}, aggregator={self.aggregator!r})"
