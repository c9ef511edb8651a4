"""Scale-to-zero wake-up latency: first sample above the threshold -> the 0 -> 1 ``/scale`` write.

One command, bounded (``--deadline``, 600 s by default), everything on loopback:

1. starts its own testbed (``scripts/testbed up``) and a real Prometheus scraping the
   benchmark's exporter every second;
2. creates ``--targets`` Deployments at 0 replicas (25 by default), each under a
   ScalingPolicy with ``minReplicas: 0`` and ``activation`` (threshold 0, ``pollSeconds``
   the default 2 s unless ``--poll``) on the External metric ``queue_ready``, a
   Prometheus query over its own queue series (tests/activation_support.py, shared with
   the e2e test);
3. runs ``autoscaler run`` with its default 15 s sync (``--sync-period``), so every
   target waits at zero on the fast path at once;
4. wakes them one by one: after a random pause (seeded, up to a bit more than the
   polls' period, or the syncs' when they are more frequent, so the samples fall at
   every phase of what reads the target), one message in a queue; a watch on the
   Deployments times the 0 -> 1 change of ``spec.replicas`` (at or after the write: the
   figure errs on the slow side), and Prometheus gives the timestamp of the queue's
   first sample above 0.

Prints the machine, p50/p95/max (and how many wake-ups a poll did, not a full sync)
and a Markdown snippet for loadtest/RESULTS.md. Goal (issue 13): p95 <= 2 s; KEDA reads
its triggers every 30 s by default (``pollingInterval``). Exits 1 with one line if it
cannot measure.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import random
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))
sys.path.insert(0, str(REPO / "tests"))  # the testbed, Prometheus and activation helpers

from activation_support import (  # noqa: E402
    DECLARATIONS,
    SERIES,
    ReplicaWatch,
    activation_policy,
    first_sample_above,
    percentile,
    queue_labels,
)
from kubernetes import client, config  # noqa: E402
from live_tooling import AutoscalerRun, WaitTimedOut, wait_for  # noqa: E402
from procstat import cpu_model, memory_gib  # noqa: E402
from prometheus_fixture import PromEnv, running_env  # noqa: E402
from testbed_fixture import DIRECT, Testbed, TestbedError, running_testbed  # noqa: E402

from autoscaler.sim.manifests import deployment_manifest  # noqa: E402

NAMESPACE = "activation"
CRD = REPO / "deploy" / "base" / "crd" / "scalingpolicies.podscale.dev.yaml"
GOAL_P95 = 2.0


class BenchError(RuntimeError):
    """The benchmark cannot measure; the message is the one line printed."""


def machine() -> str:
    model, mem = cpu_model(), int(memory_gib() or 0)
    load = " ".join(f"{x:.2f}" for x in os.getloadavg())
    return (
        f"{os.cpu_count()} CPUs ({model}), {mem} GiB, Python {platform.python_version()}, "
        f"load average at start {load} (the machine is shared with other work)"
    )


def kubectl(bed: Testbed, *args: str, input: str | None = None) -> None:
    """The testbed's own kubectl (built with it), as admin."""
    done = subprocess.run(
        [bed.kubectl, "--kubeconfig", str(bed.kubeconfig), *args],
        input=input, capture_output=True, text=True, timeout=120, check=False,
    )  # fmt: skip
    if done.returncode != 0:
        raise BenchError(f"kubectl {' '.join(args[:2])}: {done.stderr.strip()[-300:]}")


def polls(base: str, result: str) -> float:
    with urllib.request.urlopen(f"{base}/metrics", timeout=5) as answer:
        text = answer.read().decode()
    prefix = f'podscale_activation_polls_total{{result="{result}"}} '
    return sum(float(line[len(prefix) :]) for line in text.splitlines() if line.startswith(prefix))


def wake(prom: PromEnv, watch: ReplicaWatch, name: str) -> float | None:
    """One message in ``name``'s queue; seconds from its first sample above 0 (by the
    Prometheus timestamp) to the 0 -> 1 change the watch saw; None if it did not wake."""
    raised = time.time()
    prom.exporter.set(SERIES, queue_labels(NAMESPACE, name), 1)
    try:
        woken = wait_for(lambda: watch.woken_at(name, after=raised), f"{name} to wake", 40)
        sample = wait_for(
            lambda: first_sample_above(prom.server, NAMESPACE, name, 0, after=raised),
            f"the first sample of {name}'s queue",
            10,
        )
    except WaitTimedOut:
        return None
    return float(woken) - float(sample)


def run(args: argparse.Namespace) -> int:
    began = time.monotonic()
    args.machine = machine()
    print(f"machine: {args.machine}")
    names = [f"q{i:02d}" for i in range(args.targets)]
    rng = random.Random(args.seed)
    # Whatever reads a target at zero first (its polls, or the syncs when they are more
    # frequent), a pause up to a bit more than its period puts the samples at every phase.
    pause = min(args.poll or 2.0, args.sync_period) + 0.5
    latencies: list[float] = []
    missed = 0
    with (
        running_testbed(
            Path(tempfile.mkdtemp(prefix="bench-activation-")), metrics_api=DIRECT
        ) as bed,
        running_env() as prom,
        tempfile.TemporaryDirectory(prefix="bench-activation-") as work,
    ):
        folder = Path(work)
        kube = config.new_client_from_config(config_file=str(bed.kubeconfig))
        kubectl(bed, "apply", "-f", str(CRD))
        kubectl(bed, "wait", "--for=condition=Established",
                "crd/scalingpolicies.podscale.dev")  # fmt: skip
        client.CoreV1Api(kube).create_namespace(
            client.V1Namespace(metadata=client.V1ObjectMeta(name=NAMESPACE))
        )
        for name in names:
            prom.exporter.set(SERIES, queue_labels(NAMESPACE, name), 0)
        prom.server.wait_for(f'{SERIES}{{namespace="{NAMESPACE}"}}', count=len(names))
        objects = [deployment_manifest(name, 0) for name in names]
        objects += [activation_policy(name, poll=args.poll) for name in names]
        listing = {"apiVersion": "v1", "kind": "List", "items": objects}
        kubectl(bed, "apply", "-n", NAMESPACE, "-f", "-", input=json.dumps(listing))
        (folder / "metrics.yaml").write_text(DECLARATIONS)
        watch = ReplicaWatch(kube, NAMESPACE)
        service = AutoscalerRun(
            bed.kubeconfig, None, folder / "run.log",
            "--namespace", NAMESPACE, "--metrics-config", str(folder / "metrics.yaml"),
            "--prometheus-url", prom.server.url, "--sync-period", str(args.sync_period),
            "--listen", "127.0.0.1:0", "--log-format", "json",
        )  # fmt: skip
        try:
            base = service.listen_url()
            # Every target polled at least once: all of them wait on the fast path.
            wait_for(lambda: polls(base, "zero") >= len(names), "a poll of every target", 120)
            for name in names:
                if time.monotonic() - began > args.deadline - 60:
                    raise BenchError(f"--deadline {args.deadline:.0f} s reached")
                time.sleep(rng.uniform(0, pause))  # any phase of the polls (or syncs)
                latency = wake(prom, watch, name)
                if latency is None:
                    missed += 1
                else:
                    latencies.append(latency)
            by_poll = polls(base, "woke")
        finally:
            service.stop()
            watch.close()
            kube.close()
    report(latencies, missed, by_poll, args, wall=time.monotonic() - began)
    return 1 if missed or not latencies else 0


def report(
    latencies: list[float], missed: int, by_poll: float, args: argparse.Namespace, *, wall: float
) -> None:
    if not latencies:
        raise BenchError(f"no wake-up measured ({missed} missed)")
    p50, p95, worst = (percentile(latencies, q) for q in (50, 95, 100))
    verdict = "met" if p95 <= GOAL_P95 else "NOT met"
    poll = f"{args.poll:g} s" if args.poll is not None else "2 s (default)"
    print(
        f"\nwake-ups {len(latencies)} (missed {missed}), {by_poll:.0f} written by a poll "
        f"between syncs, the rest by a full sync"
    )
    print(
        f"first sample above the threshold -> 0 -> 1 write seen: p50 {p50:.2f} s, "
        f"p95 {p95:.2f} s, max {worst:.2f} s, min {min(latencies):.2f} s "
        f"(goal p95 <= {GOAL_P95:g} s: {verdict}); wall {wall:.0f} s"
    )
    print("\n--- Markdown for loadtest/RESULTS.md ---")
    print("### Scale-to-zero wake-up: first sample above threshold -> 0 -> 1 `/scale` write\n")
    print(f"Machine: {args.machine}; {time.strftime('%Y-%m-%d', time.gmtime())}.\n")
    print(
        "| targets at zero | pollSeconds | sync period | wake-ups | by a poll | p50 s | p95 s ",
        end="",
    )
    print("| max s |")
    print("| --- | --- | --- | --- | --- | --- | --- | --- |")
    print(
        f"| {args.targets} | {poll} | {args.sync_period:g} s | {len(latencies)} | "
        f"{by_poll:.0f} | {p50:.2f} | {p95:.2f} | {worst:.2f} |"
    )
    print(
        f"\nGoal p95 <= {GOAL_P95:g} s: {verdict}. Prometheus scrapes every 1 s; the write's "
        "time is when a watch saw spec.replicas change (at or after the write); each wake-up "
        f"follows a random pause of 0-{min(args.poll or 2.0, args.sync_period) + 0.5:g} s "
        f"(seed {args.seed})."
    )


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--targets", type=int, default=25, help="Deployments at zero (25)")
    parser.add_argument("--poll", type=float, default=None, help="pollSeconds (default 2)")
    parser.add_argument("--sync-period", type=float, default=15, help="full syncs (15 s)")
    parser.add_argument("--seed", type=int, default=13, help="seed of the pauses")
    parser.add_argument("--deadline", type=float, default=600, help="seconds, all included")
    args = parser.parse_args()
    try:
        return run(args)
    except (BenchError, TestbedError) as exc:
        print(f"bench_activation: {exc}", file=sys.stderr)
        return 1


if __name__ == "__main__":
    sys.exit(main())
