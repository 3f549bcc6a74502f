"""Ingestion throughput: reviews/s through `mokg ingest` against a raw-write floor, in the same run.

The floor sends the very same parsed rows through the same driver with a bare ``UNWIND … CREATE``
(cypher/bench/raw_create_reviews.cypher) in batches of the same size. Each repeat uses fresh scratch
databases on the running stack (`mokg stack up`). Prints medians and the ratio ingest/floor, after
``--warmup`` uncounted pairs (their ratios printed too: what the first ingest after a server start gets).

    python bench/ingest.py --reviews ../shared/data/amazon/Gift_Cards/Gift_Cards_5.json.gz --repeat 3
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import time
from pathlib import Path

from mokg.config import get_settings
from mokg.graph import Graph
from mokg.graph.schema import apply_schema
from mokg.ingest import ingest
from mokg.ingest.readers import JsonLines
from mokg.ingest.records import RecordError, parse_review
from mokg.stack.services import drop_database, scratch_database


def _scratch(prefix: str) -> Graph:
    return Graph(scratch_database(get_settings(), prefix))


def _drop(g: Graph) -> None:
    g.close()
    drop_database(g.settings)


def _rows(path: Path) -> list[dict]:
    rows = []
    with JsonLines(path) as lines:
        for line in lines:
            try:
                rows.append(parse_review(line.obj).row())
            except RecordError:
                continue
    return rows


def _pair(
    rows: list[dict], reviews: Path, batch_size: int, rejects: Path, floor_first: bool
) -> tuple[float, float]:
    """One ``mokg ingest`` run and one floor run of the same rows, each in a fresh scratch database: rates."""

    def ingest_rate() -> float:
        g = _scratch("bench_ingest")
        try:
            apply_schema(g)
            t0 = time.perf_counter()
            report = ingest(g, reviews=reviews, rejects_path=rejects, batch_size=batch_size)
            return report.read / (time.perf_counter() - t0)
        finally:
            _drop(g)

    def floor_rate() -> float:
        g = _scratch("bench_floor")
        try:
            t0 = time.perf_counter()
            g.write_batches("bench/raw_create_reviews", rows, batch_size=batch_size)
            return len(rows) / (time.perf_counter() - t0)
        finally:
            _drop(g)

    if floor_first:
        floor = floor_rate()
        return ingest_rate(), floor
    ing = ingest_rate()
    return ing, floor_rate()


def run(reviews: Path, repeat: int, batch_size: int, tmp: Path, warmup: int = 1) -> dict[str, object]:
    rows = _rows(reviews)
    # The graph server compiles a statement's hot paths while it runs it: on a server just started the first
    # runs favour the short bare CREATE. Warm-up pairs run both sides first and are reported, not counted;
    # the counted pairs alternate which side goes first, so neither always meets the other's leftovers.
    warm: list[float] = []
    for i in range(warmup):
        ing, flo = _pair(rows, reviews, batch_size, tmp / f"rejects_warmup_{i}.jsonl", floor_first=False)
        warm.append(ing / flo)
        print(
            f"  warm-up {i + 1}: ingest {ing:,.0f} reviews/s, floor {flo:,.0f} rows/s (not counted)",
            file=sys.stderr,
        )
    ingest_rates, floor_rates = [], []
    for i in range(repeat):
        ing, flo = _pair(rows, reviews, batch_size, tmp / f"rejects_{i}.jsonl", floor_first=i % 2 == 1)
        ingest_rates.append(ing)
        floor_rates.append(flo)
        print(f"  repeat {i + 1}: ingest {ing:,.0f} reviews/s, floor {flo:,.0f} rows/s", file=sys.stderr)
    ing, flo = statistics.median(ingest_rates), statistics.median(floor_rates)
    return {
        "file": str(reviews),
        "reviews": len(rows),
        "repeat": repeat,
        "warmup": warmup,
        "batch_size": batch_size,
        "ingest_reviews_per_s_median": round(ing, 1),
        "floor_rows_per_s_median": round(flo, 1),
        "ratio": round(ing / flo, 3),
        # each repeat pairs an ingest run with a floor run taken next to it: the paired ratio is the figure
        # least moved by other load on a shared machine
        "paired_ratio_median": round(
            statistics.median(i / f for i, f in zip(ingest_rates, floor_rates, strict=True)), 3
        ),
        "warmup_ratios": [round(r, 3) for r in warm],
    }


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--reviews", type=Path, required=True, help="reviews file (JSON Lines, plain or .gz)")
    ap.add_argument("--repeat", type=int, default=3, help="runs of each side; medians are reported")
    ap.add_argument(
        "--warmup",
        type=int,
        default=1,
        help="uncounted pairs first (a just-started server is still compiling); their ratios are printed",
    )
    ap.add_argument("--batch-size", type=int, default=get_settings().batch_size)
    ap.add_argument("--json", type=Path, help="also write the figures to this file")
    args = ap.parse_args()
    tmp = get_settings().home / "bench"
    tmp.mkdir(parents=True, exist_ok=True)
    result = run(args.reviews, args.repeat, args.batch_size, tmp, args.warmup)
    print(
        f"ingest {result['ingest_reviews_per_s_median']:,} reviews/s | floor (raw UNWIND CREATE) "
        f"{result['floor_rows_per_s_median']:,} rows/s | ratio {result['ratio']} "
        f"(median of paired ratios {result['paired_ratio_median']}) "
        f"({result['reviews']:,} reviews, median of {result['repeat']}; "
        f"warm-up ratios {result['warmup_ratios']}, not counted)"
    )
    if args.json:
        args.json.write_text(json.dumps(result, indent=2))


if __name__ == "__main__":
    main()
