"""Seed and exclude files of `mokg expand`: a malformed one is one clear line naming the file, line and why."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

from mokg.export import read_user_ids
from mokg.ingest.readers import InputFileError


@pytest.mark.parametrize(
    ("text", "why"),
    [
        ('{"user_id": "u1"}\n{"user_id": "u2"\n', r"line 2: not JSON"),
        ('{"user_id": "u1"}\n\n{"id": "u2"}\n', r"line 3: expected a JSON object with a user_id"),
        ('["u1"]\n', r"line 1: expected a JSON object with a user_id"),
        ('{"user_id": null}\n', r"line 1: expected a JSON object with a user_id"),
        ('{"user_id": ""}\n', r"line 1: expected a JSON object with a user_id"),
    ],
)
def test_a_bad_jsonl_line_is_an_input_file_error(tmp_path: Path, text: str, why: str) -> None:
    path = tmp_path / "seeds.jsonl"
    path.write_text(text)
    with pytest.raises(InputFileError, match=f"^{re.escape(str(path))}: {why}"):
        read_user_ids(path)


def test_a_csv_without_a_user_id_column_is_an_input_file_error(tmp_path: Path) -> None:
    path = tmp_path / "seeds.csv"
    path.write_text("id,score\nu1,0.5\n")
    with pytest.raises(
        InputFileError, match=f"^{re.escape(str(path))}: line 1: the CSV header has no user_id column"
    ):
        read_user_ids(path)


def test_a_file_that_is_not_text_is_an_input_file_error(tmp_path: Path) -> None:
    path = tmp_path / "seeds.txt"
    path.write_bytes(b"\xff\xfe\x00bad")
    with pytest.raises(InputFileError, match=f"^{re.escape(str(path))}: cannot read it"):
        read_user_ids(path)


def test_good_files_still_read(tmp_path: Path) -> None:
    (tmp_path / "a.jsonl").write_text('{"user_id": "u1", "x": 1}\n\n{"user_id": 7}\n')
    (tmp_path / "a.csv").write_text("user_id,score\nu1,1\n,2\nu2,3\n")
    assert read_user_ids(tmp_path / "a.jsonl") == ["u1", "7"]
    assert read_user_ids(tmp_path / "a.csv") == ["u1", "u2"]


@pytest.mark.parametrize("option", ["--seeds", "--exclude"])
def test_mokg_expand_with_a_bad_seed_file_ends_in_one_line(tmp_path: Path, option: str) -> None:
    bad = tmp_path / "bad.jsonl"
    bad.write_text('{"user_id": "u1"}\nnot json\n')
    good = tmp_path / "good.txt"
    good.write_text("u1\n")
    args = ["--seeds", str(bad)] if option == "--seeds" else ["--seeds", str(good), "--exclude", str(bad)]
    proc = subprocess.run(
        [sys.executable, "-m", "mokg.apps.cli", "expand", *args],
        capture_output=True,
        text=True,
        timeout=120,
        env={**os.environ, "COLUMNS": "400"},
    )
    output = proc.stdout + proc.stderr
    assert proc.returncode == 1
    assert "Traceback" not in output
    assert f"{bad}: line 2: not JSON" in " ".join(output.split())
