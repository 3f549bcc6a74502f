"""GLoM §3.3: sentiment scorers and the user–item polarity score."""

from __future__ import annotations

import gzip
import json
import sys
import types
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from conftest import BEAUTY_REVIEWS, GIFT_REVIEWS

from mokg.polarity.polarity import compute_polarity, item_mean_sentiment, normalise_rating
from mokg.polarity.sentiment import (
    TransformersScorer,
    VaderScorer,
    label_scores_to_sentiment,
    make_scorer,
    score_texts,
)

# -- sentiment ------------------------------------------------------------------------------------


def test_vader_signs_and_blanks() -> None:
    scores = VaderScorer().score(
        [
            "I love this gift card, it is wonderful and works great!",
            "Terrible. It arrived broken and support was useless; I hate it.",
            "",
            None,
            "   ",
        ]
    )
    assert scores.shape == (5,)
    assert scores[0] > 0.5
    assert scores[1] < -0.5
    assert scores[2:].tolist() == [0.0, 0.0, 0.0]
    assert np.all(np.abs(scores) <= 1.0)


def _review_texts(path: Path) -> list[str]:
    with gzip.open(path, "rt") as f:
        rows = [json.loads(line) for line in f]
    return [" ".join(t for t in (r.get("summary"), r.get("reviewText")) if t) for r in rows]


def test_the_windowed_vader_scores_exactly_as_vader_does() -> None:
    # the windows cut the word list around negations, idioms and boosters at every position, the first
    # three included (where a negative index of the whole list would wrap around)
    from vaderSentiment.vaderSentiment import SentimentIntensityAnalyzer

    rng = np.random.default_rng(0)
    # whole phrases as tokens, so that idioms, boosters and negations land at every offset of a sentiment word
    # fmt: off
    phrases = [
        "not", "never", "no", "nor", "or", "without doubt", "never so", "never this", "at least",
        "very least", "least", "kind of", "sort of", "the bomb", "the shit", "yeah right", "bad ass",
        "kiss of death", "to die for", "beating heart", "bus stop", "GREAT", "great", "good", "BAD", "awful",
        "love", "hate", "fine", "but", "extremely", "barely", "isn't", "don't", ":)", ":(", "!", "?", "card",
        "gift", "works",
    ]
    # fmt: on
    crafted = [" ".join(rng.choice(phrases, size=rng.integers(1, 12))) for _ in range(6_000)]
    real = [t for p in (GIFT_REVIEWS, BEAUTY_REVIEWS) if p.exists() for t in _review_texts(p)]
    stock, ours = SentimentIntensityAnalyzer(), VaderScorer()._analyzer
    for text in crafted + real:
        assert ours.polarity_scores(text) == stock.polarity_scores(text), text
    assert any(stock.polarity_scores(t)["compound"] for t in crafted)


def test_vader_in_processes_scores_as_this_process_does_in_order() -> None:
    words = ["great", "awful", "fine", "broken", "love it", "", None, "meh", "not bad at all", "worst ever"]
    texts = [None if w is None else f"{w} {i % 7}" for i in range(2_100) for w in words[i % 10 : i % 10 + 1]]
    texts *= 10  # 21,000: past PARALLEL_MIN_TEXTS, so two forked processes score it
    seen: list[int] = []
    serial = VaderScorer().score(texts)
    parallel = score_texts(VaderScorer(), texts, processes=2, chunk=1_000, advance=seen.append)
    assert np.array_equal(parallel, serial)
    assert seen == [min(k * 1_000, len(texts)) for k in range(1, 22)]
    assert np.count_nonzero(serial > 0) and np.count_nonzero(serial < 0)


def test_make_scorer_dispatch_is_lazy() -> None:
    assert isinstance(make_scorer(" VADER "), VaderScorer)
    scorer = make_scorer("siebert/sentiment-roberta-large-english")
    assert isinstance(scorer, TransformersScorer)
    assert scorer.model_name == "siebert/sentiment-roberta-large-english"
    assert scorer._pipe is None  # nothing loaded until the first score()


def test_label_scores_mapping() -> None:
    binary = [{"label": "POSITIVE", "score": 0.9}, {"label": "NEGATIVE", "score": 0.1}]
    assert label_scores_to_sentiment(binary) == pytest.approx(0.8)
    three_class = [
        {"label": "negative", "score": 0.2},
        {"label": "neutral", "score": 0.5},
        {"label": "positive", "score": 0.3},
    ]
    assert label_scores_to_sentiment(three_class) == pytest.approx(0.1)
    with pytest.raises(ValueError, match="positive/negative"):
        label_scores_to_sentiment([{"label": "LABEL_0", "score": 0.7}, {"label": "LABEL_1", "score": 0.3}])


def test_transformers_scorer_batches_truncates_and_skips_blanks(monkeypatch: pytest.MonkeyPatch) -> None:
    calls: list[tuple[Any, ...]] = []

    def fake_pipeline(task: str, *, model: str, device: Any) -> Any:
        calls.append(("load", task, model))

        def run(texts: Sequence[str], **kwargs: Any) -> list[list[dict[str, Any]]]:
            calls.append(("run", list(texts), kwargs))
            p_pos = {"good": 0.75, "bad": 0.125}
            return [
                [{"label": "POSITIVE", "score": p_pos[t]}, {"label": "NEGATIVE", "score": 1 - p_pos[t]}]
                for t in texts
            ]

        return run

    # A stand-in module: the real transformers is never imported (and no weights are downloaded).
    monkeypatch.setitem(sys.modules, "transformers", types.SimpleNamespace(pipeline=fake_pipeline))
    scorer = TransformersScorer("tiny/model", batch_size=8, max_length=64)
    assert scorer.score(["", None]).tolist() == [0.0, 0.0]
    assert calls == []  # all-blank input never loads the model
    scores = scorer.score(["good", "", "bad", None])
    np.testing.assert_allclose(scores, [0.5, 0.0, -0.75, 0.0])
    scorer.score(["good"])
    assert [c[0] for c in calls] == ["load", "run", "run"]  # loaded once
    assert calls[0] == ("load", "text-classification", "tiny/model")
    assert calls[1][1] == ["good", "bad"]
    assert calls[1][2] == {"batch_size": 8, "truncation": True, "max_length": 64, "top_k": None}


# -- polarity -------------------------------------------------------------------------------------


def test_normalise_rating_scale_and_errors() -> None:
    np.testing.assert_allclose(normalise_rating([1, 2, 3, 4, 5]), [-1.0, -0.5, 0.0, 0.5, 1.0])
    for bad in ([0, 3], [5.5], [np.nan]):
        with pytest.raises(ValueError):
            normalise_rating(bad)


def test_hand_computed_polarity() -> None:
    # item 0: sentiments 0.8, -0.4 → mean 0.2; item 1: 0.2, 0.2, 0.5 → mean 0.3
    item = [0, 0, 1, 1, 1]
    rating = [5, 1, 4, 3, 2]
    sentiment = [0.8, -0.4, 0.2, 0.2, 0.5]
    result = compute_polarity(item, rating, sentiment, alpha=0.25)
    np.testing.assert_allclose(result.item_mean_sentiment, [0.2, 0.2, 0.3, 0.3, 0.3])
    assert result.like.tolist() == [True, False, False, False, True]
    # p = 0.25·(r−3)/2 + 0.75·s
    np.testing.assert_allclose(result.polarity, [0.85, -0.55, 0.275, 0.15, 0.25])
    np.testing.assert_allclose(result.sentiment, sentiment)


def test_alpha_extremes_select_one_term() -> None:
    item, rating, sentiment = [3, 3], [2, 5], [0.6, -0.2]
    np.testing.assert_allclose(compute_polarity(item, rating, sentiment, alpha=1.0).polarity, [-0.5, 1.0])
    np.testing.assert_allclose(compute_polarity(item, rating, sentiment, alpha=0.0).polarity, [0.6, -0.2])


def test_equal_sentiments_all_like_despite_rounding() -> None:
    # (0.1 + 0.1 + 0.1) / 3 rounds to 0.10000000000000002 > 0.1; equality must still count as like.
    result = compute_polarity([7, 7, 7], [3, 3, 3], [0.1, 0.1, 0.1])
    assert result.item_mean_sentiment[0] > 0.1
    assert result.like.all()


def test_item_mean_with_sparse_ids() -> None:
    np.testing.assert_allclose(item_mean_sentiment([1000, 5, 1000], [0.5, -1.0, 0.0]), [0.25, -1.0, 0.25])


def test_invalid_inputs_raise() -> None:
    with pytest.raises(ValueError, match="alpha"):
        compute_polarity([0], [3], [0.0], alpha=1.5)
    with pytest.raises(ValueError, match="alpha"):
        compute_polarity([0], [3], [0.0], alpha=-0.1)
    with pytest.raises(ValueError, match=r"\[1, 5\]"):
        compute_polarity([0, 1], [3, 6], [0.0, 0.0])
    with pytest.raises(ValueError, match="sentiment"):
        compute_polarity([0], [3], [1.2])
    with pytest.raises(ValueError, match="shape"):
        compute_polarity([0, 1], [3, 4], [0.1])
