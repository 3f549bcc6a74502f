"""Test-only: record the name of every named ``.cypher`` statement a :class:`~mokg.graph.connection.Graph` runs.

``tests/test_cypher_files.py`` proves from the record that every statement file runs in some test. The record
is the file named by ``MOKG_TEST_CYPHER_TRACE``, one name a line, appended to by every Python process of the
session: the test process (``tests/conftest.py`` calls :func:`install`) and every process it starts — `mokg`
commands, Celery workers, the web server — through ``sitecustomize.py`` beside this module, which the
conftest puts on ``PYTHONPATH``. The production code carries no hook: ``Graph.query``, ``Graph.execute``
and ``Graph.write_batches`` are wrapped here, once ``mokg.graph.connection`` is imported.
"""

from __future__ import annotations

import functools
import importlib.abc
import importlib.machinery
import os
import sys
from collections.abc import Callable, Sequence
from pathlib import Path
from types import ModuleType
from typing import Any

ENV = "MOKG_TEST_CYPHER_TRACE"
MODULE = "mokg.graph.connection"
METHODS = ("query", "execute", "write_batches")  # the Graph methods that run a named statement


def _traced(method: Callable[..., Any], trace: Path) -> Callable[..., Any]:
    from mokg.graph import cypher

    @functools.wraps(method)
    def run(self: Any, name: str, *args: Any, **kwargs: Any) -> Any:
        cypher.load(name)  # an unknown name raises here, before it is recorded
        with trace.open("a") as f:
            f.write(name + "\n")
        return method(self, name, *args, **kwargs)

    run.__cypher_traced__ = True  # type: ignore[attr-defined]
    return run


def patch(connection: ModuleType, trace: Path) -> None:
    """Wrap the Graph methods of the imported ``mokg.graph.connection`` (once)."""
    graph = connection.Graph
    for name in METHODS:
        method = getattr(graph, name)
        if not getattr(method, "__cypher_traced__", False):
            setattr(graph, name, _traced(method, trace))


class _PatchOnImport(importlib.abc.MetaPathFinder):
    """Finds nothing itself: when ``mokg.graph.connection`` is imported, patches it right after it runs."""

    def __init__(self, trace: Path) -> None:
        self.trace = trace

    def find_spec(
        self, fullname: str, path: Sequence[str] | None, target: ModuleType | None = None
    ) -> importlib.machinery.ModuleSpec | None:
        if fullname != MODULE:
            return None
        sys.meta_path.remove(self)
        spec = importlib.machinery.PathFinder.find_spec(fullname, path)
        loader = spec.loader if spec is not None else None
        if loader is None or not hasattr(loader, "exec_module"):
            return spec
        exec_module = loader.exec_module
        trace = self.trace

        def exec_and_patch(module: ModuleType) -> None:
            exec_module(module)
            patch(module, trace)

        loader.exec_module = exec_and_patch  # type: ignore[method-assign]
        return spec


def install(trace: str | Path | None = None) -> None:
    """Record into ``trace`` (default: ``$MOKG_TEST_CYPHER_TRACE``; neither: nothing is recorded)."""
    target = trace or os.environ.get(ENV)
    if not target:
        return
    if MODULE in sys.modules:
        patch(sys.modules[MODULE], Path(target))
    elif not any(isinstance(f, _PatchOnImport) for f in sys.meta_path):
        sys.meta_path.insert(0, _PatchOnImport(Path(target)))
