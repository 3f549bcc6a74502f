"""Mining-quality metrics of the PAIR experiments (§ Evaluation Procedure and Criteria).

The paper's accuracy is a human judgement; without annotators we report a proxy: the recall of held-out SupKG
``ALSO_BOUGHT`` pairs among the mined Complementary/Similar Product triples (targets already resolved to item
keys). Ratios are returned with their numerator and denominator so an empty input (0/0, reported as 0.0) is
distinguishable from a real zero.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Collection, Iterable, Sequence
from dataclasses import dataclass

import numpy as np
from scipy.spatial.distance import pdist

PRODUCT_RELATIONS: tuple[str, ...] = ("COMPLEMENTARY_PRODUCT", "SIMILAR_PRODUCT")


@dataclass(frozen=True)
class MinedTriple:
    """A mined triple after entity resolution: source and target are entity keys."""

    source: str
    relation: str
    target: str


@dataclass(frozen=True)
class Ratio:
    numerator: float
    denominator: float

    @property
    def value(self) -> float:
        return self.numerator / self.denominator if self.denominator else 0.0


def aee(
    triples: Iterable[MinedTriple],
    sources: Iterable[str] | None = None,
    existing: Collection[str] = (),
) -> Ratio:
    """Average Entity Expansion: distinct target entities per source.

    ``sources`` are the seeds that were mined (seeds that yielded nothing count in the denominator; triples of
    other sources are ignored); by default the sources seen in ``triples``. Targets in ``existing`` (e.g. the
    SupKG's entity keys) are not counted, so passing them gives "new entities per source".
    """
    triples = list(triples)
    seeds = set(sources) if sources is not None else {t.source for t in triples}
    targets: dict[str, set[str]] = defaultdict(set)
    for t in triples:
        if t.source in seeds and t.target not in existing:
            targets[t.source].add(t.target)
    return Ratio(sum(len(v) for v in targets.values()), len(seeds))


def novelty(
    triples: Iterable[MinedTriple],
    supkg: Iterable[tuple[str, str, str]],
    match_relation: bool = False,
) -> Ratio:
    """Share of distinct mined triples not already in the SupKG.

    MoKG and SupKG relation vocabularies differ, so by default a mined triple is *known* when its two
    entities are already linked in the SupKG by any relation, in either direction; ``match_relation=True``
    compares whole directed (source, relation, target) triples instead.
    """
    mined = set(triples)
    if match_relation:
        known_triples = set(supkg)
        novel = sum((t.source, t.relation, t.target) not in known_triples for t in mined)
    else:
        known_pairs = {frozenset((s, o)) for s, _, o in supkg}
        novel = sum(frozenset((t.source, t.target)) not in known_pairs for t in mined)
    return Ratio(novel, len(mined))


def ilad(target_embeddings: Sequence[np.ndarray]) -> float:
    """Intra-List Average Distance: mean pairwise Euclidean distance between the target embeddings of a
    list, averaged over lists. Lists with fewer than two targets have no pair and are skipped (0.0 if none is
    left)."""
    means = [float(pdist(np.asarray(e, dtype=np.float64)).mean()) for e in target_embeddings if len(e) >= 2]
    return float(np.mean(means)) if means else 0.0


def also_bought_recall(
    triples: Iterable[MinedTriple],
    held_out: Iterable[tuple[str, str]],
    sources: Iterable[str] | None = None,
    relations: Collection[str] = PRODUCT_RELATIONS,
    symmetric: bool = True,
) -> Ratio:
    """Accuracy proxy: the share of held-out (item, item) ALSO_BOUGHT pairs that a mined triple of
    ``relations`` recovers. ``symmetric`` lets a mined (b, a) recover (a, b) (co-purchase has no direction).
    ``sources`` are the mined seeds: only pairs that start at a seed (either end, if ``symmetric``) count, so
    recall measures the mining rather than how many seeds were mined; ``None`` counts every pair."""
    found = {(t.source, t.target) for t in triples if t.relation in relations}
    pairs = set(held_out)
    if symmetric:
        found |= {(b, a) for a, b in found}
    if sources is not None:
        seeds = set(sources)
        pairs = {(a, b) for a, b in pairs if a in seeds or (symmetric and b in seeds)}
    return Ratio(len(pairs & found), len(pairs))
