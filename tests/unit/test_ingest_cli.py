"""`mokg ingest --help` describes the writes as they are."""

from __future__ import annotations

import subprocess
import sys


def test_help_says_how_a_review_edge_is_written() -> None:
    proc = subprocess.run(
        [sys.executable, "-m", "mokg.apps.cli", "ingest", "--help"],
        capture_output=True,
        text=True,
        timeout=120,
    )
    text = " ".join(proc.stdout.split())
    assert proc.returncode == 0
    # a review edge is matched on its key, then created or updated: not a MERGE
    assert "every write is a MERGE" not in text
    assert "a review edge, keyed by user, item and time, is created only where no edge has that key" in text
