"""External metrics adapter under a connection flood: memory per connection, how long
slow clients live, and the latency of authenticated requests meanwhile (issue 11).

One command: ``.venv/bin/python loadtest/bench_adapter_flood.py``. It starts a real
Prometheus and exporter on loopback and ``autoscaler adapter`` processes with real TLS
(a self-signed serving pair, a front-proxy CA whose client certificate authenticates
the prober as the aggregator does; a kubeconfig that is never called). Two
configurations of the same adapter, each flood on a fresh process:

- ``guarded``: the default limits (``--max-connections 256``, 10 s handshake and
  header deadlines);
- ``lifted``: ``--max-connections 100000 --handshake-timeout 300 --header-timeout
  300``, which spends what the adapter spent before the guard (uvicorn alone: no cap,
  asyncio's 60 s handshake timeout, no header deadline; issue 11 measured 72 MB ->
  687 MB for 2,000 silent connections and 50 of 50 slow-header clients open after 75 s).

Floods, from this process: ``--connections`` bare TCP connections that send nothing;
the same number of TLS-handshaken connections that send nothing, while a separate
prober process sends authenticated value requests on a keep-alive connection and on a
new TLS connection every 100 ms (p50/p99, failures); ``--slow`` clients that connect and
send nothing, and ``--slow`` that handshake and send header bytes one per second, each
watched for at most ``--slow-seconds``. Loopback only; everything bounded in count and
time. Prints the figures as text and one JSON line.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import http.client
import json
import ssl
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parent.parent
sys.path[:0] = [str(REPO / "tests"), str(REPO / "tests" / "adapter"), str(REPO / "loadtest")]

from adapter_support import make_pki  # noqa: E402
from bench_adapter import DECLARATIONS, PATH, machine  # noqa: E402
from procstat import rss_mib  # noqa: E402
from prometheus_fixture import free_port, running_exporter, running_prometheus  # noqa: E402

MODES = {
    "guarded": [],
    "lifted": [
        *("--max-connections", "100000"),
        *("--handshake-timeout", "300", "--header-timeout", "300"),
    ],
}
CLIENTS = ("keep_alive", "new_connection")
AGGREGATOR = {"X-Remote-User": "system:kube-aggregator", "X-Remote-Group": "system:masters"}
KUBECONFIG = """\
apiVersion: v1
kind: Config
clusters: [{name: none, cluster: {server: "https://127.0.0.1:9"}}]
users: [{name: none, user: {token: unused}}]
contexts: [{name: none, context: {cluster: none, user: none}}]
current-context: none
"""


@dataclass(frozen=True)
class Setup:
    pki: Path
    declarations: Path
    kubeconfig: Path
    prometheus: str


def client_context(pki: Path, *, certificate: bool) -> ssl.SSLContext:
    context = ssl.create_default_context(cafile=str(pki / "tls.crt"))
    if certificate:
        context.load_cert_chain(pki / "front-proxy-client.crt", pki / "front-proxy-client.key")
    return context


@contextlib.contextmanager
def adapter(setup: Setup, mode: str) -> Iterator[tuple[subprocess.Popen[bytes], int]]:
    port = free_port()
    command = [
        sys.executable, "-m", "autoscaler", "adapter",
        "--metrics-config", str(setup.declarations), "--prometheus-url", setup.prometheus,
        "--listen", f"127.0.0.1:{port}", "--kubeconfig", str(setup.kubeconfig),
        "--tls-cert", str(setup.pki / "tls.crt"), "--tls-key", str(setup.pki / "tls.key"),
        "--requestheader-client-ca-file", str(setup.pki / "front-proxy-ca.crt"),
        "--requestheader-allowed-names", "front-proxy-client", *MODES[mode],
    ]  # fmt: skip
    quiet = subprocess.DEVNULL
    process = subprocess.Popen(command, cwd=REPO, stdin=quiet, stdout=quiet, stderr=quiet)
    try:
        deadline = time.monotonic() + 30
        while request(port, setup.pki) != 200:
            if time.monotonic() > deadline or process.poll() is not None:
                raise SystemExit("bench_adapter_flood: the adapter did not answer within 30 s")
            time.sleep(0.3)
        yield process, port
    finally:
        process.terminate()
        process.wait(timeout=15)


def request(port: int, pki: Path, connection: http.client.HTTPSConnection | None = None) -> int:
    """One authenticated value request (a new connection unless one is given)."""
    own = connection is None
    if connection is None:
        context = client_context(pki, certificate=True)
        connection = http.client.HTTPSConnection("127.0.0.1", port, context=context, timeout=10)
    try:
        connection.request("GET", PATH, headers=AGGREGATOR)
        answer = connection.getresponse()
        body = answer.read()
        return answer.status if answer.status != 200 or b'"items":[{' in body else 0
    except (OSError, http.client.HTTPException):
        return -1
    finally:
        if own:
            connection.close()


def probe(port: int, pki: Path, stop_file: Path) -> dict[str, Any]:
    """Requests until ``stop_file`` exists (at most 60 s): keep-alive ones back to back,
    and a new TLS connection every 100 ms."""
    context = client_context(pki, certificate=True)
    kept = http.client.HTTPSConnection("127.0.0.1", port, context=context, timeout=10)
    series: dict[str, list[float]] = {"keep_alive": [], "new_connection": []}
    failed = {"keep_alive": 0, "new_connection": 0}
    stop, next_new = time.monotonic() + 60, 0.0
    ready = stop_file.with_suffix(".ready")
    while (now := time.monotonic()) < stop and not stop_file.exists():
        if series["keep_alive"] and not ready.exists():
            ready.touch()
        kind = "new_connection" if now >= next_new else "keep_alive"
        next_new = now + 0.1 if kind == "new_connection" else next_new
        started = time.perf_counter()
        status = request(port, pki, None if kind == "new_connection" else kept)
        if status == 200:
            series[kind].append((time.perf_counter() - started) * 1000)
        else:
            failed[kind] += 1
            if kind == "keep_alive":
                kept.close()  # reconnects on the next request
        time.sleep(0.002)
    return {kind: summary(values, failed[kind]) for kind, values in series.items()}


class Prober:
    """The prober in its own process (its latency is not this process's event loop)."""

    def __init__(self, port: int, pki: Path) -> None:
        self.stop_file = pki.parent / f"stop-{time.monotonic_ns()}"
        command = [sys.executable, __file__, "--probe", str(port), str(pki), str(self.stop_file)]
        self.process = subprocess.Popen(command, stdout=subprocess.PIPE, text=True)
        deadline = time.monotonic() + 30
        while not self.stop_file.with_suffix(".ready").exists():
            if time.monotonic() > deadline or self.process.poll() is not None:
                raise SystemExit("bench_adapter_flood: the prober did not start within 30 s")
            time.sleep(0.05)

    def result(self) -> dict[str, Any]:
        self.stop_file.touch()
        return dict(json.loads(self.process.communicate(timeout=60)[0]))


def summary(values: list[float], failed: int) -> dict[str, float]:
    values.sort()
    pick = lambda q: values[min(len(values) - 1, int(q * len(values)))] if values else -1.0  # noqa: E731
    return {"requests": len(values), "failed": failed, "p50_ms": pick(0.5), "p99_ms": pick(0.99)}


async def open_flood(port: int, count: int, context: ssl.SSLContext | None) -> list[Any]:
    """``count`` connections that send nothing (TLS-handshaken when ``context``)."""
    gate = asyncio.Semaphore(64)

    async def one() -> Any:
        async with gate:
            try:
                name = "127.0.0.1" if context else None
                connecting = asyncio.open_connection(
                    "127.0.0.1", port, ssl=context, server_hostname=name
                )
                return await asyncio.wait_for(connecting, timeout=15)
            except (TimeoutError, OSError, ssl.SSLError):
                return None

    return list(await asyncio.gather(*(one() for _ in range(count))))


def still_open(pairs: list[Any]) -> int:
    return sum(1 for p in pairs if p is not None and not p[0].at_eof())


def close_all(pairs: list[Any]) -> None:
    for pair in pairs:
        if pair is not None:
            pair[1].transport.abort()


async def memory_flood(setup: Setup, mode: str, count: int, *, tls: bool) -> dict[str, Any]:
    """RSS and request latency while ``count`` silent connections connect, then held."""
    with adapter(setup, mode) as (process, port):
        before = rss_mib(process.pid)
        peak = [before]

        async def sample() -> None:
            while True:
                peak[0] = max(peak[0], rss_mib(process.pid))
                await asyncio.sleep(0.2)

        sampler = asyncio.create_task(sample())
        at_rest = Prober(port, setup.pki)
        await asyncio.sleep(3.0)
        latency = {"is absent": at_rest.result()}
        connecting = Prober(port, setup.pki)
        began = time.monotonic()
        context = client_context(setup.pki, certificate=False) if tls else None
        pairs = await open_flood(port, count, context)
        opened = time.monotonic() - began
        latency["connects"] = connecting.result()
        await asyncio.sleep(1.0)
        after, held = rss_mib(process.pid), still_open(pairs)
        held_probe = Prober(port, setup.pki)
        await asyncio.sleep(4.0)
        latency["is held"] = held_probe.result()
        sampler.cancel()
        close_all(pairs)
    grown = max(0.0, after - before)
    return {
        "rss_before_mib": round(before, 1),
        "rss_after_mib": round(after, 1),
        "rss_peak_mib": round(peak[0], 1),
        "held": held,
        "kib_per_held": round(grown * 1024 / held, 1) if held else 0.0,
        "open_seconds": round(opened, 1),
        "latency": latency,
    }


async def slow_clients(setup: Setup, mode: str, count: int, seconds: float) -> dict[str, Any]:
    """How long silent and slow-header clients stay open (at most ``seconds``)."""
    request_head = b"GET " + PATH.encode() + b" HTTP/1.1\r\nHost: x\r\nX-Slow: " + b"a" * 500
    with adapter(setup, mode) as (_, port):
        silent = await open_flood(port, count, None)
        slow = await open_flood(port, count, client_context(setup.pki, certificate=False))
        began = time.monotonic()
        lived: dict[str, list[float]] = {"silent": [], "slow_headers": []}
        for tick in range(int(seconds)):
            for _, writer in (p for p in slow if p is not None and not p[0].at_eof()):
                writer.write(request_head[tick : tick + 1])
            await asyncio.sleep(1.0)
            for name, pairs in (("silent", silent), ("slow_headers", slow)):
                lived[name] += [time.monotonic() - began for p in pairs if _ended_now(p)]
        result = {
            name: {
                "closed": len(times),
                "still_open": still_open(pairs),
                "max_seconds": round(max(times), 1) if times else None,
            }
            for (name, times), pairs in zip(lived.items(), (silent, slow), strict=True)
        }
        close_all(silent + slow)
    return result


def _ended_now(pair: Any) -> bool:
    """True once per connection, the first time it is seen closed by the server."""
    if pair is None or getattr(pair[1], "_bench_seen", False) or not pair[0].at_eof():
        return False
    pair[1]._bench_seen = True
    return True


async def run(setup: Setup, args: argparse.Namespace) -> dict[str, Any]:
    results: dict[str, Any] = {}
    for mode in MODES:
        results[mode] = {
            "bare_tcp": await memory_flood(setup, mode, args.connections, tls=False),
            "tls": await memory_flood(setup, mode, args.connections, tls=True),
            "slow": await slow_clients(setup, mode, args.slow, args.slow_seconds),
        }
    return results


def report(results: dict[str, Any], args: argparse.Namespace) -> None:
    print(f"machine: {machine()}")
    print(
        f"flood: {args.connections} silent connections per kind (bare TCP; TLS-handshaken), "
        f"{args.slow} slow clients of each kind watched {args.slow_seconds:g} s; "
        "adapter with real TLS on loopback; requests from a separate prober process"
    )
    for mode, figures in results.items():
        print(f"{mode} ({' '.join(MODES[mode]) or 'default limits'}):")
        for kind in ("bare_tcp", "tls"):
            f = figures[kind]
            print(
                f"  {kind:>8} flood: RSS {f['rss_before_mib']:.0f} MiB at rest, peak "
                f"{f['rss_peak_mib']:.0f}, {f['rss_after_mib']:.0f} held; {f['held']} held open, "
                f"{f['kib_per_held']:.0f} KiB per held connection (connected in "
                f"{f['open_seconds']:.1f} s)"
            )
            for phase, by_kind in f["latency"].items():
                text = "; ".join(
                    f"{k} p50 {v['p50_ms']:.1f} ms p99 {v['p99_ms']:.1f} ms "
                    f"({v['requests']} ok, {v['failed']} failed)"
                    for k, v in by_kind.items()
                )
                print(f"    requests while the flood {phase:>9}: {text}")
        for kind, f in figures["slow"].items():
            longest = f"{f['max_seconds']} s" if f["max_seconds"] is not None else "-"
            print(
                f"  slow clients, {kind}: {f['closed']} closed (the last after {longest}), "
                f"{f['still_open']} still open after {args.slow_seconds:g} s"
            )
    guarded = results["guarded"]
    floods = [guarded[k] for k in ("bare_tcp", "tls")]
    peak = max(f["rss_peak_mib"] for f in floods)
    kept = max(f["latency"]["is held"]["keep_alive"]["p99_ms"] for f in floods)
    new = max(f["latency"]["is held"]["new_connection"]["p99_ms"] for f in floods)
    new_at_rest = max(f["latency"]["is absent"]["new_connection"]["p99_ms"] for f in floods)
    failed = sum(f["latency"]["is held"][c]["failed"] for f in floods for c in CLIENTS)
    slow_open = sum(f["still_open"] for f in guarded["slow"].values())
    goal = peak < 384 and kept < 100 and failed == 0 and slow_open == 0
    print(
        f"guarded: peak RSS {peak:.0f} MiB (limit 512 Mi); while the flood is held: "
        f"keep-alive p99 {kept:.1f} ms, new-connection p99 {new:.1f} ms (at rest "
        f"{new_at_rest:.1f} ms), {failed} failed; slow clients left open: {slow_open}; goal "
        "(peak < 384 MiB, keep-alive p99 < 100 ms, no failure, slow clients closed): "
        f"{'met' if goal else 'NOT met'}"
    )
    print(json.dumps({"bench": "adapter_flood", "machine": machine(), "results": results}))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--connections", type=int, default=2000, help="per flood (2000)")
    parser.add_argument("--slow", type=int, default=50, help="slow clients of each kind (50)")
    parser.add_argument("--slow-seconds", type=float, default=30, help="watch them (30 s)")
    parser.add_argument("--probe", nargs=3, help=argparse.SUPPRESS)  # PORT PKI STOP-FILE
    args = parser.parse_args()
    if args.probe:
        port, pki, stop_file = args.probe
        print(json.dumps(probe(int(port), Path(pki), Path(stop_file))))
        return
    if not 1 <= args.connections <= 5000 or not 1 <= args.slow <= 500:
        raise SystemExit("bench_adapter_flood: --connections 1..5000, --slow 1..500")
    if not 5 <= args.slow_seconds <= 120:
        raise SystemExit("bench_adapter_flood: --slow-seconds 5..120")
    with (
        tempfile.TemporaryDirectory() as workdir,
        running_exporter() as exporter,
        running_prometheus([exporter.target]) as prometheus,
    ):
        exporter.set("bench_queue_depth", {"namespace": "bench", "queue": "jobs"}, 1500)
        prometheus.wait_for('bench_queue_depth{namespace="bench"}', count=1, timeout=30)
        folder = Path(workdir)
        (folder / "metrics.yaml").write_text(DECLARATIONS)
        (folder / "kubeconfig").write_text(KUBECONFIG)
        make_pki(folder / "pki")
        setup = Setup(
            folder / "pki", folder / "metrics.yaml", folder / "kubeconfig", prometheus.url
        )
        results = asyncio.run(run(setup, args))
    report(results, args)


if __name__ == "__main__":
    main()
