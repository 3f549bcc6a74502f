"""`mokg data`: datasets fetched through the real code from a loopback HTTP mirror of the shared files.

The mirror is Python's own http.server on 127.0.0.1 serving ``../shared/data/amazon`` (the origin's
bytes; in a clone without it, the files fetched once into the user's MOKG_HOME), or a folder of damaged
copies, so the download, the checksum check and the rename are the real ones.
"""

from __future__ import annotations

import contextlib
import functools
import hashlib
import http.server
import threading
from collections.abc import Iterator
from dataclasses import replace
from pathlib import Path

import pytest
from click.testing import CliRunner
from conftest import DATA

from mokg.apps.cli import main
from mokg.config import Settings, get_settings
from mokg.data import DATASETS, DataError, fetch, folder, is_fetched, path
from mokg.progress import Advance

# ../shared/data/amazon beside the clone, else the files `mokg data fetch` cached in the user's MOKG_HOME
SHARED = DATA
needs_shared = pytest.mark.skipif(
    not all((SHARED / d.folder / f.name).is_file() for d in DATASETS.values() for f in d.files),
    reason=f"no real data at {SHARED} to serve as the mirror (`mokg data fetch NAME` for each of "
    "`mokg data list` puts it in MOKG_HOME)",
)


@contextlib.contextmanager
def serving(root: Path) -> Iterator[tuple[str, list[str]]]:
    """An HTTP server on a free loopback port serving ``root``: its base URL and the paths asked for."""
    asked: list[str] = []

    class Handler(http.server.SimpleHTTPRequestHandler):
        def log_message(self, format: str, *args: object) -> None:
            asked.append(self.path)

    server = http.server.ThreadingHTTPServer(
        ("127.0.0.1", 0), functools.partial(Handler, directory=str(root))
    )
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}/", asked
    finally:
        server.shutdown()
        server.server_close()
        thread.join()


def _sha256(p: Path) -> str:
    return hashlib.sha256(p.read_bytes()).hexdigest()


@pytest.fixture
def settings(tmp_path: Path) -> Settings:
    return replace(get_settings(), home=tmp_path / "home", data_mirror="")


@needs_shared
def test_the_registry_holds_the_shared_files_checksums() -> None:
    for d in DATASETS.values():
        for f in d.files:
            shared = SHARED / d.folder / f.name
            assert (shared.stat().st_size, _sha256(shared)) == (f.size, f.sha256), f.name
            assert f.url.startswith("https://datarepo.eng.ucsd.edu/mcauley_group/data/amazon_v2/")


@needs_shared
def test_fetch_from_a_loopback_mirror_then_again_is_a_no_op(settings: Settings) -> None:
    bars: list[tuple[str, int | None]] = []
    positions: list[int] = []

    def progress(label: str, total: int | None) -> Advance:
        bars.append((label, total))
        return positions.append

    with serving(SHARED) as (url, asked):
        done = fetch("gift_cards", settings=settings, mirror=url, progress=progress)
        assert [f.path for f in done] == [path("gift_cards", settings), path("gift_cards", settings, "meta")]
        for f in done:
            assert f.path.parent == settings.home / "data" / "amazon" / "Gift_Cards"
            assert _sha256(f.path) == f.file.sha256 == _sha256(SHARED / "Gift_Cards" / f.file.name)
            assert f.source == f"{url}Gift_Cards/{f.file.name}"
        assert sorted(asked) == ["/Gift_Cards/Gift_Cards_5.json.gz", "/Gift_Cards/meta_Gift_Cards.json.gz"]
        assert bars == [(f.file.name, f.file.size) for f in done] and positions[-1] == done[-1].file.size
        assert is_fetched("gift_cards", settings) and not is_fetched("all_beauty", settings)

        mtimes = [f.path.stat().st_mtime_ns for f in done]
        again = fetch("gift_cards", settings=settings, mirror=url, progress=progress)
        assert [f.source for f in again] == ["", ""] and len(asked) == 2 and len(bars) == 2
        assert [f.path.stat().st_mtime_ns for f in again] == mtimes
    assert sorted(p.name for p in folder("gift_cards", settings).iterdir()) == sorted(
        f.file.name for f in done
    )


@needs_shared
def test_a_damaged_cached_file_is_fetched_again(settings: Settings) -> None:
    target = path("all_beauty", settings)
    target.parent.mkdir(parents=True)
    target.write_bytes(b"x" * DATASETS["all_beauty"].files[0].size)
    (done,) = fetch("all_beauty", settings=settings, mirror=str(SHARED))  # a local folder as the mirror
    assert done.source == str(SHARED / "All_Beauty" / "All_Beauty_5.json.gz")
    assert _sha256(target) == done.file.sha256


@needs_shared
@pytest.mark.parametrize("damage", ["truncated", "one byte changed"])
def test_a_checksum_mismatch_fails_clearly_and_leaves_no_file(
    settings: Settings, tmp_path: Path, damage: str
) -> None:
    good = (SHARED / "Gift_Cards" / "Gift_Cards_5.json.gz").read_bytes()
    bad = (
        good[: len(good) // 2]
        if damage == "truncated"
        else good[:1000] + bytes([good[1000] ^ 1]) + good[1001:]
    )
    mirror = tmp_path / "mirror" / "Gift_Cards"
    mirror.mkdir(parents=True)
    (mirror / "Gift_Cards_5.json.gz").write_bytes(bad)
    expected = DATASETS["gift_cards"].file("reviews").sha256
    with serving(mirror.parent) as (url, _), pytest.raises(DataError) as failed:
        fetch("gift_cards", settings=settings, mirror=url)
    message = str(failed.value)
    assert "\n" not in message
    assert "Gift_Cards_5.json.gz" in message and url in message
    assert expected in message and hashlib.sha256(bad).hexdigest() in message
    # neither the final file nor the temporary one: the folder made for them is gone too
    assert not folder("gift_cards", settings).exists()
    assert not list(settings.home.rglob("*Gift_Cards*"))


def test_a_file_the_mirror_lacks_is_a_one_line_error(settings: Settings, tmp_path: Path) -> None:
    (tmp_path / "empty").mkdir()
    with serving(tmp_path / "empty") as (url, _), pytest.raises(DataError, match=r"HTTP 404"):
        fetch("all_beauty", settings=settings, mirror=url)
    with pytest.raises(DataError, match=r"no file All_Beauty/All_Beauty_5\.json\.gz"):
        fetch("all_beauty", settings=settings, mirror=tmp_path / "empty")
    assert not list(settings.home.rglob("*.json.gz*"))


@pytest.fixture
def cli_home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Path]:
    """MOKG_HOME for commands run through click's CliRunner (they read the cached settings)."""
    monkeypatch.setenv("MOKG_HOME", str(tmp_path / "cli-home"))
    monkeypatch.delenv("MOKG_DATA_MIRROR", raising=False)
    get_settings.cache_clear()
    yield tmp_path / "cli-home"
    get_settings.cache_clear()


@needs_shared
def test_mokg_data_list_fetch_and_path(cli_home: Path) -> None:
    runner = CliRunner()
    listed = runner.invoke(main, ["data", "list"])
    assert listed.exit_code == 0, listed.output
    assert "gift_cards" in listed.output and "all_beauty" in listed.output
    with serving(SHARED) as (url, _):
        fetched = runner.invoke(main, ["data", "fetch", "gift_cards", "--from", url])
    assert fetched.exit_code == 0, fetched.output
    where = runner.invoke(main, ["data", "path", "gift_cards", "--file", "meta"])
    assert where.exit_code == 0, where.output
    assert where.output == f"{cli_home}/data/amazon/Gift_Cards/meta_Gift_Cards.json.gz\n"


@pytest.mark.parametrize(
    ("args", "says"),
    [
        (["fetch", "gift_card"], "unknown dataset 'gift_card': known are all_beauty, gift_cards"),
        (["path", "all_beauty"], "all_beauty is not fetched yet: run `mokg data fetch all_beauty`"),
        (["path", "all_beauty", "--file", "meta"], "dataset 'all_beauty' has no meta file"),
    ],
)
def test_mokg_data_errors_are_one_line(cli_home: Path, args: list[str], says: str) -> None:
    result = CliRunner().invoke(main, ["data", *args])
    assert result.exit_code == 1
    (line,) = result.output.strip().splitlines()
    assert line.startswith("error: ") and says in line
