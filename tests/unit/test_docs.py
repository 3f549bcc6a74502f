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
# a citation of a section by its opening words: (log, "Title"), docs/NAME.md, "Title" or ``docs/NAME.md``,
# "Title"; "log" is docs/lookalike-evaluation.md (TrainConfig's docstring says so)
CITATION = re.compile(r'(?:\(log|(docs/[\w-]+\.md)`{0,2}),\s*(["\'])(.+?)\2')
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


def test_every_cited_log_section_exists() -> None:
    tests = [p for p in sorted((ROOT / "tests").rglob("*.py")) if p != Path(__file__).resolve()]
    sources = [README, *sorted((ROOT / "platform").rglob("*.py")), *tests]
    cited = 0
    for path in sources:
        for match in CITATION.finditer(_flat(path.read_text())):
            doc = ROOT / (match.group(1) or LOG)
            assert doc.is_file(), f"{path.name} cites {doc.name}, which does not exist"
            title = match.group(3)
            assert _flat(title) in _flat(doc.read_text()), f"{path.name} cites {title!r}, not in {doc.name}"
            cited += 1
    for path in (README, ROOT / "CHANGELOG.md"):
        missing = {p for p in DOC_PATH.findall(path.read_text()) if not (ROOT / p).is_file()}
        assert not missing, f"{path.name} names docs that do not exist: {missing}"
    assert cited >= 10  # the code's own citations of the logs, so the pattern cannot silently match nothing
