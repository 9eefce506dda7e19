"""The package's layout as the developers' guide asks for it: no module over 450 lines, no
two modules importing each other in a loop, and imports that flow one way
(cli -> commands -> tunnel -> remoteit / relay)."""

from __future__ import annotations

import ast
from pathlib import Path

import rittunnel

PACKAGE = Path(rittunnel.__file__).parent
MAX_LINES = 450
#: the layers, outermost first: a module may import its own layer or one further down
LAYERS = ("cli", "commands", "tunnel", "remoteit", "relay")


def module_name(path: Path) -> str:
    parts = path.relative_to(PACKAGE.parent).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def imports_of(path: Path, modules: set[str]) -> set[str]:
    """The package's modules that ``path`` imports anywhere (TYPE_CHECKING and function-level
    imports included), each named by the longest module that exists. A package's own
    ``__init__`` is left out: a child importing its parent package is no loop of jobs."""
    name = module_name(path)
    package = name if path.name == "__init__.py" else name.rpartition(".")[0]
    found: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            base = package
            for _ in range(node.level - 1):
                base = base.rpartition(".")[0]
            source = node.module or ""
            if node.level:
                source = f"{base}.{source}" if source else base
            found.add(source)
            found.update(f"{source}.{alias.name}" for alias in node.names)
    result: set[str] = set()
    for target in found:
        while target and target not in modules:
            target = target.rpartition(".")[0]
        if target and target != name and not name.startswith(target + "."):
            result.add(target)
    return result


def import_graph() -> dict[str, set[str]]:
    paths = {module_name(p): p for p in PACKAGE.rglob("*.py")}
    return {name: imports_of(path, set(paths)) for name, path in paths.items()}


def cycle_in(graph: dict[str, set[str]]) -> list[str] | None:
    """One import loop of ``graph`` as the modules along it, or None."""
    done: set[str] = set()

    def visit(name: str, trail: list[str]) -> list[str] | None:
        if name in trail:
            return [*trail[trail.index(name) :], name]
        if name in done:
            return None
        for target in sorted(graph.get(name, ())):
            if found := visit(target, [*trail, name]):
                return found
        done.add(name)
        return None

    for name in sorted(graph):
        if found := visit(name, []):
            return found
    return None


def layer(module: str) -> int | None:
    parts = module.split(".")
    return LAYERS.index(parts[1]) if len(parts) > 1 and parts[1] in LAYERS else None


def test_no_module_is_over_450_lines() -> None:
    long = {
        str(p.relative_to(PACKAGE)): n
        for p in PACKAGE.rglob("*.py")
        if (n := len(p.read_text().splitlines())) > MAX_LINES
    }
    assert long == {}


def test_no_modules_import_each_other_in_a_loop() -> None:
    assert cycle_in(import_graph()) is None


def test_the_cycle_check_finds_a_loop() -> None:
    graph = {"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}
    assert cycle_in(graph) == ["a", "b", "c", "a"]
    assert cycle_in({"a": {"b"}, "b": set()}) is None


def test_imports_flow_one_way() -> None:
    upward = sorted(
        f"{name} -> {target}"
        for name, targets in import_graph().items()
        for target in targets
        if (low := layer(name)) is not None and (high := layer(target)) is not None and high < low
    )
    assert upward == []


def test_the_graph_sees_relative_and_lazy_imports() -> None:
    graph = import_graph()
    # registry imports each command's module inside its handler, relatively
    assert {"rittunnel.commands.up", "rittunnel.commands.stdio"} <= graph[
        "rittunnel.commands.registry"
    ]
    assert "rittunnel.commands.registry" in graph["rittunnel.cli"]
