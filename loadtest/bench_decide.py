"""Decisions per second through `autoscaler decide`, one process, one core.

Generates N varied snapshots (every metric kind, ready/unready/pending/missing pods,
legacy and behavior policies, histories as the live loop carries them), writes them as
one JSON list, then times:

- end to end: the `autoscaler decide FILE` process (start-up, parse, decide, print),
  on these snapshots and on the HPA's own unit-test situations (tests/core/cases,
  smaller: 2.6 pods and hardly any history on average);
- in process: parse + decide + serialize as the command does, and decide alone.

Best of a few rounds each. Run: `.venv/bin/python loadtest/bench_decide.py [--count 10000]`.
Goal (issue #2): >= 20,000 decisions/s on one core.
"""

from __future__ import annotations

import argparse
import compileall
import gc
import json
import os
import platform
import random
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

NOW = 1_700_000_000


def _pod(rng: random.Random, i: int) -> dict[str, Any]:
    phase = rng.choices(["Running", "Pending", "Failed"], weights=[90, 7, 3])[0]
    return {
        "name": f"pod-{i}",
        "phase": phase,
        "ready": rng.choices([True, False, None], weights=[85, 10, 5])[0],
        "startTime": NOW - rng.randint(10, 7200),
        "readySince": NOW - rng.randint(0, 600),
        "deleting": rng.random() < 0.02,
        "containers": [
            {
                "name": "app",
                "requests": {"cpu": rng.choice(["250m", "500m", "1"]), "memory": "256Mi"},
            }
        ],
    }


def _metric(rng: random.Random, kind: str) -> dict[str, Any]:
    if kind == "cpu":
        return {
            "type": "Resource",
            "resource": {
                "name": "cpu",
                "target": {
                    "type": "Utilization",
                    "averageUtilization": rng.choice([50, 60, 70, 80]),
                },
            },
        }
    if kind == "memory":
        return {
            "type": "Resource",
            "resource": {
                "name": "memory",
                "target": {"type": "AverageValue", "averageValue": "200Mi"},
            },
        }
    if kind == "pods":
        return {
            "type": "Pods",
            "pods": {
                "metric": {"name": "rps"},
                "target": {"type": "AverageValue", "averageValue": "100"},
            },
        }
    return {
        "type": "External",
        "external": {
            "metric": {"name": "queue"},
            "target": {
                "type": rng.choice(["Value", "AverageValue"]),
                "value": "50",
                "averageValue": "20",
            },
        },
    }


def _metric_data(
    rng: random.Random, kinds: list[str], pods: list[dict[str, Any]], resource: dict[str, Any]
) -> dict[str, Any]:
    """What the live loop would have read: only the metrics the policy declares."""
    data: dict[str, Any] = {}
    if "cpu" in kinds or "memory" in kinds:
        data["resource"] = resource
    if "pods" in kinds:
        data["pods"] = {"rps": {p["name"]: str(rng.randint(0, 300)) for p in pods}}
    if "external" in kinds:
        data["external"] = {"queue": [str(rng.randint(0, 2000)) for _ in range(rng.randint(1, 3))]}
    return data


def make_snapshot(rng: random.Random) -> dict[str, Any]:
    current = rng.randint(1, 10)
    pods = [_pod(rng, i) for i in range(current)]
    kinds = rng.sample(["cpu", "memory", "pods", "external"], rng.randint(1, 3))
    resource = {
        p["name"]: {
            "timestamp": NOW - rng.randint(0, 60),
            "window": 30,
            "containers": {
                "app": {"cpu": f"{rng.randint(0, 1500)}m", "memory": f"{rng.randint(50, 400)}Mi"}
            },
        }
        for p in pods
        if rng.random() < 0.95
    }
    policy: dict[str, Any] = {
        "minReplicas": rng.randint(1, 3),
        "maxReplicas": rng.randint(20, 50),
        "metrics": [_metric(rng, k) for k in kinds],
    }
    if rng.random() < 0.5:
        policy["behavior"] = {
            "scaleUp": {
                "stabilizationWindowSeconds": rng.choice([0, 60]),
                "policies": [
                    {"type": "Pods", "value": 4, "periodSeconds": 60},
                    {"type": "Percent", "value": 100, "periodSeconds": 60},
                ],
            },
            "scaleDown": {"policies": [{"type": "Percent", "value": 10, "periodSeconds": 60}]},
        }
    return {
        "now": NOW,
        "policy": policy,
        "currentReplicas": current,
        "pods": pods,
        "metrics": _metric_data(rng, kinds, pods, resource),
        "history": {
            "recommendations": [
                {"time": NOW - rng.randint(0, 600), "replicas": rng.randint(1, 30)}
                for _ in range(rng.randint(0, 20))
            ],
            "scaleUpEvents": [
                {"time": NOW - rng.randint(0, 120), "change": rng.randint(1, 4)}
                for _ in range(rng.randint(0, 3))
            ],
        },
    }


def _rate(count: int, seconds: float) -> str:
    return f"{count / seconds:>10,.0f} decisions/s  ({seconds * 1000:,.0f} ms for {count:,})"


def _golden_snapshots(count: int) -> list[Any]:
    """The HPA's own unit-test situations (tests/core/cases), repeated up to ``count``."""
    import yaml

    cases = Path(__file__).resolve().parent.parent / "tests" / "core" / "cases"
    docs = [
        c["snapshot"] for f in sorted(cases.glob("*.yaml")) for c in yaml.safe_load(f.read_text())
    ]
    return (docs * (count // len(docs) + 1))[:count]


def _time_process(docs: list[Any], rounds: int) -> tuple[float, list[Any]]:
    """Best wall time of `autoscaler decide FILE` over ``rounds``, and its results."""
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "snapshots.json"
        path.write_text(json.dumps(docs, default=str))
        exe = Path(sys.executable).parent / "autoscaler"
        # Pin to one core so the figure is "on one core" even on a multi-core machine.
        pin = ["taskset", "-c", "0"] if sys.platform == "linux" else []
        times = []
        for _ in range(rounds):
            start = time.perf_counter()
            done = subprocess.run(
                [*pin, str(exe), "decide", str(path)], capture_output=True, check=False
            )
            times.append(time.perf_counter() - start)
            if done.returncode != 0:
                raise SystemExit(f"autoscaler decide failed: {done.stderr.decode()[:300]}")
    results = json.loads(done.stdout)
    assert len(results) == len(docs)
    return min(times), results


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--count", type=int, default=10_000)
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--rounds", type=int, default=3)
    args = parser.parse_args()

    import msgspec

    from autoscaler.core import decide
    from autoscaler.documents import decision_to_document
    from autoscaler.documents.fast import FastDocuments

    # Bytecode as an installed package has it (pip compiles what it installs; an
    # editable install under PYTHONDONTWRITEBYTECODE would recompile at every start).
    compileall.compile_dir(Path(__file__).resolve().parent.parent / "autoscaler", quiet=1)
    rng = random.Random(args.seed)
    docs = [make_snapshot(rng) for _ in range(args.count)]
    end_to_end, results = _time_process(docs, args.rounds)
    golden, _ = _time_process(_golden_snapshots(args.count), args.rounds)

    data = json.dumps(docs).encode()
    full, core_only = [], []
    gc.disable()  # as `autoscaler decide` does: the batch holds no reference cycles
    for _ in range(args.rounds):
        start = time.perf_counter()
        parsed = FastDocuments().snapshots(data, now=NOW)
        assert parsed is not None, "the fast path refused the benchmark's snapshots"
        snapshots = parsed[0]
        decisions = [decide(s) for s in snapshots]
        encode = msgspec.json.Encoder().encode
        b",\n".join([encode(decision_to_document(d)) for d in decisions])
        full.append(time.perf_counter() - start)
        start = time.perf_counter()
        for s in snapshots:
            decide(s)
        core_only.append(time.perf_counter() - start)

    errors = sum(1 for r in results if r["error"])
    scaled = sum(
        1
        for d, r in zip(docs, results, strict=True)
        if r["desiredReplicas"] != d["currentReplicas"]
    )
    print(
        f"machine: {platform.machine()}, {os.cpu_count()} cores, Python {platform.python_version()}"
    )
    pods = sum(len(d["pods"]) for d in docs) / len(docs)
    metrics = sum(len(d["policy"]["metrics"]) for d in docs) / len(docs)
    history = sum(len(d["history"]["recommendations"]) for d in docs) / len(docs)
    print(
        f"snapshots: {args.count:,} (seed {args.seed}), {pods:.1f} pods, {metrics:.1f} metrics "
        f"and {history:.1f} past recommendations on average; {scaled:,} would scale, "
        f"{errors:,} carry an error"
    )
    print(f"autoscaler decide FILE (process, 1 core):  {_rate(args.count, end_to_end)}")
    print(f"  the same on the HPA's own test cases:     {_rate(args.count, golden)}")
    print(f"parse + decide + serialize (in process):   {_rate(args.count, min(full))}")
    print(f"decide only (in process):                  {_rate(args.count, min(core_only))}")


if __name__ == "__main__":
    main()
