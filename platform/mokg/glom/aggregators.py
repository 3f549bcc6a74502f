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
        rel_e = rel[edge_type]
        alpha = self.edge_updater(edge_index, h=h, rel_e=rel_e)
        return self.propagate(edge_index, h=h, rel_e=rel_e, alpha=alpha)

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
        query = h_j + rel_e
        if self.att is None:
            logits = (query * h_i).sum(-1)
        else:
            logits = F.leaky_relu(torch.cat([query, h_i], dim=-1) @ self.att, self.negative_slope)
        return softmax(logits, index, ptr, dim_size)

    def message(self, h_j: torch.Tensor, rel_e: torch.Tensor, alpha: torch.Tensor) -> torch.Tensor:
        return alpha.unsqueeze(-1) * (h_j + rel_e)

    def __repr__(self) -> str:
        return f"{self.__class__.__name__}({self.dim}, aggregator={self.aggregator!r})"
