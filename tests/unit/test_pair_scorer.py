"""The KG-BERT-style plausibility scorer: negatives, training on toy data, artifact round trip."""

from __future__ import annotations

import hashlib
import json
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import pytest
import torch

from mokg.pair.scorer import (
    MANIFEST_FILE,
    PlausibilityScorer,
    ScorerConfig,
    corrupt_triples,
    data_hash,
    triple_text,
)

torch.set_num_threads(1)
DIM = 128  # high enough that pseudo-random token vectors are nearly orthogonal


def _token_vector(token: str, dim: int) -> np.ndarray:
    seed = int.from_bytes(hashlib.sha256(token.encode()).digest()[:8], "little")
    return np.random.default_rng(seed).standard_normal(dim)


def fake_embed(texts: Sequence[str], dim: int = DIM) -> np.ndarray:
    """Deterministic bag-of-words embedder: the normalised sum of per-token pseudo-random vectors."""
    out = np.zeros((len(texts), dim))
    for i, text in enumerate(texts):
        for token in text.lower().split():
            out[i] += _token_vector(token, dim)
    return out / np.maximum(np.linalg.norm(out, axis=1, keepdims=True), 1e-12)


RELATION = "Target Audience: groups of people likely to buy the source"
GROUPS = 4


def _positives(items: range) -> list[tuple[str, str, str]]:
    """Source ``src{g} item{i}`` fits exactly the targets ``tgt{g} thing{j}`` of its own group g."""
    return [
        (f"src{g} item{i}", RELATION, f"tgt{g} thing{j}")
        for g in range(GROUPS)
        for i in items
        for j in range(5)
    ]


CONFIG = ScorerConfig(
    hidden_dim=32, dropout=0.1, weight_decay=1e-4, epochs=60, batch_size=64, lr=1e-2, val_fraction=0.2, seed=3
)


@pytest.fixture(scope="module")
def scorer() -> PlausibilityScorer:
    return PlausibilityScorer.train(_positives(range(8)), fake_embed, CONFIG, embedder_name="fake-bow-128")


def test_training_separates_clear_positives_from_negatives(scorer: PlausibilityScorer) -> None:
    # Held-out sources ("item30".."item33" never seen) with targets of their own vs. another group.
    pos = _positives(range(30, 34))
    neg = [(s, r, t.replace(t[:4], f"tgt{(int(t[3]) + 1) % GROUPS}")) for s, r, t in pos]
    pos_scores, neg_scores = scorer.score(pos), scorer.score(neg)
    assert pos_scores.min() > neg_scores.max()
    assert pos_scores.mean() > 0.8 and neg_scores.mean() < 0.2
    assert ((pos_scores >= 0) & (pos_scores <= 1)).all() and ((neg_scores >= 0) & (neg_scores <= 1)).all()
    stats = scorer.manifest.stats
    assert stats["n_positive"] == 160 and stats["n_negative"] > 0
    assert stats["val_auc"] > 0.95


def test_save_load_round_trip(scorer: PlausibilityScorer, tmp_path: Path) -> None:
    path = scorer.save(tmp_path / "scorer")
    manifest = json.loads((path / MANIFEST_FILE).read_text())
    assert manifest["format_version"] == 1 and manifest["input_dim"] == DIM and manifest["hidden_dim"] == 32
    assert manifest["embedder"] == "fake-bow-128"
    assert manifest["data_hash"] == data_hash(_positives(range(8)))
    assert manifest["version"].endswith(manifest["data_hash"][:8]) and manifest["created"]
    assert manifest["config"]["epochs"] == 60 and manifest["stats"]["n_positive"] == 160

    loaded = PlausibilityScorer.load(path, fake_embed)
    triples = _positives(range(6, 7))
    np.testing.assert_array_equal(loaded.score(triples), scorer.score(triples))
    assert loaded.manifest == scorer.manifest

    with pytest.raises(FileExistsError):
        scorer.save(path)
    scorer.save(path, overwrite=True)


def test_load_rejects_other_formats_and_embedders(scorer: PlausibilityScorer, tmp_path: Path) -> None:
    path = scorer.save(tmp_path / "scorer")
    with pytest.raises(ValueError, match="embedding dim 16 != 128"):
        PlausibilityScorer.load(path, lambda texts: fake_embed(texts, 16)).score([("a", "b", "c")])
    manifest = json.loads((path / MANIFEST_FILE).read_text())
    (path / MANIFEST_FILE).write_text(json.dumps({**manifest, "format_version": 99}))
    with pytest.raises(ValueError, match="artifact format 99"):
        PlausibilityScorer.load(path, fake_embed)
    with pytest.raises(FileNotFoundError, match=r"manifest\.json missing"):
        PlausibilityScorer.load(tmp_path / "nothing", fake_embed)


def test_training_is_deterministic_and_leaves_global_rng_alone() -> None:
    positives = _positives(range(2))
    config = ScorerConfig(hidden_dim=8, epochs=3, seed=11)
    state = torch.get_rng_state()
    a = PlausibilityScorer.train(positives, fake_embed, config, version="v1")
    assert torch.equal(state, torch.get_rng_state())
    b = PlausibilityScorer.train(positives, fake_embed, config, version="v1")
    np.testing.assert_array_equal(a.score(positives), b.score(positives))
    assert a.manifest.version == "v1"


def test_for_source_builds_triples_for_the_aggregation(scorer: PlausibilityScorer) -> None:
    fn = scorer.for_source("src0 item1", RELATION)
    np.testing.assert_array_equal(
        fn(["tgt0 thing1", "tgt2 thing0"]),
        scorer.score([("src0 item1", RELATION, "tgt0 thing1"), ("src0 item1", RELATION, "tgt2 thing0")]),
    )
    assert scorer.score([]).shape == (0,)


def test_corruption_replaces_one_side_within_the_relation_and_never_yields_a_positive() -> None:
    positives = [("s1", "R1", "x1"), ("s2", "R1", "x2"), ("s3", "R2", "y1"), ("s4", "R2", "y2")]
    negatives = corrupt_triples(positives, 5, 0.5, np.random.default_rng(0))
    assert negatives and not set(negatives) & set(positives)
    pools = {"R1": ({"s1", "s2"}, {"x1", "x2"}), "R2": ({"s3", "s4"}, {"y1", "y2"})}
    for s, r, t in negatives:
        sources, targets = pools[r]
        assert s in sources and t in targets
    # Both corruption sides occur.
    assert {s for s, _, _ in negatives} == {"s1", "s2", "s3", "s4"}
    assert len(negatives) <= 5 * len(positives)


def test_data_hash_ignores_order_and_duplicates_and_text_format() -> None:
    triples = _positives(range(2))
    assert data_hash(triples) == data_hash(list(reversed(triples)) + triples[:3])
    assert data_hash(triples) != data_hash(triples[1:])
    assert triple_text("s", "r", "t") == "s [SEP] r [SEP] t"
    with pytest.raises(ValueError, match="at least two distinct"):
        PlausibilityScorer.train([("a", "r", "b")] * 3, fake_embed)
