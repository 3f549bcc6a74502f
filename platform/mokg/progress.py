"""How long-running library work reports progress without knowing about terminals.

A :data:`ProgressFactory` is called once per task with a label and a total (``None`` when unknown) and
returns ``advance(completed)``. The CLI renders it with rich; library callers may pass nothing.
"""

from __future__ import annotations

from collections.abc import Callable

Advance = Callable[[int], None]
ProgressFactory = Callable[[str, int | None], Advance]


def no_progress(label: str, total: int | None) -> Advance:
    return lambda completed: None
