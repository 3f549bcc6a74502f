"""The docs match the code: every setting is in the README's table, every CLI command has help, and every
section of a measurement log that the code or the README cites exists."""

from __future__ import annotations

import re
from pathlib import Path

from click.testing import CliRunner

from mokg.apps.cli import main
from mokg.config import settings_doc

ROOT = Path(__file__).resolve().parents[2]
README = ROOT / "README.md"
# a citation of a section by its opening words, in the code: (log, "Title"), docs/NAME.md, "Title" or
# ``docs/NAME.md``, "Title" ("log" is docs/lookalike-evaluation.md, as TrainConfig's docstring says); in the
# README: "Title" in [the log](docs/NAME.md) or "Title" in the log. A title with an apostrophe is in double
# quotes, so a single-quoted one ends at the first apostrophe.
CITATION = re.compile(r'(?:\(log|(docs/[\w-]+\.md)`{0,2}),\s*(["\'])(.+?)\2')
README_CITATION = re.compile(r'"([^"]+)" in (?:\[the log\]\((docs/[\w-]+\.md)\)|the log\b)')
DOC_PATH = re.compile(r"docs/[\w-]+\.md")
LOG = "docs/lookalike-evaluation.md"


def test_every_setting_is_documented_in_the_readme() -> None:
    text = README.read_text()
    missing = [env for env, _, _ in settings_doc() if f"| `{env}` |" not in text]
    assert not missing, f"settings missing from README's table: {missing}"


def test_every_command_has_help() -> None:
    runner = CliRunner()

    def walk(group, path):  # type: ignore[no-untyped-def]
        for name, cmd in group.commands.items():
            result = runner.invoke(main, [*path, name, "--help"])
            assert result.exit_code == 0, (path, name, result.output)
            assert (cmd.help or "").strip(), f"`mokg {' '.join([*path, name])}` has no help text"
            if hasattr(cmd, "commands"):
                walk(cmd, [*path, name])

    walk(main, [])


def _flat(text: str) -> str:
    """Comment and docstring lines joined, so a citation wrapped over two lines reads as one."""
    return re.sub(r"\s*\n\s*(?:#\s*)?", " ", text)


def _citations(path: Path) -> list[tuple[str, str]]:
    """(cited file, title) of every citation in ``path``."""
    text = _flat(path.read_text())
    found = [(m.group(1) or LOG, m.group(3)) for m in CITATION.finditer(text)]
    if path == README:
        found += [(m.group(2) or LOG, m.group(1)) for m in README_CITATION.finditer(text)]
    return found


def test_every_cited_log_section_exists() -> None:
    tests = [p for p in sorted((ROOT / "tests").rglob("*.py")) if p != Path(__file__).resolve()]
    cited = 0
    for path in [README, *sorted((ROOT / "platform").rglob("*.py")), *tests]:
        for doc_name, title in _citations(path):
            doc = ROOT / doc_name
            assert doc.is_file(), f"{path.name} cites {doc_name}, which does not exist"
            # a section starts a line (a heading, a bold lead, a paragraph): a mere mention is not one
            section = re.compile(r"^(?:#+\s+|\*\*)?" + re.escape(title), re.MULTILINE)
            assert section.search(doc.read_text()), (
                f"{path.name} cites {title!r}: no such section in {doc_name}"
            )
            cited += 1
    for path in (README, ROOT / "CHANGELOG.md"):
        missing = {p for p in DOC_PATH.findall(path.read_text()) if not (ROOT / p).is_file()}
        assert not missing, f"{path.name} names docs that do not exist: {missing}"
    assert cited >= 15  # the code's and the README's citations, so the patterns cannot silently match nothing
