"""`mokg ingest`: stream Amazon review and metadata files into the graph.

Order: metadata items (with stores and categories), then reviews (users, stub items for unseen ASINs,
REVIEWED edges), then a second pass over the metadata for item–item links, so links can reach items
that only the reviews mention. Every write is a MERGE, so a re-run changes nothing and repairs a
partial one. Bad records go to a rejects file (JSON Lines: file, line, reason, record) and the run goes on.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Any

from mokg.graph import Graph
from mokg.ingest.readers import InputFileError, JsonLines
from mokg.ingest.records import (
    ItemMeta,
    RecordError,
    Review,
    category_rows,
    parse_item,
    parse_review,
)
from mokg.progress import ProgressFactory

# A file whose first lines are all unreadable is the wrong file, not a file with some bad lines.
_SNIFF_LINES = 50


@dataclass
class IngestReport:
    read: int = 0
    written: int = 0
    rejected: int = 0
    reviews: int = 0
    items: int = 0
    links: dict[str, int] = field(default_factory=dict)
    links_listed: dict[str, int] = field(default_factory=dict)
    seconds: float = 0.0
    rejects_path: Path | None = None

    def summary(self) -> str:
        links = ", ".join(f"{k} {self.links[k]}/{self.links_listed[k]}" for k in sorted(self.links))
        return (
            f"read {self.read}, written {self.written} (items {self.items}, reviews {self.reviews}), "
            f"rejected {self.rejected}, {self.seconds:.1f} s"
            + (f"; links matched/listed: {links}" if links else "")
            + (f"; rejects in {self.rejects_path}" if self.rejected else "")
        )


class EmptyInputError(InputFileError):
    """The input holds no records at all."""


class _Rejects:
    def __init__(self, path: Path) -> None:
        self.path = path
        self._f: IO[str] | None = None
        self.count = 0

    def add(self, file: Path, line: int, reason: str, raw: str) -> None:
        if self._f is None:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            self._f = self.path.open("w")
        rec = {"file": str(file), "line": line, "reason": reason, "record": raw[:2000]}
        self._f.write(json.dumps(rec, ensure_ascii=False) + "\n")
        self.count += 1

    def close(self) -> None:
        if self._f:
            self._f.close()


def _records(
    path: Path,
    parse: Callable[[Any], Any],
    rejects: _Rejects,
    report: IngestReport,
    progress: ProgressFactory | None,
    label: str,
    count: bool = True,
) -> Iterator[Any]:
    with JsonLines(path) as lines:
        advance = progress(label, lines.size) if progress else None
        good = seen = 0
        for line in lines:
            seen += 1
            if count:
                report.read += 1
            reason = line.error
            if reason is None:
                try:
                    rec = parse(line.obj)
                except RecordError as e:
                    reason = str(e)
                else:
                    good += 1
                    yield rec
            if reason is not None and count:
                rejects.add(path, line.number, reason, line.raw)
                report.rejected += 1
            if good == 0 and line.number >= _SNIFF_LINES:
                raise InputFileError(f"{path}: none of the first {line.number} lines is a valid record")
            if advance and line.number % 500 == 0:
                advance(lines.position)
        if good == 0 and seen:
            raise InputFileError(f"{path}: no line is a valid record; is it the right file?")
        if advance:
            advance(lines.size)


def _batches(records: Iterator[Any], size: int) -> Iterator[list[Any]]:
    batch: list[Any] = []
    try:
        for rec in records:
            batch.append(rec)
            if len(batch) >= size:
                yield batch
                batch = []
    except InputFileError:
        # the good records read before a corrupt stretch still land
        if batch:
            yield batch
        raise
    if batch:
        yield batch


def _write_items(graph: Graph, items: list[ItemMeta]) -> None:
    graph.write_batches("ingest/merge_items", [i.row() for i in items])
    cats = {r["path"]: r for i in items for r in category_rows(i.category_path)}
    # parents before children, so each MATCH on the parent finds it
    graph.write_batches("ingest/merge_categories", sorted(cats.values(), key=lambda r: r["depth"]))
    graph.write_batches(
        "ingest/merge_item_categories",
        [{"asin": i.asin, "path": " > ".join(i.category_path)} for i in items if i.category_path],
    )
    graph.write_batches(
        "ingest/merge_item_stores", [{"asin": i.asin, "store": i.store} for i in items if i.store]
    )


_LINKS = {
    "ALSO_BOUGHT": ("ingest/merge_also_bought", "also_bought"),
    "ALSO_VIEWED": ("ingest/merge_also_viewed", "also_viewed"),
    "BOUGHT_TOGETHER": ("ingest/merge_bought_together", "bought_together"),
}


def _write_links(graph: Graph, items: list[ItemMeta], report: IngestReport) -> None:
    for kind, (statement, attr) in _LINKS.items():
        rows = [{"src": i.asin, "dst": d} for i in items for d in getattr(i, attr)]
        report.links_listed[kind] = report.links_listed.get(kind, 0) + len(rows)
        matched = graph.write_batches(statement, rows).returned if rows else 0
        report.links[kind] = report.links.get(kind, 0) + matched


def _dedupe(reviews: list[Review]) -> list[dict[str, Any]]:
    return list({r.key: r.row() for r in reviews}.values())


def ingest(
    graph: Graph,
    *,
    reviews: Path | None = None,
    meta: Path | None = None,
    rejects_path: Path,
    batch_size: int | None = None,
    progress: ProgressFactory | None = None,
) -> IngestReport:
    if reviews is None and meta is None:
        raise ValueError("nothing to ingest: give a reviews file, a metadata file, or both")
    for p in (reviews, meta):
        if p is not None and not p.is_file():
            raise InputFileError(f"{p}: " + ("is a directory, not a file" if p.is_dir() else "no such file"))
    size = batch_size or graph.settings.batch_size
    report = IngestReport(rejects_path=rejects_path)
    rejects = _Rejects(rejects_path)
    t0 = time.perf_counter()
    try:
        if meta is not None:
            for batch in _batches(_records(meta, parse_item, rejects, report, progress, "items"), size):
                _write_items(graph, batch)
                report.items += len(batch)
                report.written += len(batch)
        if reviews is not None:
            recs = _records(reviews, parse_review, rejects, report, progress, "reviews")
            for batch in _batches(recs, size):
                rows = _dedupe(batch)
                graph.write_batches("ingest/merge_reviews", rows, batch_size=size)
                report.reviews += len(rows)
                report.written += len(rows)
        if meta is not None:
            # second pass: links; its lines were already counted and rejected in the first pass
            recs = _records(meta, parse_item, rejects, report, progress, "links", count=False)
            for batch in _batches(recs, size):
                _write_links(graph, batch, report)
    finally:
        rejects.close()
        report.seconds = time.perf_counter() - t0
    if report.read == 0:
        given = " and ".join(str(p) for p in (reviews, meta) if p is not None)
        raise EmptyInputError(f"{given}: no records (the input is empty); nothing was written")
    return report
