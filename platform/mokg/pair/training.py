"""The plausibility scorer trained on the SupKG, and where its versioned artifacts live.

Positives are the SupKG's own item triples — ``SOLD_BY``, ``ALSO_BOUGHT`` and ``IN_CATEGORY`` — as text
(item title, ``"Label: description"`` of the relation from the schema, target name); negatives are corrupted
copies (:func:`mokg.pair.scorer.corrupt_triples`). Mining scores (source name, description of the mining
relation, target name) the same way, so the scorer judges whether the pair reads like a real association.
That it never saw a mining relation is the paper's set-up too (KG-BERT scores unseen triples); what it learns
from the SupKG is which pairs of names belong together.

Artifacts live in ``$MOKG_HOME/artifacts/pair-scorer/<version>/``; the file ``LATEST`` there names the newest
complete one (written after the artifact, atomically). A run records the version it used, and workers load
that exact version, so a scorer retrained mid-run does not mix two scorers in one run.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from mokg.artifacts import LATEST, point, pointed
from mokg.config import Settings
from mokg.graph import Graph
from mokg.llm import TextEmbedder
from mokg.pair.schema import RelationSchema
from mokg.pair.scorer import EmbedFn, PlausibilityScorer, ScorerConfig
from mokg.pair.store import supkg_text_triples


def scorer_root(home: Path) -> Path:
    return home / "artifacts" / "pair-scorer"


def latest_version(root: Path) -> str | None:
    """The version named by ``LATEST``, if that artifact is complete."""
    return pointed(root, LATEST, complete="manifest.json")


def load_scorer(root: Path, version: str, embed: EmbedFn) -> PlausibilityScorer:
    return PlausibilityScorer.load(root / version, embed)


def train_from_graph(
    graph: Graph,
    embed: EmbedFn,
    root: Path,
    *,
    max_triples: int = 4000,
    config: ScorerConfig | None = None,
    embedder_name: str = "",
    schema: RelationSchema | None = None,
) -> PlausibilityScorer:
    """Train on (a seeded sample of at most ``max_triples``) SupKG triples, save, and point ``LATEST`` at it.

    The cap bounds the cost: every positive and its two negatives are embedded once on the CPU."""
    schema = schema or RelationSchema.load()
    config = config or ScorerConfig()
    rows = supkg_text_triples(graph)
    if max_triples and len(rows) > max_triples:
        keep = np.random.default_rng(config.seed).choice(len(rows), size=max_triples, replace=False)
        rows = [rows[i] for i in sorted(keep)]
    positives = [(s, schema.describe(r), t) for s, r, t in rows]
    scorer = PlausibilityScorer.train(positives, embed, config, embedder_name=embedder_name)
    scorer.save(root / scorer.manifest.version)
    point(root, LATEST, scorer.manifest.version)
    return scorer


def train_scorer(
    settings: Settings, *, max_triples: int = 4000, config: ScorerConfig | None = None
) -> PlausibilityScorer:
    """:func:`train_from_graph` on the configured graph and text embedder, saved under ``$MOKG_HOME``."""
    with Graph(settings) as graph:
        return train_from_graph(
            graph,
            TextEmbedder.from_settings(settings).encode,
            scorer_root(settings.home),
            max_triples=max_triples,
            config=config,
            embedder_name=settings.embed_model,
        )
