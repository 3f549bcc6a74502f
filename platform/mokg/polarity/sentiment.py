"""Review-text sentiment on [-1, 1], the ``s`` term of the GLoM polarity score (§3.3).

Two scorers share the :class:`SentimentScorer` protocol:

* :class:`VaderScorer` -- VADER's compound score (lexicon + rules; the lexicon ships inside
  ``vaderSentiment``), already on [-1, 1]. Fast, offline, the platform default.
* :class:`TransformersScorer` -- a Hugging Face text-classification model, as in the paper, which follows
  Hartmann et al. (``siebert/sentiment-roberta-large-english``). The class probabilities are mapped to
  ``P(positive) - P(negative)``: for a binary model that is ``2·P(positive) - 1``, and a 3-class model's
  neutral mass pulls the score towards 0. ``transformers`` is imported only when the first text is scored.

Empty or ``None`` texts score exactly 0.0 (no evidence either way) and are never sent to a model.
"""

from __future__ import annotations

import gc
import multiprocessing
from collections.abc import Callable, Iterator, Mapping, Sequence
from typing import Any, Protocol

import numpy as np

from mokg.config import SettingsError


class SentimentScorer(Protocol):
    """Anything that maps review texts to sentiment floats in [-1, 1] (blank or ``None`` → 0.0)."""

    def score(self, texts: Sequence[str | None]) -> np.ndarray: ...


def _non_blank(texts: Sequence[str | None]) -> list[int]:
    return [i for i, text in enumerate(texts) if text is not None and text.strip()]


def _windowed_vader() -> Any:
    """VADER's analyzer with the same scores in about three quarters of the time.

    vaderSentiment 3.3.2 lower-cases the whole text's word list in ``_negation_check`` and
    ``_special_idioms_check``, once per sentiment word and preceding position: quadratic in the text's
    length, and about two fifths of its time on reviews. Both read only the words from ``i - 3`` to
    ``i + 2``, so they are given that window, re-indexed; their own code decides as before. Words before
    the fourth (``i < 3``) get the whole list, where a negative index would otherwise wrap differently.
    """
    # Lazy: vaderSentiment belongs to the `train` extra, not to the core install.
    from vaderSentiment.vaderSentiment import SentimentIntensityAnalyzer as Vader

    class Windowed(Vader):
        @staticmethod
        def _negation_check(valence: float, words: list[str], start_i: int, i: int) -> float:
            if i < 3:
                return Vader._negation_check(valence, words, start_i, i)
            return Vader._negation_check(valence, words[i - 3 : i + 1], start_i, 3)

        @staticmethod
        def _special_idioms_check(valence: float, words: list[str], i: int) -> float:
            if i < 3:
                return Vader._special_idioms_check(valence, words, i)
            return Vader._special_idioms_check(valence, words[i - 3 : i + 3], 3)

    return Windowed()


class VaderScorer:
    """VADER compound score, in [-1, 1] by construction."""

    def __init__(self) -> None:
        self._analyzer = _windowed_vader()

    def score(self, texts: Sequence[str | None]) -> np.ndarray:
        out = np.zeros(len(texts), dtype=np.float64)
        for i in _non_blank(texts):
            out[i] = self._analyzer.polarity_scores(texts[i])["compound"]
        return out


def label_scores_to_sentiment(label_scores: Sequence[Mapping[str, Any]], model: str = "") -> float:
    """Map one text's ``[{"label": ..., "score": prob}, ...]`` to ``P(positive) - P(negative)``.

    Labels are matched case-insensitively by prefix (``POSITIVE``/``pos``, ``NEGATIVE``/``neg``); other
    labels (e.g. ``neutral``) contribute nothing. A model without any such label (``LABEL_0``/``LABEL_1``,
    star ratings) raises :class:`~mokg.config.SettingsError` naming ``MOKG_SENTIMENT_MODEL`` (``model``, its
    value): guessing which index means "positive" would silently flip signs.
    """
    positive = negative = 0.0
    matched = False
    for entry in label_scores:
        label = str(entry["label"]).strip().lower()
        if label.startswith("pos"):
            positive += float(entry["score"])
            matched = True
        elif label.startswith("neg"):
            negative += float(entry["score"])
            matched = True
    if not matched:
        labels = [str(entry["label"]) for entry in label_scores]
        raise SettingsError(
            f"MOKG_SENTIMENT_MODEL={model!r}: the sentiment model has no positive/negative labels ({labels}); "
            "give a model whose labels say positive and negative, or `vader`"
        )
    return float(np.clip(positive - negative, -1.0, 1.0))


class TransformersScorer:
    """A transformers text-classification pipeline, batched and truncated to ``max_length`` tokens."""

    def __init__(
        self,
        model_name: str,
        *,
        batch_size: int = 32,
        max_length: int = 512,
        device: int | str | None = None,
    ) -> None:
        if batch_size < 1 or max_length < 1:
            raise ValueError("batch_size and max_length must be positive")
        self.model_name = model_name
        self.batch_size = batch_size
        self.max_length = max_length
        self.device = device
        self._pipe: Callable[..., Any] | None = None

    def _pipeline(self) -> Callable[..., Any]:
        if self._pipe is None:
            # Lazy: importing transformers (and torch) costs seconds and is only needed here.
            from transformers import pipeline

            try:
                self._pipe = pipeline("text-classification", model=self.model_name, device=self.device)
            except OSError as e:  # transformers' way of saying: no such folder, model id or cached copy
                reason = str(e).strip().partition("\n")[0]
                raise SettingsError(
                    f"MOKG_SENTIMENT_MODEL={self.model_name!r}: cannot load it ({reason}); give a local model "
                    "folder, a Hugging Face model id this machine can download, or `vader`"
                ) from e
        return self._pipe

    def score(self, texts: Sequence[str | None]) -> np.ndarray:
        out = np.zeros(len(texts), dtype=np.float64)
        keep = _non_blank(texts)
        if not keep:
            return out
        results = self._pipeline()(
            [texts[i] for i in keep],
            batch_size=self.batch_size,
            truncation=True,
            max_length=self.max_length,
            top_k=None,  # every label's probability, not only the arg-max
        )
        out[keep] = [label_scores_to_sentiment(result, self.model_name) for result in results]
        return out


# Below this many texts a second process costs more to start (~0.5 s) than it saves (VADER: ~9k texts/s).
PARALLEL_MIN_TEXTS = 20_000
_pool_scorer: VaderScorer | None = None


def _start_pool_scorer() -> None:
    global _pool_scorer
    _pool_scorer = VaderScorer()


def _pool_score(texts: Sequence[str | None]) -> np.ndarray:
    assert _pool_scorer is not None, "the pool's initializer builds the scorer"
    return _pool_scorer.score(texts)


def score_texts(
    scorer: SentimentScorer,
    texts: Sequence[str | None],
    processes: int = 1,
    chunk: int = 512,
    advance: Callable[[int], None] | None = None,
) -> np.ndarray:
    """``scorer.score(texts)``, a chunk at a time (``advance(done)`` after each). VADER scores in
    ``processes`` processes when there are enough texts: it is pure Python and holds one core, so on two
    cores the polarity stage of 100k users took half the time. A model scorer stays in this process: torch
    already uses every core."""
    chunks = [texts[i : i + chunk] for i in range(0, len(texts), chunk)]
    scored: Iterator[np.ndarray]
    if processes > 1 and isinstance(scorer, VaderScorer) and len(texts) >= PARALLEL_MIN_TEXTS:
        # fork, not spawn: a spawned child re-imports the caller's main module, which runs a script without
        # a `__main__` guard again. Frozen, the parent's objects are left alone by the children's garbage
        # collector, which would otherwise copy every page of them (millions of review rows).
        gc.freeze()
        try:
            pool = multiprocessing.get_context("fork").Pool(processes, initializer=_start_pool_scorer)
        finally:
            gc.unfreeze()
        scored = pool.imap(_pool_score, chunks)
    else:
        pool, scored = None, map(scorer.score, chunks)
    out, done = [], 0
    try:
        for part in scored:
            out.append(np.asarray(part, dtype=np.float64))
            done += len(part)
            if advance is not None:
                advance(done)
    finally:
        if pool is not None:
            pool.terminate()
    return np.concatenate(out) if out else np.zeros(0, dtype=np.float64)


def make_scorer(name: str) -> SentimentScorer:
    """``"vader"`` (any case) → :class:`VaderScorer`; anything else is a transformers model name or path."""
    if name.strip().lower() == "vader":
        return VaderScorer()
    return TransformersScorer(name)
