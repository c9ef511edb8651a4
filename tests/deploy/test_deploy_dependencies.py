"""pyproject.toml declares every library the code imports, and nothing it does not use.

Every ``import`` in autoscaler/, tests/ and loadtest/ is read from the syntax tree and
mapped to the distribution that provides it (through this venv's installed metadata):
the service's imports must be runtime dependencies (matplotlib, behind the ``simulate``
extra, only where a chart is drawn); the tests' and benchmarks' may also be extras. Each
declared dependency must in turn be imported, or be a tool with a named use.
"""

from __future__ import annotations

import ast
import re
import sys
import tomllib
from collections.abc import Iterator
from functools import cache
from importlib.metadata import packages_distributions
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
PROJECT = tomllib.loads((REPO / "pyproject.toml").read_text())["project"]

# Optional libraries and the only modules that may import them.
OPTIONAL_IMPORTS = {"matplotlib": ("simulate", {"autoscaler/simulate/chart.py"})}
# Declared, not imported, and why: the file that uses each says so.
USED_WITHOUT_IMPORT = {
    "pytest-xdist": ("Makefile", "--dist loadfile"),  # pytest -n: the e2e tests mostly wait
    "ruff": ("Makefile", "ruff check"),
    "mypy": ("Makefile", "mypy"),
    "import-linter": ("Makefile", "lint-imports"),
    "types-pyyaml": ("pyproject.toml", "types-PyYAML"),  # mypy's stubs for yaml
    "setuptools": ("tests/deploy/test_deploy_wheel.py", "from setuptools import build_meta"),
}


def _name(requirement: str) -> str:
    """The normalized distribution name of a requirement (PEP 503)."""
    match = re.match(r"[A-Za-z0-9._-]+", requirement)
    assert match, requirement
    return re.sub(r"[-_.]+", "-", match.group(0)).lower()


RUNTIME = {_name(r) for r in PROJECT["dependencies"]}
EXTRAS = {
    extra: {_name(r) for r in requirements}
    for extra, requirements in PROJECT["optional-dependencies"].items()
}
DECLARED = RUNTIME.union(*EXTRAS.values())


def _sources(*folders: str) -> Iterator[Path]:
    for folder in folders:
        yield from sorted((REPO / folder).rglob("*.py"))


def _local_names() -> set[str]:
    """Modules the tests and benchmarks import from their own folders."""
    names = {"autoscaler"}
    for folder in ("tests", "loadtest"):
        for path in (REPO / folder).rglob("*"):
            if path.suffix == ".py" or path.is_dir():
                names.add(path.stem)
    return names


def _imports(path: Path) -> set[str]:
    """Top-level names of the absolute imports in ``path``."""
    names = set()
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.Import):
            names |= {alias.name.split(".")[0] for alias in node.names}
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            names.add(node.module.split(".")[0])
    return names


@cache
def _providers() -> dict[str, list[str]]:  # reads every installed distribution's files
    return dict(packages_distributions())


def _third_party(path: Path, local: set[str]) -> dict[str, str]:
    """Each third-party import of ``path`` -> its distribution (normalized)."""
    providers = _providers()
    found = {}
    for name in _imports(path) - local - set(sys.stdlib_module_names) - {"__future__"}:
        assert name in providers, f"{path.relative_to(REPO)}: nothing installed provides {name}"
        found[name] = _name(providers[name][0])
    return found


def test_the_service_imports_only_runtime_dependencies() -> None:
    local = _local_names()
    for path in _sources("autoscaler"):
        where = str(path.relative_to(REPO))
        for module, distribution in _third_party(path, local).items():
            if module in OPTIONAL_IMPORTS:
                extra, allowed = OPTIONAL_IMPORTS[module]
                assert where in allowed, f"{where} imports the optional {module}"
                assert distribution in EXTRAS[extra], f"{module} is not in .[{extra}]"
            else:
                assert distribution in RUNTIME, f"{where}: {module} ({distribution}) undeclared"


def test_the_tests_and_benchmarks_import_only_declared_libraries() -> None:
    local = _local_names()
    for path in _sources("tests", "loadtest"):
        for module, distribution in _third_party(path, local).items():
            assert distribution in DECLARED, (
                f"{path.relative_to(REPO)}: {module} ({distribution}) is not declared"
            )


def test_every_declared_dependency_is_used() -> None:
    local = _local_names()
    imported = {
        distribution
        for path in _sources("autoscaler", "tests", "loadtest")
        for distribution in _third_party(path, local).values()
    }
    for distribution in sorted(DECLARED - imported):
        assert distribution in USED_WITHOUT_IMPORT, f"{distribution} is declared and unused"
        file, evidence = USED_WITHOUT_IMPORT[distribution]
        assert evidence in (REPO / file).read_text(), f"{distribution}: {file} lost its use"


def test_plotting_and_dev_tools_stay_out_of_the_runtime_dependencies() -> None:
    assert "scipy" in RUNTIME
    assert "matplotlib" in EXTRAS["simulate"] and "matplotlib" not in RUNTIME
    assert not RUNTIME & EXTRAS["dev"]


def _installed_extras(target: str) -> set[str]:
    """The extras the Makefile rule for ``target`` installs (``pip install -e '.[a,b]'``)."""
    rule = (REPO / "Makefile").read_text().split(f"\n{target}:", 1)[1].split("\n\n", 1)[0]
    [extras] = re.findall(r"pip install [^\n]*'\.\[([a-z,]+)\]'", rule)
    return set(extras.split(","))


def test_make_demo_installs_no_dev_tool_and_make_test_installs_every_extra() -> None:
    assert _installed_extras("$(VENV)/.demo") == {"simulate"}
    assert _installed_extras("$(VENV)/.installed") == set(EXTRAS)
    makefile = (REPO / "Makefile").read_text()
    assert "\ndemo: $(VENV)/.demo\n" in makefile and "\ntest: venv tools\n" in makefile
