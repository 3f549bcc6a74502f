"""The import graph of the installed package, read from the source with ``ast`` (nothing is imported).

The library (``mokg`` outside ``mokg.apps``) never imports an app, and no two modules import each other
through any path: imports inside functions and relative imports count like any other.
"""

from __future__ import annotations

import ast
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
