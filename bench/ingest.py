"""Ingestion throughput: reviews/s through `mokg ingest` against a raw-write floor, in the same run.

The floor sends the very same parsed rows through the same driver with a bare ``UNWIND … CREATE``
(cypher/bench/raw_create_reviews.cypher) in batches of the same size. Each repeat uses fresh scratch
databases on the running stack (`mokg stack up`). Prints medians and the ratio ingest/floor.

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


def run(reviews: Path, repeat: int, batch_size: int, tmp: Path) -> dict[str, object]:
    rows = _rows(reviews)
    ingest_rates, floor_rates = [], []
    for i in range(repeat):
        g = _scratch("bench_ingest")
        try:
            apply_schema(g)
            t0 = time.perf_counter()
            report = ingest(
                g, reviews=reviews, rejects_path=tmp / f"rejects_{i}.jsonl", batch_size=batch_size
            )
            ingest_rates.append(report.read / (time.perf_counter() - t0))
        finally:
            _drop(g)
        g = _scratch("bench_floor")
        try:
            t0 = time.perf_counter()
            g.write_batches("bench/raw_create_reviews", rows, batch_size=batch_size)
            floor_rates.append(len(rows) / (time.perf_counter() - t0))
        finally:
            _drop(g)
        print(
            f"  repeat {i + 1}: ingest {ingest_rates[-1]:,.0f} reviews/s, floor {floor_rates[-1]:,.0f} rows/s",
            file=sys.stderr,
        )
    ing, flo = statistics.median(ingest_rates), statistics.median(floor_rates)
    return {
        "file": str(reviews),
        "reviews": len(rows),
        "repeat": repeat,
        "batch_size": batch_size,
        "ingest_reviews_per_s_median": round(ing, 1),
        "floor_rows_per_s_median": round(flo, 1),
        "ratio": round(ing / flo, 3),
        # each repeat pairs an ingest run with a floor run taken right after it: the paired ratio is the
        # figure least moved by other load on a shared machine
        "paired_ratio_median": round(
            statistics.median(i / f for i, f in zip(ingest_rates, floor_rates, strict=True)), 3
        ),
    }


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--reviews", type=Path, required=True, help="reviews file (JSON Lines, plain or .gz)")
    ap.add_argument("--repeat", type=int, default=3, help="runs of each side; medians are reported")
    ap.add_argument("--batch-size", type=int, default=get_settings().batch_size)
    ap.add_argument("--json", type=Path, help="also write the figures to this file")
    args = ap.parse_args()
    tmp = get_settings().home / "bench"
    tmp.mkdir(parents=True, exist_ok=True)
    result = run(args.reviews, args.repeat, args.batch_size, tmp)
    print(
        f"ingest {result['ingest_reviews_per_s_median']:,} reviews/s | floor (raw UNWIND CREATE) "
        f"{result['floor_rows_per_s_median']:,} rows/s | ratio {result['ratio']} "
        f"(median of paired ratios {result['paired_ratio_median']}) "
        f"({result['reviews']:,} reviews, median of {result['repeat']})"
    )
    if args.json:
        args.json.write_text(json.dumps(result, indent=2))


if __name__ == "__main__":
    main()
