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
from mokg.ingest.pipeline import IngestReport, Rejects, reject_reason, write_items, write_links, write_reviews
from mokg.ingest.readers import decode
from mokg.ingest.records import ItemMeta, Review, parse_item, parse_review

Kind = Literal["reviews", "meta"]
WireLine = tuple[int, str, str | None]  # (line number, text, why it could not be read)


@dataclass
class BatchResult:
    """``read`` = reviews + items + rejected + duplicates. ``reviews``: one per key (user, item, time), the
    last of the batch's repeats, as written; ``duplicates``: the repeats folded into them. ``links`` and
    ``links_listed``: per link type, the item links written and listed; the others name an item not in the
    graph (yet), and are not kept."""

    read: int = 0
    rejected: int = 0
    duplicates: int = 0
    reviews: list[Review] = field(default_factory=list)
    items: list[ItemMeta] = field(default_factory=list)
    links: dict[str, int] = field(default_factory=dict)
    links_listed: dict[str, int] = field(default_factory=dict)
    rejects_path: Path | None = None

    @property
    def links_unmatched(self) -> int:
        """Item links listed whose target item is not in the graph: not written."""
        return sum(self.links_listed.values()) - sum(self.links.values())

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
                except Exception as e:  # one bad record must not cost the batch its good ones
                    reason = reject_reason(e)
            if reason is not None:
                bad.add(Path(source), number, reason, text)
                result.rejected += 1
    finally:
        bad.close()
    if kind == "reviews":
        reviews = [r for r in good if isinstance(r, Review)]
        # one per key, the last repeat's values at the first one's place: what write_reviews writes
        result.reviews = list({r.key: r for r in reviews}.values())
        result.duplicates = len(reviews) - len(result.reviews)
        if reviews:
            write_reviews(graph, reviews)  # all of them: a folded repeat may still name its user
    else:
        result.items = [i for i in good if isinstance(i, ItemMeta)]
        if result.items:
            write_items(graph, result.items)
            # a batch sees only the graph: a link to an item that is not in it yet is counted, not kept
            # (`mokg ingest` keeps those whose item comes later in its file, by a second pass)
            links = IngestReport()
            write_links(graph, result.items, links)
            result.links, result.links_listed = links.links, links.links_listed
    return result
