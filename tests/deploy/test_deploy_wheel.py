"""The wheel the Dockerfile installs: the service and its runtime dependencies only.

No container engine runs on this machine, so the image's contents are checked where they
come from: the wheel that ``pip install .`` builds from the Dockerfile's build context
(its COPY sources, less .dockerignore), built here offline with the dev venv's setuptools.
"""

from __future__ import annotations

import shutil
import subprocess
import sys
import sysconfig
import zipfile
from collections.abc import Iterator
from email.parser import Parser
from pathlib import Path

import pytest
from deploy.test_deploy_image import ignored, instructions

REPO = Path(__file__).resolve().parents[2]
# autoscaler/sim/'s cluster player (`sim run`); the rest of it is the simulator's model.
PLAYER = (
    *("admin", "api", "cli", "kubelet", "manifests"),
    *("publisher", "rollouts", "runner", "traffic"),
)
DEV_TOOLS = ("pytest", "hypothesis", "mypy", "ruff", "import-linter", "schemathesis")


def _copy_context(target: Path) -> None:
    sources = [
        source
        for word, args in instructions()
        if word == "COPY" and not args.startswith("--from")
        for source in args.split()[:-1]
    ]
    for source in sources:
        for path in [REPO / source, *(REPO / source).rglob("*")]:
            relative = path.relative_to(REPO)
            if path.is_file() and not ignored(str(relative)):
                (target / relative).parent.mkdir(parents=True, exist_ok=True)
                shutil.copyfile(path, target / relative)


@pytest.fixture(scope="module")
def wheel(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    context = tmp_path_factory.mktemp("context")
    _copy_context(context)
    out = tmp_path_factory.mktemp("wheel")
    build = "import sys; from setuptools import build_meta; build_meta.build_wheel(sys.argv[1])"
    subprocess.run(
        [sys.executable, "-c", build, str(out)],
        cwd=context,
        capture_output=True,
        check=True,
        timeout=120,
    )
    [built] = out.glob("podscale-*.whl")
    yield built


@pytest.fixture(scope="module")
def unpacked(wheel: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    folder = tmp_path_factory.mktemp("site")
    with zipfile.ZipFile(wheel) as archive:
        archive.extractall(folder)
    return folder


def _names(wheel: Path) -> set[str]:
    with zipfile.ZipFile(wheel) as archive:
        return set(archive.namelist())


def _requirements(wheel: Path) -> list[str]:
    with zipfile.ZipFile(wheel) as archive:
        [metadata] = [n for n in archive.namelist() if n.endswith(".dist-info/METADATA")]
        message = Parser().parsestr(archive.read(metadata).decode())
    return message.get_all("Requires-Dist") or []


def test_the_wheel_holds_the_service_and_the_offline_simulator(wheel: Path) -> None:
    names = _names(wheel)
    for module in (
        "cli.py", "run_command.py", "decide_command.py", "crd.py", "policy/validate.py",
        "hpa_command.py", "policy/convert.py", "policy/v1.py",
        "adapter/command.py", "loop/controller.py", "simulate/command.py",
        "simulate/chart.py", "sim/podmodel.py", "sim/scenario.py", "py.typed",
        "examples/example-snapshot.yaml", "examples/simulate-scenario.yaml",
    ):  # fmt: skip
        assert f"autoscaler/{module}" in names, module


def test_the_wheel_leaves_the_cluster_player_and_the_fault_proxy_out(wheel: Path) -> None:
    names = _names(wheel)
    assert not [n for n in names if n.startswith("autoscaler/faults/")]
    for module in PLAYER:
        assert f"autoscaler/sim/{module}.py" not in names, module
        assert (REPO / "autoscaler" / "sim" / f"{module}.py").exists(), module


def test_the_wheel_requires_no_plotting_and_no_dev_tool(wheel: Path) -> None:
    plain = [r.split(";")[0] for r in _requirements(wheel) if ";" not in r]
    names = {r.split(">")[0].split("=")[0].split("<")[0].strip().lower() for r in plain}
    assert "scipy" in names and "kubernetes" in names
    for library in ("matplotlib", *DEV_TOOLS):
        assert library not in names, library
    assert 'matplotlib>=3.8; extra == "simulate"' in _requirements(wheel)


def _run_installed(unpacked: Path, code: str) -> subprocess.CompletedProcess[str]:
    """Python as if the wheel were installed: the unpacked wheel, then this venv's
    libraries, and not its editable podscale (``-S`` skips the .pth that maps
    ``autoscaler`` to the source tree). ``sys.argv[1]`` is the wheel's folder."""
    libraries = {sysconfig.get_paths()[k] for k in ("purelib", "platlib")}
    path = f"import sys; sys.path[:0] = [sys.argv[1]]; sys.path += {sorted(libraries)!r}\n"
    return subprocess.run(
        [sys.executable, "-S", "-c", path + code, str(unpacked)],
        cwd=unpacked,
        capture_output=True,
        text=True,
        timeout=120,
    )


def test_every_module_of_the_wheel_imports_from_the_wheel_alone(unpacked: Path) -> None:
    code = """
import importlib, pkgutil, sys
import autoscaler
assert autoscaler.__file__.startswith(sys.argv[1]), autoscaler.__file__
names = [
    m.name for m in pkgutil.walk_packages(autoscaler.__path__, "autoscaler.")
    if not m.name.endswith(".__main__")  # runs the command line
]
for name in names:
    importlib.import_module(name)
for absent in ("autoscaler.faults", "autoscaler.sim.runner"):
    try:
        importlib.import_module(absent)
    except ModuleNotFoundError:
        continue
    raise SystemExit(absent + " is in the wheel")
print(len(names))
"""
    result = _run_installed(unpacked, code)
    assert result.returncode == 0, result.stderr
    assert int(result.stdout) > 50


@pytest.mark.parametrize(
    ("words", "tool"),
    [(["sim", "run", "--kubeconfig", "kubeconfig"], "sim"), (["faults", "--help"], "faults")],
)
def test_absent_test_tooling_says_where_it_is_in_one_line(
    unpacked: Path, words: list[str], tool: str
) -> None:
    code = f"from autoscaler.cli import main; raise SystemExit(main({words!r}))"
    result = _run_installed(unpacked, code)
    assert result.returncode == 2, result.stderr
    assert result.stdout == ""
    [line] = result.stderr.splitlines()
    assert line.startswith(f"autoscaler {tool}: ") and "source checkout" in line, line
    assert "make venv" in line
