"""Versioned artifacts on disk: a folder per version, a pointer file naming the one in use (``LATEST`` for
the newest scorer or adapter, ``CURRENT`` for the model the graph serves), and the file digests that name
data. A pointer is replaced atomically, so a reader sees the old version or the new one, never a torn name."""

from __future__ import annotations

import hashlib
import os
from pathlib import Path

LATEST = "LATEST"


def point(root: Path, pointer: str, version: str) -> None:
    """Make ``root/pointer`` name ``version``."""
    root.mkdir(parents=True, exist_ok=True)
    tmp = root / f".{pointer}.{os.getpid()}.tmp"
    tmp.write_text(version + "\n")
    os.replace(tmp, root / pointer)


def pointed(root: Path, pointer: str = LATEST, *, complete: str | None = None) -> str | None:
    """The version ``root/pointer`` names; with ``complete``, only if ``root/<version>/<complete>`` exists
    (the file an artifact writes last)."""
    path = root / pointer
    if not path.exists():
        return None
    version = path.read_text().strip()
    if not version or (complete is not None and not (root / version / complete).exists()):
        return None
    return version


def file_sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()
