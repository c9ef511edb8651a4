"""Scale of the live loop: 100, 1,000 and 5,000 policies/targets on the testbed.

One command, bounded (``--deadline``, 660 s by default), everything on loopback:

1. starts its own testbed and stops its kube-controller-manager (by the pid the testbed
   recorded): at 20 QPS, its Deployment controller alone would need minutes to create
   5,000 ReplicaSets and pods, so this script plays it, and kubelet, and metrics-server:
   per target one Deployment (1 replica, ``app=NAME``), one pod Running and Ready an hour
   ago, and one PodMetrics object at 40 % of the CPU request, 500 targets per namespace;
2. for each size, writes the policies (CPU 50 %, one multi-document file per namespace)
   and runs ``autoscaler run --sync-period 15`` (default watch caches, no CRDs);
3. per sync (the moment ``podscale_sync_duration_seconds_count`` goes up on its own
   /metrics, polled every 0.25 s): the sync's duration (``_sum`` delta), the process's
   CPU time since the previous sync (``/proc/PID/stat``), and the Kubernetes API requests
   since the previous sync (the apiserver's ``apiserver_request_total`` delta, resource
   requests only; nothing else talks to this apiserver meanwhile, except the script's own
   PodMetrics patches, which are left out);
4. syncs: the first (informers still filling), one warm-up, three steady (no target
   changes), two with churn (before each, 1 % of the targets get 90 % CPU, so exactly
   those scale 1 -> 2 in that sync).

Prometheus queries per sync are 0 here by construction: CPU-only policies, and no
``--prometheus-url``. Prints the machine, a table and a Markdown snippet; checks the
goals (5,000 targets synced within one 15 s period; API requests per steady sync not
growing with targets; per churn sync about one patch and one event per changed target).
"""

from __future__ import annotations

import argparse
import contextlib
import json
import sys
import tempfile
import time
import urllib.request
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from bench_loop_reaction import (
    REPO,
    BenchError,
    deployment,
    machine,
    percentile,
    start_podscale,
    testbed,
)

# tests/ is on sys.path: bench_loop_reaction, imported above, put it there.
from live_tooling import AutoscalerRun, cpu_policy
from procstat import cpu_seconds, rss_mib
from testbed_fixture import Testbed, TestbedError, stop_controller_manager

from autoscaler.kube.api import Api
from autoscaler.ports import Conflict, LoopError

PER_NAMESPACE = 500
PERIOD = 15.0
HOUR_AGO = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(time.time() - 3600))


def namespace_of(i: int) -> str:
    return f"scale-{i // PER_NAMESPACE}"


def name_of(i: int) -> str:
    return f"t{i:05d}"


def pod_metrics(name: str, cpu: str) -> dict[str, Any]:
    return {
        "apiVersion": "metrics.k8s.io/v1beta1",
        "kind": "PodMetrics",
        "metadata": {"name": f"{name}-0", "labels": {"app": name}},
        "timestamp": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
        "window": "30s",
        "containers": [{"name": "app", "usage": {"cpu": cpu, "memory": "64Mi"}}],
    }


def create_target(api: Api, i: int) -> None:
    """Deployment + Ready pod + PodMetrics at 40 % of the 100m request."""
    ns, name = namespace_of(i), name_of(i)
    api.call("POST", f"/apis/apps/v1/namespaces/{ns}/deployments", body=deployment(name))
    pod = deployment(name)["spec"]["template"]
    pod = {"metadata": {**pod["metadata"], "name": f"{name}-0"}, "spec": pod["spec"]}
    api.call("POST", f"/api/v1/namespaces/{ns}/pods", body=pod)
    ready = {"type": "Ready", "status": "True", "lastTransitionTime": HOUR_AGO}
    api.call(
        "PATCH",
        f"/api/v1/namespaces/{ns}/pods/{name}-0/status",
        body={"status": {"phase": "Running", "startTime": HOUR_AGO, "conditions": [ready]}},
        content_type="application/merge-patch+json",
    )
    api.call(
        "POST",
        f"/apis/metrics.k8s.io/v1beta1/namespaces/{ns}/pods",
        body=pod_metrics(name, "40m"),
    )
    settle(api, i, generation=1, replicas=1)


def settle(api: Api, i: int, *, generation: int, replicas: int) -> None:
    """Deployment status as its controller writes it once a rollout is done."""
    status = {"observedGeneration": generation, "replicas": replicas, "updatedReplicas": replicas,
              "readyReplicas": replicas, "availableReplicas": replicas}  # fmt: skip
    api.call(
        "PATCH",
        f"/apis/apps/v1/namespaces/{namespace_of(i)}/deployments/{name_of(i)}/status",
        body={"status": status},
        content_type="application/merge-patch+json",
    )


def set_cpu(api: Api, i: int, cpu: str) -> None:
    ns, name = namespace_of(i), name_of(i)
    api.call(
        "PATCH",
        f"/apis/metrics.k8s.io/v1beta1/namespaces/{ns}/pods/{name}-0",
        body=pod_metrics(name, cpu),
        content_type="application/merge-patch+json",
    )


def policy_documents(first: int, last: int) -> str:
    docs = [json.dumps(cpu_policy(name_of(i), namespace_of(i))) for i in range(first, last)]
    return "\n---\n".join(docs) + "\n"


def write_policies(folder: Path, count: int) -> None:
    folder.mkdir(parents=True)
    for start in range(0, count, PER_NAMESPACE):
        stop = min(count, start + PER_NAMESPACE)
        (folder / f"{namespace_of(start)}.yaml").write_text(policy_documents(start, stop))


class ApiserverCounter:
    """Sum of ``apiserver_request_total`` over resource requests, from its /metrics."""

    def __init__(self, testbed: Testbed) -> None:
        self.testbed = testbed

    def read(self) -> dict[tuple[str, str], float]:
        """(verb, group/resource/subresource) -> count, without our own PodMetrics patches."""
        text = self.testbed.get("/metrics", timeout=30).decode()
        counts: dict[tuple[str, str], float] = {}
        for line in text.splitlines():
            if not line.startswith("apiserver_request_total{"):
                continue
            labels_text, _, value = line[len("apiserver_request_total{") :].rpartition("} ")
            labels = dict(
                (part.split("=", 1)[0], part.split("=", 1)[1].strip('"'))
                for part in labels_text.split('",')
                if "=" in part
            )
            if not labels.get("resource"):
                continue  # /metrics, /readyz, discovery
            if labels.get("verb") == "PATCH" and (
                labels.get("group") == "metrics.k8s.io" or labels.get("subresource") == "status"
            ):
                continue  # the script's churn and Deployment status (Podscale writes neither)
            what = "/".join(
                p for p in (labels.get("group"), labels["resource"], labels.get("subresource")) if p
            )
            key = (labels.get("verb", "?"), what)
            counts[key] = counts.get(key, 0.0) + float(value)
        return counts


def loop_metrics(url: str) -> dict[str, float]:
    with urllib.request.urlopen(f"{url}/metrics", timeout=10) as response:
        text = response.read().decode()
    values: dict[str, float] = {}
    for line in text.splitlines():
        if line.startswith("podscale_sync_duration_seconds_count"):
            values["count"] = float(line.split()[-1])
        elif line.startswith("podscale_sync_duration_seconds_sum"):
            values["sum"] = float(line.split()[-1])
        elif line.startswith("podscale_scale_operations_total{"):
            values["scaled"] = values.get("scaled", 0.0) + float(line.split()[-1])
    return values


@dataclass
class Sync:
    kind: str  # first | warm | steady | churn
    duration: float
    cpu: float
    requests: float
    scaled: float
    breakdown: dict[tuple[str, str], float] = field(default_factory=dict)


def measure(
    api: Api,
    podscale: AutoscalerRun,
    counter: ApiserverCounter,
    plan: list[str],
    churn: list[list[int]],
    deadline: float,
) -> list[Sync]:
    """Follow ``podscale``'s syncs; before each 'churn' sync, heat up its targets."""
    url = podscale.listen_url()
    pid = podscale.popen.pid
    last = {"count": 0.0, "sum": 0.0, "scaled": 0.0}
    last_cpu, last_requests = cpu_seconds(pid), counter.read()
    syncs: list[Sync] = []
    settled: list[list[int]] = []
    while len(syncs) < len(plan):
        if time.monotonic() > deadline:
            print(f"  deadline: {len(syncs)} of {len(plan)} syncs measured")
            break
        podscale.check()
        time.sleep(0.25)
        try:
            now = loop_metrics(url)
        except OSError:
            continue
        if now.get("count", 0.0) <= last["count"]:
            continue
        cpu, requests = cpu_seconds(pid), counter.read()
        kind = plan[len(syncs)]
        delta = {k: requests.get(k, 0.0) - last_requests.get(k, 0.0) for k in requests}
        syncs.append(
            Sync(
                kind=kind,
                duration=(now["sum"] - last["sum"]) / max(1.0, now["count"] - last["count"]),
                cpu=cpu - last_cpu,
                requests=sum(delta.values()),
                scaled=now.get("scaled", 0.0) - last["scaled"],
                breakdown={k: v for k, v in delta.items() if v},
            )
        )
        s = syncs[-1]
        print(
            f"  sync {len(syncs)} ({kind:6s}): {s.duration:6.2f} s, CPU {s.cpu:6.2f} s, "
            f"API requests {s.requests:5.0f}, scaled {s.scaled:4.0f}",
            flush=True,
        )
        last = {"count": now["count"], "sum": now["sum"], "scaled": now.get("scaled", 0.0)}
        last_cpu, last_requests = cpu, requests
        if kind == "churn" and settled:
            # play the Deployment controller for the targets just scaled to 2
            with ThreadPoolExecutor(8) as pool:
                list(pool.map(lambda i: settle(api, i, generation=2, replicas=2), settled.pop(0)))
        following = plan[len(syncs)] if len(syncs) < len(plan) else None
        if following == "churn" and churn:
            settled.append(churn.pop(0))
            with ThreadPoolExecutor(8) as pool:
                list(pool.map(lambda i: set_cpu(api, i, "90m"), settled[-1]))
    return syncs


def create_all(api: Api, first: int, last: int) -> float:
    started = time.monotonic()
    for ns in sorted({namespace_of(i) for i in range(first, last)}):
        with contextlib.suppress(Conflict):
            api.call("POST", "/api/v1/namespaces", body={"metadata": {"name": ns}})
    with ThreadPoolExecutor(8) as pool:
        list(pool.map(lambda i: create_target(api, i), range(first, last)))
    return time.monotonic() - started


def run(args: argparse.Namespace) -> int:
    began = time.monotonic()
    deadline = began + args.deadline
    print(f"machine: {machine()}")
    sizes = [int(s) for s in args.sizes.split(",")]
    work = Path(tempfile.mkdtemp(prefix="bench-scale-"))
    results: dict[int, list[Sync]] = {}
    extra: dict[int, str] = {}
    baseline: dict[int, float] = {}
    plan = ["first", "warm", "steady", "steady", "steady", "churn", "churn"]
    with testbed() as (bed, _):
        kubeconfig = bed.kubeconfig
        stop_controller_manager(bed)
        from kubernetes import client, config

        configuration = client.Configuration()
        config.load_kube_config(config_file=str(kubeconfig), client_configuration=configuration)  # type: ignore[no-untyped-call]
        configuration.connection_pool_maxsize = 16
        api = Api(client.ApiClient(configuration))
        counter = ApiserverCounter(bed)
        made, churned = 0, 0
        for size in sizes:
            if time.monotonic() > deadline - 60:
                print(f"deadline: skipping {size}")
                break
            seconds = create_all(api, made, size)
            print(
                f"{size} targets: created {size - made} (Deployment, Ready pod, PodMetrics) "
                f"in {seconds:.0f} s",
                flush=True,
            )
            made = size
            heat = max(1, size // 100)
            churn = [list(range(churned + k * heat, churned + (k + 1) * heat)) for k in range(2)]
            churned += 2 * heat
            write_policies(work / f"policies-{size}", size)
            before = sum(counter.read().values())
            time.sleep(PERIOD)  # the apiserver's own requests (flowcontrol, namespaces...)
            baseline[size] = sum(counter.read().values()) - before
            print(
                f"  idle apiserver, no Podscale: {baseline[size]:.0f} requests per {PERIOD:.0f} s"
            )
            log = work / f"podscale-{size}.log"
            podscale = start_podscale(
                kubeconfig, work / f"policies-{size}", log, "--sync-period", str(PERIOD)
            )
            try:
                results[size] = measure(api, podscale, counter, plan, churn, deadline)
                extra[size] = f"RSS {rss_mib(podscale.popen.pid):.0f} MiB"
                for sync in results[size]:
                    sync.requests -= baseline[size]
            finally:
                podscale.stop()
    report(results, extra, wall=time.monotonic() - began)
    return 0 if results else 1


def report(results: dict[int, list[Sync]], extra: dict[int, str], *, wall: float) -> None:
    header = ("targets", "first sync s", "sync p50 s", "sync p99 s", "CPU/sync s",
              "API req/steady sync", "API req/churn sync", "changed/churn sync",
              "Prom queries/sync", "memory")  # fmt: skip
    rows = []
    for size, syncs in results.items():
        measured = [s for s in syncs if s.kind in ("steady", "churn")]
        steady = [s for s in syncs if s.kind == "steady"]
        churn = [s for s in syncs if s.kind == "churn"]
        first = next((s for s in syncs if s.kind == "first"), None)

        def mean(values: list[float]) -> str:
            return f"{sum(values) / len(values):.1f}" if values else "-"

        rows.append(
            (
                f"{size:,}",
                f"{first.duration:.2f}" if first else "-",
                f"{percentile([s.duration for s in measured], 50):.2f}" if measured else "-",
                f"{percentile([s.duration for s in measured], 99):.2f}" if measured else "-",
                mean([s.cpu for s in measured]),
                mean([s.requests for s in steady]),
                mean([s.requests for s in churn]),
                mean([s.scaled for s in churn]),
                "0",
                extra.get(size, ""),
            )
        )
    widths = [max(len(str(r[i])) for r in (header, *rows)) for i in range(len(header))]
    print()
    print("  ".join(h.ljust(w) for h, w in zip(header, widths, strict=True)))
    for row in rows:
        print("  ".join(c.ljust(w) for c, w in zip(row, widths, strict=True)))
    for size, syncs in results.items():
        for kind in ("steady", "churn"):
            last = [s for s in syncs if s.kind == kind][-1:]
            if last:
                parts = ", ".join(
                    f"{verb} {what} {n:.0f}"
                    for (verb, what), n in sorted(last[0].breakdown.items())
                )
                print(f"{size:,} targets, last {kind} sync: {parts or 'no API requests'}")
    print(f"\nwall {wall:.0f} s")
    goals(results)
    print("\n--- Markdown for loadtest/RESULTS.md ---")
    print("### Loop scale: policies/targets per 15 s sync (watch caches on)\n")
    print(f"Machine: {machine()}.\n")
    print("| " + " | ".join(header) + " |")
    print("|" + "|".join(" --- " for _ in header) + "|")
    for row in rows:
        print("| " + " | ".join(row) + " |")
    print(
        "\nPer size: 1 first sync, 1 warm-up, 3 steady (nothing changes), 2 churn (1 % of the "
        "targets scale 1 -> 2); p50/p99 over the 5 steady + churn syncs (p99 is their "
        "maximum). CPU is the `autoscaler run` process's user+system time per sync period. "
        "API requests are the apiserver's `apiserver_request_total` delta per period. "
        "Prometheus queries: CPU-only policies, none."
    )


def goals(results: dict[int, list[Sync]]) -> None:
    biggest = max(results, default=0)
    if not biggest:
        return
    measured = [s.duration for s in results[biggest] if s.kind in ("steady", "churn")]
    worst = max(measured, default=float("inf"))
    verdict = "met" if worst <= PERIOD else "MISSED"
    print(
        f"goal: {biggest:,} targets within one {PERIOD:.0f} s sync: {verdict} (max {worst:.2f} s)"
    )
    steady = {
        size: sum(s.requests for s in syncs if s.kind == "steady")
        / max(1, sum(s.kind == "steady" for s in syncs))
        for size, syncs in results.items()
    }
    print(
        "goal: API requests per steady sync (no changes) vs targets: "
        + ", ".join(f"{size:,} -> {n:.1f}" for size, n in steady.items())
        + " (one PodMetrics list per namespace of 500 targets; metrics.k8s.io has no watch)"
    )
    for size, syncs in results.items():
        churn = [s for s in syncs if s.kind == "churn"]
        if churn:
            base = steady.get(size, 0.0)
            extra = sum(s.requests for s in churn) / len(churn) - base
            changed = sum(s.scaled for s in churn) / len(churn)
            print(
                f"goal: {size:,} targets, churn: {changed:.0f} changed targets -> "
                f"{extra:.0f} more API requests than a steady sync "
                f"({extra / changed if changed else float('nan'):.1f} per change)"
            )


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--sizes", default="100,1000,5000", help="target counts (100,1000,5000)")
    parser.add_argument("--deadline", type=float, default=660, help="seconds, all included")
    args = parser.parse_args()
    try:
        return run(args)
    except (BenchError, LoopError, TestbedError) as exc:
        print(f"bench_loop_scale: {exc}", file=sys.stderr)
        return 1


if __name__ == "__main__":
    sys.path.insert(0, str(REPO))
    sys.exit(main())
