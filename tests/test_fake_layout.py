"""The fake's package layout: modules of one job, no module over 450 lines, no import
cycle, and ``import rittunnel.fake`` stays cheap (no trio)."""

from __future__ import annotations

import ast
import subprocess
import sys
from pathlib import Path

import rittunnel.fake

PACKAGE = Path(rittunnel.fake.__file__).parent
MAX_LINES = 450


def module_name(path: Path) -> str:
    parts = path.relative_to(PACKAGE.parent.parent).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def imports_of(path: Path, modules: set[str]) -> set[str]:
    """The package's modules ``path`` imports (anywhere in it, TYPE_CHECKING included)."""
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
    return {m for m in found if m in modules and m != name and m != "rittunnel.fake"}


def test_no_module_of_the_fake_is_over_450_lines() -> None:
    long = {
        str(p.relative_to(PACKAGE)): n
        for p in PACKAGE.rglob("*.py")
        if (n := len(p.read_text().splitlines())) > MAX_LINES
    }
    assert long == {}


def test_the_fake_has_no_import_cycle() -> None:
    paths = {module_name(p): p for p in PACKAGE.rglob("*.py")}
    graph = {name: imports_of(path, set(paths)) for name, path in paths.items()}
    assert graph["rittunnel.fake.server"] >= {"rittunnel.fake.rest", "rittunnel.fake.gql"}
    done: set[str] = set()

    def visit(name: str, trail: tuple[str, ...]) -> None:
        assert name not in trail, "import cycle: " + " -> ".join((*trail, name))
        if name in done:
            return
        for target in graph[name]:
            visit(target, (*trail, name))
        done.add(name)

    for name in graph:
        visit(name, ())


def test_importing_the_package_does_not_load_trio() -> None:
    code = (
        "import sys, rittunnel.fake as f; f.__all__; "
        "sys.exit('trio' in sys.modules or 'rittunnel.fake.server' in sys.modules)"
    )
    assert subprocess.run([sys.executable, "-c", code], check=False).returncode == 0


def test_public_names_are_unchanged() -> None:
    assert sorted(rittunnel.fake.__all__) == [
        "ACCESS_KEY_ID",
        "ACCESS_SECRET",
        "DEVELOPER_KEY",
        "FakeRemoteIt",
        "FakeService",
        "Knobs",
        "PASSWORD",
        "USERNAME",
        "client_env",
        "graphql_url_for",
    ]
    for name in rittunnel.fake.__all__:
        assert getattr(rittunnel.fake, name) is not None
