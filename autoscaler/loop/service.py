"""The long-running service: a sync every period, its own /metrics, /healthz and /readyz.

Policies are re-read from their files at every sync, so a changed ConfigMap takes effect
on the next one; a broken file is reported once per change and never stops the others.
Between syncs, the targets the last sync left at zero with ``activation`` are read every
``pollSeconds`` (``loop.activation``), in the same thread, so a wake-up does not wait
for the next sync and never runs beside one.
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

from autoscaler.loop.activation import ActivationPolls
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
        self.polls = Counter(
            "podscale_activation_polls_total",
            "Reads of a target at zero between syncs (spec.activation), by result.",
            ["result"],
            registry=self.registry,
        )
        for result in POLL_RESULTS:  # every series from the start, so rate() sees the first
            self.polls.labels(result)
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
        clock: Callable[[], float] = time.monotonic,
        wall_clock: Callable[[], float] = time.time,
    ) -> None:
        self.controller = controller
        self.load_targets = load_targets
        self.period = period
        self.metrics = metrics or LoopMetrics()
        self.is_leader = is_leader
        self.report = report
        self.complete = complete  # False when the last policy listing failed
        self.listing_error = listing_error  # and why, in one line
        self.clock = clock  # for the schedule of syncs and polls
        self.wall_clock = wall_clock  # for the decisions
        self.stop = threading.Event()
        self.synced_once = threading.Event()
        self.polls = ActivationPolls(enabled=not controller.dry_run)

    def _leading(self) -> bool:
        return self.is_leader is None or self.is_leader()

    def sync_once(self) -> list[Outcome]:
        if not self._leading():
            self.controller.reset()  # when leading again, continue from the status
            self.metrics.forget(set())  # the leader exports the decisions now
            self.polls.clear()  # the leader reads the targets at zero
            self.synced_once.set()  # a standby is ready: it is waiting to take over
            return []
        started = time.monotonic()
        now = self.wall_clock()
        targets = self.load_targets(now)
        outcomes = self.controller.sync(targets, now=now, prune=self.complete())
        for outcome in outcomes:
            log_outcome(outcome)
            self.metrics.record(outcome)
        if self.complete():
            self.metrics.forget({(o.target.namespace, o.target.name) for o in outcomes})
        # A replica that lost the lease during the sync leaves the status to the new leader.
        if self.report is not None and self._leading():
            self.report(outcomes, now)
        self.polls.after_sync(outcomes, at=self.clock())
        self.metrics.sync_seconds.observe(time.monotonic() - started)
        self.synced_once.set()
        return outcomes

    def poll_due(self, *, until: float | None = None) -> list[Outcome]:
        """Read each target at zero whose poll is due, one after the other, stopping at
        ``until`` (the next sync: the rest wait for the next round, longest overdue
        first); an outcome that changes something is logged, recorded and reported like
        a sync's."""
        outcomes: list[Outcome] = []
        for target in self.polls.due(at=self.clock()):
            if self.stop.is_set() or (until is not None and self.clock() >= until):
                break
            if not self._leading():
                self.polls.clear()  # the next sync, as a standby, forgets the rest
                break
            now = self.wall_clock()
            outcome = self.controller.poll(target, now=now)
            self.polls.polled(outcome, at=self.clock())
            self.metrics.polls.labels(_poll_result(outcome)).inc()
            # Only news is reported: a poll that leaves the target at zero changes
            # nothing, and its failures are the next sync's to report (not every 2 s).
            if outcome.patched or outcome.note is not None:
                log_outcome(outcome)
                self.metrics.record(outcome)
                if self.report is not None and self._leading():
                    self.report([outcome], now)
            outcomes.append(outcome)
        return outcomes

    def run(self) -> None:
        while not self.stop.is_set():
            started = self.clock()
            try:
                self.sync_once()
            except Exception:  # a bug must not kill the service; it is logged with its trace
                log.exception("sync failed unexpectedly")
            self._poll_until(started + self.period)

    def _poll_until(self, next_sync: float) -> None:
        """Wait for the next sync, polling the targets at zero when they are due."""
        while not self.stop.is_set():
            due = self.polls.next_due()
            wake = next_sync if due is None else min(due, next_sync)
            if self.stop.wait(max(0.0, wake - self.clock())) or self.clock() >= next_sync:
                return
            try:
                self.poll_due(until=next_sync)
            except Exception:  # as for a sync: logged, and the loop goes on
                log.exception("poll failed unexpectedly")
                self.polls.clear()  # the next sync starts the schedule afresh


POLL_RESULTS = ("zero", "woke", "failed")


def _poll_result(outcome: Outcome) -> str:
    if outcome.patched:
        return "woke"
    failed = outcome.error or (outcome.decision is not None and outcome.decision.error)
    return "failed" if failed else "zero"


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
