"""The finished units of a long `mokg eval`, kept on disk so that an interrupted run resumes where it stopped.

A :class:`Checkpoint` is an append-only JSON-lines file of ``{"key": …, "value": …}`` entries under a first
line that holds a fingerprint of everything the values depend on (the caller's: configuration, data, code;
:func:`code_fingerprint` covers the installed package and the numeric libraries). A file with another
fingerprint is started afresh, never mixed in. Each entry is flushed and synced as it is written, and a
line cut short by a kill is dropped when the file is next opened: the kept entries are written to a new file
that replaces the old one only once it is on disk, so a kill while reopening loses nothing. An exclusive
lock on the folder keeps two runs from writing one file.
"""

from __future__ import annotations

import contextlib
import fcntl
import hashlib
import json
import os
from collections.abc import Iterator
from pathlib import Path
from typing import IO, Any

import mokg


class CheckpointBusy(RuntimeError):
    """Another process holds the checkpoint file."""


def code_fingerprint() -> str:
    """A hash of the installed ``mokg`` package's Python sources and of the numeric libraries' versions: the
    code that computed a checkpoint's values."""
    import numpy
    import sklearn
    import torch

    digest = hashlib.sha256(f"{numpy.__version__} {torch.__version__} {sklearn.__version__}".encode())
    root = Path(mokg.__file__).parent
    for path in sorted(root.rglob("*.py")):
        digest.update(str(path.relative_to(root)).encode() + b"\0" + path.read_bytes() + b"\0")
    return digest.hexdigest()


class Checkpoint:
    """Use as a context manager: ``with Checkpoint(path, fingerprint) as done: done.get(key) …``.

    ``fresh=True`` discards whatever the file holds. After entering, :attr:`resumed` is how many entries an
    earlier run left, and :attr:`discarded` whether a file of another fingerprint was started afresh.
    """

    def __init__(self, path: Path, fingerprint: str, *, fresh: bool = False) -> None:
        self.path = path
        self.fingerprint = fingerprint
        self.fresh = fresh
        self.entries: dict[str, Any] = {}
        self.resumed = 0
        self.discarded = False
        self._file: IO[str] | None = None
        self._folder: int | None = None

    def __enter__(self) -> Checkpoint:
        folder = self.path.parent
        folder.mkdir(parents=True, exist_ok=True)
        # the lock is on the folder, not the file, because the file is replaced below
        fd = os.open(folder, os.O_RDONLY)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            os.close(fd)
            raise CheckpointBusy(
                f"{self.path}: another `mokg eval` is writing to this folder; wait for it or use another --out"
            ) from None
        self._folder = fd
        try:
            self._load(fd)
        except BaseException:
            self.__exit__()
            raise
        return self

    def _load(self, folder: int) -> None:
        lines: list[dict[str, Any]] = []
        if self.path.exists():
            with self.path.open(encoding="utf-8") as f:
                lines = list(self._lines(f))
        matches = bool(lines) and lines[0].get("fingerprint") == self.fingerprint
        self.discarded = bool(lines) and not matches and not self.fresh
        if matches and not self.fresh:
            self.entries = {e["key"]: e["value"] for e in lines[1:]}
        self.resumed = len(self.entries)
        # a new file of the header and the kept entries: drops a cut-short last line and a stale file alike
        tmp = self.path.with_name(self.path.name + ".tmp")
        with tmp.open("w", encoding="utf-8") as f:
            f.write(json.dumps({"fingerprint": self.fingerprint}) + "\n")
            f.writelines(json.dumps({"key": k, "value": v}) + "\n" for k, v in self.entries.items())
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, self.path)
        os.fsync(folder)  # the rename itself
        self._file = self.path.open("a", encoding="utf-8")

    def __exit__(self, *exc: object) -> None:
        if self._file is not None:
            self._file.close()
            self._file = None
        if self._folder is not None:
            os.close(self._folder)  # releases the lock
            self._folder = None

    @staticmethod
    def _lines(f: IO[str]) -> Iterator[dict[str, Any]]:
        for line in f:
            with contextlib.suppress(json.JSONDecodeError):
                entry = json.loads(line)
                if isinstance(entry, dict) and ("fingerprint" in entry or {"key", "value"} <= entry.keys()):
                    yield entry

    def get(self, key: str) -> Any:
        """The value an earlier run stored under ``key``, or ``None``."""
        return self.entries.get(key)

    def put(self, key: str, value: Any) -> None:
        """Store ``value`` (JSON-serialisable) under ``key``, on disk before this returns."""
        assert self._file is not None, "use the checkpoint as a context manager"
        self._file.write(json.dumps({"key": key, "value": value}) + "\n")
        self._file.flush()
        os.fsync(self._file.fileno())
        self.entries[key] = value

    def remove(self) -> None:
        """Delete the file (the run it served is complete); the lock goes with it."""
        self.path.unlink(missing_ok=True)
        self.__exit__()
