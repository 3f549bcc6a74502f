"""The `mokg` command line (the console script ``mokg = "mokg.apps.cli:main"``); one module per command group."""

from mokg.apps.cli.main import main

__all__ = ["main"]
