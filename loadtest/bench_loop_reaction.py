"""Reaction time of the live loop: from a load step to the ``/scale`` patch, against the HPA.

One command, bounded (``--deadline``, 780 s by default), everything on loopback:

1. starts its own testbed (``scripts/testbed up``, HPA sync period 15 s);
2. creates three identical Deployments in one namespace: ``hpa-15`` under a native
   ``autoscaling/v2`` HPA (``v2beta2`` on 1.20), ``podscale-15`` under ``autoscaler run
   --sync-period 15`` and ``podscale-5`` under ``autoscaler run --sync-period 5``; all
   three have the same
   spec (CPU 50 %, min 1, max 10, scale-down stabilization 0 s so down steps measure the
   loop rather than the window);
3. ``autoscaler sim run`` plays kubelet, metrics-server and traffic (a fresh PodMetrics
   sample every 0.5 s: the metrics delay here is ~0.5 s, not metrics-server's 15-60 s);
4. steps the load of all three at the same instant through the simulator's admin API,
   alternating 40 rps (1 replica) and 180 rps (4 replicas), ``--steps`` times, each
   step after a random pause (seeded) so the steps fall at every phase of the syncs;
5. a watch on the Deployments timestamps every change of ``spec.replicas``: the
   reaction is that time minus the step's.

Prints the machine, a table (p50/p99/mean/max per controller; with 10 steps p99 is the
maximum) and a Markdown snippet for loadtest/RESULTS.md. Exits 1 with one line if it
cannot measure.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import random
import resource
import sys
import tempfile
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))
sys.path.insert(0, str(REPO / "tests"))  # testbed_fixture, shared with tests/e2e

import live_tooling  # noqa: E402
from live_tooling import AutoscalerRun, WaitTimedOut  # noqa: E402
from procstat import cpu_model, memory_gib  # noqa: E402
from testbed_fixture import (  # noqa: E402
    DIRECT,
    Sim,
    SimSilent,
    Testbed,
    TestbedError,
    running_testbed,
    start_sim,
)

from autoscaler.kube.api import Api, connect  # noqa: E402
from autoscaler.ports import LoopError  # noqa: E402
from autoscaler.sim.manifests import cpu_hpa_spec, deployment_manifest  # noqa: E402

NAMESPACE = "reaction"
LOW, HIGH = (40, 1), (180, 4)  # (rps, replicas): 1 pod at 40 % -> 1; at 180 % -> ceil(3.6)
POD = (
    "{scheduleDelay: 0.5, readyDelay: 1, terminationGrace: 2, cpuRequest: 100m, "
    "cpuLimit: 1000m, capacityRps: 900, cpuPerRequest: 1m, idleCpu: 0m}"
)


class BenchError(RuntimeError):
    """The benchmark cannot measure; the message is the one line printed."""


def machine() -> str:
    model, mem = cpu_model(), int(memory_gib() or 0)
    load = " ".join(f"{x:.2f}" for x in os.getloadavg())
    return (
        f"{os.cpu_count()} CPUs ({model}), {mem} GiB, Python {platform.python_version()}, "
        f"load average at start {load} (the machine may be shared with other work)"
    )


@contextmanager
def testbed(hpa_sync: str = "15s") -> Iterator[tuple[Testbed, Api]]:
    """Our own testbed in a temporary folder, stopped on the way out."""
    directory = Path(tempfile.mkdtemp(prefix="bench-testbed-"))
    with running_testbed(directory, hpa_sync=hpa_sync, metrics_api=DIRECT) as bed:
        yield bed, Api(connect(str(bed.kubeconfig)))


def create(api: Api, path: str, body: dict[str, Any]) -> None:
    api.call("POST", path, body=body)


def deployment(name: str, replicas: int = 1) -> dict[str, Any]:
    return deployment_manifest(name, replicas)


def scenario_sim(kubeconfig: Path, scenario: Path, log: Path, *, duration: float) -> Sim:
    """``autoscaler sim run`` with a scenario, once it has started."""
    try:
        return start_sim(
            kubeconfig,
            "--scenario", str(scenario), "--tick", "0.5", "--duration", f"{duration:.0f}",
            stderr=log, timeout=60,
        )  # fmt: skip
    except SimSilent:
        raise BenchError(f"the simulator did not start: {log.read_text()[-300:]}") from None


def start_podscale(kubeconfig: Path, policies: Path, log: Path, *extra: str) -> AutoscalerRun:
    """``autoscaler run`` without CRDs, on a free port, logging JSON (whose ``started``
    line gives :meth:`AutoscalerRun.listen_url`)."""
    return AutoscalerRun(
        kubeconfig, policies, log,
        "--no-crds", "--listen", "127.0.0.1:0", "--log-format", "json", *extra,
    )  # fmt: skip


def wait_for(predicate: Callable[[], Any], what: str, timeout: float) -> Any:
    """Poll every 0.5 s, riding out API errors of a loaded API server."""
    return live_tooling.wait_for(predicate, what, timeout, interval=0.5, transient=(LoopError,))


def http_json(method: str, url: str, body: Any = None) -> Any:
    import urllib.request

    data = None if body is None else json.dumps(body).encode()
    request = urllib.request.Request(url, data=data, method=method)
    with urllib.request.urlopen(request, timeout=10) as response:
        return json.loads(response.read())


class ReplicaWatch:
    """Watches the namespace's Deployments; keeps (wall time, spec.replicas) per change."""

    def __init__(self, api: Api, namespace: str) -> None:
        self.api = api
        self.path = f"/apis/apps/v1/namespaces/{namespace}/deployments"
        self.changes: dict[str, list[tuple[float, int]]] = {}
        self.stop = threading.Event()
        self.thread = threading.Thread(target=self._run, name="watch", daemon=True)
        self.thread.start()

    def _run(self) -> None:
        while not self.stop.is_set():
            try:
                listing = self.api.call("GET", self.path)
                for item in listing.get("items") or []:
                    self._seen(item)
                version = listing["metadata"]["resourceVersion"]
                stream = self.api.stream(
                    "GET",
                    self.path,
                    query=[("watch", "1"), ("resourceVersion", version), ("timeoutSeconds", "60")],
                    read_timeout=90,
                )
                buffer = b""
                try:
                    for chunk in stream.stream(64 * 1024, decode_content=True):
                        buffer += chunk
                        while b"\n" in buffer:
                            line, buffer = buffer.split(b"\n", 1)
                            event = json.loads(line) if line.strip() else {}
                            if event.get("type") in ("ADDED", "MODIFIED"):
                                self._seen(event["object"])
                        if self.stop.is_set():
                            break
                finally:
                    stream.release_conn()
            except Exception:  # a dropped watch (or the testbed going down): list again
                time.sleep(0.5)

    def _seen(self, obj: dict[str, Any]) -> None:
        now = time.time()
        name = obj["metadata"]["name"]
        replicas = int((obj.get("spec") or {}).get("replicas") or 0)
        seen = self.changes.setdefault(name, [])
        if not seen or seen[-1][1] != replicas:
            seen.append((now, replicas))

    def current(self, name: str) -> int | None:
        seen = self.changes.get(name)
        return seen[-1][1] if seen else None

    def first_change_after(self, name: str, t: float) -> float | None:
        return next((when for when, _ in self.changes.get(name, [])[1:] if when > t), None)


def percentile(values: list[float], q: float) -> float:
    """Nearest-rank percentile (q in 0..100): with 10 values p99 is the maximum."""
    ordered = sorted(values)
    rank = max(1, -(-len(ordered) * q // 100))
    return ordered[int(rank) - 1]


def run(args: argparse.Namespace) -> int:
    began = time.monotonic()
    usage_before = resource.getrusage(resource.RUSAGE_CHILDREN)
    print(f"machine: {machine()}")
    controllers = {"hpa-15": "native HPA, 15 s sync", "podscale-15": "Podscale --sync-period 15",
                   "podscale-5": "Podscale --sync-period 5"}  # fmt: skip
    rng = random.Random(args.seed)
    work = Path(tempfile.mkdtemp(prefix="bench-reaction-"))
    reactions: dict[str, list[tuple[str, float | None]]] = {name: [] for name in controllers}
    with testbed("15s") as (bed, api):
        print(f"testbed: Kubernetes {bed.version} (native HPA through {bed.hpa_api})")
        kubeconfig = bed.kubeconfig
        create(api, "/api/v1/namespaces", {"metadata": {"name": NAMESPACE}})
        for name in controllers:
            create(api, f"/apis/apps/v1/namespaces/{NAMESPACE}/deployments", deployment(name))
        scenario = work / "scenario.yaml"
        scenario.write_text(
            "workloads:\n"
            + "".join(
                f"  - {{kind: Deployment, name: {name}, namespace: {NAMESPACE}, pod: {POD}, "
                f"load: {{type: constant, rps: {LOW[0]}}}}}\n"
                for name in controllers
            )
        )
        processes: list[AutoscalerRun] = []
        sim: Sim | None = None
        watch = ReplicaWatch(api, NAMESPACE)
        try:
            sim = scenario_sim(kubeconfig, scenario, work / "sim.log", duration=args.deadline)
            admin = sim.admin
            for period in (15, 5):
                folder = work / f"policies-{period}"
                folder.mkdir()
                name = f"podscale-{period}"
                (folder / "policy.json.yaml").write_text(
                    json.dumps({"apiVersion": "podscale.dev/v1alpha1", "kind": "ScalingPolicy",
                                "metadata": {"name": name, "namespace": NAMESPACE},
                                "spec": cpu_hpa_spec(name, down_window=0)})
                )  # fmt: skip
                processes.append(
                    start_podscale(kubeconfig, folder, work / f"{name}.log",
                                   "--sync-period", str(period), "--downscale-stabilization", "0")
                )  # fmt: skip
            hpas = f"/apis/{bed.hpa_api}/namespaces/{NAMESPACE}/horizontalpodautoscalers"
            hpa_body = {
                "apiVersion": bed.hpa_api,
                "kind": "HorizontalPodAutoscaler",
                "metadata": {"name": "hpa-15"},
                "spec": cpu_hpa_spec("hpa-15", down_window=0),
            }
            create(api, hpas, hpa_body)

            def all_ready(expected: int) -> bool:
                listed = http_json("GET", f"{admin}/workloads")["workloads"]
                ready = {w["name"]: w["readyPods"] for w in listed}
                return all(ready.get(name) == expected for name in controllers) and all(
                    watch.current(name) == expected for name in controllers
                )

            wait_for(lambda: all_ready(1), "one ready pod per Deployment", 90)
            hpa = f"{hpas}/hpa-15"
            wait_for(
                lambda: any(c["type"] == "ScalingActive" and c["status"] == "True"
                            for c in (api.call("GET", hpa).get("status") or {}).get("conditions")
                            or []),
                "the HPA to read the simulated CPU", 90,
            )  # fmt: skip
            time.sleep(16)  # every controller has synced at least once since the pods are up
            for step in range(args.steps):
                (rps, replicas) = HIGH if step % 2 == 0 else LOW
                time.sleep(rng.uniform(0, 15))
                if time.monotonic() - began > args.deadline - 90:
                    print(f"deadline: stopped after {step} steps")
                    break
                at: dict[str, float] = {}
                for name in controllers:
                    at[name] = time.time()
                    sim.set_load(NAMESPACE, name, {"type": "constant", "rps": rps})
                try:
                    wait_for(lambda r=replicas: all(watch.current(n) == r for n in controllers),
                             f"step {step}: all at {replicas}", 75)  # fmt: skip
                except WaitTimedOut as exc:
                    print(f"warning: {exc}")
                direction = "up" if replicas > 1 else "down"
                for name in controllers:
                    changed = watch.first_change_after(name, at[name])
                    reactions[name].append(
                        (direction, None if changed is None else changed - at[name])
                    )
                line = "  ".join(
                    f"{n} {'-' if r is None else f'{r:5.1f}s'}"
                    for n, (_, r) in ((n, reactions[n][-1]) for n in controllers)
                )
                print(f"step {step + 1:2d} {direction:4s} -> {replicas}: {line}", flush=True)
                try:
                    wait_for(lambda r=replicas: all_ready(r), "the new pods to be ready", 30)
                except WaitTimedOut as exc:
                    print(f"warning: {exc}")
        finally:
            watch.stop.set()
            for process in reversed(processes):
                process.stop()
            if sim is not None:
                sim.stop(grace=20)
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    cpu = (usage.ru_utime - usage_before.ru_utime) + (usage.ru_stime - usage_before.ru_stime)
    report(controllers, reactions, args, wall=time.monotonic() - began, cpu=cpu)
    missed = sum(r is None for values in reactions.values() for _, r in values)
    return 1 if missed or not reactions["hpa-15"] else 0


def report(
    controllers: dict[str, str],
    reactions: dict[str, list[tuple[str, float | None]]],
    args: argparse.Namespace,
    *,
    wall: float,
    cpu: float,
) -> None:
    rows = []
    for name, label in controllers.items():
        values = [r for _, r in reactions[name] if r is not None]
        up = [r for d, r in reactions[name] if r is not None and d == "up"]
        down = [r for d, r in reactions[name] if r is not None and d == "down"]
        missed = sum(r is None for _, r in reactions[name])
        if not values:
            rows.append((label, len(reactions[name]), missed, "-", "-", "-", "-", "-", "-"))
            continue
        rows.append(
            (
                label,
                len(values),
                missed,
                f"{percentile(values, 50):.1f}",
                f"{percentile(values, 99):.1f}",
                f"{sum(values) / len(values):.1f}",
                f"{min(values):.1f}",
                f"{percentile(up, 50):.1f}" if up else "-",
                f"{percentile(down, 50):.1f}" if down else "-",
            )
        )
    header = ("controller", "steps", "missed", "p50 s", "p99 s", "mean s", "min s", "up p50",
              "down p50")  # fmt: skip
    widths = [max(len(str(r[i])) for r in (header, *rows)) for i in range(len(header))]
    print()
    print("  ".join(str(h).ljust(w) for h, w in zip(header, widths, strict=True)))
    for row in rows:
        print("  ".join(str(c).ljust(w) for c, w in zip(row, widths, strict=True)))
    print(
        f"\nwall {wall:.0f} s; CPU of the simulator and both loops {cpu:.0f} s "
        "(the testbed's own processes are not counted)"
    )
    print("\n--- Markdown for loadtest/RESULTS.md ---")
    steps = len(next(iter(reactions.values())))
    print(f"### Loop reaction: load step -> /scale patch ({steps} steps, seed {args.seed})\n")
    print(f"Machine: {machine()}.\n")
    print("| " + " | ".join(header) + " |")
    print("|" + "|".join(" --- " for _ in header) + "|")
    for row in rows:
        print("| " + " | ".join(str(c) for c in row) + " |")
    print(
        "\nSteps alternate 40 rps (1 replica) and 180 rps (4 replicas) on three identical "
        "Deployments at the same instant; scale-down stabilization 0 s; the simulator "
        "publishes PodMetrics every 0.5 s (a real metrics-server adds 15-60 s on top, for "
        "both). With 10 steps, p99 is the maximum."
    )


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--steps", type=int, default=10, help="load steps (10)")
    parser.add_argument("--seed", type=int, default=4, help="seed of the pauses between steps")
    parser.add_argument("--deadline", type=float, default=780, help="seconds, all included")
    args = parser.parse_args()
    try:
        return run(args)
    except (BenchError, LoopError, TestbedError) as exc:
        print(f"bench_loop_reaction: {exc}", file=sys.stderr)
        return 1


if __name__ == "__main__":
    sys.exit(main())
