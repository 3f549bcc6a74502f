"""`mokg stream send` and `mokg synth` on an unreadable input: one line and exit status 1, no traceback."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

MOKG = (sys.executable, "-m", "mokg.apps.cli")


def _run(*args: str, home: Path) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "MOKG_HOME": str(home)}
    return subprocess.run([*MOKG, *args], capture_output=True, text=True, env=env, timeout=120)


def test_stream_send_of_a_missing_file_is_one_line(tmp_path: Path) -> None:
    proc = _run("stream", "send", "--reviews", str(tmp_path / "missing.json"), home=tmp_path)
    assert proc.returncode == 1, proc.stderr
    assert "Traceback" not in proc.stderr and "missing.json: no such file" in proc.stderr
    assert len(proc.stderr.strip().splitlines()) == 1, proc.stderr


def test_synth_from_a_file_with_a_bad_line_is_one_line(tmp_path: Path) -> None:
    bad = tmp_path / "bad.json"
    bad.write_text('{"reviewerID": "U", "asin": "A", "overall": 5, "unixReviewTime": 1}\n{not json\n')
    proc = _run(
        "synth", "--users", "2", "--items", "5", "--from-reviews", str(bad), "--from-meta", "", home=tmp_path
    )
    assert proc.returncode == 1, proc.stderr
    assert "Traceback" not in proc.stderr and "bad.json, line 2: malformed JSON" in proc.stderr, proc.stderr
