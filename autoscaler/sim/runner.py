"""``autoscaler sim run``: kubelet, metrics-server and traffic against a real API server.

Each tick (``--tick`` seconds) the runner lists what it may manage, then acts:

1. simulated nodes exist with their capacity (:class:`~autoscaler.sim.kubelet.Kubelet`);
2. the managed workloads are found: every Deployment, StatefulSet and Rollout (in
   ``--namespace``, or everywhere), or with a scenario exactly the scenario's; pods are
   traced to them through their controller owner references (a Deployment's through
   its ReplicaSet);
3. Rollouts get their pods and status (:mod:`~autoscaler.sim.rollouts`);
4. pending pods are bound, pod statuses moved along, expired terminating pods removed;
5. traffic is accounted (:mod:`~autoscaler.sim.traffic`) and published: on each
   node's kubelet endpoint ``/metrics/resource`` for a real metrics-server
   (:mod:`~autoscaler.sim.resource_metrics`), as PodMetrics written directly where the
   metrics API is a writable stand-in, and as Prometheus series
   (:mod:`~autoscaler.sim.publisher`).

Lists every tick rather than watches: a tick is a consistent picture, a restart or a
lost connection needs no resync logic, and the load on the API server is a handful
of lists per tick. Objects that are not managed are never written: pods of other
owners are only read, to count the room they take on simulated nodes. The one
exception is a kubelet's: a terminating pod on a simulated node (a deleted workload's,
whose owners the garbage collector removed first) is removed when its grace period ends.
"""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from functools import partial
from typing import Any, TextIO

from autoscaler.sim import rollouts
from autoscaler.sim.admin import serve_admin
from autoscaler.sim.api import Api, Json, Reply
from autoscaler.sim.kubelet import Kubelet, NodeShape, parse_time
from autoscaler.sim.load import Constant, LoadShape
from autoscaler.sim.podmodel import PodModel
from autoscaler.sim.publisher import PodMetricsWriter, serve_metrics
from autoscaler.sim.resource_metrics import KubeletEndpoints, NodeCounters, Placement, server_tls
from autoscaler.sim.scenario import Scenario
from autoscaler.sim.traffic import Key, RunningPod, Traffic

LOOPBACK = "127.0.0.1"
# Without a scenario: pods ready a few seconds after binding, no traffic.
DEFAULT_MODEL = PodModel(schedule_delay=1.0, ready_delay=2.0)
# How often simulated nodes are checked once they exist.
NODE_RESYNC_S = 30.0


@dataclass(frozen=True, slots=True, kw_only=True)
class Options:
    tick: float = 1.0
    namespace: str | None = None
    duration: float | None = None
    nodes: NodeShape = field(default_factory=NodeShape)
    scenario: Scenario | None = None
    admin_port: int = 0
    metrics_port: int = 0
    request_timeout: float = 5.0
    metric_resolution: float = 0.0  # 0: every pod's PodMetrics every tick
    kubelet_cert: str | None = None  # the kubelet endpoints' TLS; None: self-signed
    kubelet_key: str | None = None


@dataclass(frozen=True, slots=True, kw_only=True)
class Managed:
    key: Key
    obj: Json
    model: PodModel
    load: LoadShape


class Runner:
    """One simulation run; :meth:`run` blocks until ``stop`` is set or time is up."""

    def __init__(
        self, *, api: Api, options: Options, out: TextIO, warn: Callable[[str], None]
    ) -> None:
        self._api = api
        self._options = options
        self._out = out
        self._warn = warn
        self._kubelet = Kubelet(api=api, nodes=options.nodes)
        self._traffic = Traffic()
        self._node_counters = NodeCounters(options.nodes.names())
        self._writer = PodMetricsWriter(
            api=api, namespace=options.namespace, resolution=options.metric_resolution
        )
        self._nodes_checked = -NODE_RESYNC_S
        self._started = time.time()
        self.ticks = 0

    def run(self, stop: threading.Event) -> int:
        options = self._options
        tls = server_tls(options.kubelet_cert, options.kubelet_key)
        kubelets = KubeletEndpoints(
            self._node_counters, options.nodes.names(), host=LOOPBACK, tls=tls
        )
        admin, admin_thread = serve_admin(self._traffic, host=LOOPBACK, port=options.admin_port)
        try:
            metrics, metrics_thread = serve_metrics(
                self._traffic, host=LOOPBACK, port=options.metrics_port, api=self._api
            )
        except BaseException:  # e.g. the metrics port is taken: leave nothing running
            admin.shutdown()
            admin.server_close()
            admin_thread.join(timeout=5)
            kubelets.close()
            raise
        self._kubelet.advertise(kubelets.ports)
        try:
            self._say(
                event="started",
                admin=f"http://{LOOPBACK}:{admin.server_address[1]}",
                metrics=f"http://{LOOPBACK}:{metrics.server_address[1]}/metrics",
                kubelets={
                    node: f"https://{LOOPBACK}:{port}/metrics/resource"
                    for node, port in kubelets.ports.items()
                },
                namespace=options.namespace,
                nodes=options.nodes.names(),
                tick=options.tick,
            )
            self._loop(stop)
        finally:
            for server, thread in ((admin, admin_thread), (metrics, metrics_thread)):
                server.shutdown()
                server.server_close()
                thread.join(timeout=5)
            kubelets.close()
        now = time.time()
        self._say(
            event="stopped",
            ticks=self.ticks,
            seconds=round(now - self._started, 3),
            totals=[
                {
                    "kind": w.key[0],
                    "namespace": w.key[1],
                    "name": w.key[2],
                    "offered": w.offered,
                    "served": w.served,
                    "dropped": w.dropped,
                }
                for w in self._traffic.workloads()
            ],
        )
        return 0

    def _loop(self, stop: threading.Event) -> None:
        options = self._options
        begin = time.monotonic()
        end = begin + options.duration if options.duration is not None else float("inf")
        while not stop.is_set() and time.monotonic() < end:
            started = time.monotonic()
            try:
                self.tick(time.time())
            except Exception as exc:  # never die on one bad tick; the next one retries
                self._warn(f"tick failed: {type(exc).__name__}: {' '.join(str(exc).split())}")
            self.ticks += 1
            pause = options.tick - (time.monotonic() - started)
            stop.wait(max(0.0, min(pause, end - time.monotonic())))

    def tick(self, now: float) -> None:
        """One round of the simulation at wall-clock time ``now``."""
        if now - self._nodes_checked >= NODE_RESYNC_S or not self._kubelet.nodes:
            self._kubelet.ensure_nodes()
            self._nodes_checked = now
        seen = self._list_all()
        if seen is None:
            return
        deployments, statefulsets, rollout_objs, replicasets, pods = seen
        managed = self._managed(deployments, statefulsets, rollout_objs)
        for item in managed.values():
            self._traffic.ensure(item.key, model=item.model, load=item.load, epoch=self._started)
        self._traffic.retain(item.key for item in managed.values())
        owner_of = _owners(replicasets)
        by_workload: dict[str, list[Json]] = {uid: [] for uid in managed}
        orphans: list[Json] = []  # terminating, owned by nothing managed (a deleted workload's)
        for pod in pods:
            uid = _controller(pod.get("metadata") or {})
            uid = owner_of.get(uid, uid)
            if uid in by_workload:
                by_workload[uid].append(pod)
            elif pod["metadata"].get("deletionTimestamp"):
                orphans.append(pod)
        for uid, item in managed.items():
            if item.key[0] == "Rollout":
                rollouts.reconcile(api=self._api, rollout=item.obj, pods=by_workload[uid])
        self._kubelets(managed, by_workload, placed=pods, now=now)
        for pod in orphans:  # only a simulated node's pods, and only once their grace ends
            self._kubelet.sync(pod, DEFAULT_MODEL, now=now)

    def _kubelets(
        self,
        managed: dict[str, Managed],
        by_workload: dict[str, list[Json]],
        *,
        placed: list[Json],
        now: float,
    ) -> None:
        pending = [
            pod
            for members in by_workload.values()
            for pod in members
            if not (pod.get("spec") or {}).get("nodeName")
            and not pod["metadata"].get("deletionTimestamp")
        ]
        bound = {
            pod["metadata"]["uid"]: pod
            for pod in self._kubelet.bind(pending, placed=placed, now=now)
        }
        running: dict[Key, list[RunningPod]] = {}
        placed_on: dict[tuple[str, str], Placement] = {}
        counts: dict[Key, tuple[int, int, int]] = {}
        for uid, item in managed.items():
            alive, ready, serving = 0, 0, []
            for pod in by_workload[uid]:
                pod = bound.get(pod["metadata"]["uid"], pod)
                is_bound = pod["metadata"]["uid"] in bound
                if not self._kubelet.sync(pod, item.model, now=now, bound_now=is_bound):
                    continue
                deleting = bool(pod["metadata"].get("deletionTimestamp"))
                is_ready = _is_ready(pod)
                alive += not deleting
                ready += is_ready and not deleting
                if (pod.get("status") or {}).get("phase") == "Running":
                    containers = (pod.get("spec") or {}).get("containers") or [{}]
                    placed_on[(item.key[1], pod["metadata"]["name"])] = _placement(pod, now)
                    serving.append(
                        RunningPod(
                            name=pod["metadata"]["name"],
                            labels=dict(pod["metadata"].get("labels") or {}),
                            container=str(containers[0].get("name") or "app"),
                            serving=is_ready and not deleting,
                        )
                    )
            replicas = int((item.obj.get("spec") or {}).get("replicas", 1) or 0)
            running[item.key] = serving
            counts[item.key] = (replicas, alive, ready)
        self._traffic.tick(running, counts=counts, now=now)
        sampled = self._traffic.pods()
        self._node_counters.update(sampled, placed_on, now)
        self._writer.publish(sampled)

    def _list_all(self) -> tuple[list[Json], ...] | None:
        """Deployments, StatefulSets, Rollouts, ReplicaSets, Pods; None if any failed."""
        api, ns = self._api, self._options.namespace
        apps, core, custom = api.apps, api.core, api.custom
        crd = (rollouts.GROUP, rollouts.VERSION)
        # (what, the call for all namespaces and its args, the namespaced call and its args)
        table: list[tuple[str, Any, tuple[str, ...], Any, tuple[str, ...]]] = [
            ("deployments", apps.list_deployment_for_all_namespaces, (),
             apps.list_namespaced_deployment, ()),
            ("statefulsets", apps.list_stateful_set_for_all_namespaces, (),
             apps.list_namespaced_stateful_set, ()),
            ("rollouts", custom.list_cluster_custom_object, (*crd, rollouts.PLURAL),
             custom.list_namespaced_custom_object, crd),
            ("replicasets", apps.list_replica_set_for_all_namespaces, (),
             apps.list_namespaced_replica_set, ()),
            ("pods", core.list_pod_for_all_namespaces, (), core.list_namespaced_pod, ()),
        ]  # fmt: skip
        calls: list[tuple[str, Callable[[], Reply]]] = []
        for what, everywhere, args, namespaced, prefix in table:
            call: Callable[[], Reply]
            if ns is None:
                call = partial(api.call, f"list {what}", everywhere, *args)
            else:
                suffix = (rollouts.PLURAL,) if what == "rollouts" else ()
                call = partial(api.call, f"list {what}", namespaced, *prefix, ns, *suffix)
            calls.append((what, call))
        results: list[list[Json]] = []
        for what, call in calls:
            reply = call()
            items = reply.items()
            if items is None and what == "rollouts" and reply.status == 404:
                items = []  # no Rollout CRD on this server: nothing to manage
            if items is None:
                return None
            results.append(items)
        return tuple(results)

    def _managed(
        self, deployments: list[Json], statefulsets: list[Json], rollout_objs: list[Json]
    ) -> dict[str, Managed]:
        """uid -> the workloads this run manages, with their model and load."""
        scenario = self._options.scenario
        setups = (
            {}
            if scenario is None
            else {
                (s.workload.kind, s.workload.namespace, s.workload.name): s
                for s in scenario.workloads
            }
        )
        found: dict[str, Managed] = {}
        for kind, objs in (
            ("Deployment", deployments),
            ("StatefulSet", statefulsets),
            ("Rollout", rollout_objs),
        ):
            for obj in objs:
                meta = obj["metadata"]
                key = (kind, meta["namespace"], meta["name"])
                if scenario is None:
                    found[meta["uid"]] = Managed(
                        key=key, obj=obj, model=DEFAULT_MODEL, load=Constant(0.0)
                    )
                elif key in setups:
                    setup = setups[key]
                    found[meta["uid"]] = Managed(
                        key=key, obj=obj, model=setup.workload.model, load=setup.load
                    )
        return found

    def _say(self, **fields: Any) -> None:
        print(json.dumps(fields), file=self._out, flush=True)


def _controller(meta: Json) -> str:
    for ref in meta.get("ownerReferences") or []:
        if ref.get("controller"):
            return str(ref.get("uid") or "")
    return ""


def _owners(replicasets: list[Json]) -> dict[str, str]:
    """ReplicaSet uid -> its Deployment's uid (ReplicaSets without one map nowhere)."""
    owners = {}
    for rs in replicasets:
        owner = _controller(rs.get("metadata") or {})
        if owner:
            owners[rs["metadata"]["uid"]] = owner
    return owners


def _placement(pod: Json, now: float) -> Placement:
    """The pod's node and its container's start (``startedAt``, else ``startTime``)."""
    status = pod.get("status") or {}
    started = None
    for container in status.get("containerStatuses") or []:
        started = parse_time(((container.get("state") or {}).get("running") or {}).get("startedAt"))
        break
    if started is None:
        started = parse_time(status.get("startTime"))
    return Placement(
        node=str((pod.get("spec") or {}).get("nodeName") or ""), started=started or now
    )


def _is_ready(pod: Json) -> bool:
    return any(
        c.get("type") == "Ready" and c.get("status") == "True"
        for c in (pod.get("status") or {}).get("conditions") or []
    )
