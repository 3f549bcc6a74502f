"""Audiences to files and user ids from files: CSV and JSON Lines, the formats of ``mokg expand``."""

from __future__ import annotations

import csv
import dataclasses
import json
from pathlib import Path
from typing import Any

from mokg.lookalike.audience import Audience

FORMATS = (".csv", ".jsonl")


def read_user_ids(path: Path) -> list[str]:
    """User ids from a file: JSON Lines or CSV with a `user_id` field, else one id per line."""
    text = path.read_text()
    if path.suffix == ".jsonl":
        return [str(json.loads(line)["user_id"]) for line in text.splitlines() if line.strip()]
    if path.suffix == ".csv":
        return [row["user_id"] for row in csv.DictReader(text.splitlines()) if row.get("user_id")]
    return [line.strip() for line in text.splitlines() if line.strip() and not line.startswith("#")]


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
