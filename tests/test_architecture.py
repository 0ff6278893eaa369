"""The house rules of `src/chunkyard` (ARCHITECTURE.md), read from the source's imports: the
top-level packages import each other without cycles, and the core imports no package of its
own project but itself (it is the bottom layer; file kinds, markdown and strategies need
nothing above them)."""

from __future__ import annotations

import ast
from collections import defaultdict
from pathlib import Path

PACKAGE = Path(__file__).resolve().parents[1] / "src" / "chunkyard"
# Module-level files of the package (not packages) that may be imported from anywhere.
LEAVES = {"settings", "__init__", "__main__"}


def _top(module: str) -> str | None:
    parts = module.split(".")
    return parts[1] if len(parts) > 1 and parts[0] == "chunkyard" else None


def import_graph() -> dict[str, dict[str, list[str]]]:
    """package -> imported package -> the places (file:line) that import it."""
    graph: dict[str, dict[str, list[str]]] = defaultdict(lambda: defaultdict(list))
    for path in sorted(PACKAGE.rglob("*.py")):
        relative = path.relative_to(PACKAGE)
        owner = relative.parts[0] if len(relative.parts) > 1 else relative.stem
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
                modules = [node.module]
                if node.module == "chunkyard":  # `from chunkyard import core`
                    modules = [f"chunkyard.{alias.name}" for alias in node.names]
            elif isinstance(node, ast.Import):
                modules = [alias.name for alias in node.names]
            else:
                continue
            for module in modules:
                target = _top(module)
                if target is not None and target != owner:
                    graph[owner][target].append(f"{relative}:{node.lineno}")
    return graph


def _cycle_through(graph: dict[str, dict[str, list[str]]], start: str) -> list[str] | None:
    """A path start -> ... -> start, if there is one."""
    stack = [(start, [start])]
    seen: set[str] = set()
    while stack:
        node, path = stack.pop()
        for nxt in graph.get(node, {}):
            if nxt == start:
                return [*path, start]
            if nxt not in seen:
                seen.add(nxt)
                stack.append((nxt, [*path, nxt]))
    return None


def test_the_graph_sees_the_packages() -> None:
    graph = import_graph()
    assert {"api", "extract", "kit", "worker", "operations", "chunking"} <= set(graph)
    assert "core" in graph["extract"] and "kit" in graph["documents"]


def test_top_level_packages_import_each_other_without_cycles() -> None:
    graph = import_graph()
    cycles = []
    for package in sorted(graph):
        if package in LEAVES:
            continue
        cycle = _cycle_through(graph, package)
        if cycle:
            first = graph[cycle[0]][cycle[1]][0]
            cycles.append(" -> ".join(cycle) + f" (first: {first})")
    assert not cycles, "\n".join(cycles)


def test_the_core_imports_nothing_above_it() -> None:
    above = dict(import_graph().get("core", {}))
    assert not above, above


def test_a_cycle_is_found() -> None:
    graph = {"a": {"b": ["a.py:1"]}, "b": {"c": ["b.py:1"]}, "c": {"a": ["c.py:1"]}}
    assert _cycle_through(graph, "a") == ["a", "b", "c", "a"]  # type: ignore[arg-type]
    assert _cycle_through({"a": {"b": ["x"]}}, "a") is None  # type: ignore[arg-type]


# Network clients the core must not hold, and the environment it must not read: both belong
# to the caller (the embedding client is injected through `core.embeddings.use_embedders`).
NETWORK_MODULES = {"urllib.request", "http.client", "socket", "requests", "httpx", "aiohttp"}
ENVIRONMENT = {("os", "environ"), ("os", "getenv"), ("os", "putenv")}


def test_the_core_opens_no_connections_and_reads_no_environment() -> None:
    found = []
    for path in sorted((PACKAGE / "core").rglob("*.py")):
        relative = path.relative_to(PACKAGE)
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            modules: list[str] = []
            if isinstance(node, ast.Import):
                modules = [alias.name for alias in node.names]
            elif isinstance(node, ast.ImportFrom) and node.module:
                modules = [node.module]
            found += [f"{relative}:{node.lineno} imports {m}" for m in modules
                      if m in NETWORK_MODULES]
            if (isinstance(node, ast.Attribute) and isinstance(node.value, ast.Name)
                    and (node.value.id, node.attr) in ENVIRONMENT):
                found.append(f"{relative}:{node.lineno} reads os.{node.attr}")
    assert not found, "\n".join(found)
