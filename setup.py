"""Builds the podscale wheel, which is the product, without the test tooling beside it.

The wheel is what the Dockerfile installs and what ``pip install .`` gives: the service
(``run``, ``adapter``, ``decide``, ``validate``, ``crd``) and the offline simulator. The
live cluster player (``autoscaler sim run``) and the fault proxy (``autoscaler.faults``)
serve our tests only, so they stay in the source tree: an editable install
(``make venv``, ``pip install -e .``) imports them from there, a built wheel leaves them
out. pyproject.toml cannot leave out single modules of a package it ships (the cluster
player shares ``autoscaler/sim/`` with the simulator's model), hence this file.
Everything else about the build is declared in pyproject.toml.
"""

from __future__ import annotations

from setuptools import setup
from setuptools.command.build_py import build_py

# Modules that only the cluster player and the fault proxy import (``autoscaler.sim``'s
# model, which ``autoscaler simulate`` uses, stays in the wheel).
TEST_TOOLING = frozenset(
    {
        "autoscaler.faults",
        *(
            f"autoscaler.sim.{name}"
            for name in (
                "admin",
                "api",
                "cli",
                "kubelet",
                "manifests",
                "publisher",
                "resource_metrics",
                "rollouts",
                "runner",
                "traffic",
            )
        ),
    }
)


def is_test_tooling(module: str) -> bool:
    return any(module == tool or module.startswith(f"{tool}.") for tool in TEST_TOOLING)


class BuildPyWithoutTestTooling(build_py):
    """``build_py`` that drops the test tooling's modules and packages from the wheel."""

    def find_package_modules(self, package: str, package_dir: str) -> list[tuple[str, str, str]]:
        modules = super().find_package_modules(package, package_dir)
        return [m for m in modules if not is_test_tooling(f"{m[0]}.{m[1]}")]

    def find_data_files(self, package: str, src_dir: str) -> list[str]:
        return [] if is_test_tooling(package) else super().find_data_files(package, src_dir)


setup(cmdclass={"build_py": BuildPyWithoutTestTooling})
