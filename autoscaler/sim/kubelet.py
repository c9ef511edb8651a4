"""Playing scheduler and kubelet against a real API server: fake nodes, pod lifecycle.

There is no scheduler and no kubelet behind the API server the simulator drives, so
it does their visible work itself:

- **Nodes.** ``count`` Nodes named ``PREFIX-0``... labelled
  ``podscale.dev/simulated=true``, with capacity and a Ready condition written
  through ``nodes/status``. Only nodes with that label and prefix are ever touched.
- **Scheduling.** A Pending, unbound pod goes to the first simulated node with room
  for its requests (CPU, memory, pod count), oldest pod first, through the
  ``pods/binding`` subresource (``spec.nodeName`` is immutable once created, so a
  patch cannot bind). A pod that fits nowhere stays Pending, as in a cluster waiting
  for its cluster autoscaler.
- **Lifecycle.** The API pod is read back into a :class:`~autoscaler.sim.podmodel.PodState`
  (creation, ``startTime``, Ready's ``lastTransitionTime``, ``deletionTimestamp``),
  moved to now with :func:`~autoscaler.sim.podmodel.advance`, and written through
  ``pods/status`` when its phase or readiness changed. State lives in the API, not
  here, so a restarted simulator carries on where the last one stopped.
- **Deletion.** A graceful delete sets ``deletionTimestamp`` (the moment the grace
  period ends) and leaves the pod for its kubelet; at that moment we delete it with
  ``gracePeriodSeconds=0`` and a UID precondition (a StatefulSet may already have
  made a new pod of the same name). The API server removes unbound pods at once.
"""

from __future__ import annotations

import dataclasses
import time
from calendar import timegm
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime

from autoscaler.core.quantity import QuantityError, to_milli
from autoscaler.sim.api import STRATEGIC, Api, Json
from autoscaler.sim.podmodel import RUNNING, PodModel, PodState, advance

SIM_LABEL = "podscale.dev/simulated"


@dataclass(frozen=True, slots=True, kw_only=True)
class NodeShape:
    """The simulated nodes: ``count`` alike, each with this much allocatable room."""

    count: int = 3
    cpu_milli: int = 4000
    memory_bytes: int = 16 * 2**30
    pods: int = 110
    prefix: str = "sim-node"

    def names(self) -> list[str]:
        return [f"{self.prefix}-{i}" for i in range(self.count)]


def rfc3339(t: float) -> str:
    """Seconds since the epoch as Kubernetes writes ``metav1.Time`` (whole seconds)."""
    return time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(t))


def parse_time(text: object) -> float | None:
    if not isinstance(text, str) or not text:
        return None
    try:
        parsed = datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError:
        return None
    return timegm(parsed.utctimetuple()) + parsed.microsecond / 1e6


def pod_requests(pod: Json) -> tuple[int, int]:
    """The pod's CPU (millicores) and memory (bytes) requests, summed over containers."""
    cpu = memory = 0
    for container in (pod.get("spec") or {}).get("containers") or []:
        requests = (container.get("resources") or {}).get("requests") or {}
        try:
            cpu += to_milli(requests.get("cpu", 0))
            memory += -(-to_milli(requests.get("memory", 0)) // 1000)
        except QuantityError:
            continue
    return cpu, memory


def _condition(pod: Json, kind: str) -> Json | None:
    for condition in (pod.get("status") or {}).get("conditions") or []:
        if condition.get("type") == kind:
            return dict(condition)
    return None


def pod_state(pod: Json) -> PodState:
    """What the API says about a pod, as the pod model's state."""
    meta, spec, status = pod["metadata"], pod.get("spec") or {}, pod.get("status") or {}
    created = parse_time(meta.get("creationTimestamp")) or 0.0
    start = parse_time(status.get("startTime")) if spec.get("nodeName") else None
    ready = _condition(pod, "Ready") or {}
    is_ready = ready.get("status") == "True"
    running_since = None
    for container in status.get("containerStatuses") or []:
        running_since = parse_time(
            ((container.get("state") or {}).get("running") or {}).get("startedAt")
        )
        break
    deletion = parse_time(meta.get("deletionTimestamp"))
    if deletion is not None:  # the API sets it to the end of the grace period
        deletion -= float(meta.get("deletionGracePeriodSeconds") or 0)
    return PodState(
        name=meta["name"],
        created=created,
        phase=str(status.get("phase") or "Pending"),
        ready=is_ready,
        start_time=start,
        running_since=running_since if status.get("phase") == RUNNING else None,
        ready_since=parse_time(ready.get("lastTransitionTime")) if is_ready else None,
        deletion_time=deletion,
    )


def pod_status(pod: Json, state: PodState) -> Json:
    """The ``status`` a kubelet would report for ``state`` (a strategic-merge patch)."""
    start = state.start_time if state.start_time is not None else state.created
    ready_at = rfc3339(state.ready_since if state.ready and state.ready_since else start)
    ready = "True" if state.ready else "False"
    running = state.phase == RUNNING
    started = rfc3339(state.running_since if state.running_since is not None else start)
    containers = []
    for container in (pod.get("spec") or {}).get("containers") or []:
        containers.append(
            {
                "name": container.get("name"),
                "image": container.get("image") or "",
                "imageID": "",
                "ready": state.ready,
                "started": running,
                "restartCount": 0,
                "state": {"running": {"startedAt": started}}
                if running
                else {"waiting": {"reason": "ContainerCreating"}},
            }
        )
    conditions = [
        {"type": "Initialized", "status": "True", "lastTransitionTime": rfc3339(start)},
        {"type": "ContainersReady", "status": ready, "lastTransitionTime": ready_at},
        {"type": "Ready", "status": ready, "lastTransitionTime": ready_at},
    ]
    return {
        "status": {
            "phase": state.phase,
            "startTime": rfc3339(start),
            "conditions": conditions,
            "containerStatuses": containers,
        }
    }


class Kubelet:
    """The scheduler and kubelet of the simulated nodes; see the module docstring."""

    def __init__(self, *, api: Api, nodes: NodeShape) -> None:
        self._api = api
        self._shape = nodes
        # Each node's kubelet endpoint on 127.0.0.1 (resource_metrics), written into the
        # Node's status so that metrics-server finds it; none: no endpoint advertised.
        self._ports: dict[str, int] = {}
        self._ready: list[str] = []
        self._names = frozenset(nodes.names())

    @property
    def nodes(self) -> list[str]:
        """The simulated nodes known to exist (empty until the first successful sync)."""
        return list(self._ready)

    def advertise(self, ports: dict[str, int]) -> None:
        """Write these kubelet ports (node name -> port on 127.0.0.1) into the nodes'
        status from the next :meth:`ensure_nodes` on."""
        self._ports = dict(ports)
        self._ready = []  # forces the next ensure_nodes

    def ensure_nodes(self) -> None:
        """Create missing simulated nodes and (re)write their capacity and Ready status."""
        api, shape = self._api, self._shape
        listed = api.call(
            "list simulated nodes", api.core.list_node, label_selector=f"{SIM_LABEL}=true"
        ).items()
        if listed is None:
            return
        existing = {n["metadata"]["name"]: n for n in listed}
        room = {
            "cpu": f"{shape.cpu_milli}m",
            "memory": str(shape.memory_bytes),
            "pods": str(shape.pods),
        }
        ready: list[str] = []
        for name in shape.names():
            node = existing.get(name)
            if node is None:
                body = {"metadata": {"name": name, "labels": {SIM_LABEL: "true"}}}
                if not api.call(f"create node {name}", api.core.create_node, body).ok:
                    continue
            elif (node.get("status") or {}).get("allocatable") == room and _port(
                node
            ) == self._ports.get(name, 0):
                ready.append(name)
                continue
            status = {
                "status": {
                    "capacity": room,
                    "allocatable": room,
                    **self._endpoint(name),
                    "conditions": [
                        {
                            "type": "Ready",
                            "status": "True",
                            "reason": "KubeletReady",
                            "message": "simulated by podscale",
                            "lastHeartbeatTime": rfc3339(time.time()),
                        }
                    ],
                }
            }
            if api.call(
                f"write status of node {name}",
                api.core.patch_node_status,
                name,
                status,
                _content_type=STRATEGIC,
            ).ok:
                ready.append(name)
        self._ready = ready

    def _endpoint(self, name: str) -> Json:
        """Where the node's kubelet listens, as metrics-server reads it."""
        port = self._ports.get(name)
        if port is None:
            return {}
        return {
            "addresses": [
                {"type": "InternalIP", "address": "127.0.0.1"},
                {"type": "Hostname", "address": name},
            ],
            "daemonEndpoints": {"kubeletEndpoint": {"Port": port}},
        }

    def bind(self, pending: Iterable[Json], *, placed: Iterable[Json], now: float) -> list[Json]:
        """Bind ``pending`` pods (oldest first) to nodes with room; return those bound.

        ``placed`` is every pod already on a node (its requests use the room).
        """
        shape = self._shape
        free = {n: [shape.cpu_milli, shape.memory_bytes, shape.pods] for n in self._ready}
        for pod in placed:
            node = free.get((pod.get("spec") or {}).get("nodeName") or "")
            if node is not None and (pod.get("status") or {}).get("phase") not in _FINISHED:
                cpu, memory = pod_requests(pod)
                node[0] -= cpu
                node[1] -= memory
                node[2] -= 1
        bound = []
        for pod in sorted(pending, key=lambda p: p["metadata"].get("creationTimestamp") or ""):
            cpu, memory = pod_requests(pod)
            for name, room in free.items():
                if room[0] >= cpu and room[1] >= memory and room[2] >= 1:
                    if self._bind(pod, name):
                        room[0] -= cpu
                        room[1] -= memory
                        room[2] -= 1
                        bound.append(_with_node(pod, name))
                    break
        return bound

    def _bind(self, pod: Json, node: str) -> bool:
        meta = pod["metadata"]
        body = {
            "metadata": {"name": meta["name"], "uid": meta.get("uid")},
            "target": {"apiVersion": "v1", "kind": "Node", "name": node},
        }
        api = self._api
        what = f"bind pod {meta['namespace']}/{meta['name']} to {node}"
        return api.call(
            what, api.core.create_namespaced_pod_binding, meta["name"], meta["namespace"], body
        ).ok

    def sync(self, pod: Json, model: PodModel, *, now: float, bound_now: bool = False) -> bool:
        """Move one managed pod to ``now``; False when it is gone (deleted by us).

        Pods on other nodes belong to real kubelets and are left alone.
        """
        node = (pod.get("spec") or {}).get("nodeName")
        if node and node not in self._names:
            return True
        state = pod_state(pod)
        if node and state.start_time is None and state.deletion_time is None:
            bound_now = True  # bound, but its first status write was lost: start now
        if bound_now:
            state = dataclasses.replace(state, start_time=now)
        if state.start_time is None and not node:
            return state.deletion_time is None  # unbound: the API server removes it at once
        meta = pod["metadata"]
        where = f"{meta['namespace']}/{meta['name']}"
        if state.deletion_time is not None:
            gone_at = parse_time(meta.get("deletionTimestamp")) or now
            if now < gone_at:
                return True
            body = {"gracePeriodSeconds": 0, "preconditions": {"uid": meta.get("uid")}}
            self._api.call(
                f"delete pod {where}",
                self._api.core.delete_namespaced_pod,
                meta["name"],
                meta["namespace"],
                body=body,
            )
            return False
        later = advance(state, now, model)
        if later is None:
            return False
        if later is state and not bound_now and (pod.get("status") or {}).get("startTime"):
            return True
        reply = self._api.call(
            f"write status of pod {where}",
            self._api.core.patch_namespaced_pod_status,
            meta["name"],
            meta["namespace"],
            pod_status(pod, later),
            _content_type=STRATEGIC,
        )
        if reply.ok:
            pod["status"] = reply.body.get("status") or pod.get("status")
        return True


def _port(node: Json) -> int:
    endpoints = (node.get("status") or {}).get("daemonEndpoints") or {}
    return int((endpoints.get("kubeletEndpoint") or {}).get("Port") or 0)


_FINISHED = frozenset({"Succeeded", "Failed"})


def _with_node(pod: Json, node: str) -> Json:
    return {**pod, "spec": {**(pod.get("spec") or {}), "nodeName": node}}
