"""Audiences to files and user ids from files: CSV and JSON Lines, the formats of ``mokg expand``."""

from __future__ import annotations

import csv
import dataclasses
import json
from pathlib import Path
from typing import Any

from mokg.ingest.readers import InputFileError
from mokg.lookalike.audience import Audience

FORMATS = (".csv", ".jsonl")


def read_user_ids(path: Path) -> list[str]:
    """User ids from a file: JSON Lines or CSV with a `user_id` field, else one id per line.

    A file that cannot be read as that raises :class:`InputFileError` naming the file, the line and why."""
    try:
        text = path.read_text()
    except (OSError, UnicodeDecodeError) as e:
        raise InputFileError(f"{path}: cannot read it ({e})") from None
    if path.suffix == ".jsonl":
        return [_jsonl_user_id(path, n, line) for n, line in enumerate(text.splitlines(), 1) if line.strip()]
    if path.suffix == ".csv":
        rows = csv.DictReader(text.splitlines())
        if "user_id" not in (rows.fieldnames or ()):
            raise InputFileError(f"{path}: line 1: the CSV header has no user_id column")
        return [row["user_id"] for row in rows if row.get("user_id")]
    return [line.strip() for line in text.splitlines() if line.strip() and not line.startswith("#")]


def _jsonl_user_id(path: Path, number: int, line: str) -> str:
    try:
        obj = json.loads(line)
    except json.JSONDecodeError as e:
        raise InputFileError(f"{path}: line {number}: not JSON ({e.msg})") from None
    user_id = obj.get("user_id") if isinstance(obj, dict) else None
    if user_id is None or isinstance(user_id, dict | list) or str(user_id) == "":
        raise InputFileError(f"{path}: line {number}: expected a JSON object with a user_id")
    return str(user_id)


def audience_rows(audience: Audience, *, explain: bool = False) -> list[dict[str, Any]]:
    """One row per member: rank, user id, score, and with ``explain`` the graph evidence."""
    return [
        {"rank": m.rank, "user_id": m.user_id, "score": m.score}
        | ({"explanation": dataclasses.asdict(m.explanation) if m.explanation else None} if explain else {})
        for m in audience.users
    ]


def write_audience(path: Path, audience: Audience, *, explain: bool = False) -> int:
    """Write the audience as ``.csv`` (the explanation as a JSON column) or ``.jsonl``; how many rows."""
    if path.suffix not in FORMATS:
        raise ValueError(f"{path}: an audience file ends in {' or '.join(FORMATS)}")
    rows = audience_rows(audience, explain=explain)
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("w", newline="") as f:
        if path.suffix == ".jsonl":
            f.writelines(json.dumps(r, ensure_ascii=False) + "\n" for r in rows)
        else:
            writer = csv.writer(f)
            writer.writerow(["rank", "user_id", "score", *(["explanation"] if explain else [])])
            for r in rows:
                extra = [json.dumps(r["explanation"], ensure_ascii=False)] if explain else []
                writer.writerow([r["rank"], r["user_id"], r["score"], *extra])
    return len(rows)
