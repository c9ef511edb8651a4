"""Peak memory and time of `autoscaler decide` on large input (issue #11, defect 5).

Writes the inputs to a temporary folder, then runs `autoscaler decide FILE` once per case,
each as its own process, and prints its wall time and peak resident memory (the kernel's
high-water mark for that process, as GNU `/usr/bin/time -f %M` reports it), also as
megabytes above the baseline (a one-pod snapshot) per megabyte of input. Cases:

- a JSON list of 95 MB (the varied snapshots of bench_decide.py), with the limit raised
  to 128Mi so that it is decided, and with the default limit, so that it is refused;
- a YAML list of 20 MB (block style, as kubectl writes it);
- one JSON snapshot with 100,000 pods (26 MB, near the default limit of 32 MiB), through
  the fast path and, written so the fast path refuses it (`currentReplicas: 10.0`),
  through the full parser;
- one YAML snapshot of 18 MB (60,000 pods);
- the worst cases: snapshots of pods that have only a name, the most values per byte:
  in YAML 1.45 million pods (31 MB, under the 5 million values a document may
  hold), in JSON 1.5 million (31 MB, through the full parser).

Goal: each decided within 1 GiB of peak memory, or refused in one line.
Run: `.venv/bin/python loadtest/bench_decide_memory.py [--quick]` (--quick: inputs a tenth
the size, to try it). Every case is bounded by --timeout seconds.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from bench_decide import NOW, make_snapshot  # loadtest/ is on the path: scripts run from it

GOAL_MIB = 1024
MB = 1_000_000


@dataclass(frozen=True, slots=True)
class Run:
    seconds: float
    peak_mib: float
    code: int
    stderr: str


def measure(command: list[str], timeout: float) -> Run:
    """Run ``command`` under GNU time: wall time, peak RSS, exit code, last stderr line.

    GNU time forks the command itself and reads its rusage: a process forked from this
    one would count this one's memory too (the kernel keeps the larger high-water mark
    across exec, and this script holds the generated inputs).
    """
    with tempfile.NamedTemporaryFile("r", suffix=".time") as report:
        started = time.perf_counter()
        try:
            done = subprocess.run(
                ["/usr/bin/time", "-f", "%M", "-o", report.name, *command],
                stdout=subprocess.DEVNULL,
                stderr=subprocess.PIPE,
                stdin=subprocess.DEVNULL,
                timeout=timeout,
                check=False,
            )
        except subprocess.TimeoutExpired:
            raise SystemExit(f"bench_decide_memory: {command} ran past {timeout:g} s") from None
        seconds = time.perf_counter() - started
        peak_kib = int(report.read().split()[-1])
    stderr = done.stderr.decode(errors="replace").strip().splitlines()
    return Run(seconds, peak_kib / 1024, done.returncode, stderr[-1] if stderr else "")


def _yaml_scalar(value: Any) -> str:
    if isinstance(value, str):
        return json.dumps(value)  # a double-quoted YAML string: "1" stays a string
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "true" if value else "false"
    return repr(value)


def _yaml_lines(value: Any, indent: str) -> Iterator[str]:
    """Block-style YAML, as kubectl writes it (lists of mappings as ``- key: value``)."""
    if isinstance(value, dict):
        if not value:
            yield f"{indent}{{}}"
        for key, item in value.items():
            if isinstance(item, dict | list) and item:
                yield f"{indent}{key}:"
                yield from _yaml_lines(item, indent + "  ")
            elif isinstance(item, dict | list):
                yield f"{indent}{key}: {'{}' if isinstance(item, dict) else '[]'}"
            else:
                yield f"{indent}{key}: {_yaml_scalar(item)}"
        return
    for item in value:
        if not isinstance(item, dict | list) or not item:
            yield f"{indent}- {_yaml_scalar(item) if not isinstance(item, dict | list) else item}"
            continue
        lines = list(_yaml_lines(item, indent + "  "))
        yield f"{indent}- {lines[0].lstrip()}"
        yield from lines[1:]


def yaml_text(value: Any) -> str:
    return "\n".join(_yaml_lines(value, "")) + "\n"


def snapshot_list(size: int, rng: random.Random, encode: Any) -> list[str]:
    """Snapshots encoded one by one until ``size`` bytes, as one list."""
    parts: list[str] = []
    total = 0
    while total < size:
        part = encode(make_snapshot(rng))
        parts.append(part)
        total += len(part) + 2
    return parts


def big_snapshot(pods: int, *, current: Any = 10) -> dict[str, Any]:
    """One snapshot with ``pods`` pods and their CPU usage."""
    names = [f"web-{i:07d}" for i in range(pods)]
    return {
        "now": NOW,
        "policy": {"minReplicas": 1, "maxReplicas": 1_000_000},
        "currentReplicas": current,
        "pods": [
            {
                "name": name,
                "phase": "Running",
                "ready": True,
                "startTime": NOW - 3600,
                "containers": [{"name": "app", "requests": {"cpu": "500m", "memory": "256Mi"}}],
            }
            for name in names
        ],
        "metrics": {
            "resource": {
                name: {
                    "timestamp": NOW - 10,
                    "window": 30,
                    "containers": {"app": {"cpu": f"{300 + i % 400}m"}},
                }
                for i, name in enumerate(names)
            }
        },
    }


def minimal_pods(pods: int, *, current: Any = 1) -> dict[str, Any]:
    """The most values per byte a snapshot can hold: pods that have only a name."""
    return {
        "policy": {"maxReplicas": 5},
        "currentReplicas": current,
        "pods": [{"name": f"p{i:07d}"} for i in range(pods)],
    }


def write_inputs(folder: Path, scale: float) -> list[tuple[str, Path, list[str]]]:
    """(case, file, extra flags) for every case."""
    rng = random.Random(11)
    files: dict[str, Any] = {
        "list.json": "[\n" + ",\n".join(snapshot_list(int(95 * MB * scale), rng, json.dumps)),
        "list.yaml": "".join(snapshot_list(int(20 * MB * scale), rng, lambda d: yaml_text([d]))),
        "one.json": json.dumps(big_snapshot(int(100_000 * scale))),
        "one-full-parser.json": json.dumps(big_snapshot(int(100_000 * scale), current=10.0)),
        "one.yaml": yaml_text(big_snapshot(int(60_000 * scale))),
        "minimal.yaml": yaml_text(minimal_pods(int(1_450_000 * scale))),
        "minimal-full-parser.json": json.dumps(minimal_pods(int(1_500_000 * scale), current=1.0)),
        "tiny.json": json.dumps(big_snapshot(1)),
    }
    files["list.json"] += "\n]\n"
    for name, text in files.items():
        (folder / name).write_text(text)
    limit = ["--max-input-bytes", str(int(128 * 1024 * 1024 * scale))]
    default = [] if scale == 1 else ["--max-input-bytes", str(int(32 * 1024 * 1024 * scale))]
    return [
        ("one small snapshot (baseline)", folder / "tiny.json", []),
        ("JSON list, limit raised", folder / "list.json", limit),
        ("JSON list, default limit", folder / "list.json", default),
        ("YAML list", folder / "list.yaml", default),
        ("JSON snapshot, fast path", folder / "one.json", default),
        ("JSON snapshot, full parser", folder / "one-full-parser.json", default),
        ("YAML snapshot", folder / "one.yaml", default),
        ("worst: YAML, name-only pods", folder / "minimal.yaml", default),
        ("worst: JSON, name-only pods", folder / "minimal-full-parser.json", default),
    ]


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="inputs a tenth the size")
    parser.add_argument("--timeout", type=float, default=240.0, metavar="SECONDS")
    args = parser.parse_args()
    scale = 0.1 if args.quick else 1.0
    exe = str(Path(sys.executable).parent / "autoscaler")
    print(
        f"machine: {os.cpu_count()} CPUs, Python {sys.version.split()[0]}; goal: decided "
        f"within {GOAL_MIB} MiB peak RSS, or refused in one line"
    )
    print(
        f"{'case':<30} {'input':>9} {'exit':>4} {'seconds':>8} {'peak RSS':>10} "
        f"{'above baseline / input':>23}  outcome"
    )
    met = True
    baseline = 0.0
    with tempfile.TemporaryDirectory(prefix="bench-decide-memory-") as tmp:
        for case, path, flags in write_inputs(Path(tmp), scale):
            run = measure([exe, "decide", str(path), *flags], args.timeout)
            size = path.stat().st_size
            refused = run.code == 2 and "\n" not in run.stderr and run.stderr != ""
            within = run.peak_mib <= GOAL_MIB
            ok = (run.code == 0 and within) or (refused and within)
            met = met and ok
            outcome = "decided" if run.code == 0 else f"refused: {run.stderr[:90]}"
            baseline = baseline or run.peak_mib
            factor = max(0.0, run.peak_mib - baseline) * 1024 * 1024 / size
            print(
                f"{case:<30} {size / MB:>6.1f} MB {run.code:>4} {run.seconds:>8.1f} "
                f"{run.peak_mib:>6.0f} MiB {factor:>22.1f}x  {outcome}"
            )
    print(f"goal (within {GOAL_MIB} MiB, or refused in one line): {'met' if met else 'NOT met'}")
    return 0 if met else 1


if __name__ == "__main__":
    sys.exit(main())
