"""``autoscaler run``: the service users deploy next to their workloads.

Flags mirror the ``AUTOSCALER_*`` environment variables of ``autoscaler.settings``; a
flag wins over the environment. Every start-up problem (bad setting, unreadable
kubeconfig, no policies) is one line on stderr and exit status 2.
"""

from __future__ import annotations

import argparse
import logging
import signal
import sys
from collections.abc import Sequence
from types import FrameType
from typing import TYPE_CHECKING, Any, TextIO

if TYPE_CHECKING:  # the heavy imports wait for `run`: `autoscaler decide` must start fast
    from autoscaler.settings import Settings

log = logging.getLogger("autoscaler.run")


def add_arguments(parser: argparse.ArgumentParser) -> None:
    arg = parser.add_argument
    arg("--kubeconfig", help="kubeconfig file (default: $KUBECONFIG, in-cluster, ~/.kube/config)")
    arg("--context", help="kubeconfig context")
    arg(
        "--as",
        dest="impersonate",
        metavar="USER",
        help="act as USER, e.g. system:serviceaccount:podscale-system:podscale (RBAC checks)",
    )
    arg("--policies", nargs="+", metavar="PATH", help="policy files or folders")
    arg("--namespace", help="only policies in this namespace")
    arg(
        "--watch-cache",
        action=argparse.BooleanOptionalAction,
        default=None,
        help="serve pods and workloads from watch caches (default: on)",
    )
    arg("--metrics-config", nargs="+", metavar="PATH", help="MetricDeclarations files or folders")
    arg("--prometheus-url", metavar="URL", help="Prometheus for declared metrics")
    arg(
        "--resource-metrics",
        choices=["metrics-server", "prometheus"],
        help="where CPU and memory come from (metrics-server)",
    )
    arg("--prometheus-timeout", type=float, metavar="SECONDS", help="per query (5)")
    arg(
        "--crds",
        dest="policy_crds",
        action=argparse.BooleanOptionalAction,
        default=None,
        help="also read ScalingPolicy objects (default: on)",
    )
    arg("--sync-period", type=float, metavar="SECONDS", help="seconds between syncs (15)")
    arg("--tolerance", type=float, help="HPA tolerance (0.1)")
    arg("--cpu-initialization-period", type=float, metavar="SECONDS", help="(300)")
    arg("--initial-readiness-delay", type=float, metavar="SECONDS", help="(30)")
    arg("--downscale-stabilization", type=float, metavar="SECONDS", help="(300)")
    arg("--dry-run", action="store_true", default=None, help="compute and report, never patch")
    arg(
        "--record",
        metavar="FILE",
        help="append each snapshot and its decision to FILE (JSON lines; replay with "
        "`autoscaler decide`); it grows with every sync: for troubleshooting",
    )
    arg(
        "--leader-elect",
        action="store_true",
        default=None,
        help="elect one writer among replicas with a coordination.k8s.io Lease",
    )
    arg("--leader-elect-namespace", metavar="NS", help="namespace of the Lease (default)")
    arg("--leader-elect-name", metavar="NAME", help="name of the Lease (podscale)")
    arg("--leader-elect-identity", metavar="ID", help="this replica's identity (hostname-pid)")
    arg("--lease-duration", type=float, metavar="SECONDS", help="(15)")
    arg("--renew-deadline", type=float, metavar="SECONDS", help="(10)")
    arg("--retry-period", type=float, metavar="SECONDS", help="(2)")
    arg("--listen", metavar="HOST:PORT", help="address for /metrics, /healthz, /readyz")
    arg("--log-format", choices=["json", "text"])
    arg("--log-level", choices=["debug", "info", "warning", "error"])
    arg("--once", action="store_true", help="sync once, print the outcomes as JSON, and exit")


def _settings(args: argparse.Namespace) -> Settings:
    from autoscaler.settings import Settings

    # Every flag named like a setting overrides it (and its AUTOSCALER_* variable).
    overrides: dict[str, Any] = {
        k: v for k, v in vars(args).items() if k in Settings.model_fields and v is not None
    }
    return Settings(**overrides)


_FLAGS = {"policy_crds": "--crds", "impersonate": "--as"}  # flags not named after the field


def _setting_source(field: str, args: argparse.Namespace) -> str:
    """Where a bad setting came from, as the user wrote it: the flag, else the variable."""
    if getattr(args, field, None) is not None:
        return _FLAGS.get(field, "--" + field.replace("_", "-"))
    return f"AUTOSCALER_{field.upper()}"


def _custom_metrics(settings: Settings) -> Any:
    """Pods/Object/External metrics from Prometheus, when metric declarations are given."""
    if not settings.metrics_config:
        return None
    from autoscaler.loop.custom_metrics import PrometheusMetrics
    from autoscaler.metrics.declarations import load_declarations
    from autoscaler.metrics.prometheus import PrometheusSettings, PrometheusSource

    loaded = load_declarations(settings.metrics_config)
    if loaded.errors:
        more = f" (and {len(loaded.errors) - 1} more)" if len(loaded.errors) > 1 else ""
        raise ValueError(f"--metrics-config: {loaded.errors[0].format()}{more}")
    if not settings.prometheus_url:
        raise ValueError("--metrics-config needs --prometheus-url")
    source = PrometheusSource(
        settings=PrometheusSettings(
            url=settings.prometheus_url, timeout=settings.prometheus_timeout
        )
    )
    return PrometheusMetrics(source, loaded.metrics)


def _host_port(text: str) -> tuple[str, int]:
    host, _, port = text.rpartition(":")
    if not host or not port.isdigit() or int(port) > 65535:
        raise ValueError(f"--listen must be HOST:PORT with a port up to 65535 (got {text!r})")
    return host, int(port)


def _missing_policy_paths(paths: Sequence[str]) -> str | None:
    """The first ``--policies`` path that does not exist: a typo, not an empty ConfigMap."""
    import os

    return next((path for path in paths if not os.path.lexists(path)), None)


def run(args: argparse.Namespace, out: TextIO, err: TextIO) -> int:
    from pydantic import ValidationError

    from autoscaler.kube.api import Api, connect
    from autoscaler.kube.events import KubeEvents
    from autoscaler.kube.pods import KubePods
    from autoscaler.kube.policies import KubePolicies
    from autoscaler.kube.scale import KubeScales
    from autoscaler.loop.controller import Controller
    from autoscaler.loop.policies import Policies
    from autoscaler.loop.service import Service, serve_http
    from autoscaler.ports import LoopError
    from autoscaler.telemetry import setup_logging

    try:
        settings = _settings(args)
        host, port = _host_port(settings.listen)
    except ValidationError as exc:
        first = exc.errors()[0]
        where = _setting_source(str(first["loc"][0]), args) if first["loc"] else "settings"
        message = first["msg"].removeprefix("Value error, ")
        print(f"autoscaler run: {where}: {message}", file=err)
        return 2
    except ValueError as exc:
        print(f"autoscaler run: {exc}", file=err)
        return 2
    if not settings.policies and not settings.policy_crds:
        print("autoscaler run: no policies: give --policies PATH or leave --crds on", file=err)
        return 2
    missing = _missing_policy_paths(settings.policies)
    if missing is not None:
        print(f"autoscaler run: --policies: {missing}: no such file or directory", file=err)
        return 2
    setup_logging(fmt=settings.log_format, level=settings.log_level)
    try:
        api = Api(connect(settings.kubeconfig, settings.context), impersonate=settings.impersonate)
    except LoopError as exc:
        print(f"autoscaler run: {exc}", file=err)
        return 2
    pods: Any = KubePods(api)
    scales: Any = KubeScales(api)
    usage: Any = pods
    watched_pods = None
    if settings.watch_cache and not args.once:
        from autoscaler.kube.cache import CachedPods, CachedScales, NamespaceMetrics

        pods = watched_pods = CachedPods(api, namespace=settings.namespace)
        scales = CachedScales(api, namespace=settings.namespace)
        usage = NamespaceMetrics(api)
    elector = None
    if settings.leader_elect:
        import os
        import socket
        import uuid

        from autoscaler.kube.leases import KubeLeases
        from autoscaler.loop.leader import LeaderElector

        elector = LeaderElector(
            KubeLeases(
                api, namespace=settings.leader_elect_namespace, name=settings.leader_elect_name
            ),
            identity=settings.leader_elect_identity
            or f"{socket.gethostname()}-{os.getpid()}-{uuid.uuid4().hex[:8]}",
            lease_duration=settings.lease_duration,
            renew_deadline=settings.renew_deadline,
            retry_period=settings.retry_period,
        )
    try:
        custom_metrics = _custom_metrics(settings)
    except ValueError as exc:
        print(f"autoscaler run: {exc}", file=err)
        return 2
    resource_metrics: Any = usage
    if settings.resource_metrics == "prometheus":
        from autoscaler.loop.resource_prometheus import PrometheusResourceMetrics
        from autoscaler.metrics.prometheus import PrometheusSettings, PrometheusSource

        resource_metrics = PrometheusResourceMetrics(
            PrometheusSource(
                settings=PrometheusSettings(
                    url=str(settings.prometheus_url), timeout=settings.prometheus_timeout
                )
            )
        )
    recorder = None
    if settings.record:
        from autoscaler.loop.recorder import Recorder

        try:
            recorder = Recorder(settings.record)
        except OSError as exc:
            print(f"autoscaler run: --record {settings.record}: {exc.strerror or exc}", file=err)
            return 2
    controller = Controller(
        scales=scales,
        pods=pods,
        resource_metrics=resource_metrics,
        custom_metrics=custom_metrics,
        settings=settings.decision_settings(),
        dry_run=settings.dry_run,
        can_write=elector.leading if elector else lambda: True,
        observer=recorder,
    )
    policies = Policies(
        store=KubePolicies(api, namespace=settings.namespace),
        events=KubeEvents(api),
        workloads=KubeScales(api),
        files=settings.policies,
        namespace=settings.namespace,
        crds=settings.policy_crds,
        watch=settings.watch_cache and not args.once,
    )
    service = Service(
        controller=controller,
        load_targets=lambda now: policies.load(now=now),
        report=lambda outcomes, now: policies.report(outcomes, now=now),
        complete=lambda: policies.complete,
        period=settings.sync_period,
        is_leader=elector.leading if elector else None,
    )
    service.metrics.expose_process(
        kube_requests=lambda: api.requests,
        prometheus_queries=lambda: (
            getattr(custom_metrics, "total_queries", 0) + getattr(resource_metrics, "queries", 0)
        ),
        leading=elector.leading if elector else lambda: True,
        sync_period=settings.sync_period,
    )
    if args.once:
        import json

        from autoscaler.documents import decision_to_document, snapshot_to_document

        outcomes = service.sync_once()
        out.write(
            json.dumps(
                [
                    {
                        "policy": o.target.key,
                        "target": str(o.target.ref),
                        "current": o.current,
                        "patched": o.patched,
                        "error": o.error,
                        "decision": None
                        if o.decision is None
                        else decision_to_document(o.decision),
                        # Feeds `autoscaler decide` to the same decision.
                        "snapshot": None
                        if o.snapshot is None
                        else snapshot_to_document(o.snapshot),
                    }
                    for o in outcomes
                ],
                indent=2,
            )
            + "\n"
        )
        return 0
    try:
        server = serve_http(service, host, port)
    except OSError as exc:
        print(
            f"autoscaler run: cannot listen on {settings.listen}: {exc.strerror or exc}", file=err
        )
        return 2

    def stop(signum: int, frame: FrameType | None) -> None:
        log.info("stopping on signal %s", signum)
        service.stop.set()

    signal.signal(signal.SIGTERM, stop)
    signal.signal(signal.SIGINT, stop)
    log.info(
        "started",
        extra={
            "policies": settings.policies,
            "sync_period": settings.sync_period,
            "listen": f"{host}:{server.server_address[1]}",
            "dry_run": settings.dry_run,
        },
    )
    if watched_pods is not None:
        watched_pods.start()  # only now: a start-up error above leaves no watch running
    if elector is not None:
        import threading

        threading.Thread(target=elector.run, name="leader-election", daemon=True).start()
    service.run()
    if elector is not None:
        elector.stop.set()
        elector.release()
    server.shutdown()
    return 0


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="autoscaler run")
    add_arguments(parser)
    return run(parser.parse_args(argv), sys.stdout, sys.stderr)
