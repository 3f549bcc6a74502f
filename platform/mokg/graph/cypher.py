"""Named Cypher statements: every statement the platform runs is a file under ``cypher/``.

``load("ingest/merge_items")`` reads ``cypher/ingest/merge_items.cypher``. Statements are data, always
parameterised; nothing here formats user input into query text.
"""

from __future__ import annotations

from functools import lru_cache
from pathlib import Path

from mokg.config import get_settings


class CypherNotFound(KeyError):
    pass


def _path(name: str, root: Path) -> Path:
    return root / f"{name}.cypher"


@lru_cache(maxsize=512)
def _read(path: Path) -> str:
    # strip `//` comment lines: they document the file for analysts but some servers reject them
    lines = [ln for ln in path.read_text().splitlines() if not ln.lstrip().startswith("//")]
    return "\n".join(lines).strip().rstrip(";")


def load(name: str, root: Path | None = None) -> str:
    root = root or get_settings().cypher_dir
    path = _path(name, root)
    if not path.is_file():
        raise CypherNotFound(f"no Cypher statement named {name!r} (looked for {path})")
    return _read(path)


def names(prefix: str = "", root: Path | None = None) -> list[str]:
    """All statement names under a folder, sorted (e.g. ``names("schema")``)."""
    root = root or get_settings().cypher_dir
    base = root / prefix if prefix else root
    return sorted(str(p.relative_to(root).with_suffix("")) for p in base.rglob("*.cypher"))
