"""The plausibility of a mined target: the KG-BERT-style scorer's P(s,r,t) times the κ_D *type fit* of its name.

The paper's aggregation (*Progressive Entity Augmentation*) weighs consensus frequency against semantic
relevance; this module is the relevance side, :func:`~mokg.pair.aggregation.aggregate` the weighing.

* Plausibility = scorer × type fit. The scorer can only learn from SupKG triples (there are no labelled
  MoKG triples), and on relations it never saw, such as Target Audience, it rates almost anything ≈1
  ("package1054876239" 0.99 as a gift recipient of a gift card). The type fit — a softmax over the cosine
  similarities between the name and each entity type's κ_D description — is what rejects such names;
  on product relations the scorer itself discriminates. Both factors are stored as provenance.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

import numpy as np

from mokg.pair.aggregation import PlausibilityFn
from mokg.pair.schema import RelationSchema
from mokg.pair.scorer import EmbedFn

NameScores = Callable[[Sequence[str]], np.ndarray]
"""One factor of the plausibility: a score in [0, 1] for each target name."""

RecordFn = Callable[[str, float | None, float | None], None]
"""Receives each scored name with its two factors (scorer, type fit), None for a factor not applied."""


# Target types whose names may read as another type: a brand is often a store's name, a product an item's.
COMPATIBLE_TYPES: dict[str, tuple[str, ...]] = {
    "Product": ("Product", "Item"),
    "Brand": ("Brand", "Store"),
    "Store": ("Store", "Brand"),
}


class TypeFit:
    """P(type | name) from κ_D: a softmax over the cosine similarities between a name and the description of
    every entity type of the schema, summed over the types compatible with the wanted one. It catches what
    the SupKG-trained scorer cannot judge for relations it never saw: "package1054876239" or "Gift
    Recipient" as a Target Audience (≈0), while "college students" scores ≈0.9."""

    def __init__(self, schema: RelationSchema, embed: EmbedFn, temperature: float = 0.05) -> None:
        self.types = list(schema.entity_types)
        self.temperature = temperature
        self.prototypes = np.asarray(embed([schema.entity_types[t].description for t in self.types]))

    def __call__(self, names: Sequence[str], embeddings: np.ndarray, target_type: str) -> np.ndarray:
        if not len(names):
            return np.zeros(0)
        logits = (embeddings @ self.prototypes.T) / self.temperature
        logits -= logits.max(axis=1, keepdims=True)
        probs = np.exp(logits)
        probs /= probs.sum(axis=1, keepdims=True)
        wanted = [self.types.index(t) for t in COMPATIBLE_TYPES.get(target_type, (target_type,))]
        return np.asarray(probs[:, wanted].sum(axis=1), dtype=np.float64)

    def for_type(self, target_type: str, embed: EmbedFn) -> NameScores:
        """The fit of names to ``target_type``, their embeddings computed by ``embed``."""
        return lambda names: self(names, embed(names), target_type)


def combine(
    by_scorer: NameScores | None, type_fit: NameScores | None, record: RecordFn
) -> PlausibilityFn | None:
    """scorer(s, r, t) × type fit(t), each factor when given (None when neither is); ``record`` is told both
    factors of every name scored."""
    if by_scorer is None and type_fit is None:
        return None

    def plausibility(names: Sequence[str]) -> np.ndarray:
        scores = by_scorer(names) if by_scorer is not None else None
        fit = type_fit(names) if type_fit is not None else None
        for i, name in enumerate(names):
            record(name, None if scores is None else float(scores[i]), None if fit is None else float(fit[i]))
        combined = np.ones(len(names))
        for factor in (scores, fit):
            if factor is not None:
                combined = combined * factor
        return combined

    return plausibility
