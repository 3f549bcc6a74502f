"""`mokg ingest`'s pipeline on a stand-in graph: one bad value rejects its record, never the run, and every
record read is counted, whatever the batch size."""

from __future__ import annotations

import json
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pytest

import mokg.ingest.pipeline as pipeline
from mokg.ingest.pipeline import ingest
from mokg.ingest.records import parse_review


class FakeGraph:
    """What the pipeline asks of a graph: batch writes, each answering that every row matched."""

    def __init__(self, batch_size: int = 100) -> None:
        self.settings = SimpleNamespace(batch_size=batch_size)
        self.rows: dict[str, list[dict[str, Any]]] = {}

    def write_batches(self, name: str, rows: Any, batch_size: int | None = None, **params: Any) -> Any:
        rows = list(rows)
        self.rows.setdefault(name, []).extend(rows)
        return SimpleNamespace(returned=len(rows))

    def users(self) -> set[str]:
        return {r["user_id"] for r in self.rows.get("ingest/merge_reviews", [])}


def review(user: str, asin: str = "A1", t: int = 1_500_000_000, **extra: Any) -> str:
    return json.dumps({"reviewerID": user, "asin": asin, "overall": 4.0, "unixReviewTime": t} | extra)


def test_bad_values_are_rejected_with_their_line_and_the_batch_lands(tmp_path: Path) -> None:
    bad = {
        3: '{"reviewerID": "X1", "asin": "A1", "overall": 4, "unixReviewTime": NaN}',
        4: '{"reviewerID": "X2", "asin": "A1", "overall": 4, "unixReviewTime": 1e400}',
        5: "[" * 100_000,
        6: '{"reviewerID": "X3\\ud800", "asin": "A1", "overall": 4, "unixReviewTime": 1}',
        7: review("X4", vote=2**64),
        8: review("X5", unixReviewTime=2**70),
    }
    lines = [review("U1"), review("U2"), *bad.values(), review("U3")]
    path = tmp_path / "r.json"
    path.write_text("\n".join(lines) + "\n")
    graph = FakeGraph()
    report = ingest(graph, reviews=path, rejects_path=tmp_path / "rej.jsonl")  # type: ignore[arg-type]
    assert graph.users() == {"U1", "U2", "U3"}
    assert (report.read, report.written, report.rejected) == (9, 3, 6)
    rejects = [json.loads(line) for line in (tmp_path / "rej.jsonl").read_text().splitlines()]
    assert [r["line"] for r in rejects] == list(bad)
    reasons = [r["reason"] for r in rejects]
    assert "'unixReviewTime': not a finite number: nan" in reasons[0]
    assert "'unixReviewTime': not a finite number: inf" in reasons[1]
    assert reasons[2] == "malformed JSON: nested too deeply at column 1"
    assert "'reviewerID': not valid Unicode" in reasons[3]
    assert "helpful votes" in reasons[4] and "not a count" in reasons[4]
    assert "beyond a 64-bit integer" in reasons[5]


def test_an_item_with_a_bad_category_is_rejected_and_the_others_land(tmp_path: Path) -> None:
    path = tmp_path / "m.json"
    items = [
        {"asin": "I1"},
        {"asin": "I2", "category": {"a": 1}},
        {"asin": "I3", "related": {"also_bought": 5}},
    ]
    path.write_text("\n".join(json.dumps(i) for i in items) + "\n")
    graph = FakeGraph()
    report = ingest(graph, meta=path, rejects_path=tmp_path / "rej.jsonl")  # type: ignore[arg-type]
    assert [r["asin"] for r in graph.rows["ingest/merge_items"]] == ["I1"]
    assert (report.read, report.written, report.rejected) == (3, 1, 2)


def test_an_unforeseen_parse_error_rejects_only_its_record(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    def parse(obj: Any) -> Any:
        if obj.get("reviewerID") == "BOOM":
            raise KeyError("boom")
        return parse_review(obj)

    monkeypatch.setattr(pipeline, "parse_review", parse)
    path = tmp_path / "r.json"
    path.write_text("\n".join([review("U1"), review("BOOM"), review("U2")]) + "\n")
    graph = FakeGraph()
    report = ingest(graph, reviews=path, rejects_path=tmp_path / "rej.jsonl")  # type: ignore[arg-type]
    assert graph.users() == {"U1", "U2"} and report.rejected == 1
    [rej] = [json.loads(line) for line in (tmp_path / "rej.jsonl").read_text().splitlines()]
    assert (rej["line"], rej["reason"]) == (2, "KeyError: 'boom'")


@pytest.mark.parametrize("batch_size", [1, 2, 3, 1000])
def test_every_record_is_counted_whatever_the_batch_size(tmp_path: Path, batch_size: int) -> None:
    # repeats of one key (user, item, time): adjacent, and apart (in different batches for small sizes)
    lines = [
        review("U1", reviewText="first"),
        review("U1", reviewText="second"),
        review("U2"),
        "not json",
        review("U3"),
        review("U2"),
    ]
    path = tmp_path / "r.json"
    path.write_text("\n".join(lines) + "\n")
    graph = FakeGraph(batch_size)
    report = ingest(graph, reviews=path, rejects_path=tmp_path / "rej.jsonl")  # type: ignore[arg-type]
    assert (report.read, report.written, report.reviews, report.rejected) == (6, 5, 5, 1)
    assert report.read == report.written + report.rejected
    assert "read 6, written 5 (items 0, reviews 5), rejected 1" in report.summary()
    # the last of a key's repeats is the one the graph keeps
    last = [r for r in graph.rows["ingest/merge_reviews"] if r["user_id"] == "U1"][-1]
    assert last["text"] == "second"


def test_an_unforeseen_decoding_error_rejects_only_its_line(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import mokg.ingest.readers as readers

    decode = readers.decode

    def failing(text: str) -> Any:
        if "BOOM" in text:
            raise MemoryError("out of memory")
        return decode(text)

    monkeypatch.setattr(readers, "decode", failing)
    path = tmp_path / "r.json"
    path.write_text("\n".join([review("U1"), review("BOOM"), review("U2")]) + "\n")
    graph = FakeGraph()
    report = ingest(graph, reviews=path, rejects_path=tmp_path / "rej.jsonl")  # type: ignore[arg-type]
    assert graph.users() == {"U1", "U2"} and report.rejected == 1
    [rej] = [json.loads(line) for line in (tmp_path / "rej.jsonl").read_text().splitlines()]
    assert (rej["line"], rej["reason"]) == (2, "malformed JSON: MemoryError: out of memory")
