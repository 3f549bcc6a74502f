"""What the training benches share: floors (the bare arithmetic a learning stage cannot avoid, on its data),
the clock of the training epochs and the peak memory reading."""

from __future__ import annotations

import resource
import time
from typing import Any

import torch

from mokg.glom.data import TrainConfig
from mokg.glom.glm import with_reverse_edges
from mokg.glom.pretrain import epoch_batch_size
from mokg.glom.triples import KGTriples


def peak_rss_mb() -> float:
    """This process's peak resident memory so far, in MB (Linux reports KiB)."""
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def sync(device: str) -> None:
    """Wait for the device's queued work, so that a timer reads the work and not its launch."""
    if device.startswith("cuda"):
        torch.cuda.synchronize()


def pm_floor(kgt: KGTriples, cfg: TrainConfig, device: str = "cpu") -> float:
    """Seconds of ``cfg.pm_epochs`` epochs of a bare TransE step on ``device``, with the PM's batch shapes
    (``pm_negatives`` corruptions each, shared per chunk when the PM shares them): unique rows, gather,
    distances, backward, an SGD update of the rows — no typed sampling, no Adam, no renormalisation, no
    profile terms. One epoch is timed and scaled. ``cfg`` must already be sized for ``kgt``."""
    gen = torch.Generator(device=device).manual_seed(0)
    table = torch.randn(kgt.num_entities, cfg.dim, device=device) / cfg.dim**0.5
    rel = torch.randn(kgt.num_relations, cfg.dim, device=device) / cfg.dim**0.5
    head, rels, tail = (x.to(device) for x in (kgt.head, kgt.rel, kgt.tail))
    k, chunk = cfg.pm_negatives, cfg.pm_negative_chunk if cfg.pm_shared_negatives else 0
    sync(device)
    t0 = time.perf_counter()
    perm = torch.randperm(kgt.num_triples, generator=gen, device=device)
    for batch in perm.split(epoch_batch_size(kgt.num_triples, 1024)):
        h, r, t = head[batch], rels[batch], tail[batch]
        n = len(batch)
        chunks = -(-n // chunk) if chunk else 0
        # shared: one pool of k per chunk; per positive: k of its own
        nt = torch.randint(kgt.num_entities, (k * (chunks or n),), generator=gen, device=device)
        ids, inv = torch.unique(torch.cat([h, t, nt]), return_inverse=True)
        x = table.index_select(0, ids).requires_grad_()
        q = x[inv[:n]] + rel[r]
        pos = torch.linalg.vector_norm(q - x[inv[n : 2 * n]], dim=-1)
        if chunk:
            padded = torch.cat([q, q.new_zeros(chunks * chunk - n, cfg.dim)]).view(chunks, chunk, cfg.dim)
            neg = torch.cdist(padded, x[inv[2 * n :]].view(chunks, k, cfg.dim)).view(-1, k)[:n]
        else:
            neg = torch.linalg.vector_norm(q.repeat(k, 1) - x[inv[2 * n :]], dim=-1).view(k, n).T
        torch.clamp(1 + pos.unsqueeze(1) - neg, min=0).mean().backward()
        assert x.grad is not None
        table.index_add_(0, ids, x.grad, alpha=-0.01)  # ids are unique: index_* as the PM's RowAdam
    sync(device)
    return (time.perf_counter() - t0) * cfg.pm_epochs


def glm_floor(kgt: KGTriples, cfg: TrainConfig, device: str = "cpu") -> float:
    """Seconds of one sparse propagation (torch CSR) through the GLM's edges per layer and epoch."""
    edge_index, _ = with_reverse_edges(kgt.head, kgt.rel, kgt.tail, kgt.num_relations)
    adj = (
        torch.sparse_coo_tensor(edge_index.flip(0), torch.ones(edge_index.shape[1]), (kgt.num_entities,) * 2)
        .to_sparse_csr()
        .to(device)
    )
    table = torch.randn(kgt.num_entities, cfg.dim, device=device)
    sync(device)
    t0 = time.perf_counter()
    for _ in range(cfg.layers * cfg.glm_epochs):
        torch.sparse.mm(adj, table)
    sync(device)
    return time.perf_counter() - t0


class EpochClock:
    """A progress factory that records when each task (PM epochs, GLM epochs) starts and last advances."""

    def __init__(self) -> None:
        self.spans: dict[str, list[float]] = {}

    def __call__(self, label: str, total: int | None) -> Any:
        span = self.spans.setdefault(label.split()[0].split("-")[0], [time.perf_counter()] * 2)

        def advance(completed: int) -> None:
            span[1] = time.perf_counter()

        return advance

    def seconds(self) -> dict[str, float]:
        return {name: round(end - start, 2) for name, (start, end) in self.spans.items()}
