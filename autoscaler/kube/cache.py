"""The loop's reads served from watch caches, so a sync does not LIST the world.

- pods: one informer on all pods (of the watched namespace), indexed by namespace and by
  each ``key=value`` label, so a target's selector touches only candidate pods;
- workloads: one informer per kind the policies target (Deployments, StatefulSets,
  ReplicaSets, Argo Rollouts), read as their ``/scale`` would answer; a kind we cannot
  read that way falls back to GET ``/scale``, as does anything before its cache synced;
  Deployments and Rollouts also report their rollout (``autoscaler.kube.rollouts``): a
  Deployment in the middle of one costs a LIST of its ReplicaSets per sync, to tell its
  new revision's pods from the stable ones;
- metrics.k8s.io cannot be watched, so PodMetrics are listed once per namespace and
  sync (not once per target) and filtered by the target's selector locally.

Writes still go to ``/scale`` only (KubeScales).
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from dataclasses import replace
from typing import Any, NamedTuple

from autoscaler.core.model import Pod, PodUsage
from autoscaler.kube.api import Api
from autoscaler.kube.informer import Informer
from autoscaler.kube.pods import KubePods, pod_from_json, usage_from_json
from autoscaler.kube.rollouts import argo_rollout, deployment_rollout, new_revision_hash
from autoscaler.kube.scale import KubeScales
from autoscaler.ports import JSON, LoopError, NotFound, ScaleState, TargetRef
from autoscaler.selectors import Requirement, SelectorError, matches, parse_selector


class Labelled(NamedTuple):
    namespace: str
    labels: dict[str, str]
    pod: Pod


def _requirements(selector: str) -> tuple[Requirement, ...]:
    try:
        return parse_selector(selector)
    except SelectorError as exc:
        raise LoopError(f"bad selector {selector!r}: {exc}") from None


class CachedPods:
    """PodSource from a pod informer, with a (namespace, label) index rebuilt on change."""

    def __init__(self, api: Api, *, namespace: str | None = None) -> None:
        path = f"/api/v1/namespaces/{namespace}/pods" if namespace else "/api/v1/pods"
        self._changed = threading.Event()
        self.informer: Informer[Labelled] = Informer(
            api, path, _labelled, name="pods", on_change=lambda _: self._changed.set()
        )
        self.fallback = KubePods(api)
        self._index: dict[tuple[str, str, str], list[Labelled]] = {}
        self._by_namespace: dict[str, list[Labelled]] = {}

    def start(self) -> None:
        self.informer.start()

    def _reindex(self) -> None:
        self._changed.clear()
        index: dict[tuple[str, str, str], list[Labelled]] = {}
        by_namespace: dict[str, list[Labelled]] = {}
        for item in self.informer.items():
            by_namespace.setdefault(item.namespace, []).append(item)
            for key, value in item.labels.items():
                index.setdefault((item.namespace, key, value), []).append(item)
        self._index, self._by_namespace = index, by_namespace

    def pods(self, namespace: str, selector: str) -> tuple[Pod, ...]:
        if not self.informer.synced.is_set():
            return self.fallback.pods(namespace, selector)
        if self._changed.is_set():
            self._reindex()
        requirements = _requirements(selector)
        narrow = next((r for r in requirements if r.operator == "In" and len(r.values) == 1), None)
        if narrow is not None:
            candidates = self._index.get((namespace, narrow.key, narrow.values[0]), [])
        else:
            candidates = self._by_namespace.get(namespace, [])
        return tuple(c.pod for c in candidates if matches(requirements, c.labels))


def _labelled(obj: JSON) -> Labelled:
    meta = obj.get("metadata") or {}
    return Labelled(
        str(meta.get("namespace", "")), dict(meta.get("labels") or {}), pod_from_json(obj)
    )


def _selector_string(selector: Any) -> str:
    """A LabelSelector (matchLabels/matchExpressions) in the string form /scale reports."""
    if not isinstance(selector, dict):
        return ""
    parts = [f"{k}={v}" for k, v in sorted((selector.get("matchLabels") or {}).items())]
    for e in selector.get("matchExpressions") or []:
        key, operator, values = e.get("key"), e.get("operator"), ",".join(e.get("values") or [])
        parts.append(
            {
                "In": f"{key} in ({values})",
                "NotIn": f"{key} notin ({values})",
                "Exists": f"{key}",
                "DoesNotExist": f"!{key}",
            }.get(operator, "")
        )
    return ",".join(p for p in parts if p)


def _workload_scale(obj: JSON) -> ScaleState:
    """apps/v1 Deployment, StatefulSet, ReplicaSet as their /scale reads."""
    spec, status = obj.get("spec") or {}, obj.get("status") or {}
    replicas = spec.get("replicas")
    return ScaleState(
        1 if replicas is None else int(replicas),
        int(status.get("replicas") or 0),
        _selector_string(spec.get("selector")),
        resource_version=_version(obj),
    )


def _deployment_scale(obj: JSON) -> ScaleState:
    """apps/v1 Deployment: /scale plus its rollout (the new revision's hash comes later)."""
    scale = _workload_scale(obj)
    return replace(scale, rollout=deployment_rollout(obj))


def _rollout_scale(obj: JSON) -> ScaleState:
    """argoproj.io Rollout: its CRD's scale paths (.spec.replicas, .status.HPAReplicas,
    .status.selector), its rollout. HPAReplicas counts fewer pods than status.replicas
    during a canary; a Rollout-like CRD without it (our testbed's) reports replicas."""
    spec, status = obj.get("spec") or {}, obj.get("status") or {}
    replicas = spec.get("replicas")
    return ScaleState(
        1 if replicas is None else int(replicas),
        int(status.get("HPAReplicas", status.get("replicas")) or 0),
        str(status.get("selector") or ""),
        argo_rollout(obj),
        resource_version=_version(obj),
    )


def _version(obj: JSON) -> str:
    return str((obj.get("metadata") or {}).get("resourceVersion") or "")


KNOWN: dict[tuple[str, str], tuple[str, Callable[[JSON], ScaleState]]] = {
    ("apps/v1", "Deployment"): ("/apis/apps/v1/deployments", _deployment_scale),
    ("apps/v1", "StatefulSet"): ("/apis/apps/v1/statefulsets", _workload_scale),
    ("apps/v1", "ReplicaSet"): ("/apis/apps/v1/replicasets", _workload_scale),
    ("argoproj.io/v1alpha1", "Rollout"): ("/apis/argoproj.io/v1alpha1/rollouts", _rollout_scale),
}


class CachedScales:
    """ScaleClient reading known workload kinds from informers, writing /scale."""

    def __init__(self, api: Api, *, namespace: str | None = None) -> None:
        self.api = api
        self.namespace = namespace
        self.direct = KubeScales(api)
        self.informers: dict[tuple[str, str], Informer[ScaleState]] = {}
        self.clock: Callable[[], float] = time.monotonic
        self._hashes: dict[tuple[str, str], tuple[float, str]] = {}
        self._lock = threading.Lock()

    def _informer(self, ref: TargetRef) -> Informer[ScaleState] | None:
        key = (ref.api_version, ref.kind)
        if key not in KNOWN:
            return None
        with self._lock:
            if key not in self.informers:
                path, transform = KNOWN[key]
                if self.namespace:
                    group_version, _, plural = path.rpartition("/")
                    path = f"{group_version}/namespaces/{self.namespace}/{plural}"
                informer = Informer(self.api, path, transform, name=ref.kind)
                informer.start()
                self.informers[key] = informer
            return self.informers[key]

    def get_scale(self, namespace: str, ref: TargetRef) -> ScaleState:
        informer = self._informer(ref)
        if informer is None or not informer.synced.is_set():
            return self.direct.get_scale(namespace, ref)
        scale = informer.get(namespace, ref.name)
        if scale is None:
            raise NotFound(f"{ref.kind} {namespace}/{ref.name} not found")
        self.direct.remember(namespace, ref, scale.resource_version)
        if ref.kind == "Deployment" and scale.rollout is not None and scale.rollout.in_progress:
            return self._with_new_hash(namespace, ref, scale)
        # Done rolling out: the next rollout's new revision is another one.
        self._hashes.pop((namespace, ref.name), None)
        return scale

    def _with_new_hash(self, namespace: str, ref: TargetRef, scale: ScaleState) -> ScaleState:
        """The rolling Deployment's new revision hash, from one LIST of its ReplicaSets.

        Only while it rolls out (rare, and the old ReplicaSets shrink at every step), so
        no ReplicaSet cache is kept. Unreadable: no rollout info (no awareness), rather
        than taking new pods for stable ones.
        """
        assert scale.rollout is not None
        key = (namespace, ref.name)
        cached = self._hashes.get(key)
        if cached is not None and self.clock() - cached[0] < HASH_SECONDS:
            return replace(scale, rollout=replace(scale.rollout, new_hash=cached[1]))
        try:
            listing = self.api.call(
                "GET",
                f"/apis/apps/v1/namespaces/{namespace}/replicasets",
                query=[("labelSelector", scale.selector)],
            )
        except LoopError:
            return replace(scale, rollout=None)
        new = new_revision_hash(ref.name, list(listing.get("items") or []))
        # A stuck or paused rollout must not cost a LIST per sync for ever.
        now = self.clock()
        for old in [k for k, (at, _) in self._hashes.items() if now - at >= HASH_SECONDS]:
            del self._hashes[old]  # e.g. Deployments deleted while rolling out
        self._hashes[key] = (now, new)
        return replace(scale, rollout=replace(scale.rollout, new_hash=new))

    def get_scale_uncached(self, namespace: str, ref: TargetRef) -> ScaleState:
        return self.direct.get_scale(namespace, ref)

    def set_replicas(self, namespace: str, ref: TargetRef, replicas: int) -> None:
        self.direct.set_replicas(namespace, ref, replicas)

    def stop(self) -> None:
        for informer in self.informers.values():
            informer.stop.set()


HASH_SECONDS = 30.0  # how long a rolling Deployment's new revision hash is reused


class NamespaceMetrics:
    """ResourceMetricSource listing PodMetrics once per namespace per sync.

    ``new_sync()`` (called by the controller at the start of every sync) forgets the
    lists, so a slow sync never lists a namespace twice and never reuses an old list.
    """

    def __init__(self, api: Api, *, ttl: float = 60.0, clock: Callable[[], float] = time.monotonic):
        self.api = api
        self.ttl = ttl
        self.clock = clock
        self._cache: dict[str, tuple[float, list[tuple[dict[str, str], str, PodUsage]]]] = {}

    namespace_wide = False  # filtered by the selector here

    def usage(self, namespace: str, selector: str) -> dict[str, PodUsage]:
        cached = self._cache.get(namespace)
        if cached is None or self.clock() - cached[0] >= self.ttl:
            cached = (self.clock(), usage_from_json(self.api, namespace))
            self._cache[namespace] = cached
        requirements = _requirements(selector)
        return {name: usage for labels, name, usage in cached[1] if matches(requirements, labels)}

    def new_sync(self) -> None:
        self._cache.clear()
