"""KG-BERT-style plausibility scorer used by the aggregation (§ Progressive Entity Augmentation).

The paper scores a candidate triple as MLP(x_{s,r,t}) with x the contextual embedding of the triple text. Here
x is the embedding of ``"s [SEP] relation description [SEP] t"`` by a sentence encoder the caller passes in
(e.g. all-MiniLM-L6-v2) and the MLP is trained on SupKG triples against corrupted negatives (the source or the
target replaced by a random entity seen with the same relation, so negatives are type-plausible and the model
must learn which pairs belong together, not merely which types). The encoder stays frozen — a deliberate
lightweight stand-in for fine-tuning a 110M-parameter KG-BERT.

An artifact is a directory holding ``weights.pt`` (the MLP state dict) and ``manifest.json`` (format version,
artifact version, dimensions, embedder name, training configuration and statistics, creation time and a hash
of the training triples). The manifest is written last, so a directory without one is an incomplete save.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch
from scipy.stats import rankdata
from torch import nn

from mokg.clock import compact, stamp, utc_now

EmbedFn = Callable[[Sequence[str]], np.ndarray]
TextTriple = tuple[str, str, str]

SEP = " [SEP] "
TEXT_FORMAT = "source [SEP] relation description [SEP] target"
FORMAT_VERSION = 1
WEIGHTS_FILE = "weights.pt"
MANIFEST_FILE = "manifest.json"


def triple_text(source: str, relation: str, target: str) -> str:
    return f"{source}{SEP}{relation}{SEP}{target}"


@dataclass(frozen=True)
class ScorerConfig:
    # Defaults chosen on Gift_Cards SupKG triples (SOLD_BY + ALSO_BOUGHT, MiniLM): longer or less regularised
    # training overfits (validation loss rises while AUC stays ~0.81).
    hidden_dim: int = 256
    dropout: float = 0.3
    epochs: int = 20
    batch_size: int = 256
    lr: float = 3e-3
    weight_decay: float = 1e-2
    negatives_per_positive: int = 2
    corrupt_source_prob: float = 0.5  # otherwise the target is replaced
    val_fraction: float = 0.1
    seed: int = 7

    def __post_init__(self) -> None:
        if self.negatives_per_positive < 1:
            raise ValueError("negatives_per_positive must be at least 1")
        if not 0.0 <= self.corrupt_source_prob <= 1.0 or not 0.0 <= self.val_fraction < 1.0:
            raise ValueError("corrupt_source_prob must lie in [0, 1] and val_fraction in [0, 1)")


@dataclass(frozen=True)
class TrainingStats:
    n_positive: int
    n_negative: int
    n_train: int
    n_val: int
    epochs: int
    train_loss: float  # mean loss of the last epoch
    val_loss: float | None = None
    val_accuracy: float | None = None  # at a 0.5 cut-off
    val_auc: float | None = None


@dataclass(frozen=True)
class ScorerManifest:
    format_version: int
    version: str
    input_dim: int
    hidden_dim: int
    dropout: float
    embedder: str
    text_format: str
    created: str
    data_hash: str
    config: dict[str, Any] = field(default_factory=dict)
    stats: dict[str, Any] = field(default_factory=dict)


class _Standardize(nn.Module):
    """Per-dimension z-scoring with the training statistics, stored in the state dict. Sentence embeddings
    are unit vectors whose coordinates are tiny (~1/sqrt(dim)); unscaled they make the MLP learn slowly."""

    mean: torch.Tensor
    std: torch.Tensor

    def __init__(self, dim: int) -> None:
        super().__init__()
        self.register_buffer("mean", torch.zeros(dim))
        self.register_buffer("std", torch.ones(dim))

    def fit(self, x: torch.Tensor) -> None:
        self.mean.copy_(x.mean(dim=0))
        self.std.copy_(x.std(dim=0).clamp_min(1e-6))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return (x - self.mean) / self.std


def _mlp(input_dim: int, hidden_dim: int, dropout: float, fit_on: torch.Tensor | None = None) -> nn.Module:
    """The scorer network; ``fit_on`` (the training inputs) sets the standardisation statistics."""
    standardize = _Standardize(input_dim)
    if fit_on is not None:
        standardize.fit(fit_on)
    return nn.Sequential(
        standardize,
        nn.Linear(input_dim, hidden_dim),
        nn.ReLU(),
        nn.Dropout(dropout),
        nn.Linear(hidden_dim, 1),
    )


def data_hash(triples: Sequence[TextTriple]) -> str:
    """Order-independent hash of a training set (the set of distinct triples)."""
    digest = hashlib.sha256()
    for text in sorted({triple_text(*t) for t in triples}):
        digest.update(text.encode())
        digest.update(b"\n")
    return digest.hexdigest()


def _replacement_pools(column: np.ndarray, rel_codes: np.ndarray) -> list[np.ndarray]:
    """Per relation code, the distinct values of ``column`` seen with it (all values if fewer than two)."""
    everything = np.unique(column)
    per_relation = [np.unique(column[rel_codes == c]) for c in range(int(rel_codes.max()) + 1)]
    return [p if len(p) > 1 else everything for p in per_relation]


def corrupt_triples(
    positives: Sequence[TextTriple], per_positive: int, source_prob: float, rng: np.random.Generator
) -> list[TextTriple]:
    """Negatives: each positive copied ``per_positive`` times with its source (prob. ``source_prob``) or
    target replaced by one drawn from the sources/targets of the same relation (all of them if a relation has
    fewer than two). Candidates that are known positives are re-drawn up to three times, then dropped."""
    cols = np.array(positives, dtype=object).reshape(-1, 3)
    known = set(positives)
    rel_codes = np.unique(cols[:, 1], return_inverse=True)[1]
    pools = {side: _replacement_pools(cols[:, side], rel_codes) for side in (0, 2)}

    base = np.repeat(np.arange(len(cols)), per_positive)
    negatives: list[TextTriple] = []
    for _ in range(4):
        if not len(base):
            break
        drafts = cols[base].copy()
        side_of = np.where(rng.random(len(base)) < source_prob, 0, 2)
        for code in np.unique(rel_codes[base]):
            for side in (0, 2):
                rows = np.flatnonzero((rel_codes[base] == code) & (side_of == side))
                pool = pools[side][code]
                drafts[rows, side] = pool[rng.integers(0, len(pool), len(rows))]
        fresh = np.array([tuple(d) not in known for d in drafts], dtype=bool)
        negatives.extend((str(a), str(b), str(c)) for a, b, c in drafts[fresh])
        base = base[~fresh]
    return negatives


def _auc(labels: np.ndarray, scores: np.ndarray) -> float | None:
    n_pos = int(labels.sum())
    n_neg = len(labels) - n_pos
    if not n_pos or not n_neg:
        return None
    ranks = rankdata(scores)
    return float((ranks[labels == 1].sum() - n_pos * (n_pos + 1) / 2) / (n_pos * n_neg))


class PlausibilityScorer:
    """Scores (source, relation text, target) triples in [0, 1]; build with :meth:`train` or :meth:`load`."""

    def __init__(self, model: nn.Module, embed: EmbedFn, manifest: ScorerManifest) -> None:
        self.model = model.eval()
        self.embed = embed
        self.manifest = manifest

    # -- training
    @classmethod
    def train(
        cls,
        positives: Sequence[TextTriple],
        embed: EmbedFn,
        config: ScorerConfig | None = None,
        embedder_name: str = "",
        version: str | None = None,
    ) -> PlausibilityScorer:
        """Fit the MLP on ``positives`` — (source text, relation description, target text), e.g. SupKG edges
        with :meth:`RelationSchema.describe` as relation text — against corrupted negatives. Duplicates are
        dropped. Deterministic for a given seed and input order; the global torch RNG state is untouched."""
        config = config or ScorerConfig()
        positives = list(dict.fromkeys((str(s), str(r), str(t)) for s, r, t in positives))
        if len(positives) < 2:
            raise ValueError("need at least two distinct positive triples to train the scorer")
        rng = np.random.default_rng(config.seed)
        negatives = corrupt_triples(positives, config.negatives_per_positive, config.corrupt_source_prob, rng)
        if not negatives:
            raise ValueError("could not draw any negative triple: every corruption is a known positive")
        triples = positives + negatives
        x = torch.as_tensor(cls._embed(embed, [triple_text(*t) for t in triples]), dtype=torch.float32)
        y = torch.cat([torch.ones(len(positives)), torch.zeros(len(negatives))])

        order = torch.as_tensor(rng.permutation(len(triples)))
        n_val = round(config.val_fraction * len(triples))
        val_idx, train_idx = order[:n_val], order[n_val:]

        with torch.random.fork_rng(devices=[]):
            torch.manual_seed(config.seed)
            model = _mlp(x.shape[1], config.hidden_dim, config.dropout, fit_on=x[train_idx])
            optimiser = torch.optim.AdamW(model.parameters(), lr=config.lr, weight_decay=config.weight_decay)
            loss_fn = nn.BCEWithLogitsLoss()
            train_loss = float("nan")
            for _ in range(config.epochs):
                model.train()
                perm = train_idx[torch.randperm(len(train_idx))]
                total = 0.0
                for start in range(0, len(perm), config.batch_size):
                    batch = perm[start : start + config.batch_size]
                    optimiser.zero_grad()
                    loss = loss_fn(model(x[batch]).squeeze(1), y[batch])
                    loss.backward()
                    optimiser.step()
                    total += loss.item() * len(batch)
                train_loss = total / max(len(perm), 1)

        model.eval()
        val_loss = val_accuracy = val_auc = None
        if n_val:
            with torch.inference_mode():
                logits = model(x[val_idx]).squeeze(1)
            val_y = y[val_idx]
            probs = torch.sigmoid(logits).numpy()
            val_loss = float(nn.functional.binary_cross_entropy_with_logits(logits, val_y))
            val_accuracy = float(((probs >= 0.5) == val_y.numpy().astype(bool)).mean())
            val_auc = _auc(val_y.numpy(), probs)
        stats = TrainingStats(
            n_positive=len(positives),
            n_negative=len(negatives),
            n_train=len(train_idx),
            n_val=n_val,
            epochs=config.epochs,
            train_loss=train_loss,
            val_loss=val_loss,
            val_accuracy=val_accuracy,
            val_auc=val_auc,
        )

        created = utc_now()
        digest = data_hash(positives)
        manifest = ScorerManifest(
            format_version=FORMAT_VERSION,
            version=version or f"{compact(created)}-{digest[:8]}",
            input_dim=int(x.shape[1]),
            hidden_dim=config.hidden_dim,
            dropout=config.dropout,
            embedder=embedder_name,
            text_format=TEXT_FORMAT,
            created=stamp(created),
            data_hash=digest,
            config=asdict(config),
            stats=asdict(stats),
        )
        return cls(model, embed, manifest)

    # -- inference
    @staticmethod
    def _embed(embed: EmbedFn, texts: list[str]) -> np.ndarray:
        vectors = np.asarray(embed(texts), dtype=np.float32)
        if vectors.ndim != 2 or vectors.shape[0] != len(texts):
            raise ValueError(
                f"embed returned shape {vectors.shape} for {len(texts)} texts; expected (n, dim)"
            )
        return vectors

    def score(self, triples: Sequence[TextTriple]) -> np.ndarray:
        """Plausibility in [0, 1] of each (source, relation text, target) triple."""
        if not triples:
            return np.zeros(0, dtype=np.float64)
        vectors = self._embed(self.embed, [triple_text(*t) for t in triples])
        if vectors.shape[1] != self.manifest.input_dim:
            raise ValueError(
                f"embedding dim {vectors.shape[1]} != {self.manifest.input_dim} the scorer was trained with "
                f"(embedder {self.manifest.embedder or 'unnamed'})"
            )
        with torch.inference_mode():
            logits = self.model(torch.from_numpy(vectors)).squeeze(1)
        return torch.sigmoid(logits).double().numpy()

    def for_source(self, source: str, relation_text: str) -> Callable[[Sequence[str]], np.ndarray]:
        """A plausibility function over target names, as :func:`mokg.pair.aggregation.aggregate` expects."""
        return lambda targets: self.score([(source, relation_text, t) for t in targets])

    # -- persistence
    def save(self, directory: str | Path, overwrite: bool = False) -> Path:
        path = Path(directory)
        manifest_path = path / MANIFEST_FILE
        if manifest_path.exists() and not overwrite:
            raise FileExistsError(
                f"{path} already holds a scorer artifact; pass overwrite=True to replace it"
            )
        path.mkdir(parents=True, exist_ok=True)
        torch.save(self.model.state_dict(), path / WEIGHTS_FILE)
        manifest_path.write_text(json.dumps(asdict(self.manifest), indent=2, sort_keys=True) + "\n")
        return path

    @classmethod
    def load(cls, directory: str | Path, embed: EmbedFn) -> PlausibilityScorer:
        path = Path(directory)
        manifest_path = path / MANIFEST_FILE
        if not manifest_path.exists():
            raise FileNotFoundError(f"{path} is not a scorer artifact: {MANIFEST_FILE} missing")
        manifest = ScorerManifest(**json.loads(manifest_path.read_text()))
        if manifest.format_version != FORMAT_VERSION:
            raise ValueError(
                f"{path}: artifact format {manifest.format_version}, this code reads format {FORMAT_VERSION}"
            )
        model = _mlp(manifest.input_dim, manifest.hidden_dim, manifest.dropout)
        model.load_state_dict(torch.load(path / WEIGHTS_FILE, map_location="cpu", weights_only=True))
        return cls(model, embed, manifest)
