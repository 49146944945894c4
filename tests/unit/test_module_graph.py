"""The layout's rules, read from the code's imports (every `import`, at module level or inside a
function, TYPE_CHECKING ones included): no two modules import each other, by any path, and no
package imports one above it (pipeline never imports the API; webhooks never the HTTP layer)."""

from __future__ import annotations

import ast
from collections.abc import Iterator
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
PACKAGES = ("actors", "api", "bench", "harness", "pipeline", "publishing", "schema", "service", "webhooks")
TOP_MODULES = ("config", "connection_pool", "logsetup", "models")

# What each package may not import: the layers above it. The HTTP API and the operator's
# commands are the top; the worker's actors sit beside them; publishing, webhooks and pipeline
# below; config, models and the rest at the bottom import none of ours but each other.
FORBIDDEN = {
    "pipeline": {"api", "service", "publishing", "actors", "webhooks", "bench", "harness"},
    "webhooks": {"api", "service", "publishing", "actors", "bench", "harness"},
    "publishing": {"api", "service", "bench", "harness"},
    "actors": {"api", "service", "bench", "harness"},
    "api": {"service", "bench", "harness"},
    "schema": {"api", "service", "publishing", "actors", "webhooks", "pipeline", "bench", "harness"},
    "harness": {"bench"},
}


def _modules() -> dict[str, Path]:
    """Every module of ours by dotted name."""
    found = {name: REPO / f"{name}.py" for name in TOP_MODULES}
    for package in PACKAGES:
        root = REPO / package
        if not root.is_dir():
            continue
        for path in root.rglob("*.py"):
            parts = path.relative_to(REPO).with_suffix("").parts
            found[".".join(parts[:-1] if parts[-1] == "__init__" else parts)] = path
    return found


def _imports(path: Path, name: str, known: dict[str, Path]) -> Iterator[str]:
    """The modules of ours that the module `name` at `path` imports."""
    is_package = path.name == "__init__.py"
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.Import):
            targets = [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                anchor = name.split(".")
                anchor = anchor if is_package else anchor[:-1]
                anchor = anchor[: len(anchor) - (node.level - 1)]
                base = ".".join([*anchor, base] if base else anchor)
            # `from package import module` imports the module; `from module import name` the module.
            targets = [
                f"{base}.{alias.name}" if f"{base}.{alias.name}" in known else base for alias in node.names
            ]
        else:
            continue
        for target in targets:
            while target and target not in known:
                target = target.rpartition(".")[0]
            if target and target != name:
                yield target


def _graph() -> dict[str, set[str]]:
    known = _modules()
    return {name: set(_imports(path, name, known)) for name, path in known.items()}


def _package(module: str) -> str:
    return module.split(".")[0]


def test_no_two_modules_import_each_other_by_any_path() -> None:
    graph = _graph()
    cycles: list[list[str]] = []
    state: dict[str, int] = {}  # 1: on the current path, 2: done
    path: list[str] = []

    def visit(node: str) -> None:
        state[node] = 1
        path.append(node)
        for target in sorted(graph[node]):
            # A package's __init__ importing its own modules is how a package offers its door.
            if target.startswith(node + "."):
                continue
            if state.get(target) == 1:
                cycles.append([*path[path.index(target) :], target])
            elif target not in state:
                visit(target)
        path.pop()
        state[node] = 2

    for node in sorted(graph):
        if node not in state:
            visit(node)
    assert cycles == [], "import cycles:\n" + "\n".join(" -> ".join(cycle) for cycle in cycles)


def test_no_package_imports_one_above_it() -> None:
    wrong = sorted(
        f"{module} imports {target}"
        for module, targets in _graph().items()
        for target in targets
        if _package(target) in FORBIDDEN.get(_package(module), set())
    )
    assert wrong == []


def test_the_graph_sees_the_imports_it_judges() -> None:
    """The reader is not blind: imports it must find, found."""
    graph = _graph()
    assert "pipeline.processor" in graph["actors.photo_worker"]
    assert "config" in graph["pipeline.fetch"]  # under TYPE_CHECKING
    assert any(target.startswith("pipeline.") for target in graph["pipeline"] | graph["pipeline.processor"])


def test_no_module_changes_its_own_globals() -> None:
    """State lives in objects the process builds (the worker, the publishers' Upkeep), not in
    module variables rebound by `global`."""
    rebinding = sorted(
        f"{name}: global {', '.join(node.names)}"
        for name, path in _modules().items()
        if _package(name) not in ("bench", "harness")
        for node in ast.walk(ast.parse(path.read_text()))
        if isinstance(node, ast.Global)
    )
    assert rebinding == []
