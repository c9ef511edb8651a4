"""What is wrong, each as one specific sentence with its numbers and what to do.

Read from the snapshot and its decision alone, so that ``autoscaler explain`` on a live
cluster, ``explain --snapshot`` and ``decide --explain`` diagnose alike. (What stops a
sync before there is a snapshot, a target without ``/scale`` or not found, is diagnosed
by :func:`unread_target`.)
"""

from __future__ import annotations

from autoscaler.core.model import (
    CONTAINER_RESOURCE,
    RESOURCE,
    UTILIZATION,
    Decision,
    MetricSpec,
    Snapshot,
)
from autoscaler.core.rules import CONFLICT_REASON, CONFLICT_WINDOW, utc_text

METRICS_SERVER_GONE = "metrics.k8s.io is not served"
RESOURCE_KNOBS = (
    "--resource-metrics prometheus (AUTOSCALER_RESOURCE_METRICS) with --prometheus-url "
    "(AUTOSCALER_PROMETHEUS_URL)"
)


def diagnoses(snapshot: Snapshot, decision: Decision, *, selector: str = "") -> list[str]:
    """Every problem found, most fundamental first."""
    found: list[str] = []
    found += _resource_source(snapshot, selector)
    found += _no_pods(snapshot, selector)
    found += _missing_requests(snapshot)
    found += _declared_metrics(snapshot)
    found += _other_writer(snapshot, decision)
    if snapshot.current_replicas == 0 and snapshot.policy.min_replicas > 0:
        found.append(
            "the target has 0 replicas and minReplicas is "
            f"{snapshot.policy.min_replicas}: scaling is disabled (ScalingDisabled) until "
            "someone scales it up by hand"
        )
    return found


def _resource_metrics(snapshot: Snapshot) -> list[MetricSpec]:
    return [m for m in snapshot.policy.metrics if m.type in (RESOURCE, CONTAINER_RESOURCE)]


def _names(specs: list[MetricSpec]) -> str:
    return ", ".join(dict.fromkeys(m.name for m in specs))


def _resource_source(snapshot: Snapshot, selector: str) -> list[str]:
    """metrics.k8s.io not served, or serving nothing for the target's pods."""
    specs = _resource_metrics(snapshot)
    if not specs or not snapshot.pods:
        return []
    error = snapshot.metrics.errors.get("resource", "")
    if METRICS_SERVER_GONE in error:
        return [
            f"metrics.k8s.io is not served by this cluster (no metrics-server): the "
            f"{_names(specs)} metric cannot be read for any of the {len(snapshot.pods)} pods; "
            f"install metrics-server, or run Podscale with {RESOURCE_KNOBS}"
        ]
    if error:
        return [f"the resource metrics source failed: {error}"]
    samples = snapshot.metrics.resource or {}
    names = {p.name for p in snapshot.pods}
    if names & samples.keys():
        return []
    matched = f" (selector {selector})" if selector else ""
    return [
        f"the resource metrics API returned no samples for the {len(names)} pods of the "
        f"target{matched}: the {_names(specs)} metric cannot be computed; metrics-server "
        "has not scraped them yet, or cannot reach their kubelet (`kubectl top pod` shows "
        "the same)"
    ]


def _no_pods(snapshot: Snapshot, selector: str) -> list[str]:
    if snapshot.pods or snapshot.current_replicas == 0:
        return []
    which = f"the selector {selector}" if selector else "the target's selector"
    return [
        f"{which} matches no pods although the target has {snapshot.current_replicas} "
        "replicas: no metric of the pods can be computed; check that the workload's "
        "selector and its pod template labels agree, and that its pods were created "
        "(kubectl get pods -l SELECTOR, kubectl describe of the workload)"
    ]


def _missing_requests(snapshot: Snapshot) -> list[str]:
    """Containers without a request for a Utilization metric's resource."""
    found = []
    for spec in _resource_metrics(snapshot):
        if spec.target.type != UTILIZATION or spec.target.average_utilization is None:
            continue
        lacking = [
            (pod.name, c.name)
            for pod in snapshot.pods
            for c in pod.containers
            if (not spec.container or c.name == spec.container) and spec.name not in c.requests
        ]
        if not lacking:
            continue
        pod, container = lacking[0]
        others = len({p for p, _ in lacking}) - 1
        more = f" (and {others} more pods)" if others else ""
        found.append(
            f"container {container} of pod {pod}{more} has no {spec.name} request: the "
            f"{spec.target.average_utilization}% Utilization target is a percentage of the "
            f"request, so the {spec.name} metric fails; set resources.requests.{spec.name} "
            "in the pod template, or use an AverageValue target"
        )
    return found


def _declared_metrics(snapshot: Snapshot) -> list[str]:
    """Pods, Object and External metrics whose Prometheus query failed or found nothing."""
    found = []
    errors = snapshot.metrics.errors
    for spec in snapshot.policy.metrics:
        if spec.type in (RESOURCE, CONTAINER_RESOURCE) or spec.name not in errors:
            continue
        error = errors[spec.name]
        label = f"the {spec.type} metric {spec.name}"
        if error.startswith("NoData:"):
            query = error.split(": ", 2)[-1]
            found.append(
                f"the Prometheus query for {label} returned no series (an empty result is "
                f"not 0, so the metric fails): {query}; run it in Prometheus and check the "
                "labels it filters on"
            )
        elif error.startswith("QueryFailed:"):
            found.append(f"Prometheus could not answer the query for {label}: {error[13:]}")
        else:
            found.append(f"{label} could not be read: {error}")
    return found


def _other_writer(snapshot: Snapshot, decision: Decision) -> list[str]:
    now = snapshot.now
    recent = [t for t in snapshot.external_changes if t > now - CONFLICT_WINDOW]
    if not recent:
        return []
    times = "once" if len(recent) == 1 else f"{len(recent)} times"
    text = (
        f"another writer changed spec.replicas {times} in the last {CONFLICT_WINDOW:.0f} s "
        f"(last at {utc_text(recent[-1])})"
    )
    notice = decision.notice
    if notice is not None and notice.reason == CONFLICT_REASON:
        text += (
            f": Podscale holds the replicas at {decision.desired_replicas} "
            f"({CONFLICT_REASON}) until {utc_text(recent[-1] + CONFLICT_WINDOW)} unless it "
            "changes them again"
        )
    else:
        text += f": one more change within {CONFLICT_WINDOW:.0f} s and Podscale stops scaling"
    return [
        text + "; find it: a native HPA on the same target (kubectl get hpa), Argo CD or "
        "Flux syncing spec.replicas from Git, or kubectl scale"
    ]


def unread_target(error: str, *, namespace: str, ref: str, key: str) -> str:
    """The sentence for a sync that stopped before reading pods or metrics."""
    if "no scale subresource" in error:
        return (
            f"{ref} cannot be scaled: its kind has no scale subresource ({error}); a custom "
            "resource needs subresources.scale in its CRD"
        )
    if "not found" in error or "is not served" in error:
        return (
            f"{ref} was not found in namespace {namespace}: check spec.scaleTargetRef "
            f"(apiVersion, kind, name) of {key} ({error})"
        )
    if "missing a selector" in error:
        return (
            f"{ref}'s /scale has no status.selector, so its pods cannot be found: a custom "
            "resource's CRD needs labelSelectorPath in subresources.scale"
        )
    return error
