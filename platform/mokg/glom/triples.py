"""In-memory knowledge-graph triples consumed by the GLoM models (§3.5–3.7).

Entities are dense indices ``0..N-1``; each has a small-int type (index into ``type_names``) and optionally a
fixed text embedding of its generated profile (§3.2.4). Triples are three aligned LongTensors.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass

import torch

ENTITY_TYPES: tuple[str, ...] = ("user", "item", "category", "store")
RELATIONS: tuple[str, ...] = ("LIKES", "DISLIKES", "SIMILAR_TO", "IN_CATEGORY", "SOLD_BY", "ALSO_BOUGHT")


@dataclass
class KGTriples:
    """A typed multi-relational graph as index tensors.

    ``profile`` is ``[N, D]`` float (rows of entities without a profile are ignored, conventionally zero) and
    ``has_profile`` is the ``[N]`` bool mask; both are ``None`` when no entity has a profile.
    ``entity_ids`` optionally maps each index back to the caller's external id.
    """

    num_entities: int
    entity_type: torch.Tensor
    type_names: Sequence[str]
    relation_names: Sequence[str]
    head: torch.Tensor
    rel: torch.Tensor
    tail: torch.Tensor
    profile: torch.Tensor | None = None
    has_profile: torch.Tensor | None = None
    entity_ids: Sequence[str] | None = None

    def __post_init__(self) -> None:
        self.type_names = tuple(self.type_names)
        self.relation_names = tuple(self.relation_names)
        n = self.num_entities
        if self.entity_type.shape != (n,) or self.entity_type.dtype != torch.long:
            raise ValueError(f"entity_type must be a LongTensor of shape ({n},)")
        if n and not 0 <= int(self.entity_type.min()) <= int(self.entity_type.max()) < len(self.type_names):
            raise ValueError("entity_type values must index type_names")
        for name in ("head", "rel", "tail"):
            t = getattr(self, name)
            if t.dtype != torch.long or t.dim() != 1 or t.shape != self.head.shape:
                raise ValueError("head, rel and tail must be 1-D LongTensors of equal length")
        if self.head.numel():
            ends = torch.cat([self.head, self.tail])
            if int(ends.min()) < 0 or int(ends.max()) >= n:
                raise ValueError("head/tail out of entity range")
            if int(self.rel.min()) < 0 or int(self.rel.max()) >= len(self.relation_names):
                raise ValueError("rel out of relation range")
        if (self.profile is None) != (self.has_profile is None):
            raise ValueError("profile and has_profile must be given together")
        if self.profile is not None and self.has_profile is not None:
            if self.profile.dim() != 2 or self.profile.shape[0] != n or not self.profile.is_floating_point():
                raise ValueError(f"profile must be a float tensor of shape ({n}, D)")
            if self.has_profile.shape != (n,) or self.has_profile.dtype != torch.bool:
                raise ValueError(f"has_profile must be a BoolTensor of shape ({n},)")
        if self.entity_ids is not None and len(self.entity_ids) != n:
            raise ValueError("entity_ids must have one id per entity")

    @property
    def num_relations(self) -> int:
        return len(self.relation_names)

    @property
    def num_triples(self) -> int:
        return int(self.head.numel())

    def type_id(self, name: str) -> int:
        return self.type_names.index(name)

    def entities_of_type(self, name: str) -> torch.Tensor:
        """Sorted indices of all entities of the named type."""
        return torch.nonzero(self.entity_type == self.type_id(name)).flatten()

    def profile_mask(self) -> torch.Tensor:
        """``has_profile``, or all-False when there are no profiles."""
        if self.has_profile is None:
            return torch.zeros(self.num_entities, dtype=torch.bool)
        return self.has_profile


def build_triples(
    entities: Iterable[tuple[str, str]],
    triples: Iterable[tuple[str, str, str]],
    *,
    profiles: Mapping[str, Sequence[float] | torch.Tensor] | None = None,
    type_names: Sequence[str] = ENTITY_TYPES,
    relation_names: Sequence[str] | None = None,
) -> KGTriples:
    """Build :class:`KGTriples` from ``(id, type)`` entities, ``(head_id, relation, tail_id)`` triples and
    ``id -> vector`` profiles.

    Entities keep first-seen order; a repeated id with the same type is dropped, with another type it is an
    error. Duplicate triples are dropped. Without ``relation_names`` the vocabulary is :data:`RELATIONS`
    followed by unseen relation names in first-seen order; with it, an unknown relation is an error.
    """
    index: dict[str, int] = {}
    types: list[int] = []
    for eid, etype in entities:
        if etype not in type_names:
            raise ValueError(f"unknown entity type {etype!r} for {eid!r}")
        tid = type_names.index(etype)
        if eid in index:
            if types[index[eid]] != tid:
                raise ValueError(f"entity {eid!r} given two types")
            continue
        index[eid] = len(types)
        types.append(tid)

    rel_names = list(RELATIONS if relation_names is None else relation_names)
    rel_index = {name: i for i, name in enumerate(rel_names)}
    rows: list[tuple[int, int, int]] = []
    for h, r, t in dict.fromkeys(triples):
        if h not in index or t not in index:
            raise ValueError(f"triple ({h!r}, {r!r}, {t!r}) references an unknown entity")
        if r not in rel_index:
            if relation_names is not None:
                raise ValueError(f"unknown relation {r!r}")
            rel_index[r] = len(rel_names)
            rel_names.append(r)
        rows.append((index[h], rel_index[r], index[t]))

    n = len(types)
    cols = torch.tensor(rows, dtype=torch.long).reshape(-1, 3)
    profile = has_profile = None
    if profiles:
        vectors = {
            index[k]: torch.as_tensor(v, dtype=torch.float32) for k, v in profiles.items() if k in index
        }
        if len(vectors) != len(profiles):
            raise ValueError("profiles given for unknown entities")
        dims = {v.shape for v in vectors.values()}
        if len(dims) != 1 or len(next(iter(dims))) != 1:
            raise ValueError("all profiles must be 1-D vectors of one length")
        rows_idx = torch.tensor(list(vectors), dtype=torch.long)
        profile = torch.zeros(n, next(iter(dims))[0])
        profile[rows_idx] = torch.stack(list(vectors.values()))
        has_profile = torch.zeros(n, dtype=torch.bool)
        has_profile[rows_idx] = True
    return KGTriples(
        num_entities=n,
        entity_type=torch.tensor(types, dtype=torch.long),
        type_names=type_names,
        relation_names=rel_names,
        head=cols[:, 0].contiguous(),
        rel=cols[:, 1].contiguous(),
        tail=cols[:, 2].contiguous(),
        profile=profile,
        has_profile=has_profile,
        entity_ids=list(index),
    )
