"""`autoscaler sim run` under load on the testbed (issue #3's benchmark).

1,000 Deployments x 10 pods by default. One command, bounded in time (``--budget``,
default 570 s, everything included), on a testbed of its own in a temporary directory
that is always torn down:

1. ``scripts/testbed up`` in a temporary directory; then its kube-controller-manager
   is restarted with the same command line plus ``--kube-api-qps``/``--kube-api-burst``
   (``--kcm-qps``; 0 keeps the testbed's client default of 20 requests/s, at which
   the ReplicaSet controller alone needs ~10 minutes to create 10,000 pods);
2. ``autoscaler sim run`` as a subprocess (no scenario: idle load, default pod model,
   all namespaces) with enough simulated nodes (``--node-pods`` each);
3. the Deployments, created with ``kubectl create`` in batches of a multi-document list;
4. waits (bounded) until every pod is Ready, reporting how long creation and
   readiness took; when the budget runs out first it says so and measures anyway,
   with the pods that are Ready;
5. measures over ``--duration`` seconds: the simulator's CPU (``/proc/PID/stat``), the
   API requests it sent (its own ``podscale_sim_api_requests_total``, by client
   method), its ticks (one pod LIST each), and the API server's latency from its own
   ``/metrics`` (``apiserver_request_duration_seconds`` buckets differenced between
   two scrapes; p99 interpolated in the bucket like PromQL's ``histogram_quantile``).

The simulator runs on the wall clock, so a simulated second is a wall second; the
tick count says whether it kept its ``--tick`` period.

Prints the machine and a table of figures on stdout (what ``run_all.py`` copies into
``loadtest/RESULTS.md``), and progress plus a paste-ready Markdown section on stderr. Other
work may share the machine: the CPU used by processes other than the testbed, the
simulator and this script is measured over the window and printed with the figures.

Run: `.venv/bin/python loadtest/bench_sim.py [--deployments 1000]
[--pods-per-deployment 10] [--duration 120]`.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import platform
import shutil
import signal
import subprocess
import sys
import tempfile
import time
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "tests"))  # testbed_fixture, shared with tests/e2e

from procstat import CLK_TCK, cpu_model, cpu_seconds, memory_gib, rss_mib  # noqa: E402
from prometheus_client.parser import text_string_to_metric_families  # noqa: E402
from testbed_fixture import (  # noqa: E402
    DIRECT,
    Sim,
    Testbed,
    TestbedError,
    TestbedUpFailed,
    is_ready,
    restart_controller_manager,
    running_testbed,
    start_sim,
    stop_process,
)

from autoscaler.sim.manifests import deployment_manifest  # noqa: E402

NAMESPACE = "bench"
VERBS = ("LIST", "WATCH", "GET", "PATCH", "POST")
BATCH = 250  # Deployments per `kubectl create`
POLL_S = 5.0  # between readiness checks
TEARDOWN_S = 60.0  # kept out of the budget for stopping everything
HTTP_TIMEOUT_S = 60.0
# The simulator lists pods once per tick, with one of these.
POD_LISTS = ("list_pod_for_all_namespaces", "list_namespaced_pod")

Samples = dict[tuple[str, frozenset[tuple[str, str]]], float]


class BenchError(Exception):
    """A step failed; one line for the user."""


# --- the machine --------------------------------------------------------------------


def machine() -> dict[str, str]:
    memory = memory_gib()
    return {
        "date": time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime()),
        "cpus": str(os.cpu_count() or 0),
        "cpu": cpu_model(),
        "memory": "?" if memory is None else f"{memory:.1f} GiB",
        "kernel": platform.release(),
        "python": platform.python_version(),
        "load": " ".join(f"{x:.2f}" for x in os.getloadavg()),
    }


def busy_seconds() -> float:
    """CPU seconds spent by the whole machine (all cores, not idle or iowait)."""
    with open("/proc/stat") as f:
        values = [int(v) for v in f.readline().split()[1:9]]
    return (sum(values) - values[3] - values[4]) / CLK_TCK


# --- talking to the testbed ---------------------------------------------------------


def run(command: list[str], *, timeout: float, what: str, stdin: str | None = None) -> str:
    try:
        done = subprocess.run(
            command, input=stdin, capture_output=True, text=True, timeout=timeout, cwd=REPO
        )
    except subprocess.TimeoutExpired:
        raise BenchError(f"{what}: no answer in {timeout:.0f} s") from None
    if done.returncode != 0:
        raise failure(what, done)
    return done.stdout


def failure(what: str, done: subprocess.CompletedProcess[str]) -> BenchError:
    tail = " ".join((done.stderr or done.stdout).split())[-400:]
    return BenchError(f"{what}: exit {done.returncode}: {tail}")


def deployment(name: str, replicas: int) -> dict[str, Any]:
    return deployment_manifest(name, replicas, namespace=NAMESPACE, grace_seconds=1)


def create_deployments(testbed: Testbed, count: int, replicas: int) -> None:
    kubectl = [testbed.kubectl, "--kubeconfig", str(testbed.kubeconfig)]
    run([*kubectl, "create", "namespace", NAMESPACE], timeout=60, what="create namespace")
    for first in range(0, count, BATCH):
        items = [deployment(f"d{i:05d}", replicas) for i in range(first, min(count, first + BATCH))]
        document = json.dumps({"apiVersion": "v1", "kind": "List", "items": items})
        run(
            [*kubectl, "create", "-f", "-", "-o", "name"],
            stdin=document,
            timeout=180,
            what=f"kubectl create Deployments {first}..{first + len(items) - 1}",
        )


def pod_counts(testbed: Testbed) -> tuple[int, int]:
    """(pods, Ready pods) in the bench namespace, from the API server's watch cache."""
    path = f"/api/v1/namespaces/{NAMESPACE}/pods?resourceVersion=0"
    items = json.loads(testbed.get(path, timeout=HTTP_TIMEOUT_S)).get("items") or []
    return len(items), sum(map(is_ready, items))


# --- the simulator ------------------------------------------------------------------


def sim_requests(sim: Sim) -> dict[str, float]:
    """Requests the simulator sent so far by client method (all statuses), from its /metrics."""
    with urllib.request.urlopen(sim.metrics, timeout=HTTP_TIMEOUT_S) as r:
        text = r.read().decode()
    sent: dict[str, float] = {}
    for family in text_string_to_metric_families(text):
        if family.name != "podscale_sim_api_requests":
            continue
        for sample in family.samples:
            if sample.name.endswith("_total"):
                method = sample.labels["method"]
                sent[method] = sent.get(method, 0.0) + sample.value
    return sent


# --- the API server's histograms ----------------------------------------------------


def scrape(testbed: Testbed) -> Samples:
    """The API server's request counters and latency buckets, keyed by name and labels."""
    text = testbed.get("/metrics", timeout=HTTP_TIMEOUT_S).decode()
    wanted = (
        "apiserver_request_duration_seconds",
        "apiserver_request",
        "apiserver_longrunning_gauge",
    )
    samples: Samples = {}
    for family in text_string_to_metric_families(text):
        if family.name not in wanted:
            continue
        for sample in family.samples:
            samples[sample.name, frozenset(sample.labels.items())] = sample.value
    return samples


def buckets(
    before: Samples, after: Samples, *, verb: str, only: dict[str, str] | None = None
) -> list[tuple[float, float]]:
    """Cumulative (le, count) over the window for ``verb`` and the ``only`` labels
    (summed over every matching series)."""
    sums: dict[float, float] = {}
    for (name, labels), value in after.items():
        if name != "apiserver_request_duration_seconds_bucket":
            continue
        tags = dict(labels)
        if tags.get("verb") != verb or any(tags.get(k) != v for k, v in (only or {}).items()):
            continue
        le = float(tags["le"])
        sums[le] = sums.get(le, 0.0) + value - before.get((name, labels), 0.0)
    return sorted(sums.items())


def quantile(q: float, cumulative: list[tuple[float, float]]) -> float | None:
    """PromQL's ``histogram_quantile``: linear within the bucket; inf past the last
    finite bound; None without observations."""
    if not cumulative or cumulative[-1][1] <= 0:
        return None
    rank = q * cumulative[-1][1]
    lower, below = 0.0, 0.0
    for le, count in cumulative:
        if count >= rank:
            if math.isinf(le):
                return math.inf
            if count == below:
                return le
            return lower + (le - lower) * (rank - below) / (count - below)
        lower, below = le, count
    return math.inf


def requests_total(before: Samples, after: Samples) -> float:
    return sum(
        value - before.get(key, 0.0)
        for key, value in after.items()
        if key[0] == "apiserver_request_total"
    )


def last_finite(cumulative: list[tuple[float, float]]) -> float:
    return max((le for le, _ in cumulative if not math.isinf(le)), default=0.0)


def seconds(value: float | None, cumulative: list[tuple[float, float]]) -> str:
    """The quantile with the bucket it fell in: bucket bounds are all the API server
    knows (1.20's first bound is 50 ms, so anything faster reads "<= 50 ms")."""
    if value is None:
        return "none ended in the window"
    if math.isinf(value):
        return f"> {duration(last_finite(cumulative))}"
    bounds = [le for le, _ in cumulative]
    upper = min(le for le in bounds if le >= value)
    lower = max((le for le in bounds if le < upper), default=0.0)
    if lower == 0.0:
        return f"<= {duration(upper)}"
    return f"{duration(value)} (bucket {duration(lower)}-{duration(upper)})"


def duration(value: float) -> str:
    return f"{value:.2f} s" if value >= 1 else f"{value * 1000:.0f} ms"


# --- the run ------------------------------------------------------------------------


@dataclass
class Result:
    machine: dict[str, str]
    args: argparse.Namespace
    nodes: int = 0
    pods_wanted: int = 0
    created_after: float | None = None
    ready_after: float | None = None
    pods_at_window: tuple[int, int] = (0, 0)
    pods_after_window: tuple[int, int] = (0, 0)
    window: float = 0.0
    sim_cpu: float = 0.0
    sim_rss: float = 0.0
    sim_requests: dict[str, float] = field(default_factory=dict)
    ticks: float = 0.0
    apiserver_requests: float = 0.0
    open_watches: int = 0
    cpu: dict[str, float] = field(default_factory=dict)
    latency: dict[str, tuple[str, int]] = field(default_factory=dict)
    warnings: list[str] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)


def say(message: str) -> None:
    """Progress, on stderr: stdout carries only the figures (``run_all.py`` copies it)."""
    print(f"[{time.strftime('%H:%M:%S')}] {message}", file=sys.stderr, flush=True)


@contextmanager
def testbed_in(directory: Path) -> Iterator[Testbed]:
    try:
        with running_testbed(directory, timeout=600, metrics_api=DIRECT) as testbed:
            yield testbed
    except TestbedUpFailed as up:
        if up.result is None:  # "scripts/testbed up: no answer in 600 s"
            raise
        raise failure("scripts/testbed up", up.result) from None


def bench(args: argparse.Namespace, workdir: Path) -> Result:
    began = time.monotonic()
    deadline = began + args.budget - TEARDOWN_S
    result = Result(machine=machine(), args=args)
    result.pods_wanted = args.deployments * args.pods_per_deployment
    result.nodes = args.nodes or max(1, math.ceil(result.pods_wanted / args.node_pods))
    kcm: subprocess.Popen[bytes] | None = None
    sim: Sim | None = None
    say(f"testbed up in {workdir}")
    with testbed_in(workdir / "testbed") as testbed:
        try:
            if args.kcm_qps:
                kcm = restart_controller_manager(testbed, args.kcm_qps, workdir / "kcm.log")
                say(f"kube-controller-manager restarted with --kube-api-qps={args.kcm_qps}")
            sim = start_sim(
                testbed.kubeconfig,
                "--tick", str(args.tick),
                *(["--metric-resolution", str(args.metric_resolution)]
                  if args.metric_resolution else []),
                "--nodes", str(result.nodes),
                "--node-cpu", str(args.node_cpu),
                "--node-memory", args.node_memory,
                "--node-pods", str(args.node_pods),
                stderr=workdir / "sim.stderr",
                timeout=60,
            )  # fmt: skip
            say(f"simulator pid {sim.process.pid}, {result.nodes} nodes x {args.node_pods} pods")
            created_at = time.monotonic()
            create_deployments(testbed, args.deployments, args.pods_per_deployment)
            say(f"{args.deployments} Deployments created in {time.monotonic() - created_at:.1f} s")
            ready_by = deadline - args.duration
            counts = (0, 0)
            while time.monotonic() < ready_by:
                if sim.process.poll() is not None:
                    raise BenchError(f"the simulator exited with {sim.process.returncode}")
                counts = pod_counts(testbed)
                elapsed = time.monotonic() - created_at
                if result.created_after is None and counts[0] >= result.pods_wanted:
                    result.created_after = elapsed
                if counts[1] >= result.pods_wanted:
                    result.ready_after = elapsed
                    break
                say(f"  {elapsed:5.0f} s: {counts[0]} pods, {counts[1]} Ready")
                time.sleep(min(POLL_S, max(0.0, ready_by - time.monotonic())))
            if result.ready_after is None:
                result.notes.append(
                    f"not every pod was Ready within the budget: {counts[1]} of "
                    f"{result.pods_wanted} Ready ({counts[0]} created) after "
                    f"{time.monotonic() - created_at:.0f} s; measured anyway"
                )
                say(result.notes[-1])
            else:
                say(f"all {result.pods_wanted} pods Ready after {result.ready_after:.1f} s")
            measure(result, testbed, sim, kcm, args.duration)
        finally:
            if sim is not None:
                sim.stop(grace=30)
                stopped = sim.stopped()
                if stopped is not None:
                    result.notes.append(
                        f"simulator: {stopped['ticks']} ticks in {stopped['seconds']:.0f} s "
                        "over the whole run"
                    )
                result.warnings = (workdir / "sim.stderr").read_text().splitlines()
            if kcm is not None:
                stop_process(kcm, grace=15)
    return result


def measure(
    result: Result,
    testbed: Testbed,
    sim: Sim,
    kcm: subprocess.Popen[bytes] | None,
    duration: float,
) -> None:
    pids = testbed.pids()
    watched = {
        "simulator": sim.process.pid,
        "kube-apiserver": pids["kube-apiserver"],
        "etcd": pids["etcd"],
        "kube-controller-manager": kcm.pid if kcm else pids["kube-controller-manager"],
        "this script": os.getpid(),
    }
    result.pods_at_window = pod_counts(testbed)
    say(f"measuring for {duration:.0f} s")
    sent0, api0 = sim_requests(sim), scrape(testbed)
    cpu0 = {name: cpu_seconds(pid) for name, pid in watched.items()}
    busy0, t0 = busy_seconds(), time.monotonic()
    end = t0 + duration
    while time.monotonic() < end:
        if sim.process.poll() is not None:
            raise BenchError(f"the simulator exited with {sim.process.returncode} while measured")
        time.sleep(min(1.0, end - time.monotonic()))
    cpu1 = {name: cpu_seconds(pid) for name, pid in watched.items()}
    busy1, t1 = busy_seconds(), time.monotonic()
    sent1, api1 = sim_requests(sim), scrape(testbed)
    result.window = t1 - t0
    result.sim_rss = rss_mib(sim.process.pid)
    result.cpu = {name: cpu1[name] - cpu0[name] for name in watched}
    result.cpu["other processes"] = (busy1 - busy0) - sum(result.cpu.values())
    result.sim_requests = {m: n - sent0.get(m, 0.0) for m, n in sent1.items()}
    result.sim_requests = {m: n for m, n in result.sim_requests.items() if n > 0}
    result.ticks = sum(result.sim_requests.get(m, 0.0) for m in POD_LISTS)
    result.apiserver_requests = requests_total(api0, api1)
    result.open_watches = int(
        sum(
            value
            for (name, labels), value in api1.items()
            if name == "apiserver_longrunning_gauge" and dict(labels).get("verb") == "WATCH"
        )
    )
    core, metrics = {"group": "", "resource": "pods"}, {"group": "metrics.k8s.io"}
    rows: list[tuple[str, dict[str, str] | None, str]] = [(v, None, v) for v in VERBS]
    rows += [
        ("LIST", core, "LIST pods"),
        ("LIST", metrics, "LIST PodMetrics"),
        ("PATCH", {**core, "subresource": "status"}, "PATCH pods/status"),
        ("PATCH", metrics, "PATCH PodMetrics"),
    ]
    for verb, only, label in rows:
        cumulative = buckets(api0, api1, verb=verb, only=only)
        count = int(cumulative[-1][1]) if cumulative else 0
        result.latency[label] = (seconds(quantile(0.99, cumulative), cumulative), count)
    result.pods_after_window = pod_counts(testbed)


# --- the report ---------------------------------------------------------------------


def report(result: Result) -> str:
    args, m, w = result.args, result.machine, result.window or 1.0
    sent = sum(result.sim_requests.values())
    sim_cpu = result.cpu.get("simulator", 0.0)
    ready = (
        f"{result.ready_after:.0f} s after the Deployments were created"
        if result.ready_after is not None
        else "not reached within the budget"
    )
    lines = [
        f"machine: {m['cpus']} CPUs, {m['cpu']}, {m['memory']}; Linux {m['kernel']}, "
        f"Python {m['python']}; {m['date']}; load average before: {m['load']}",
        "(shared machine: other engineers' work may have run at the same time; see "
        "'other processes' below)",
        "",
        f"size: {args.deployments} Deployments x {args.pods_per_deployment} pods = "
        f"{result.pods_wanted} pods on {result.nodes} simulated nodes; tick {args.tick:g} s; "
        f"PodMetrics resolution "
        f"{f'{args.metric_resolution:g} s' if args.metric_resolution else 'every tick'}; "
        f"controller-manager client: "
        f"{f'{args.kcm_qps} qps' if args.kcm_qps else 'testbed default (20 qps)'}",
        f"pods created: {fmt_s(result.created_after)}; all Ready: {ready}",
        f"pods (created, Ready) at window start {result.pods_at_window}, "
        f"end {result.pods_after_window}",
        "",
        f"| measured over {w:.0f} s of simulated (= wall) time | value |",
        "| --- | --- |",
        f"| simulator CPU per simulated second | {sim_cpu / w:.3f} CPU-s/s ({sim_cpu:.1f} CPU-s) |",
        f"| simulator API requests per second | {sent / w:.1f} req/s ({sent:.0f} requests) |",
        f"| simulator CPU per request | {1000 * sim_cpu / sent if sent else 0:.2f} ms |",
        f"| simulator ticks (one pod LIST each) | {result.ticks:.0f} "
        f"(mean period {w / result.ticks if result.ticks else math.inf:.1f} s, "
        f"asked {args.tick:g} s) |",
        f"| simulator RSS at the end | {result.sim_rss:.0f} MiB |",
        f"| API server requests per second (all clients) | "
        f"{result.apiserver_requests / w:.1f} req/s |",
    ]
    for label, (p99, count) in result.latency.items():
        why = " (a WATCH counts when it ends: the controller-manager's, after minutes)"
        lines.append(
            f"| API server p99 {label} | {p99} ({count} requests"
            f"{why if label == 'WATCH' and count else ''}) |"
        )
    lines.append(
        f"| API server open WATCHes at the end | {result.open_watches} "
        "(the simulator opens none: it lists every tick) |"
    )
    for name, used in result.cpu.items():
        lines.append(f"| CPU per second: {name} | {used / w:.2f} CPU-s/s |")
    top = sorted(result.sim_requests.items(), key=lambda kv: -kv[1])
    lines += ["", "simulator requests in the window, by client method:"]
    lines += [f"  {n / w:8.1f}/s  {n:8.0f}  {method}" for method, n in top]
    if result.notes:
        lines += ["", *(f"note: {n}" for n in result.notes)]
    if result.warnings:
        lines += ["", f"simulator stderr: {len(result.warnings)} lines, first ones:"]
        lines += [f"  {line[:200]}" for line in result.warnings[:5]]
    return "\n".join(lines)


def markdown(result: Result, text: str) -> str:
    args = result.args
    table = [line for line in text.splitlines() if line.startswith("|")]
    head = text.splitlines()[:1] + text.splitlines()[3:7]
    return "\n".join(
        [
            f"## `autoscaler sim run` under load ({args.deployments} Deployments, "
            f"{result.pods_wanted} pods), {result.machine['date'][:10]}",
            "",
            "`.venv/bin/python loadtest/bench_sim.py "
            f"--deployments {args.deployments} --pods-per-deployment "
            f"{args.pods_per_deployment} --duration {args.duration:g}`",
            "",
            *(f"- {line}" for line in head if line),
            "- The machine is shared: other work may have run during the measurement "
            "(the 'other processes' row).",
            *(f"- {n}" for n in result.notes),
            "",
            *table,
        ]
    )


def fmt_s(value: float | None) -> str:
    return "not reached" if value is None else f"{value:.0f} s"


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--deployments", type=int, default=1000)
    parser.add_argument("--pods-per-deployment", type=int, default=10)
    parser.add_argument("--duration", type=float, default=120.0, help="measurement window, s")
    parser.add_argument("--budget", type=float, default=570.0, help="whole run bound, s")
    parser.add_argument("--tick", type=float, default=1.0, help="the simulator's --tick")
    parser.add_argument(
        "--metric-resolution",
        type=float,
        default=60.0,
        help="the simulator's --metric-resolution (metrics-server's classic 60 s; 0: every "
        "tick, which at 10,000 pods is more writes than this API server takes)",
    )
    parser.add_argument("--nodes", type=int, default=0, help="default: pods / node-pods")
    parser.add_argument("--node-pods", type=int, default=250)
    parser.add_argument("--node-cpu", type=int, default=32)
    parser.add_argument("--node-memory", default="64Gi")
    parser.add_argument(
        "--kcm-qps", type=int, default=300, help="controller-manager client QPS (0: default)"
    )
    args = parser.parse_args()
    if args.budget < args.duration + TEARDOWN_S + 60:
        parser.error(f"--budget must leave room: at least --duration + {TEARDOWN_S + 60:.0f} s")
    # SIGTERM tears down like Ctrl-C does.
    signal.signal(signal.SIGTERM, lambda signum, frame: sys.exit(128 + signum))
    workdir = Path(tempfile.mkdtemp(prefix="podscale-bench-sim-"))
    try:
        result = bench(args, workdir)
    except (BenchError, TestbedError, OSError) as exc:  # OSError: the API server or sim is gone
        print(f"bench_sim: {' '.join(str(exc).split())}", file=sys.stderr)
        return 1
    finally:
        shutil.rmtree(workdir, ignore_errors=True)
    text = report(result)
    print(text, flush=True)
    print("\n--- Markdown for loadtest/RESULTS.md ---\n", file=sys.stderr)
    print(markdown(result, text), file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
