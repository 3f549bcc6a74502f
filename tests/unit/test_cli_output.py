"""The CLI's progress where stderr is no terminal: plain lines at intervals, so a log shows that a long
command is alive."""

from __future__ import annotations

import io

from rich.console import Console
from rich.progress import Progress

from mokg.apps.cli.output import TimeLeftColumn, progress_bars, progress_factory, time_left


def _run(terminal: bool, every: float, in_bytes: bool = False) -> str:
    buffer = io.StringIO()
    to = Console(file=buffer, force_terminal=terminal, width=100)
    with progress_bars(in_bytes=in_bytes, to=to) as bars:
        advance = progress_factory(bars, every=every)("eval", 4)
        for pos in (1, 2, 3, 4, 4):
            advance(pos)
        open_ended = progress_factory(bars, every=every)("reviews", None)
        open_ended(7)
    return buffer.getvalue()


def test_a_log_gets_a_plain_line_per_interval() -> None:
    lines = [line for line in _run(terminal=False, every=0.0).splitlines() if ": " in line]
    # every call is past a zero interval
    assert [line.split(",")[0] for line in lines] == [
        "eval: 1/4",
        "eval: 2/4",
        "eval: 3/4",
        "eval: 4/4",
        "eval: 4/4",
        "reviews: 7",
    ]


def test_a_short_command_gets_the_final_bars_alone() -> None:
    text = _run(terminal=False, every=3600.0)
    assert ": " not in text and "4/4" in text and "7/?" in text


def test_bytes_are_counted_in_units() -> None:
    assert "eval: 4 bytes/4 bytes" in _run(terminal=False, every=0.0, in_bytes=True)


def test_a_terminal_gets_the_bars_alone() -> None:
    text = _run(terminal=True, every=0.0)
    assert "eval: " not in text and "eval" in text


def test_the_time_left_is_the_mean_pace_so_far() -> None:
    assert time_left(30.0, 1, 4) == ", about 90 s left at this pace"
    assert time_left(600.0, 48, 217) == ", about 35 min left at this pace"  # 600 / 48 × 169 = 2,112 s
    # nothing to extrapolate from, nothing left, or no end known
    assert time_left(5.0, 0, 4) == time_left(5.0, 4, 4) == time_left(5.0, 3, None) == ""


def test_a_log_line_says_how_long_is_left() -> None:
    lines = [line for line in _run(terminal=False, every=0.0).splitlines() if line.startswith("eval: ")]
    assert "left at this pace" in lines[0] and "left" not in lines[-1]


def test_the_bars_show_time_left_only_while_there_is_an_estimate() -> None:
    clock = iter(float(t) for t in range(100))
    bars = Progress(get_time=lambda: next(clock))
    running, open_ended, done = (bars.add_task(n, total=t) for n, t in (("a", 10), ("b", None), ("c", 2)))
    for pos in (1, 2, 3):  # one step per tick of the fake clock
        bars.update(running, completed=pos)
    bars.update(open_ended, completed=3)
    bars.update(done, completed=2)
    column = TimeLeftColumn()
    assert column.render(bars.tasks[running]).plain.endswith(" left")
    assert column.render(bars.tasks[open_ended]).plain == column.render(bars.tasks[done]).plain == ""


def test_the_bars_and_the_log_lines_give_the_same_estimate() -> None:
    clock = [0.0]
    bars = Progress(get_time=lambda: clock[0])
    task = bars.add_task("a", total=10)
    clock[0] = 30.0
    bars.update(task, completed=3)
    # 30 s for 3 steps, 7 to go: 70 s, whichever way it is printed
    assert TimeLeftColumn().render(bars.tasks[task]).plain == "~0:01:10 left"
    assert time_left(30.0, 3, 10) == ", about 70 s left at this pace"
