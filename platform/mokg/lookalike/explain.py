"""Why a user is in an audience: the graph evidence linking a candidate to the seeds, found by Cypher.

Four kinds of evidence, each one batched statement over all candidates (``cypher/lookalike/explain_*``):
items the candidate and seeds both reviewed, shared categories, SIMILAR_TO edges to seeds (GLoM §3.4),
and MoKG entities that PAIR linked both to the candidate's items and to the seeds' items. Each list is
empty when the graph has no such evidence yet (for example before PAIR has written triples).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from mokg.graph import Graph

# evidence rows kept per candidate and kind
PER_USER = 5


@dataclass(frozen=True)
class Explanation:
    shared_items: list[dict[str, Any]] = field(default_factory=list)
    shared_categories: list[dict[str, Any]] = field(default_factory=list)
    similar_users: list[dict[str, Any]] = field(default_factory=list)
    entities: list[dict[str, Any]] = field(default_factory=list)

    def summary(self) -> str:
        """One line for people: each piece of evidence with the number of seeds it is shared with."""
        parts = [
            "items: "
            + ", ".join(f"{i.get('title') or i['asin']} ({i['n_seeds']})" for i in self.shared_items),
            "categories: " + ", ".join(f"{c['category']} ({c['n_seeds']})" for c in self.shared_categories),
            "similar to seeds: " + ", ".join(str(u["user_id"]) for u in self.similar_users),
            "MoKG: " + ", ".join(f"{e['relation']} {e['name']} ({e['n_seeds']})" for e in self.entities),
        ]
        return " · ".join(p for p in parts if not p.endswith(": "))


_KINDS = {
    "shared_items": "lookalike/explain_shared_items",
    "shared_categories": "lookalike/explain_shared_categories",
    "similar_users": "lookalike/explain_similar_users",
    "entities": "lookalike/explain_entities",
}


def explain(
    graph: Graph, candidates: Sequence[str], seeds: Sequence[str], *, per_user: int = PER_USER
) -> dict[str, Explanation]:
    """An :class:`Explanation` for every candidate (four round trips in all, whatever the count)."""
    evidence: dict[str, dict[str, list[dict[str, Any]]]] = {c: {} for c in candidates}
    if not candidates or not seeds:
        return {c: Explanation() for c in candidates}
    for kind, name in _KINDS.items():
        for row in graph.query(name, candidates=list(candidates), seeds=list(seeds), per_user=per_user):
            if row["user_id"] in evidence:
                evidence[row["user_id"]][kind] = list(row["evidence"])
    return {c: Explanation(**ev) for c, ev in evidence.items()}
