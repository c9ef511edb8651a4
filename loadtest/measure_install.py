"""Install footprint: ``make demo`` from a fresh clone, and a plain ``pip install .``.

    .venv/bin/python loadtest/measure_install.py [--ref REF ...] [--cold]

For each REF (default: this checkout's HEAD; commits only, not uncommitted edits), in a
temporary folder: clone the repository, run ``make demo`` and time it (wall clock, and
the CPU seconds of everything it ran), then measure the demo venv and look for dev
tools in it; then make a fresh venv with ``pip install CLONE`` (not editable, no extras:
the wheel the image holds) and measure that, looking for matplotlib, mypy, pytest and
the test tooling. Sizes are disk usage in MiB, as ``du -sm`` reports them. ``--cold``
turns pip's download cache off (a machine that never installed these packages).

It needs the package index, as ``make demo`` does, so it is not a ``bench_*.py`` and
``make loadtest`` does not run it. Every step is bounded by ``--timeout``.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import resource
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[1]
DEV_TOOLS = ("pytest", "mypy", "ruff", "hypothesis", "import-linter", "schemathesis")
NOT_IN_THE_PRODUCT = ("matplotlib", *DEV_TOOLS)


def _mib(folder: Path) -> float:
    """Disk usage of ``folder`` (allocated blocks, like ``du``), in MiB."""
    blocks = 0
    for root, _, files in os.walk(folder):
        for name in files:
            blocks += os.lstat(os.path.join(root, name)).st_blocks
    return blocks * 512 / 2**20


def _run(command: list[str], cwd: Path, timeout: float, env: dict[str, str]) -> dict[str, Any]:
    """Run ``command``; its wall-clock and CPU (user + system, all descendants) seconds."""
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    started = time.monotonic()
    subprocess.run(
        command, cwd=cwd, env=env, check=True, timeout=timeout, stdout=subprocess.DEVNULL
    )
    wall = time.monotonic() - started
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    return {"wall_s": round(wall, 1), "cpu_s": round(cpu, 1)}


def _installed(venv: Path) -> set[str]:
    listing = subprocess.run(
        [str(venv / "bin" / "pip"), "list", "--format=json"],
        capture_output=True,
        text=True,
        check=True,
        timeout=120,
    )
    return {entry["name"].lower() for entry in json.loads(listing.stdout)}


def measure(ref: str, work: Path, timeout: float, env: dict[str, str]) -> dict[str, Any]:
    clone = work / "clone"
    subprocess.run(["git", "clone", "-q", str(REPO), str(clone)], check=True, timeout=timeout)
    subprocess.run(["git", "checkout", "-q", "--detach", ref], cwd=clone, check=True)
    demo = _run(["make", "demo"], clone, timeout, env)
    demo_venv = clone / ".venv"
    demo |= {
        "venv_mib": round(_mib(demo_venv)),
        "dev_tools": sorted(set(DEV_TOOLS) & _installed(demo_venv)),
    }
    plain_venv = work / "plain"
    subprocess.run([sys.executable, "-m", "venv", str(plain_venv)], check=True, timeout=timeout)
    plain = _run([str(plain_venv / "bin" / "pip"), "install", "-q", str(clone)], work, timeout, env)
    [site] = plain_venv.glob("lib/python*/site-packages")
    plain |= {
        "venv_mib": round(_mib(plain_venv)),
        "unwanted": sorted(set(NOT_IN_THE_PRODUCT) & _installed(plain_venv)),
        "test_tooling": sorted(
            str(p.relative_to(site))
            for p in (site / "autoscaler/faults", site / "autoscaler/sim/runner.py")
            if p.exists()
        ),
    }
    commit = subprocess.run(
        ["git", "rev-parse", "--short", "HEAD"], cwd=clone, capture_output=True, text=True
    ).stdout.strip()
    return {"ref": ref, "commit": commit, "make_demo": demo, "pip_install": plain}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--ref", action="append", help="commit or branch (repeatable)")
    parser.add_argument("--cold", action="store_true", help="without pip's download cache")
    parser.add_argument("--timeout", type=float, default=900.0, help="per step, seconds")
    args = parser.parse_args()
    env = dict(os.environ)
    if args.cold:
        env["PIP_NO_CACHE_DIR"] = "1"
    refs = args.ref or [
        subprocess.run(
            ["git", "rev-parse", "HEAD"], cwd=REPO, capture_output=True, text=True, check=True
        ).stdout.strip()
    ]
    print(
        f"machine: {os.cpu_count()} cores, Python {platform.python_version()}, "
        f"load {' '.join(f'{x:.1f}' for x in os.getloadavg())}, pip cache "
        f"{'off' if args.cold else 'on'}"
    )
    results = []
    for ref in refs:
        work = Path(tempfile.mkdtemp(prefix="podscale-install-"))
        try:
            result = measure(ref, work, args.timeout, env)
        finally:
            shutil.rmtree(work, ignore_errors=True)
        demo, plain = result["make_demo"], result["pip_install"]
        tools = ", ".join(demo["dev_tools"]) or "none"
        print(
            f"{result['commit']}: make demo {demo['wall_s']:.0f} s wall, {demo['cpu_s']:.0f} "
            f"CPU-s, venv {demo['venv_mib']} MiB, dev tools: {tools}"
        )
        print(
            f"{result['commit']}: pip install . {plain['wall_s']:.0f} s wall, venv "
            f"{plain['venv_mib']} MiB, of {'/'.join(NOT_IN_THE_PRODUCT)}: "
            f"{', '.join(plain['unwanted']) or 'none'}; test tooling: "
            f"{', '.join(plain['test_tooling']) or 'none'}"
        )
        results.append(result)
    print(json.dumps({"bench": "install", "cold": args.cold, "results": results}))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
