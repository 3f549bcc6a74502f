"""`mokg ingest`: stream Amazon review and metadata files into the graph.

Order: metadata items (with stores and categories), then reviews (users, stub items for unseen ASINs,
REVIEWED edges), then a second pass over the metadata for item–item links, so links can reach items
that only the reviews mention. Every write is keyed (a MERGE, or for a review edge a match on its key
before the create), so a re-run changes nothing and repairs a partial one. Parsing runs in a thread ahead
of the writes (``_prefetched``). Bad records go to a rejects file (JSON Lines: file, line, reason, record) and the run goes on.
"""

from __future__ import annotations

import json
import queue
import threading
import time
from collections.abc import Callable, Generator, Iterator
from contextlib import closing
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Any, TypeVar

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

_T = TypeVar("_T")

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


class Rejects:
    """The rejects file: one JSON line per bad record, created at the first one."""

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
    rejects: Rejects,
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
                except Exception as e:
                    reason = reject_reason(e)
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


def reject_reason(e: Exception) -> str:
    """Why one record was rejected: a :class:`RecordError`'s own message; any other error of its parsing
    (a case the parser did not foresee) with its type, so it rejects the record and never stops the run."""
    return str(e) if isinstance(e, RecordError) else f"{type(e).__name__}: {e}"


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


def write_items(graph: Graph, items: list[ItemMeta]) -> None:
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


def write_links(graph: Graph, items: list[ItemMeta], report: IngestReport) -> None:
    for kind, (statement, attr) in _LINKS.items():
        rows = [{"src": i.asin, "dst": d} for i in items for d in getattr(i, attr)]
        report.links_listed[kind] = report.links_listed.get(kind, 0) + len(rows)
        matched = graph.write_batches(statement, rows).returned if rows else 0
        report.links[kind] = report.links.get(kind, 0) + matched


def _review_params(reviews: list[Review]) -> dict[str, list[Any]]:
    """The parameters of ``ingest/merge_reviews`` for one batch: distinct users (with the last name the
    batch gives each) and items, and the reviews, one per key (the last repeat wins), each with the
    positions of its user and item in those lists."""
    names: dict[str, str | None] = {}
    items: dict[str, int] = {}
    rows: dict[tuple[str, str, int], dict[str, Any]] = {}
    for r in reviews:
        if r.user_name is not None or r.user_id not in names:
            names[r.user_id] = r.user_name
        items.setdefault(r.asin, len(items))
        rows[r.key] = r.row()
    users = {u: k for k, u in enumerate(names)}
    for row in rows.values():
        row["u"], row["i"] = users[row["user_id"]], items[row["asin"]]
        del row["user_name"]  # in $users
    return {
        "users": [{"user_id": u, "name": n} for u, n in names.items()],
        "items": list(items),
        "rows": list(rows.values()),
    }


class _BatchNotWritten(RuntimeError):
    """The server wrote fewer reviews of a batch than it was sent (a node reached at the wrong position)."""


def write_reviews(graph: Graph, reviews: list[Review]) -> int:
    """One batch of reviews (with their users and stub items) in one statement; the reviews written."""
    return _write_reviews(graph, _review_params(reviews))


def _write_reviews(graph: Graph, params: dict[str, list[Any]]) -> int:
    rows = params["rows"]
    # one statement per batch: its users, items and reviews in one transaction and one round trip
    written = graph.write_batches(
        "ingest/merge_reviews", rows, batch_size=len(rows), users=params["users"], items=params["items"]
    ).returned
    if written < len(rows):
        raise _BatchNotWritten(
            f"the graph server wrote {written} of a batch of {len(rows)} reviews: it did not keep the order "
            "of collect() that ingest/merge_reviews relies on; nothing wrong was written, the rest was not"
        )
    return len(rows)


_END = object()


def _prefetched(batches: Iterator[_T], depth: int = 2) -> Generator[_T, None, None]:
    """``batches``, read and parsed by a background thread while the caller writes the previous batch.

    Parsing was two fifths of an ingest's time, with the server idle meanwhile (bench/ingest.py). An error
    of the reader reaches the caller after the batches before it, as it would unthreaded. Close the
    generator when stopping early (``contextlib.closing``): the reader then stops and closes its file
    before the caller goes on (to close the rejects file the reader writes to)."""
    out: queue.Queue[Any] = queue.Queue(maxsize=depth)
    stop = threading.Event()

    def put(item: object) -> bool:
        while not stop.is_set():
            try:
                out.put(item, timeout=0.1)
                return True
            except queue.Full:
                continue
        return False

    def produce() -> None:
        try:
            for batch in batches:
                if not put((batch, None)):
                    return
            put((_END, None))
        except BaseException as e:  # handed to the caller, raised there
            put((_END, e))
        finally:
            close = getattr(batches, "close", None)
            if close:
                close()

    worker = threading.Thread(target=produce, name="mokg-ingest-reader", daemon=True)
    worker.start()
    try:
        while True:
            item, error = out.get()
            if item is _END:
                if error is not None:
                    raise error
                return
            yield item
    finally:
        stop.set()
        worker.join()


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
    rejects = Rejects(rejects_path)
    t0 = time.perf_counter()
    try:
        if meta is not None:
            recs = _records(meta, parse_item, rejects, report, progress, "items")
            with closing(_prefetched(_batches(recs, size))) as item_batches:
                for batch in item_batches:
                    write_items(graph, batch)
                    report.items += len(batch)
                    report.written += len(batch)
        if reviews is not None:
            recs = _records(reviews, parse_review, rejects, report, progress, "reviews")
            batches = ((len(b), _review_params(b)) for b in _batches(recs, size))
            with closing(_prefetched(batches)) as review_batches:
                for n, params in review_batches:
                    _write_reviews(graph, params)
                    # every record counts, a repeat of a key too: it landed on its edge (the last one wins),
                    # in this batch or a later one, so the figures do not depend on the batch size
                    report.reviews += n
                    report.written += n
        if meta is not None:
            # second pass: links; its lines were already counted and rejected in the first pass
            recs = _records(meta, parse_item, rejects, report, progress, "links", count=False)
            with closing(_prefetched(_batches(recs, size))) as link_batches:
                for batch in link_batches:
                    write_links(graph, batch, report)
    finally:
        rejects.close()
        report.seconds = time.perf_counter() - t0
    if report.read == 0:
        given = " and ".join(str(p) for p in (reviews, meta) if p is not None)
        raise EmptyInputError(f"{given}: no records (the input is empty); nothing was written")
    return report
