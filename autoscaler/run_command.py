"""``autoscaler run``: the service users deploy next to their workloads.

Its flags are generated from :class:`autoscaler.settings.Settings` (each also an
``AUTOSCALER_*`` variable; a flag wins). ``run`` reads as its steps: settings, connect,
sources, service, then one sync (``--once``) or serve until a signal. Every start-up
problem (bad setting, unreadable kubeconfig, no policies) is one line on stderr and exit
status 2, before anything listens or watches.
"""

from __future__ import annotations

import argparse
import logging
import sys
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, TextIO

if TYPE_CHECKING:  # the heavy imports wait for `run`: `autoscaler decide` must start fast
    from autoscaler.forecast.forecaster import SeasonalForecaster
    from autoscaler.kube.api import Api
    from autoscaler.kube.cache import CachedPods
    from autoscaler.loop.controller import Outcome
    from autoscaler.loop.custom_metrics import PrometheusMetrics
    from autoscaler.loop.forecasting import Refitter
    from autoscaler.loop.leader import LeaderElector
    from autoscaler.loop.recorder import Recorder
    from autoscaler.loop.resource_prometheus import PrometheusResourceMetrics
    from autoscaler.loop.service import Service
    from autoscaler.ports import PodSource, ResourceMetricSource, ScaleClient
    from autoscaler.settings import Settings

log = logging.getLogger("autoscaler.run")
EXIT_USAGE = 2


class StartError(Exception):
    """A start-up problem, reported as one line and exit status 2."""


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """One flag per setting (generated), and ``--once``, which is not a setting."""
    from autoscaler.flags import add_flags
    from autoscaler.settings import Settings

    add_flags(parser, Settings)
    parser.add_argument(
        "--once", action="store_true", help="sync once, print the outcomes as JSON, and exit"
    )


def run(args: argparse.Namespace, out: TextIO, err: TextIO) -> int:
    from autoscaler.telemetry import setup_logging

    try:
        settings = _settings(args)
        _check_policies(settings)
        setup_logging(fmt=settings.log_format, level=settings.log_level)
        # Local settings first: a broken declarations file is reported without a cluster.
        custom, prometheus_resources = _custom_metrics(settings), _prometheus_resources(settings)
        api = _connect(settings)
        watch = settings.watch_cache and not args.once
        sources = _sources(api, settings, custom, prometheus_resources, watch=watch)
        elector = _elector(api, settings) if settings.leader_elect else None
        service = _service(api, settings, sources, elector, _recorder(settings), watch=watch)
        if args.once:
            return _sync_once(service, out, err)
        return _serve(service, settings, sources, elector)
    except StartError as exc:
        print(f"autoscaler run: {exc}", file=err)
        return EXIT_USAGE


def _settings(args: argparse.Namespace) -> Settings:
    """Flags over ``AUTOSCALER_*`` variables over defaults (:mod:`autoscaler.flags`)."""
    from autoscaler.flags import SettingsError, settings_from
    from autoscaler.settings import Settings

    try:
        return settings_from(Settings, args)
    except SettingsError as exc:
        raise StartError(str(exc)) from None


def _check_policies(settings: Settings) -> None:
    """Somewhere to read policies from, and no ``--policies`` typo (an empty folder is
    fine: a ConfigMap may be filled later)."""
    import os

    if not settings.policies and not settings.policy_crds:
        raise StartError(
            f"no policies: give {_knob('policies')} PATH, or leave {_knob('policy_crds')} on"
        )
    missing = next((path for path in settings.policies if not os.path.lexists(path)), None)
    if missing is not None:
        raise StartError(
            f"{_knob('policies')}: {missing}: no such file or directory (a variable holds "
            "one path or a JSON list of paths)"
        )


def _knob(field: str) -> str:
    """A setting as a user finds it: ``--policies (AUTOSCALER_POLICIES)``."""
    from autoscaler.flags import flag, variable
    from autoscaler.settings import Settings

    return f"{flag(Settings, field)} ({variable(Settings, field)})"


def _connect(settings: Settings) -> Api:
    from autoscaler.kube.api import Api, connect
    from autoscaler.ports import LoopError

    try:
        return Api(connect(settings.kubeconfig, settings.context), impersonate=settings.impersonate)
    except LoopError as exc:
        raise StartError(str(exc)) from None


@dataclass(frozen=True, slots=True)
class Sources:
    """Where the controller reads scales, pods and metrics; watches start with the service."""

    scales: ScaleClient
    pods: PodSource
    resource_metrics: ResourceMetricSource
    custom_metrics: PrometheusMetrics | None
    prometheus_resources: PrometheusResourceMetrics | None
    watched_pods: CachedPods | None
    # Forecasts for predictive policies, refitted in the background by ``refitter``.
    forecaster: SeasonalForecaster | None = None
    refitter: Refitter | None = None

    def prometheus_queries(self) -> float:
        custom = self.custom_metrics.total_queries if self.custom_metrics else 0
        from autoscaler.loop.forecast_history import PrometheusHistory

        history = self.forecaster.history_source if self.forecaster else None
        past = history.queries if isinstance(history, PrometheusHistory) else 0
        resources = self.prometheus_resources.queries if self.prometheus_resources else 0
        return custom + resources + past


def _sources(
    api: Api,
    settings: Settings,
    custom: PrometheusMetrics | None,
    prometheus_resources: PrometheusResourceMetrics | None,
    *,
    watch: bool,
) -> Sources:
    """Direct reads, or watch caches (``--watch-cache``, not with ``--once``)."""
    from autoscaler.kube.pods import KubePods
    from autoscaler.kube.scale import KubeScales

    forecaster, refitter = _forecaster(settings, custom, prometheus_resources)
    if not watch:
        pods = KubePods(api)
        return Sources(
            KubeScales(api),
            pods,
            prometheus_resources or pods,
            custom,
            prometheus_resources,
            None,
            forecaster,
            refitter,
        )
    from autoscaler.kube.cache import CachedPods, CachedScales, NamespaceMetrics

    cached = CachedPods(api, namespace=settings.namespace)
    return Sources(
        scales=CachedScales(api, namespace=settings.namespace),
        pods=cached,
        resource_metrics=prometheus_resources or NamespaceMetrics(api),
        custom_metrics=custom,
        prometheus_resources=prometheus_resources,
        watched_pods=cached,
        forecaster=forecaster,
        refitter=refitter,
    )


def _forecaster(
    settings: Settings,
    custom: PrometheusMetrics | None,
    resources: PrometheusResourceMetrics | None,
) -> tuple[SeasonalForecaster, Refitter]:
    """The forecaster (idle until a policy is predictive), seeded from Prometheus where
    the metrics live there, its histories kept in ``--state-dir`` when given."""
    import time

    from autoscaler.forecast.forecaster import SeasonalForecaster
    from autoscaler.loop.forecast_history import PrometheusHistory
    from autoscaler.loop.forecasting import Refitter, StateFile

    source = PrometheusHistory(custom, resources) if custom or resources else None
    forecaster = SeasonalForecaster(history_source=source)
    state = StateFile(settings.state_dir) if settings.state_dir else None
    if state is not None:
        loaded = state.load(forecaster, now=time.time())
        log.info("forecast histories loaded", extra={"path": str(state.path), "count": loaded})
    return forecaster, Refitter(forecaster, state=state)


def _custom_metrics(settings: Settings) -> PrometheusMetrics | None:
    """Pods/Object/External metrics from Prometheus, when metric declarations are given."""
    if not settings.metrics_config:
        return None
    from autoscaler.loop.custom_metrics import PrometheusMetrics
    from autoscaler.metrics.declarations import load_declarations
    from autoscaler.metrics.prometheus import PrometheusSettings, PrometheusSource

    loaded = load_declarations(settings.metrics_config)
    if loaded.errors:
        more = f" (and {len(loaded.errors) - 1} more)" if len(loaded.errors) > 1 else ""
        raise StartError(f"{_knob('metrics_config')}: {loaded.errors[0].format()}{more}")
    if not settings.prometheus_url:
        raise StartError(f"{_knob('metrics_config')} needs {_knob('prometheus_url')}")
    source = PrometheusSource(
        settings=PrometheusSettings(
            url=settings.prometheus_url, timeout=settings.prometheus_timeout
        )
    )
    return PrometheusMetrics(source, loaded.metrics)


def _prometheus_resources(settings: Settings) -> PrometheusResourceMetrics | None:
    """CPU and memory from cAdvisor's series (``--resource-metrics prometheus``)."""
    if settings.resource_metrics != "prometheus":
        return None
    from autoscaler.loop.resource_prometheus import PrometheusResourceMetrics
    from autoscaler.metrics.prometheus import PrometheusSettings, PrometheusSource

    return PrometheusResourceMetrics(
        PrometheusSource(
            settings=PrometheusSettings(
                url=str(settings.prometheus_url), timeout=settings.prometheus_timeout
            )
        )
    )


def _elector(api: Api, settings: Settings) -> LeaderElector:
    import os
    import socket
    import uuid

    from autoscaler.kube.leases import KubeLeases
    from autoscaler.loop.leader import LeaderElector

    leases = KubeLeases(
        api, namespace=settings.leader_elect_namespace, name=settings.leader_elect_name
    )
    return LeaderElector(
        leases,
        identity=settings.leader_elect_identity
        or f"{socket.gethostname()}-{os.getpid()}-{uuid.uuid4().hex[:8]}",
        lease_duration=settings.lease_duration,
        renew_deadline=settings.renew_deadline,
        retry_period=settings.retry_period,
    )


def _recorder(settings: Settings) -> Recorder | None:
    if not settings.record:
        return None
    from autoscaler.loop.recorder import Recorder

    try:
        return Recorder(settings.record)
    except OSError as exc:
        raise StartError(f"--record {settings.record}: {exc.strerror or exc}") from None


def _service(
    api: Api,
    settings: Settings,
    sources: Sources,
    elector: LeaderElector | None,
    recorder: Recorder | None,
    *,
    watch: bool,
) -> Service:
    from autoscaler.kube.events import KubeEvents
    from autoscaler.kube.policies import KubePolicies
    from autoscaler.kube.scale import KubeScales
    from autoscaler.loop.controller import Controller
    from autoscaler.loop.policies import Policies
    from autoscaler.loop.service import Service

    leading: Callable[[], bool] = elector.leading if elector else lambda: True
    controller = Controller(
        scales=sources.scales,
        pods=sources.pods,
        resource_metrics=sources.resource_metrics,
        custom_metrics=sources.custom_metrics,
        settings=settings.decision_settings(),
        dry_run=settings.dry_run,
        can_write=leading,
        observer=recorder,
        forecaster=sources.forecaster,
    )
    policies = Policies(
        store=KubePolicies(api, namespace=settings.namespace),
        events=KubeEvents(api),
        workloads=KubeScales(api),
        files=settings.policies,
        namespace=settings.namespace,
        crds=settings.policy_crds,
        watch=watch,
    )
    service = Service(
        controller=controller,
        load_targets=lambda now: policies.load(now=now),
        report=lambda outcomes, now: policies.report(outcomes, now=now),
        complete=lambda: policies.complete,
        listing_error=lambda: policies.listing_error,
        period=settings.sync_period,
        is_leader=elector.leading if elector else None,
    )
    service.metrics.expose_process(
        kube_requests=lambda: api.requests,
        prometheus_queries=sources.prometheus_queries,
        leading=leading,
        sync_period=settings.sync_period,
    )
    if sources.forecaster is not None and sources.refitter is not None:
        from autoscaler.loop.path_metrics import expose_forecaster

        refitter = sources.refitter
        expose_forecaster(
            service.metrics.registry,
            status=sources.forecaster.status,
            fits=lambda: refitter.fits,
            refit_seconds=lambda: refitter.last_pass_seconds,
        )
    return service


def _sync_once(service: Service, out: TextIO, err: TextIO) -> int:
    """``--once``: one sync, each outcome with the snapshot that feeds ``autoscaler decide``.

    Exit status 1 when the sync did nothing useful (no policy, or none of them could be
    decided), so that a script or a CI job notices; the reason is one line on stderr.
    """
    import json

    from autoscaler.documents import decision_to_document, snapshot_to_document

    synced = service.sync_once()
    outcomes = [
        {
            "policy": o.target.key,
            "target": str(o.target.ref),
            "current": o.current,
            "patched": o.patched,
            "error": o.error,
            "decision": None if o.decision is None else decision_to_document(o.decision),
            "snapshot": None if o.snapshot is None else snapshot_to_document(o.snapshot),
        }
        for o in synced
    ]
    out.write(json.dumps(outcomes, indent=2) + "\n")
    problem = _once_problem(synced, service)
    if problem is None:
        return 0
    print(f"autoscaler run --once: {problem}", file=err)
    return 1


def _once_problem(outcomes: list[Outcome], service: Service) -> str | None:
    """Why a one-off sync achieved nothing, or None when some target was decided."""
    if any(o.decision is not None for o in outcomes):
        return None
    listing = service.listing_error()
    if not outcomes:
        if listing is not None:
            return f"no policy could be read: {listing}"
        return (
            f"no policy found (files from {_knob('policies')}, ScalingPolicy objects with "
            f"{_knob('policy_crds')})"
        )
    first = outcomes[0]
    more = f" (and {len(outcomes) - 1} more)" if len(outcomes) > 1 else ""
    return f"no policy could be decided: {first.target.key}: {first.error}{more}"


def _serve(
    service: Service, settings: Settings, sources: Sources, elector: LeaderElector | None
) -> int:
    """Listen first (a taken port stops the start before any watch runs), then sync
    every period until SIGTERM or SIGINT."""
    import signal
    import threading

    from autoscaler.loop.service import serve_http

    host, port = settings.host_port
    try:
        server = serve_http(service, host, port)
    except OSError as exc:
        raise StartError(f"cannot listen on {settings.listen}: {exc.strerror or exc}") from None

    def stop(signum: int, frame: object) -> None:
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
    if sources.watched_pods is not None:
        sources.watched_pods.start()
    if elector is not None:
        threading.Thread(target=elector.run, name="leader-election", daemon=True).start()
    if sources.refitter is not None:
        sources.refitter.start()
    service.run()
    if sources.refitter is not None:
        sources.refitter.close()  # the state file's last write
    if elector is not None:
        elector.stop.set()
        elector.release()
    server.shutdown()
    server.server_close()
    return 0


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="autoscaler run")
    add_arguments(parser)
    return run(parser.parse_args(argv), sys.stdout, sys.stderr)
