"""The docs match the code: every setting is in the README's table, every CLI command has help."""

from __future__ import annotations

from pathlib import Path

from click.testing import CliRunner

from mokg.apps.cli import main
from mokg.config import settings_doc

README = Path(__file__).resolve().parents[2] / "README.md"


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
