"""The decision core stays pure: standard library only, and nothing that reads the world."""

import ast
from pathlib import Path

import autoscaler.core

CORE = Path(autoscaler.core.__file__).parent
FORBIDDEN = {
    "time",
    "datetime",
    "asyncio",
    "logging",
    "os",
    "socket",
    "random",
    "subprocess",
    "threading",
}
ALLOWED_ROOTS = {
    "__future__",
    "autoscaler",
    "collections",
    "dataclasses",
    "fractions",
    "functools",
    "math",
    "re",
    "typing",
}


def _imports(path: Path) -> set[str]:
    tree = ast.parse(path.read_text())
    names: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            names.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module:
            names.add(node.module)
    return names


def test_core_imports_nothing_that_does_io_or_reads_time() -> None:
    for path in sorted(CORE.glob("*.py")):
        roots = {name.split(".")[0] for name in _imports(path)}
        assert not roots & FORBIDDEN, f"{path.name} imports {roots & FORBIDDEN}"
        assert roots <= ALLOWED_ROOTS, f"{path.name} imports {roots - ALLOWED_ROOTS}"
        assert all(
            not name.startswith("autoscaler.") or name.startswith("autoscaler.core")
            for name in _imports(path)
        ), f"{path.name} imports outside the core"
