"""External metrics adapter: requests/s and latency of a cached metric vs per-request queries.

One command (``.venv/bin/python loadtest/bench_adapter.py``) starts a real Prometheus and
a test exporter on loopback, two ``autoscaler adapter`` processes (plain HTTP,
``--insecure-dev``: the aggregator keeps its connections open, so TLS handshakes are
not part of the steady state) — one answering from its cache, one with ``--direct``,
querying Prometheus on every request as prometheus-adapter does — and drives the same
value request at each with ``wrk`` (Debian: ``apt-get install -y wrk``) or, without it,
a small asyncio keep-alive client. Bounded: ``--seconds`` per run (default 10). Prints
the machine, the figures and the ratio as text and one JSON line.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import platform
import re
import shutil
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO / "tests"))

from procstat import cpu_model  # noqa: E402
from prometheus_fixture import free_port, running_exporter, running_prometheus  # noqa: E402

DECLARATIONS = """\
apiVersion: podscale.dev/v1alpha1
kind: MetricDeclarations
metadata: {name: bench}
spec:
  metrics:
    - name: queue_depth
      type: External
      query: 'sum by (queue) (bench_queue_depth{namespace="{namespace}", {selector}})'
      maxAge: 60
      cacheTTL: 5
"""
PATH = (
    "/apis/external.metrics.k8s.io/v1beta1/namespaces/bench/queue_depth?labelSelector=queue%3Djobs"
)


def start_adapter(declarations: Path, prometheus: str, *, direct: bool) -> tuple[Any, str]:
    port = free_port()
    command = [
        sys.executable,
        "-m",
        "autoscaler",
        "adapter",
        "--insecure-dev",
        "--metrics-config",
        str(declarations),
        "--prometheus-url",
        prometheus,
        "--listen",
        f"127.0.0.1:{port}",
        *(["--direct"] if direct else []),
    ]
    process = subprocess.Popen(
        command,
        cwd=REPO,
        stdin=subprocess.DEVNULL,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    url = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 30
    while True:
        try:
            with urllib.request.urlopen(url + PATH, timeout=5) as answer:
                if answer.status == 200 and json.loads(answer.read())["items"]:
                    return process, url
        except (OSError, ValueError, KeyError):
            pass
        if time.monotonic() > deadline or process.poll() is not None:
            process.kill()
            raise SystemExit("bench_adapter: the adapter did not answer within 30 s")
        time.sleep(0.2)


def run_wrk(url: str, *, seconds: int, connections: int) -> dict[str, float]:
    done = subprocess.run(
        ["wrk", "-t1", f"-c{connections}", f"-d{seconds}s", "--latency", url + PATH],
        capture_output=True,
        text=True,
        timeout=seconds + 30,
        check=True,
    )
    out = done.stdout

    def ms(label: str) -> float:
        match = re.search(rf"^\s+{label}%\s+([\d.]+)(us|ms|s)\s*$", out, re.M)
        if match is None:
            return float("nan")
        scale = {"us": 0.001, "ms": 1.0, "s": 1000.0}[match[2]]
        return float(match[1]) * scale

    rps = float(re.search(r"Requests/sec:\s+([\d.]+)", out)[1])  # type: ignore[index]
    errors = re.search(r"Non-2xx or 3xx responses: (\d+)", out)
    return {
        "rps": rps,
        "p50_ms": ms("50"),
        "p99_ms": ms("99"),
        "non_2xx": float(errors[1]) if errors else 0.0,
    }


async def _python_load(url: str, *, seconds: int, connections: int) -> dict[str, float]:
    host, port = url.removeprefix("http://").split(":")
    request = f"GET {PATH} HTTP/1.1\r\nHost: {host}\r\nAccept: application/json\r\n\r\n".encode()
    latencies: list[float] = []
    stop = time.monotonic() + seconds

    async def worker() -> None:
        reader, writer = await asyncio.open_connection(host, int(port))
        while time.monotonic() < stop:
            started = time.perf_counter()
            writer.write(request)
            head = await reader.readuntil(b"\r\n\r\n")
            length = int(re.search(rb"content-length: (\d+)", head, re.I)[1])  # type: ignore[index]
            await reader.readexactly(length)
            latencies.append(time.perf_counter() - started)
        writer.close()

    began = time.monotonic()
    await asyncio.gather(*(worker() for _ in range(connections)))
    elapsed = time.monotonic() - began
    latencies.sort()
    pick = lambda q: latencies[min(len(latencies) - 1, int(q * len(latencies)))] * 1000  # noqa: E731
    return {
        "rps": len(latencies) / elapsed,
        "p50_ms": pick(0.5),
        "p99_ms": pick(0.99),
        "non_2xx": 0.0,
    }


def load(url: str, *, seconds: int, connections: int) -> dict[str, float]:
    if shutil.which("wrk"):
        return run_wrk(url, seconds=seconds, connections=connections)
    return asyncio.run(_python_load(url, seconds=seconds, connections=connections))


def machine() -> str:
    model = cpu_model()
    return (
        f"{os.cpu_count()} cores, {model}, Python {platform.python_version()}, {platform.system()}"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=int, default=10, help="per run (default 10)")
    parser.add_argument("--connections", type=int, default=8, help="keep-alive connections")
    args = parser.parse_args()
    if not 1 <= args.seconds <= 120:
        raise SystemExit("bench_adapter: --seconds must be 1..120")
    tool = "wrk" if shutil.which("wrk") else "python asyncio client"
    with (
        tempfile.TemporaryDirectory() as workdir,
        running_exporter() as exporter,
        running_prometheus([exporter.target]) as prometheus,
    ):
        for queue in ("jobs", "mail", "reports"):
            exporter.set("bench_queue_depth", {"namespace": "bench", "queue": queue}, 1500)
        prometheus.wait_for('bench_queue_depth{namespace="bench"}', count=3, timeout=30)
        declarations = Path(workdir, "metrics.yaml")
        declarations.write_text(DECLARATIONS)
        results: dict[str, dict[str, float]] = {}
        for mode in ("cached", "direct"):
            process, url = start_adapter(declarations, prometheus.url, direct=mode == "direct")
            try:
                load(url, seconds=1, connections=args.connections)  # warm-up
                results[mode] = load(url, seconds=args.seconds, connections=args.connections)
            finally:
                process.terminate()
                process.wait(timeout=15)
    cached, direct = results["cached"], results["direct"]
    ratio = cached["rps"] / direct["rps"] if direct["rps"] else float("inf")
    print(f"machine: {machine()}")
    print(
        f"load: {tool}, {args.connections} keep-alive connections, {args.seconds} s per mode, "
        "plain HTTP on loopback, one value request (3 series)"
    )
    for mode, figures in results.items():
        print(
            f"{mode:>7}: {figures['rps']:8.0f} requests/s  p50 {figures['p50_ms']:.2f} ms  "
            f"p99 {figures['p99_ms']:.2f} ms  non-2xx {figures['non_2xx']:.0f}"
        )
    goal = cached["rps"] >= 3000 and cached["p99_ms"] < 10
    print(
        f"cached / per-request query: {ratio:.1f}x requests/s; "
        f"goal >= 3000 requests/s with p99 < 10 ms: {'met' if goal else 'NOT met'}"
    )
    print(
        json.dumps(
            {
                "bench": "adapter",
                "machine": machine(),
                "tool": tool,
                "connections": args.connections,
                "seconds": args.seconds,
                "results": results,
                "ratio": ratio,
                "goal_met": goal,
            }
        )
    )


if __name__ == "__main__":
    main()
