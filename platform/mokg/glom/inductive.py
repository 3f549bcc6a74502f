"""Inductive embeddings: a user (or item) the trained model never saw, embedded from its edges with no
gradient step, so a streamed user becomes queryable without a retrain.

The saved :class:`ModelState` holds what that needs: GLM's state (its h⁰ and r⁰ are the PM's entity and
relation embeddings, frozen) and the training graph's edges.

1. **PM part.** A new entity ``v`` gets ``h⁰_v`` as the closed-form minimiser of the PM's squared
   interaction energy over its triples: ``Σ ||h_v + r − h_n||²`` over ``(v, r, n)`` and ``Σ ||h_n + r − h_v||²``
   over ``(n, r, v)`` give ``h_v = mean(h_n − r, h_n + r)`` (TransE's fold-in). Only neighbours the model
   knows count, capped at the PM's norm bound like every trained row. A known entity keeps its trained row.
   The profile part is not used: a streamed user has no LLM profile until the next full train.
2. **GLM part.** GLM's knowledge-query layers then run on the training graph plus the new entity's edges
   (its old edges replaced by its current ones), for the rows asked for only (``GraphLearningModel.forward``
   with ``nodes``): exact for any number of layers, given ``h⁰``.

What is served follows the version: a ``+pm`` version (``mokg train --choose-method`` chose the PM) serves
``h⁰``, any other the GLM output. A ``+lightgcn`` version serves LightGCN's user vectors, which have no fold-in
here: its streamed users are reported as skipped and get a vector at the next `mokg train` (the stream's
retrain trigger still runs, since the model state is GLoM's of the same training); its items keep the GLM's
vectors and fold in as under any other version.
"""

from __future__ import annotations

import os
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch

from mokg.artifacts import point, pointed
from mokg.glom.glm import GraphLearningModel, with_reverse_edges

PM_SUFFIX = "+pm"
LIGHTGCN_SUFFIX = "+lightgcn"
# why a streamed user gets no vector while a `+lightgcn` model serves
NO_LIGHTGCN_FOLD_IN = (
    "the served user vectors are LightGCN's, which have no inductive fold-in: run `mokg train`"
)
# the pointer to the served model, beside the artifacts: `train` writes it with the write-back
CURRENT = "CURRENT"
PM_MAX_NORM = 1.0  # the PM's bound on interaction embeddings (pretrain.PretrainedModel max_norm)
# TrainConfig fields added after models were saved, with the value those models trained with (stored_config)
LEGACY_DEFAULTS: dict[str, Any] = {"pm_head_corruption": 0.5, "glm_share": 0.5}


def stored_config(config: dict[str, Any]) -> dict[str, Any]:
    """A saved model's TrainConfig fields, completed with what older versions trained with."""
    return {**LEGACY_DEFAULTS, **config}


Triple = tuple[
    str, str, str
]  # (head key, relation, tail key), keys namespaced as in training: u:, i:, c:, s:


@dataclass
class ModelState:
    """What a trained GLoM model needs to embed a new node; saved beside the training report."""

    version: str
    config: dict[str, Any]
    entity_ids: list[str]
    relation_names: list[str]
    glm: dict[str, torch.Tensor]  # GraphLearningModel.state_dict(): h⁰ (entity), r⁰ (relation), layers
    edge_index: torch.Tensor  # [2, 2T] the training edges with their reverses
    edge_type: torch.Tensor  # [2T]

    def save(self, folder: Path) -> Path:
        """Write ``<version>.pt`` whole or not at all: to a temporary file renamed into place, so a stream
        worker loading the model while a retrain saves it reads the old one or the new one, never a torn
        file, and a failed save leaves the old one as it was."""
        folder.mkdir(parents=True, exist_ok=True)
        path = folder / f"{self.version}.pt"
        tmp = folder / f".{path.name}.{os.getpid()}.tmp"
        try:
            torch.save(self.__dict__, tmp)
            os.replace(tmp, path)
        finally:
            tmp.unlink(missing_ok=True)
        return path

    @classmethod
    def load(cls, path: Path) -> ModelState:
        return cls(**torch.load(path, weights_only=True))


def state_path(folder: Path, version: str) -> Path:
    return folder / f"{version.removesuffix(PM_SUFFIX).removesuffix(LIGHTGCN_SUFFIX)}.pt"


def set_current(folder: Path, version: str) -> None:
    """Record ``version`` (as written back, ``+pm`` included) as the one the graph serves."""
    point(folder, CURRENT, version)


def current_version(folder: Path) -> str | None:
    return pointed(folder, CURRENT)


@dataclass
class Inductive:
    """Embeddings of the asked-for keys: ``served`` (what lookalike reads) and ``pm`` (``h⁰``) by key;
    ``skipped`` holds the keys that got none, with the reason."""

    version: str
    served: dict[str, np.ndarray]
    pm: dict[str, np.ndarray]
    new: set[str]  # keys the trained model did not have
    skipped: dict[str, str]


class InductiveEmbedder:
    """A trained model, loaded once per process, that embeds entities from their current edges."""

    def __init__(self, state: ModelState, served_version: str) -> None:
        self.state = state
        self.version = served_version
        self.serve_pm = served_version.endswith(PM_SUFFIX)
        self.serve_lightgcn = served_version.endswith(LIGHTGCN_SUFFIX)
        self.index = {e: k for k, e in enumerate(state.entity_ids)}
        self.relations = {r: k for k, r in enumerate(state.relation_names)}
        # h⁰ and r⁰ as GLM starts from them: the PM's (frozen), or under "w/o PM" the ones GLM trained
        self.h0 = state.glm["entity.weight"]
        self.r0 = state.glm["relation.weight"][: len(state.relation_names)]

    @classmethod
    def load(cls, folder: Path) -> InductiveEmbedder | None:
        """The model the graph serves (``CURRENT``), or None when no model was trained here yet."""
        version = current_version(folder)
        if version is None or not state_path(folder, version).exists():
            return None
        return cls(ModelState.load(state_path(folder, version)), version)

    def embed(self, triples: Mapping[str, Sequence[Triple]]) -> Inductive:
        """Embed each key of ``triples`` from the triples it takes part in (its current edges)."""
        skipped: dict[str, str] = {}
        if self.serve_lightgcn:
            # the users' served vectors are LightGCN's; the items' are the GLM's, which fold in as usual
            skipped = {k: NO_LIGHTGCN_FOLD_IN for k in triples if k.startswith("u:")}
            triples = {k: ts for k, ts in triples.items() if k not in skipped}
        n = len(self.h0)
        new_rows: dict[str, int] = {}
        estimates: list[torch.Tensor] = []
        for key, ts in triples.items():
            if key in self.index:
                continue
            h = self._fold_in(key, ts)
            if h is None:
                skipped[key] = "no edge to a node or through a relation the trained model knows"
                continue
            new_rows[key] = n + len(new_rows)
            estimates.append(h)
        rows = {k: self.index[k] for k in triples if k in self.index} | new_rows
        if not rows:
            return Inductive(self.version, {}, {}, set(), skipped)
        h0 = torch.cat([self.h0, torch.stack(estimates)]) if estimates else self.h0
        glm = self._glm_rows(h0, rows, triples)
        served = {k: (h0[r] if self.serve_pm else glm[k]).numpy() for k, r in rows.items()}
        return Inductive(
            self.version, served, {k: h0[r].numpy() for k, r in rows.items()}, set(new_rows), skipped
        )

    def _fold_in(self, key: str, triples: Sequence[Triple]) -> torch.Tensor | None:
        queries = []
        for head, rel, tail in triples:
            r = self.relations.get(rel)
            if r is None:
                continue
            if head == key and tail in self.index:
                queries.append(self.h0[self.index[tail]] - self.r0[r])
            elif tail == key and head in self.index:
                queries.append(self.h0[self.index[head]] + self.r0[r])
        if not queries:
            return None
        h = torch.stack(queries).mean(0)
        return h * min(1.0, PM_MAX_NORM / max(float(torch.linalg.vector_norm(h)), 1e-12))

    def _glm_rows(
        self, h0: torch.Tensor, rows: Mapping[str, int], triples: Mapping[str, Sequence[Triple]]
    ) -> dict[str, torch.Tensor]:
        index = {**self.index, **rows}
        head, rel, tail = [], [], []
        for key, ts in triples.items():
            for h, r, t in ts:
                # an edge between two asked-for nodes is in both lists: it is taken from its head's
                if h != key and h in rows:
                    continue
                if h in index and t in index and r in self.relations:
                    head.append(index[h])
                    rel.append(self.relations[r])
                    tail.append(index[t])
        # the asked-for nodes' edges as they are now, in place of those they had in training
        touched = torch.tensor(sorted(rows.values()), dtype=torch.long)
        old = self.state.edge_index
        keep = ~(torch.isin(old[0], touched) | torch.isin(old[1], touched))
        new_index, new_type = with_reverse_edges(
            torch.tensor(head, dtype=torch.long),
            torch.tensor(rel, dtype=torch.long),
            torch.tensor(tail, dtype=torch.long),
            len(self.relations),
        )
        edge_index = torch.cat([old[:, keep], new_index], 1)
        edge_type = torch.cat([self.state.edge_type[keep], new_type])
        cfg = stored_config(self.state.config)
        model = GraphLearningModel(
            len(h0),
            2 * len(self.relations),
            h0.shape[1],
            layers=int(cfg["layers"]),
            aggregator=cfg["aggregator"],
            bias=bool(cfg["glm_bias"]),
            combine=cfg["glm_combine"],
            message_share=float(cfg["glm_share"]),
        )
        model.load_state_dict({**self.state.glm, "entity.weight": h0})
        with torch.no_grad():
            h, _ = model(edge_index, edge_type, nodes=touched)
        return {k: h[r] for k, r in rows.items()}
