"""One streamed batch of records: validated, rejected or written exactly as `mokg ingest` does.

A batch travels as ``lines``: ``(line number, text, reading error or None)`` of one input file, so a worker
needs nothing but the message. Writes are the ingestion's keyed statements, and the batch's rejects file is
named by the stream and the batch's first line and written afresh, so a redelivered batch changes nothing.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal

from mokg.graph import Graph
from mokg.ingest.pipeline import IngestReport, Rejects, write_items, write_links, write_reviews
from mokg.ingest.readers import decode
from mokg.ingest.records import ItemMeta, RecordError, Review, parse_item, parse_review

Kind = Literal["reviews", "meta"]
WireLine = tuple[int, str, str | None]  # (line number, text, why it could not be read)


@dataclass
class BatchResult:
    read: int = 0
    rejected: int = 0
    reviews: list[Review] = field(default_factory=list)
    items: list[ItemMeta] = field(default_factory=list)
    rejects_path: Path | None = None

    @property
    def users(self) -> list[str]:
        """The users the batch touched, in first-seen order."""
        return list(dict.fromkeys(r.user_id for r in self.reviews))

    @property
    def raters(self) -> dict[str, set[str]]:
        """Each item the batch's reviews name, with the users who reviewed it in the batch."""
        out: dict[str, set[str]] = {}
        for r in self.reviews:
            out.setdefault(r.asin, set()).add(r.user_id)
        return out


def rejects_path(folder: Path, stream: str, first_line: int) -> Path:
    return folder / stream / f"{first_line:010d}.rejects.jsonl"


def write_batch(
    graph: Graph, kind: Kind, lines: Sequence[WireLine], *, source: str, rejects: Path
) -> BatchResult:
    """Parse ``lines``; bad ones go to ``rejects`` with their line and reason, the good ones land."""
    parse = parse_review if kind == "reviews" else parse_item
    result = BatchResult(rejects_path=rejects)
    bad = Rejects(rejects)
    good: list[Review | ItemMeta] = []
    try:
        for number, text, error in lines:
            result.read += 1
            reason = error
            if reason is None:
                try:
                    good.append(parse(decode(text)))
                except json.JSONDecodeError as e:
                    reason = f"malformed JSON: {e.msg} at column {e.colno}"
                except RecordError as e:
                    reason = str(e)
            if reason is not None:
                bad.add(Path(source), number, reason, text)
                result.rejected += 1
    finally:
        bad.close()
    if kind == "reviews":
        result.reviews = [r for r in good if isinstance(r, Review)]
        if result.reviews:
            write_reviews(graph, result.reviews)
    else:
        result.items = [i for i in good if isinstance(i, ItemMeta)]
        if result.items:
            write_items(graph, result.items)
            # links to items not in the graph yet wait for a later batch that lists them again
            write_links(graph, result.items, IngestReport())
    return result
