"""The shape of the code (issue 25), read from the source with ``ast``: dependencies go one way
and every function reads as a few steps."""

from __future__ import annotations

import ast
from collections.abc import Callable, Iterator
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
MAX_FUNCTION_LINES = 60


def modules(package: str) -> Iterator[tuple[str, Path, ast.Module]]:
    """(dotted name, path, tree) of every module of a top-level package."""
    for path in sorted((ROOT / package).rglob("*.py")):
        parts = list(path.relative_to(ROOT).with_suffix("").parts)
        if parts[-1] == "__init__":
            parts.pop()
        yield ".".join(parts), path, ast.parse(path.read_text(encoding="utf-8"))


def imported(module: str, tree: ast.Module, is_package: bool) -> Iterator[tuple[str, int]]:
    """(module imported, line) for every import anywhere in a module: at the top, in a
    function (at call time) or under ``TYPE_CHECKING``. ``from a import b`` yields ``a.b``
    too, as ``b`` may be a module."""
    package = module if is_package else module.rpartition(".")[0]
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            for alias in node.names:
                yield alias.name, node.lineno
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                anchor = package.split(".")[:len(package.split(".")) - node.level + 1]
                base = ".".join([*anchor, base] if base else anchor)
            yield base, node.lineno
            for alias in node.names:
                yield f"{base}.{alias.name}", node.lineno


def node_of(module: str) -> str | None:
    """The node of ``tasks`` a module belongs to: a stage's package (``tasks/ingest``,
    ``tasks/clean``, ``tasks/annotate``, ``tasks/entities``, ``tasks/report``) is one node, and
    so is every module at the top of tasks (the glue between stages: batch, process, models);
    None outside tasks."""
    parts = module.split(".")
    if parts[0] != "tasks" or len(parts) < 2:
        return None
    return ".".join(parts[:2])


def module_of(module: str) -> str | None:
    """Every module of ``tasks`` its own node (a package is its ``__init__``), but the cleaner
    (``tasks/clean``) one node as it always was; None outside tasks."""
    if module == "tasks.clean" or module.startswith("tasks.clean."):
        return "tasks.clean"
    return module if module.startswith("tasks.") else None


def tasks_graph(node: Callable[[str], str | None] = node_of) -> dict[str, dict[str, str]]:
    """node -> {node it imports: where (path:line)}, among the modules of tasks."""
    graph: dict[str, dict[str, str]] = {}
    for module, path, tree in modules("tasks"):
        source = node(module)
        if source is None:  # tasks/__init__.py
            continue
        edges = graph.setdefault(source, {})
        for target, line in imported(module, tree, path.name == "__init__.py"):
            target_node = node(target)
            if target_node is not None and target_node != source:
                edges.setdefault(target_node, f"{path.relative_to(ROOT)}:{line}")
    return {node: {t: w for t, w in edges.items() if t in graph} for node, edges in graph.items()}


def cycles(graph: dict[str, dict[str, str]]) -> list[list[str]]:
    """One cycle (a path back to its start) through each node that is on one, shortest first."""
    found: dict[frozenset[str], list[str]] = {}
    for start in sorted(graph):
        paths = [[start]]
        seen = {start}
        while paths:  # breadth first: the shortest way back to start
            path = paths.pop(0)
            for nxt in sorted(graph[path[-1]]):
                if nxt == start:
                    found.setdefault(frozenset(path), [*path, start])
                    paths = []
                    break
                if nxt not in seen:
                    seen.add(nxt)
                    paths.append([*path, nxt])
    return sorted(found.values(), key=len)


def test_cycles_are_found_however_long() -> None:
    graph = {"a": {"b": "a.py:1"}, "b": {"c": "b.py:1"}, "c": {"a": "c.py:1", "d": "c.py:2"},
             "d": {}, "e": {"e2": "e.py:1"}, "e2": {"e": "e2.py:1"}}
    assert cycles(graph) == [["e", "e2", "e"], ["a", "b", "c", "a"]]


def described(graph: dict[str, dict[str, str]]) -> list[str]:
    return [" -> ".join(f"{a} ({graph[a][b]})" for a, b in zip(cycle, cycle[1:]))
            for cycle in cycles(graph)]


def test_no_import_cycle_among_the_stages_of_tasks() -> None:
    """Stages depend one way: a module of one stage importing another stage that imports it
    back (through any of its modules) is a cycle, even if no two modules import each other."""
    graph = tasks_graph()
    stages = {"tasks.ingest", "tasks.clean", "tasks.annotate", "tasks.entities", "tasks.report"}
    assert stages | {"tasks.batch", "tasks.process"} <= set(graph)  # the scan saw the rooms
    assert described(graph) == []


def test_no_import_cycle_among_the_modules_of_tasks() -> None:
    """Within a stage too: each module its own node (a package's ``__init__`` is one of them)."""
    graph = tasks_graph(module_of)
    assert {"tasks.ingest", "tasks.entities.index", "tasks.annotate.spacy_pass"} <= set(graph)
    assert described(graph) == []


def test_the_store_imports_nothing_of_tasks() -> None:
    found: dict[str, str] = {}  # where -> the module imported (not the names from it)
    for module, path, tree in modules("store"):
        for target, line in imported(module, tree, path.name == "__init__.py"):
            if target == "tasks" or target.startswith("tasks."):
                found.setdefault(f"{path.relative_to(ROOT)}:{line}", target)
    assert [f"{where} imports {target}" for where, target in found.items()] == []


def test_every_function_reads_in_at_most_60_lines() -> None:
    """Counted from the ``def`` line to the last line of the body, docstring included."""
    long = [f"{path.relative_to(ROOT)}:{node.lineno} {node.name} "
            f"({node.end_lineno - node.lineno + 1} lines)"
            for package in ("flows", "tasks", "store")
            for _, path, tree in modules(package)
            for node in ast.walk(tree)
            if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef)
            and node.end_lineno - node.lineno + 1 > MAX_FUNCTION_LINES]
    assert long == []
