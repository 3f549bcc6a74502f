"""What every command prints through: the consoles and the progress bars."""

from __future__ import annotations

import sys
import time
from datetime import timedelta
from types import TracebackType

from rich.console import Console
from rich.filesize import decimal
from rich.progress import (
    BarColumn,
    DownloadColumn,
    MofNCompleteColumn,
    Progress,
    ProgressColumn,
    Task,
    TextColumn,
    TimeElapsedColumn,
)
from rich.text import Text

from mokg.progress import Advance, ProgressFactory

console = Console(stderr=True, soft_wrap=True)
# piped or captured output has no terminal width: 120 columns rather than rich's 80, which cut table headers
out = Console(soft_wrap=True, width=None if sys.stdout.isatty() else 120)


# Where stderr is no terminal (a log file, CI), rich draws the bars only when they stop (and not at all when
# the command fails), so a long command would print nothing for minutes: there each task also prints a plain
# line once this many seconds have passed since its last one.
PLAIN_EVERY = 30.0


def seconds_left(elapsed: float | None, pos: float, total: float | None) -> float | None:
    """The mean pace so far times the steps left: ``None`` before the first step, at the end and with no
    total. The bars and the log lines both use it, so a terminal and a log of one run agree; rich's own
    estimate (speed over its last 30 s) swings with steps as uneven as an eval's."""
    if elapsed is None or total is None or pos <= 0 or pos >= total:
        return None
    return elapsed / pos * (total - pos)


def time_left(elapsed: float, pos: int, total: int | None) -> str:
    """``", about 12 min left at this pace"``, or ``""`` where :func:`seconds_left` has no estimate. Steps
    of one task can differ in cost (a tuning trial of a trained GLM and one of a popularity count are one
    step each), hence "at this pace"."""
    left = seconds_left(elapsed, pos, total)
    if left is None:
        return ""
    return (
        f", about {left:.0f} s left at this pace"
        if left < 120
        else f", about {left / 60:.0f} min left at this pace"
    )


def progress_factory(progress: Progress, every: float = PLAIN_EVERY) -> ProgressFactory:
    in_bytes = any(isinstance(c, DownloadColumn) for c in progress.columns)

    def factory(label: str, total: int | None) -> Advance:
        task = progress.add_task(label, total=total)
        if progress.console.is_terminal:
            return lambda pos: progress.update(task, completed=pos)
        start = last = time.monotonic()

        def advance(pos: int) -> None:
            nonlocal last
            progress.update(task, completed=pos)
            now = time.monotonic()
            if now - last >= every:
                last = now
                done = decimal(pos) if in_bytes else f"{pos:,}"
                of = "" if total is None else f"/{decimal(total) if in_bytes else f'{total:,}'}"
                took = now - start
                line = f"{label}: {done}{of}, {took:.0f} s{time_left(took, pos, total)}"
                progress.console.print(line, highlight=False)

        return advance

    return factory


class TimeLeftColumn(ProgressColumn):
    """The time left by :func:`seconds_left`, while there is an estimate: blank when the total is unknown or
    the task is done, where rich's own column would print a second clock beside the elapsed one."""

    def render(self, task: Task) -> Text:
        left = seconds_left(task.elapsed, task.completed, task.total)
        if task.finished or left is None:
            return Text("")
        return Text(f"~{timedelta(seconds=round(left))} left", style="progress.remaining")


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


def progress_bars(in_bytes: bool = False, to: Console = console) -> Progress:
    return _Bars(
        TextColumn("{task.description:16}"),
        BarColumn(),
        DownloadColumn() if in_bytes else MofNCompleteColumn(),
        TimeElapsedColumn(),
        TimeLeftColumn(),
        console=to,
        transient=False,
    )
