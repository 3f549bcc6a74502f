"""Real datasets by name: where their files come from, their checksums, and where they are cached.

A small registry in the manner of PyKEEN's and PyTorch Geometric's datasets. :func:`fetch` downloads a
dataset's files (the McAuley lab's public Amazon Review Data 2018 files) into
``$MOKG_HOME/data/amazon/<Category>/``, or copies them from a mirror: a local folder or an http(s) URL
base laid out ``<Category>/<file>`` like the origin's copies in ``../shared/data/amazon/``. Every file is
checked against its known SHA-256 before it takes its final name, so a cached file is always whole and
right; :func:`path` says where a fetched file lives, for the commands that read it.
"""

from __future__ import annotations

import contextlib
import hashlib
import os
import re
import tempfile
import urllib.error
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import BinaryIO
from urllib.parse import quote

from mokg.artifacts import file_sha256
from mokg.config import Settings
from mokg.progress import ProgressFactory, no_progress

MCAULEY_2018 = "https://datarepo.eng.ucsd.edu/mcauley_group/data/amazon_v2"
CHUNK = 1 << 20
TIMEOUT_S = 60.0


class DataError(RuntimeError):
    """A dataset that is unknown, cannot be reached, or arrived with the wrong bytes."""


@dataclass(frozen=True)
class DataFile:
    role: str  # what the file is to the commands that read it: "reviews" or "meta"
    name: str
    url: str
    sha256: str
    size: int


@dataclass(frozen=True)
class Dataset:
    name: str
    folder: str  # the category, as the origin names it: the folder under data/amazon/
    description: str
    files: tuple[DataFile, ...]

    @property
    def size(self) -> int:
        return sum(f.size for f in self.files)

    def file(self, role: str) -> DataFile:
        for f in self.files:
            if f.role == role:
                return f
        roles = ", ".join(f.role for f in self.files)
        raise DataError(f"dataset {self.name!r} has no {role} file (it has: {roles})")


DATASETS: dict[str, Dataset] = {
    d.name: d
    for d in (
        Dataset(
            name="gift_cards",
            folder="Gift_Cards",
            description="Amazon 2018 Gift_Cards: 5-core reviews (2,972; 458 users, 148 items) and the category's "
            "metadata (1,547 items)",
            files=(
                DataFile(
                    role="reviews",
                    name="Gift_Cards_5.json.gz",
                    url=f"{MCAULEY_2018}/categoryFilesSmall/Gift_Cards_5.json.gz",
                    sha256="41e1f0e50d3c1c9d7d949fb6315944c8bde51ea6b7429a29fdd0d02cbc07ef25",
                    size=176_952,
                ),
                DataFile(
                    role="meta",
                    name="meta_Gift_Cards.json.gz",
                    url=f"{MCAULEY_2018}/metaFiles2/meta_Gift_Cards.json.gz",
                    sha256="24ac90af3eb47d9c04458a61a44a76a882419190e027c6ec14ee0a993549c34a",
                    size=389_825,
                ),
            ),
        ),
        Dataset(
            name="all_beauty",
            folder="All_Beauty",
            description="Amazon 2018 All_Beauty: 5-core reviews (5,269; 991 users, 85 items), no metadata",
            files=(
                DataFile(
                    role="reviews",
                    name="All_Beauty_5.json.gz",
                    url=f"{MCAULEY_2018}/categoryFilesSmall/All_Beauty_5.json.gz",
                    sha256="4a6b1eb40c4f58328f3f34181a6ef00f8e3423d801128617cc408a83c9bd0027",
                    size=633_507,
                ),
            ),
        ),
    )
}


@dataclass(frozen=True)
class Fetched:
    file: DataFile
    path: Path
    source: str  # where the bytes came from; "" when the cached copy was already right


def get(name: str) -> Dataset:
    try:
        return DATASETS[name]
    except KeyError:
        known = ", ".join(sorted(DATASETS))
        raise DataError(f"unknown dataset {name!r}: known are {known} (`mokg data list`)") from None


def folder(name: str, settings: Settings) -> Path:
    """Where a dataset's files are cached: ``$MOKG_HOME/data/amazon/<Category>``."""
    return settings.home / "data" / "amazon" / get(name).folder


def path(name: str, settings: Settings, role: str = "reviews") -> Path:
    """The cached path of a dataset's file (``reviews`` or ``meta``), fetched or not."""
    return folder(name, settings) / get(name).file(role).name


def is_fetched(name: str, settings: Settings) -> bool:
    """Whether every file of the dataset is in the cache (by presence and size; :func:`fetch` checks sums)."""
    base = folder(name, settings)
    return all(
        (base / f.name).is_file() and (base / f.name).stat().st_size == f.size for f in get(name).files
    )


def fetch(
    name: str,
    *,
    settings: Settings,
    mirror: str | Path | None = None,
    progress: ProgressFactory = no_progress,
) -> list[Fetched]:
    """Every file of a dataset into the cache, checked against its SHA-256; a right cached file is kept.

    ``mirror`` (default: ``MOKG_DATA_MIRROR``; empty: the origin's URLs) is a local folder or an http(s)
    URL base, either laid out ``<Category>/<file>``. A file whose bytes do not match raises
    :class:`DataError` and leaves nothing behind: it is written to a temporary file beside its final
    place and renamed only once its checksum is right.
    """
    dataset = get(name)
    base = folder(name, settings)
    source = str(mirror) if mirror is not None else settings.data_mirror
    done = []
    for f in dataset.files:
        target = base / f.name
        if target.is_file() and target.stat().st_size == f.size and file_sha256(target) == f.sha256:
            done.append(Fetched(f, target, ""))
            continue
        where = _source(dataset, f, source)
        base.mkdir(parents=True, exist_ok=True)
        try:
            _download(where, f, target, progress)
        except BaseException:
            with contextlib.suppress(OSError):
                base.rmdir()  # only if empty: a failed first fetch leaves no trace
            raise
        done.append(Fetched(f, target, where))
    return done


def _is_url(text: str) -> bool:
    return re.match(r"^[A-Za-z][A-Za-z0-9+.-]*://", text) is not None


def _source(dataset: Dataset, f: DataFile, mirror: str) -> str:
    """The URL or local path a file is read from."""
    if not mirror:
        return f.url
    if _is_url(mirror):
        return f"{mirror.rstrip('/')}/{quote(dataset.folder)}/{quote(f.name)}"
    root = Path(mirror).expanduser()
    if not root.is_dir():
        raise DataError(
            f"mirror {mirror}: no such folder (give a folder laid out <Category>/<file> or a URL)"
        )
    local = root / dataset.folder / f.name
    if not local.is_file():
        raise DataError(f"mirror {mirror}: no file {dataset.folder}/{f.name} in it")
    return str(local)


@contextlib.contextmanager
def _open(source: str) -> Iterator[tuple[BinaryIO, int | None]]:
    """A binary stream of the source and its length when known."""
    if not _is_url(source):
        with open(source, "rb") as stream:
            yield stream, os.fstat(stream.fileno()).st_size
        return
    try:
        response = urllib.request.urlopen(source, timeout=TIMEOUT_S)
    except urllib.error.HTTPError as e:
        raise DataError(f"cannot fetch {source}: HTTP {e.code} {e.reason}") from None
    except (urllib.error.URLError, OSError) as e:
        reason = e.reason if isinstance(e, urllib.error.URLError) else e
        raise DataError(f"cannot fetch {source}: {reason}") from None
    with response:
        length = response.headers.get("Content-Length")
        yield response, int(length) if length and length.isdigit() else None


def _download(source: str, f: DataFile, target: Path, progress: ProgressFactory) -> None:
    fd, tmp_name = tempfile.mkstemp(dir=target.parent, prefix=f".{f.name}.", suffix=".part")
    tmp = Path(tmp_name)
    try:
        digest = hashlib.sha256()
        with os.fdopen(fd, "wb") as out, _open(source) as (stream, length):
            advance = progress(f.name, length or f.size)
            written = 0
            try:
                for chunk in iter(lambda: stream.read(CHUNK), b""):
                    out.write(chunk)
                    digest.update(chunk)
                    written += len(chunk)
                    advance(written)
            except OSError as e:  # a connection lost mid-file, or a full disk
                raise DataError(f"cannot fetch {source} into {target.parent}: {e}") from None
        actual = digest.hexdigest()
        if actual != f.sha256:
            raise DataError(
                f"{f.name} from {source}: sha256 {actual} ({written:,} bytes), expected {f.sha256} "
                f"({f.size:,} bytes); nothing was written"
            )
        tmp.chmod(0o644)
        os.replace(tmp, target)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
