"""``autoscaler sim run``: argument parsing, setup errors as one line, signals.

Exit codes: 0 after a clean stop (``--duration`` over, SIGTERM or SIGINT), 2 when the
command line, the kubeconfig or the scenario cannot be used (one line on stderr).
On start one JSON line on stdout gives the admin and metrics addresses; on stop one
more gives the run's totals.
"""

from __future__ import annotations

import argparse
import signal
import sys
import threading
from collections.abc import Sequence
from types import FrameType
from typing import Any, TextIO

from autoscaler.core.quantity import QuantityError, to_milli

EXIT_OK = 0
EXIT_USAGE = 2


def _milli(text: str) -> int:
    try:
        return to_milli(text)
    except QuantityError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from None


def _positive(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a number: {text!r}") from None
    if not value > 0 or value == float("inf"):
        raise argparse.ArgumentTypeError(f"must be a finite number > 0 (got {text})")
    return value


def _port(text: str) -> int:
    if not text.isdigit() or int(text) > 65535:
        raise argparse.ArgumentTypeError(f"not a port number: {text!r}")
    return int(text)


def _count(text: str) -> int:
    if not text.isdigit():
        raise argparse.ArgumentTypeError(f"not a count >= 0: {text!r}")
    return int(text)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="autoscaler sim",
        description="Simulate kubelets, metrics-server and traffic against an API server.",
    )
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    run = commands.add_parser(
        "run",
        help="play kubelet, metrics-server and traffic against a cluster",
        description="Manage every Deployment, StatefulSet and Rollout found (or a "
        "scenario's): bind and run their pods on simulated nodes, serve their load and "
        "publish PodMetrics and Prometheus series. Loopback admin API: GET /workloads, "
        "PUT /workloads/NS/NAME/load.",
    )
    run.add_argument("--kubeconfig", required=True, metavar="FILE", help="kubeconfig to use")
    run.add_argument("--scenario", metavar="FILE", help="scenario YAML: models and loads")
    run.add_argument("--namespace", metavar="NS", help="only this namespace (default: all)")
    run.add_argument(
        "--tick",
        type=_positive,
        default=1.0,
        metavar="S",
        help="seconds between rounds (default 1)",
    )
    run.add_argument("--duration", type=_positive, metavar="S", help="stop after S seconds")
    run.add_argument(
        "--metric-resolution",
        type=_positive,
        metavar="S",
        help="rewrite each pod's PodMetrics at most every S seconds, the pods spread over "
        "S, like metrics-server's --metric-resolution (default: every tick)",
    )
    run.add_argument(
        "--nodes",
        type=_count,
        metavar="N",
        help="simulated nodes (default: the scenario's, else 3)",
    )
    run.add_argument("--node-cpu", type=_milli, metavar="Q", help="CPU per node (default 4)")
    run.add_argument(
        "--node-memory", type=_milli, metavar="Q", help="memory per node (default 16Gi)"
    )
    run.add_argument(
        "--node-pods", type=_count, default=110, metavar="N", help="pods per node (default 110)"
    )
    run.add_argument(
        "--node-prefix",
        default="sim-node",
        metavar="NAME",
        help="node names are NAME-0, NAME-1... (default sim-node)",
    )
    run.add_argument(
        "--admin-port",
        type=_port,
        default=0,
        metavar="PORT",
        help="admin API port on 127.0.0.1 (default: any free port)",
    )
    run.add_argument(
        "--metrics-port",
        type=_port,
        default=0,
        metavar="PORT",
        help="Prometheus /metrics port on 127.0.0.1 (default: any free port)",
    )
    run.add_argument(
        "--kubelet-cert",
        metavar="FILE",
        help="TLS certificate of the nodes' /metrics/resource endpoints (default: a "
        "self-signed one made with openssl)",
    )
    run.add_argument("--kubelet-key", metavar="FILE", help="its private key")
    return parser


def main(argv: Sequence[str], *, out: TextIO | None = None, err: TextIO | None = None) -> int:
    out = out or sys.stdout
    err = err or sys.stderr
    args = build_parser().parse_args(list(argv))
    return _run(args, out=out, err=err)


def _run(args: argparse.Namespace, *, out: TextIO, err: TextIO) -> int:
    if bool(args.kubelet_cert) != bool(args.kubelet_key):
        print("autoscaler sim: --kubelet-cert and --kubelet-key go together", file=err)
        return EXIT_USAGE
    # Imported here: the kubernetes client is slow to import and `--help` needs none of it.
    from kubernetes import config
    from kubernetes.config.config_exception import ConfigException

    from autoscaler.sim.api import Api, Warnings
    from autoscaler.sim.kubelet import NodeShape
    from autoscaler.sim.resource_metrics import TlsError
    from autoscaler.sim.runner import Options, Runner
    from autoscaler.sim.scenario import ScenarioError, load_scenario

    scenario = None
    if args.scenario:
        try:
            scenario = load_scenario(args.scenario)
        except ScenarioError as exc:
            print(f"autoscaler sim: {exc}", file=err)
            return EXIT_USAGE
    try:
        api_client = config.new_client_from_config(config_file=args.kubeconfig)  # type: ignore[no-untyped-call]
    except (ConfigException, OSError, ValueError, TypeError) as exc:
        message = " ".join(str(exc).split())
        print(f"autoscaler sim: cannot use kubeconfig {args.kubeconfig}: {message}", file=err)
        return EXIT_USAGE
    nodes = scenario.nodes if scenario is not None else None
    shape = NodeShape(
        count=args.nodes if args.nodes is not None else nodes.count if nodes else 3,
        cpu_milli=args.node_cpu
        if args.node_cpu is not None
        else nodes.cpu_milli
        if nodes
        else 4000,
        memory_bytes=-(-args.node_memory // 1000)
        if args.node_memory is not None
        else nodes.memory_bytes
        if nodes
        else 16 * 2**30,
        pods=args.node_pods,
        prefix=args.node_prefix,
    )
    options = Options(
        tick=args.tick,
        namespace=args.namespace,
        duration=args.duration,
        nodes=shape,
        scenario=scenario,
        admin_port=args.admin_port,
        metrics_port=args.metrics_port,
        metric_resolution=args.metric_resolution or 0.0,
        kubelet_cert=args.kubelet_cert,
        kubelet_key=args.kubelet_key,
    )
    warn = Warnings(lambda line: print(line, file=err, flush=True))
    stop = threading.Event()
    api = Api(api_client, warn=warn, timeout=options.request_timeout, stopping=stop.is_set)
    restore = _on_signals(stop)
    try:
        return Runner(api=api, options=options, out=out, warn=warn).run(stop)
    except (OSError, TlsError) as exc:  # e.g. the admin or metrics port is taken
        print(f"autoscaler sim: {' '.join(str(exc).split())}", file=err)
        return EXIT_USAGE
    finally:
        restore()
        api_client.close()


def _on_signals(stop: threading.Event) -> Any:
    """SIGTERM and SIGINT set ``stop`` (main thread only); returns the undo function."""
    if threading.current_thread() is not threading.main_thread():
        return lambda: None

    def handler(signum: int, frame: FrameType | None) -> None:
        stop.set()

    previous = {s: signal.signal(s, handler) for s in (signal.SIGTERM, signal.SIGINT)}

    def restore() -> None:
        for signum, old in previous.items():
            signal.signal(signum, old)

    return restore
