"""The long-running service: a sync every period, its own /metrics, /healthz and /readyz.

Policies are re-read from their files at every sync, so a changed ConfigMap takes effect
on the next one; a broken file is reported once per change and never stops the others.
"""

from __future__ import annotations

import contextlib
import logging
import socket
import threading
import time
from collections.abc import Callable, Iterator
from typing import Any
from wsgiref.simple_server import WSGIRequestHandler, WSGIServer, make_server

from prometheus_client import (
    CollectorRegistry,
    Counter,
    Gauge,
    Histogram,
    make_wsgi_app,
)
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, Metric
from prometheus_client.exposition import ThreadingWSGIServer
from prometheus_client.registry import Collector

from autoscaler.loop.controller import Controller, Outcome
from autoscaler.loop.path_metrics import PathMetrics
from autoscaler.loop.target_metrics import TargetMetrics
from autoscaler.ports import Target

log = logging.getLogger("autoscaler.loop")


class LoopMetrics:
    """The service's own Prometheus metrics, in a registry of its own (no globals)."""

    def __init__(self) -> None:
        self.registry = CollectorRegistry()
        self.sync_seconds = Histogram(
            "podscale_sync_duration_seconds",
            "Time to sync every target once.",
            registry=self.registry,
            buckets=(0.01, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 15, 30),
        )
        self.decisions = Counter(
            "podscale_decisions_total",
            "Decisions taken, by outcome.",
            ["outcome"],
            registry=self.registry,
        )
        self.scales = Counter(
            "podscale_scale_operations_total",
            "Writes to a /scale subresource.",
            ["direction"],
            registry=self.registry,
        )
        self.errors = Counter(
            "podscale_target_errors_total",
            "Syncs of a target that failed or had a failed metric.",
            ["namespace", "policy"],
            registry=self.registry,
        )
        self.desired = Gauge(
            "podscale_desired_replicas",
            "Replicas the policy wants.",
            ["namespace", "policy"],
            registry=self.registry,
        )
        self.current = Gauge(
            "podscale_current_replicas",
            "Replicas the target has.",
            ["namespace", "policy"],
            registry=self.registry,
        )
        self.targets = TargetMetrics(self.registry)  # bounds, metric values, conditions
        self.paths = PathMetrics(self.registry)  # which path won; the forecast's trust
        self._labelled: set[tuple[str, str]] = set()  # (namespace, policy) with series

    def count(self, name: str, documentation: str, read: Callable[[], float]) -> None:
        """Expose a counter kept elsewhere (e.g. the API client's request count)."""

        class _Reader(Collector):
            def collect(self) -> Iterator[Metric]:
                family = CounterMetricFamily(name, documentation)
                family.add_metric([], read())
                yield family

        self.registry.register(_Reader())

    def gauge(self, name: str, documentation: str, read: Callable[[], float]) -> None:
        """Expose a value read at scrape time (e.g. whether this replica leads)."""

        class _Reader(Collector):
            def collect(self) -> Iterator[Metric]:
                family = GaugeMetricFamily(name, documentation)
                family.add_metric([], read())
                yield family

        self.registry.register(_Reader())

    def expose_process(
        self,
        *,
        kube_requests: Callable[[], float],
        prometheus_queries: Callable[[], float],
        leading: Callable[[], bool],
        sync_period: float,
    ) -> None:
        """The series `autoscaler run` adds about the process: its API and query counts,
        whether it leads, and its sync period (for "sync slower than the period")."""
        self.count("podscale_kube_requests_total", "Requests to the Kubernetes API.", kube_requests)
        self.count(
            "podscale_prometheus_queries_total",
            "Queries sent to Prometheus (custom and resource metrics).",
            prometheus_queries,
        )
        self.gauge(
            "podscale_leader",
            "1 while this replica may write (it holds the lease, or runs without leader "
            "election), else 0.",
            lambda: 1.0 if leading() else 0.0,
        )
        self.gauge(
            "podscale_sync_period_seconds",
            "The configured time between syncs (--sync-period).",
            lambda: sync_period,
        )

    def record(self, outcome: Outcome) -> None:
        labels = (outcome.target.namespace, outcome.target.name)
        self._labelled.add(labels)
        self.targets.record(outcome)
        self.paths.record(outcome)
        if outcome.current is not None:
            self.current.labels(*labels).set(outcome.current)
        if outcome.decision is not None:
            self.desired.labels(*labels).set(outcome.decision.desired_replicas)
        if outcome.error or (outcome.decision is not None and outcome.decision.error):
            self.errors.labels(*labels).inc()
        kind = "error" if outcome.error else ("scaled" if outcome.patched else "unchanged")
        self.decisions.labels(kind).inc()
        if outcome.patched and outcome.current is not None and outcome.desired is not None:
            self.scales.labels("up" if outcome.desired > outcome.current else "down").inc()

    def forget(self, live: set[tuple[str, str]]) -> None:
        """Drop the series of policies not synced any more (deleted, or no longer ours)."""
        for labels in self._labelled - live:
            self.targets.forget(labels)
            self.paths.forget(labels)
            for metric in (self.desired, self.current, self.errors):
                with contextlib.suppress(KeyError):  # e.g. no decision: no desired series
                    metric.remove(*labels)
        self._labelled &= live


def log_outcome(outcome: Outcome) -> None:
    """One structured line per target and sync: what it decided and why."""
    target = outcome.target
    fields: dict[str, Any] = {
        "namespace": target.namespace,
        "policy": target.name,
        "target": str(target.ref),
        "current": outcome.current,
    }
    if outcome.decision is not None:
        decision = outcome.decision
        fields.update(
            desired=decision.desired_replicas,
            recommendation=decision.recommendation,
            conditions={c.type: c.reason for c in decision.conditions},
        )
        if decision.error:
            fields["reason"] = decision.error
    if outcome.error:
        log.warning(outcome.error, extra=fields)
    elif outcome.patched:
        log.info(
            "scaled %s from %s to %s (%s)",
            target.ref,
            outcome.current,
            outcome.desired,
            outcome.decision.rescale_reason if outcome.decision else "",
            extra=fields,
        )
    elif outcome.decision is not None and outcome.decision.error:
        log.warning("no decision for %s: %s", target.ref, outcome.decision.error, extra=fields)
    else:
        log.debug("kept %s at %s", target.ref, outcome.current, extra=fields)
    if outcome.note is not None and outcome.note[0] not in QUIET_NOTES:
        log.info("%s: %s", *outcome.note, extra=fields)


# Notes repeated at every sync while they last, already in the status and events.
QUIET_NOTES = frozenset({"RolloutInProgress"})


class Service:
    """Runs the controller every period until stopped."""

    def __init__(
        self,
        *,
        controller: Controller,
        load_targets: Callable[[float], list[Target]],
        period: float,
        metrics: LoopMetrics | None = None,
        is_leader: Callable[[], bool] | None = None,
        report: Callable[[list[Outcome], float], None] | None = None,
        complete: Callable[[], bool] = lambda: True,
        listing_error: Callable[[], str | None] = lambda: None,
    ) -> None:
        self.controller = controller
        self.load_targets = load_targets
        self.period = period
        self.metrics = metrics or LoopMetrics()
        self.is_leader = is_leader
        self.report = report
        self.complete = complete  # False when the last policy listing failed
        self.listing_error = listing_error  # and why, in one line
        self.stop = threading.Event()
        self.synced_once = threading.Event()

    def sync_once(self) -> list[Outcome]:
        if self.is_leader is not None and not self.is_leader():
            self.controller.reset()  # when leading again, continue from the status
            self.metrics.forget(set())  # the leader exports the decisions now
            self.synced_once.set()  # a standby is ready: it is waiting to take over
            return []
        started = time.monotonic()
        now = time.time()
        targets = self.load_targets(now)
        outcomes = self.controller.sync(targets, now=now, prune=self.complete())
        for outcome in outcomes:
            log_outcome(outcome)
            self.metrics.record(outcome)
        if self.complete():
            self.metrics.forget({(o.target.namespace, o.target.name) for o in outcomes})
        # A replica that lost the lease during the sync leaves the status to the new leader.
        if self.report is not None and (self.is_leader is None or self.is_leader()):
            self.report(outcomes, now)
        self.metrics.sync_seconds.observe(time.monotonic() - started)
        self.synced_once.set()
        return outcomes

    def run(self) -> None:
        while not self.stop.is_set():
            started = time.monotonic()
            try:
                self.sync_once()
            except Exception:  # a bug must not kill the service; it is logged with its trace
                log.exception("sync failed unexpectedly")
            self.stop.wait(max(0.0, self.period - (time.monotonic() - started)))


def serve_http(service: Service, host: str, port: int) -> WSGIServer:
    """/metrics, /healthz (the process is alive) and /readyz (it has synced once).

    The server is prometheus_client's (its WSGI metrics app, its threading WSGI server),
    as for every /metrics Podscale serves; IPv6 hosts bind as IPv6.
    """
    metrics = make_wsgi_app(service.metrics.registry)

    def app(environ: dict[str, Any], start_response: Callable[..., Any]) -> list[bytes]:
        path = environ.get("PATH_INFO", "")
        if path == "/metrics":
            return list(metrics(environ, start_response))
        if path == "/healthz" or (path == "/readyz" and service.synced_once.is_set()):
            status, body = "200 OK", b"ok\n"
        elif path == "/readyz":
            status, body = "503 Service Unavailable", b"not synced yet\n"
        else:
            status, body = "404 Not Found", b"not found\n"
        headers = [("Content-Type", "text/plain"), ("Content-Length", str(len(body)))]
        start_response(status, headers)
        return [body]

    family, _, _, _, address = socket.getaddrinfo(
        host, port, type=socket.SOCK_STREAM, flags=socket.AI_PASSIVE
    )[0]

    class Server(ThreadingWSGIServer):
        address_family = family

    server = make_server(str(address[0]), port, app, Server, handler_class=_QuietHandler)
    threading.Thread(target=server.serve_forever, name="http", daemon=True).start()
    return server


class _QuietHandler(WSGIRequestHandler):
    def log_message(self, format: str, *args: Any) -> None:
        return  # probes every few seconds are not worth a log line
