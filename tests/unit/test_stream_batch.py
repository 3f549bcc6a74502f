"""One streamed batch on a stand-in graph: bad values are rejected with their line while the good records
land, repeats of a key are counted and scored once, and item links to absent items are counted."""

from __future__ import annotations

import json
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import numpy as np
import pytest

import mokg.stream.batch as batch
from mokg.ingest.records import Review, parse_review
from mokg.stream.batch import write_batch
from mokg.stream.incremental import update_polarity


class FakeGraph:
    """Batch writes; an item link matches when both its items were written as items."""

    def __init__(self, items: set[str] = frozenset()) -> None:  # type: ignore[assignment]
        self.settings = SimpleNamespace(batch_size=100)
        self.items = set(items)
        self.rows: dict[str, list[dict[str, Any]]] = {}

    def write_batches(self, name: str, rows: Any, batch_size: int | None = None, **params: Any) -> Any:
        rows = list(rows)
        self.rows.setdefault(name, []).extend(rows)
        if name == "ingest/merge_items":
            self.items |= {r["asin"] for r in rows}
        if name.startswith("ingest/merge_also") or name == "ingest/merge_bought_together":
            return SimpleNamespace(
                returned=sum(r["src"] in self.items and r["dst"] in self.items for r in rows)
            )
        return SimpleNamespace(returned=len(rows))

    def query(self, name: str, **params: Any) -> list[dict[str, Any]]:
        return []  # no item has a scored review yet


def review(user: str, asin: str = "A1", t: int = 1_500_000_000, **extra: Any) -> str:
    return json.dumps({"reviewerID": user, "asin": asin, "overall": 4.0, "unixReviewTime": t} | extra)


def test_bad_values_are_rejected_and_the_good_reviews_land(tmp_path: Path) -> None:
    lines = [
        (10, review("U1"), None),
        (11, '{"reviewerID": "X", "asin": "A1", "overall": 4, "unixReviewTime": 1e400}', None),
        (12, "[" * 100_000, None),
        (13, '{"reviewerID": "X\\ud800", "asin": "A1", "overall": 4, "unixReviewTime": 1}', None),
        (14, review("X", vote=float("nan")), None),
        (15, review("U2"), None),
    ]
    graph = FakeGraph()
    result = write_batch(graph, "reviews", lines, source="s.json", rejects=tmp_path / "rej.jsonl")  # type: ignore[arg-type]
    assert {r["user_id"] for r in graph.rows["ingest/merge_reviews"]} == {"U1", "U2"}
    assert (result.read, result.rejected, len(result.reviews)) == (6, 4, 2)
    rejects = [json.loads(line) for line in (tmp_path / "rej.jsonl").read_text().splitlines()]
    assert [(r["file"], r["line"]) for r in rejects] == [("s.json", n) for n in (11, 12, 13, 14)]
    assert "not a finite number" in rejects[0]["reason"]
    assert rejects[1]["reason"] == "malformed JSON: nested too deeply at column 1"
    assert "not valid Unicode" in rejects[2]["reason"]


def test_an_unforeseen_parse_error_rejects_only_its_record(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    def parse(obj: Any) -> Review:
        if obj["reviewerID"] == "BOOM":
            raise OverflowError("too big")
        return parse_review(obj)

    monkeypatch.setattr(batch, "parse_review", parse)
    lines = [(1, review("U1"), None), (2, review("BOOM"), None), (3, review("U2"), None)]
    graph = FakeGraph()
    result = write_batch(graph, "reviews", lines, source="s", rejects=tmp_path / "rej.jsonl")  # type: ignore[arg-type]
    assert [r.user_id for r in result.reviews] == ["U1", "U2"] and result.rejected == 1
    [rej] = [json.loads(line) for line in (tmp_path / "rej.jsonl").read_text().splitlines()]
    assert (rej["line"], rej["reason"]) == (2, "OverflowError: too big")


def test_repeats_of_a_key_are_counted_and_kept_once(tmp_path: Path) -> None:
    lines = [
        (1, review("U1", reviewText="first"), None),
        (2, review("U2"), None),
        (3, review("U1", reviewText="second"), None),
        (4, "{", None),
    ]
    result = write_batch(FakeGraph(), "reviews", lines, source="s", rejects=tmp_path / "r.jsonl")  # type: ignore[arg-type]
    assert [(r.user_id, r.text) for r in result.reviews] == [("U1", "second"), ("U2", None)]
    assert result.duplicates == 1
    assert result.read == len(result.reviews) + result.rejected + result.duplicates


class Scorer:
    """The review text is its sentiment."""

    def score(self, texts: list[str | None]) -> np.ndarray:
        return np.array([float(t) for t in texts])


def test_polarity_scores_a_repeated_key_once() -> None:
    reviews = [
        Review("U1", "A", 5.0, 1, text="0.9"),
        Review("U2", "A", 5.0, 2, text="0.5"),
        Review("U1", "A", 5.0, 1, text="0.1"),  # the repeat that was written: the last one
    ]
    graph = FakeGraph()
    assert update_polarity(graph, reviews, Scorer(), 0.5) == 2  # type: ignore[arg-type]
    rows = graph.rows["glom/set_review_polarity"]
    # the item's mean is (0.1 + 0.5) / 2, not (0.9 + 0.5 + 0.1) / 3
    assert [(r["user_id"], r["sentiment"], r["like"]) for r in rows] == [
        ("U1", 0.1, False),
        ("U2", 0.5, True),
    ]


def test_item_links_to_absent_items_are_counted(tmp_path: Path) -> None:
    items = [
        {"asin": "I1", "also_buy": ["I2", "GONE1"], "also_view": ["GONE2", "OLD"]},
        {"asin": "I2", "also_buy": ["I1"]},
    ]
    lines = [(n, json.dumps(i), None) for n, i in enumerate(items, 1)]
    graph = FakeGraph(items={"OLD"})
    result = write_batch(graph, "meta", lines, source="m", rejects=tmp_path / "r.jsonl")  # type: ignore[arg-type]
    assert result.links_listed == {"ALSO_BOUGHT": 3, "ALSO_VIEWED": 2, "BOUGHT_TOGETHER": 0}
    assert result.links == {"ALSO_BOUGHT": 2, "ALSO_VIEWED": 1, "BOUGHT_TOGETHER": 0}
    assert result.links_unmatched == 2
