"""`bench/movielens.py` writes files `mokg ingest` reads, keeps the asked CRC32 band, and is 5-core to the end."""

from __future__ import annotations

import gzip
import json
import zipfile
import zlib
from pathlib import Path

from conftest import run_bench

from mokg.ingest.records import parse_item, parse_review

ROOT = "recbole/dataset_example/ml-100k/ml-100k"


def _wheel(path: Path, ratings: list[tuple[int, int]]) -> Path:
    inter = "user_id:token\titem_id:token\trating:float\ttimestamp:float\n"
    inter += "".join(f"{u}\t{i}\t4\t88125{u:04d}\n" for u, i in ratings)
    films = "item_id:token\tmovie_title:token_seq\trelease_year:token\tclass:token_seq\n"
    films += "".join(f"{i}\tFilm {i}\t1995\tDrama Comedy\n" for i in sorted({i for _, i in ratings}))
    with zipfile.ZipFile(path, "w") as z:
        z.writestr(f"{ROOT}.inter", inter)
        z.writestr(f"{ROOT}.item", films)
    return path


def _read(path: Path) -> list[dict[str, object]]:
    with gzip.open(path, "rt", encoding="utf-8") as f:
        return [json.loads(line) for line in f]


def test_every_band_rating_of_a_5_core_survives_and_a_chain_below_it_goes(tmp_path: Path) -> None:
    grid = [(u, i) for u in range(1, 7) for i in range(1, 7)]  # 6 users × 6 items: 5-core already
    # user 99 rates 4 grid items and item 99, which no one else rates: item 99 goes first, then user 99
    chain = [(99, i) for i in (1, 2, 3, 4, 99)]
    wheel = _wheel(tmp_path / "recbole.whl", grid + chain)
    proc = run_bench(
        "movielens.py", "--wheel", str(wheel), "--share", "0:100", "--out", str(tmp_path / "all")
    )
    assert proc.returncode == 0, proc.stderr
    assert "41 ratings in the band 0:100; 5-core: 36 ratings, 6 users, 6 items" in proc.stdout
    reviews = [parse_review(r) for r in _read(tmp_path / "all" / "reviews.json.gz")]
    assert sorted((r.user_id, r.asin) for r in reviews) == sorted((f"ml{u}", f"ml{i}") for u, i in grid)
    items = [parse_item(m) for m in _read(tmp_path / "all" / "meta.json.gz")]
    assert [(m.asin, m.title, m.category_path) for m in items][:1] == [("ml1", "Film 1", ("Drama",))]

    # a band wrapping past 100 keeps exactly the ratings whose CRC32 mod 100 lies in it, before the 5-core
    proc = run_bench(
        "movielens.py", "--wheel", str(wheel), "--share", "90:30", "--out", str(tmp_path / "band")
    )
    assert proc.returncode == 0, proc.stderr
    in_band = sum(zlib.crc32(f"{u}:{i}".encode()) % 100 not in range(30, 90) for u, i in grid + chain)
    assert proc.stdout.startswith(f"{in_band} ratings in the band 90:30;")


def test_an_empty_or_malformed_band_is_refused_in_one_line(tmp_path: Path) -> None:
    wheel = _wheel(tmp_path / "recbole.whl", [(1, 1)])
    for share in ("5:5", "abc", "1:2:3", "0:101"):
        proc = run_bench(
            "movielens.py", "--wheel", str(wheel), "--share", share, "--out", str(tmp_path / "o")
        )
        assert proc.returncode == 2 and f"--share {share}: expected lo:hi" in proc.stderr, proc.stderr
        assert "Traceback" not in proc.stderr
