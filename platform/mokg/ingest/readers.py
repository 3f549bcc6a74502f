"""Stream JSON Lines from plain or gzip files, one decoded record at a time, with line numbers."""

from __future__ import annotations

import ast
import gzip
import json
import zlib
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Any

try:  # a third of the decoding time of json; installed with the web extra, optional here
    import orjson
except ImportError:  # pragma: no cover - the standard library decodes the same
    orjson = None  # type: ignore[assignment]


class InputFileError(RuntimeError):
    """A file that cannot be read at all (missing, not gzip/JSON Lines, corrupt)."""


@dataclass(frozen=True)
class Line:
    number: int
    raw: str
    obj: Any = None
    error: str | None = None


def _open(path: Path) -> tuple[IO[bytes], IO[bytes]]:
    """(the raw file, for progress by bytes; the stream to decode)."""
    if not path.exists():
        raise InputFileError(f"{path}: no such file")
    if not path.is_file():
        raise InputFileError(f"{path}: not a file")
    raw = path.open("rb")
    magic = raw.read(2)
    raw.seek(0)
    if magic == b"\x1f\x8b":
        return raw, gzip.GzipFile(fileobj=raw)  # type: ignore[return-value]
    return raw, raw


def decode(text: str) -> Any:
    if orjson is not None:
        try:
            return orjson.loads(text)
        except orjson.JSONDecodeError:
            # orjson is stricter than json (NaN, huge numbers, lone surrogates): those lines, and every
            # malformed one with its message, take the standard path, so the outcome is json's either way
            pass
    try:
        return json.loads(text)
    except RecursionError:
        # nested deeper than the interpreter's stack: malformed input for us, like any other bad line
        raise json.JSONDecodeError("nested too deeply", text, 0) from None
    except json.JSONDecodeError:
        # the 2014 metadata files are Python literals, not JSON
        if text.startswith("{'"):
            try:
                return ast.literal_eval(text)
            except (ValueError, TypeError, SyntaxError, MemoryError, RecursionError):
                pass
        raise


class JsonLines:
    """Iterate ``Line`` records; ``position`` is the byte offset in the (compressed) file."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self._raw, self._stream = _open(path)
        self.size = path.stat().st_size

    @property
    def position(self) -> int:
        return self._raw.tell()

    def close(self) -> None:
        self._stream.close()
        self._raw.close()

    def __enter__(self) -> JsonLines:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def __iter__(self) -> Iterator[Line]:
        """Each line decoded, or with the reason it could not be."""
        for line in self.texts():
            if line.error is not None:
                yield line
                continue
            try:
                yield Line(line.number, line.raw, obj=decode(line.raw))
            except json.JSONDecodeError as e:
                yield Line(line.number, line.raw, error=f"malformed JSON: {e.msg} at column {e.colno}")
            except Exception as e:  # a decoder failure no one foresaw: this line's reject, not the run's end
                yield Line(line.number, line.raw, error=f"malformed JSON: {type(e).__name__}: {e}")

    def texts(self) -> Iterator[Line]:
        """Each non-blank line as text, not yet decoded as JSON (``mokg stream`` decodes in the workers)."""
        number = 0
        try:
            for line in text_lines(self._stream):
                number = line.number
                yield line
        except (OSError, EOFError, zlib.error) as e:
            raise InputFileError(
                f"{self.path}: corrupt or truncated after line {number} ({e}). "
                "Records before it were written; fix the file and run again — ingestion is idempotent."
            ) from e


def text_lines(stream: IO[bytes]) -> Iterator[Line]:
    """The non-blank lines of a byte stream, numbered from 1; a line that is not UTF-8 carries the reason."""
    number = 0
    for bline in stream:
        number += 1
        try:
            text = bline.decode("utf-8").strip()
        except UnicodeDecodeError as e:
            # never a silently altered key: the record is rejected, shown with the bad bytes marked
            shown = bline.decode("utf-8", errors="replace").strip()
            yield Line(number, shown, error=f"invalid UTF-8 at byte {e.start} of the line")
            continue
        if text:
            yield Line(number, text)
