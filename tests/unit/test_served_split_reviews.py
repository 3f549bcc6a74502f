"""`bench/served.py` holds out a split's reviews as `mokg ingest` keys them, in every file format it reads."""

from __future__ import annotations

import gzip
import json
import sys
from pathlib import Path
from typing import Any

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "bench"))
from served import split_reviews


def _write(path: Path, rows: list[dict[str, Any]]) -> Path:
    with gzip.open(path, "wt") as f:
        f.writelines(json.dumps(r) + "\n" for r in rows)
    return path


def _read(path: Path) -> list[dict[str, Any]]:
    with gzip.open(path, "rt") as f:
        return [json.loads(line) for line in f]


def _2023(user: str, asin: str, t: int) -> dict[str, Any]:
    return {"user_id": user, "parent_asin": asin, "asin": "variant", "rating": 5.0, "timestamp": t * 1000}


def _2018(user: str, asin: str, t: int) -> dict[str, Any]:
    return {"reviewerID": user, "asin": asin, "overall": 4.0, "unixReviewTime": t}


def test_2023_files_are_keyed_by_user_id_and_parent_asin(tmp_path: Path) -> None:
    rows = [_2023("U1", "P1", 1), _2023("U1", "P2", 2), _2023("U2", "P1", 3), _2023("U1", "P1", 4)]
    kept, held = tmp_path / "kept.json.gz", tmp_path / "held.json.gz"
    # U1 reviewed P1 twice: both reviews are held out
    n = split_reviews(_write(tmp_path / "r.json.gz", rows), {("U1", "P1")}, kept, held, expected=2)
    assert n == 2 and _read(held) == [rows[0], rows[3]] and _read(kept) == [rows[1], rows[2]]


def test_ids_are_stripped_as_the_parser_strips_them(tmp_path: Path) -> None:
    rows = [_2018(" U1 ", "A1\n", 1), _2018("U2", "A1", 2), {"reviewerID": "U3"}]  # the last does not parse
    kept, held = tmp_path / "kept.json.gz", tmp_path / "held.json.gz"
    assert split_reviews(_write(tmp_path / "r.json.gz", rows), {("U1", "A1")}, kept, held, expected=1) == 1
    assert _read(held) == [rows[0]] and _read(kept) == rows[1:]


def test_a_held_out_review_not_found_or_a_count_that_differs_is_refused(tmp_path: Path) -> None:
    reviews = _write(tmp_path / "r.json.gz", [_2018("U1", "A1", 1), _2018("U2", "A1", 2)])
    kept, held = tmp_path / "kept.json.gz", tmp_path / "held.json.gz"
    with pytest.raises(ValueError, match="1 of 2 held-out"):
        split_reviews(reviews, {("U1", "A1"), ("U9", "A1")}, kept, held)
    with pytest.raises(ValueError, match="held out 1 reviews, expected 2"):
        split_reviews(reviews, {("U1", "A1")}, kept, held, expected=2)
