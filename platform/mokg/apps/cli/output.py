"""What every command prints through: the consoles and the progress bars."""

from __future__ import annotations

import sys
from types import TracebackType

from rich.console import Console
from rich.progress import (
    BarColumn,
    DownloadColumn,
    MofNCompleteColumn,
    Progress,
    TextColumn,
    TimeElapsedColumn,
)

from mokg.progress import Advance, ProgressFactory

console = Console(stderr=True, soft_wrap=True)
# piped or captured output has no terminal width: 120 columns rather than rich's 80, which cut table headers
out = Console(soft_wrap=True, width=None if sys.stdout.isatty() else 120)


def progress_factory(progress: Progress) -> ProgressFactory:
    def factory(label: str, total: int | None) -> Advance:
        task = progress.add_task(label, total=total)
        return lambda pos: progress.update(task, completed=pos)

    return factory


class _Bars(Progress):
    """Progress bars that clear themselves when the command fails: its one-line error is what stays."""

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc_val: BaseException | None,
        exc_tb: TracebackType | None,
    ) -> None:
        if exc_type is not None:
            self.live.transient = True
        super().__exit__(exc_type, exc_val, exc_tb)


def progress_bars(in_bytes: bool = False) -> Progress:
    return _Bars(
        TextColumn("{task.description:16}"),
        BarColumn(),
        DownloadColumn() if in_bytes else MofNCompleteColumn(),
        TimeElapsedColumn(),
        console=console,
        transient=False,
    )
