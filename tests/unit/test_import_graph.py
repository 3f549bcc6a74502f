"""The import graph of the installed package, read from the source with ``ast`` (nothing is imported).

The library (``mokg`` outside ``mokg.apps``) never imports an app, and no two modules import each other
through any path: imports inside functions and relative imports count like any other. GLoM's model fitting
never reaches the graph. One test does import: the web app, in a fresh interpreter, to see that serving
loads none of the lookalike evaluation nor its heavy libraries.
"""

from __future__ import annotations

import ast
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2] / "platform"
APPS = "mokg.apps"
# the top-level packages the apps were before they moved into mokg.apps
OLD_APPS = ("web", "workers")


def _module_name(path: Path) -> str:
    parts = list(path.relative_to(ROOT).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def _is_package(path: Path) -> bool:
    return path.name == "__init__.py"


def _imported(module: str, path: Path, tree: ast.Module) -> set[str]:
    """Every module name this module's source imports, absolute, wherever the import stands."""
    package = module if _is_package(path) else module.rpartition(".")[0]
    names: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            names.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = package.split(".")
                base = base[: len(base) - (node.level - 1)]
                prefix = ".".join([*base, node.module] if node.module else base)
            else:
                prefix = node.module or ""
            # `pkg.name`: the module pkg.name when there is one, else a name defined in pkg
            names.update(prefix if alias.name == "*" else f"{prefix}.{alias.name}" for alias in node.names)
    return names


def import_graph() -> dict[str, set[str]]:
    """mokg module -> the mokg modules it imports (a name that is not a module maps to its module)."""
    sources = {_module_name(p): p for p in sorted(ROOT.joinpath("mokg").rglob("*.py"))}
    graph: dict[str, set[str]] = {}
    for module, path in sources.items():
        tree = ast.parse(path.read_text(), filename=str(path))
        edges: set[str] = set()
        for name in _imported(module, path, tree):
            # the longest prefix that is a module: `mokg.graph.connection.Graph` -> mokg.graph.connection
            while name and name not in sources and name.split(".")[0] not in OLD_APPS:
                name = name.rpartition(".")[0]
            if name and name != module:
                edges.add(name)
        graph[module] = edges
    return graph


def _cycle(graph: dict[str, set[str]]) -> list[str] | None:
    """A cycle of mokg modules, as a path that returns to its start, or None."""
    state: dict[str, int] = {}  # 1: on the current path, 2: done
    path: list[str] = []

    def visit(node: str) -> list[str] | None:
        state[node] = 1
        path.append(node)
        for nxt in sorted(graph.get(node, ())):
            if nxt not in graph:
                continue
            if state.get(nxt) == 1:
                return [*path[path.index(nxt) :], nxt]
            if nxt not in state and (found := visit(nxt)):
                return found
        path.pop()
        state[node] = 2
        return None

    for start in sorted(graph):
        if start not in state and (found := visit(start)):
            return found
    return None


def _reachable(graph: dict[str, set[str]], start: str) -> set[str]:
    """Every mokg module importing ``start`` runs, itself included: its imports' imports, and the packages
    above each module reached (importing ``a.b.c`` runs ``a`` and ``a.b`` first)."""
    seen: set[str] = set()
    todo = [start]
    while todo:
        module = todo.pop()
        if module in seen or module not in graph:
            continue
        seen.add(module)
        parts = module.split(".")
        todo += [".".join(parts[:k]) for k in range(1, len(parts))]
        todo += graph[module]
    return seen


def _in_apps(module: str) -> bool:
    return module == APPS or module.startswith(APPS + ".")


def test_the_graph_sees_every_kind_of_import() -> None:
    graph = import_graph()
    assert "mokg.config" in graph["mokg.graph.connection"]  # a plain absolute import
    assert len(graph) > 50


def test_the_library_never_imports_an_app() -> None:
    offenders = sorted(
        f"{module} imports {name}"
        for module, names in import_graph().items()
        if not _in_apps(module)
        for name in names
        if _in_apps(name) or name.split(".")[0] in OLD_APPS
    )
    assert not offenders, "the library imports an app:\n" + "\n".join(offenders)


def test_no_import_cycles() -> None:
    cycle = _cycle(import_graph())
    assert cycle is None, "import cycle: " + " -> ".join(cycle or [])


def test_the_cycle_finder_finds_a_cycle() -> None:
    assert _cycle({"a": {"b"}, "b": {"c"}, "c": {"a"}}) == ["a", "b", "c", "a"]
    assert _cycle({"a": {"b"}, "b": set()}) is None


def test_glom_fitting_never_imports_the_graph() -> None:
    graph = import_graph()
    reached = _reachable(graph, "mokg.glom.fitting")
    assert "mokg.glom.triples" in reached  # the walk follows imports
    offenders = sorted(m for m in reached if m == "mokg.graph" or m.startswith("mokg.graph."))
    assert not offenders, "mokg.glom.fitting reaches the graph through " + ", ".join(offenders)


# what the web must not load: the lookalike evaluation and the libraries only training and evaluation use
NOT_SERVED = (
    "mokg.lookalike.evaluation",
    "mokg.lookalike.baselines",
    "mokg.lookalike.tuning",
    "mokg.lookalike.glom_model",
    "mokg.lookalike.protocol",
    "mokg.lookalike.metrics",
    "mokg.lookalike.registry",
    "mokg.glom",
    "sklearn",
    "pykeen",
    "scipy",
    "torch",
)


def test_the_web_loads_no_lookalike_evaluation() -> None:
    code = "import sys, mokg.apps.web.app; print('\\n'.join(sorted(sys.modules)))"
    out = subprocess.run(
        [sys.executable, "-c", code], check=True, capture_output=True, text=True, timeout=120
    ).stdout
    loaded = set(out.split())
    assert "mokg.lookalike.audience" in loaded
    offenders = sorted(m for m in loaded if any(m == n or m.startswith(n + ".") for n in NOT_SERVED))
    assert not offenders, "importing the web app loads " + ", ".join(offenders)
