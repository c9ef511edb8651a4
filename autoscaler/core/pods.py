"""Which pods count, and what they request.

The HPA sorts every pod the selector matches into four groups before it averages
anything (``groupPods`` in replica_calculator.go):

- *ignored*: being deleted or Failed; they vanish from the calculation;
- *unready*: Pending, or (for CPU only) not yet trustworthy: never ready, or still in
  the CPU initialization period with a sample taken before one full metric window had
  passed since the pod became ready;
- *missing*: running but without a metric sample;
- *ready*: everything else, which is what ``readyPodCount`` counts.
"""

from __future__ import annotations

from dataclasses import dataclass

from autoscaler.core.model import Pod, Settings


@dataclass(frozen=True, slots=True)
class PodGroups:
    ready_count: int
    unready: frozenset[str]
    missing: frozenset[str]
    ignored: frozenset[str]


def group_pods(
    pods: tuple[Pod, ...],
    samples: dict[str, tuple[int, float, float]],
    *,
    resource: str,
    settings: Settings,
    now: float,
) -> PodGroups:
    """Group pods like the HPA; ``samples`` maps pod -> (value, timestamp, window)."""
    ready_count = 0
    unready: set[str] = set()
    missing: set[str] = set()
    ignored: set[str] = set()
    for pod in pods:
        if pod.deleting or pod.phase == "Failed":
            ignored.add(pod.name)
            continue
        if pod.phase == "Pending":
            unready.add(pod.name)
            continue
        sample = samples.get(pod.name)
        if sample is None:
            missing.add(pod.name)
            continue
        if resource == "cpu" and _cpu_sample_untrusted(pod, sample, settings, now):
            unready.add(pod.name)
            continue
        ready_count += 1
    return PodGroups(ready_count, frozenset(unready), frozenset(missing), frozenset(ignored))


def _cpu_sample_untrusted(
    pod: Pod, sample: tuple[int, float, float], settings: Settings, now: float
) -> bool:
    """True when a pod's CPU sample may still carry start-up cost and must not count.

    Within the initialization period a sample counts only from a ready pod, and only if
    a full window was collected after it became ready. After it, a sample is dropped
    only from a pod that is unready and has never been ready (its last transition came
    within ``initialReadinessDelay`` of its start).
    """
    if pod.ready is None or pod.start_time is None:
        return True
    transition = pod.ready_since if pod.ready_since is not None else pod.start_time
    _, timestamp, window = sample
    if pod.start_time + settings.cpu_initialization_period > now:
        return pod.ready == "False" or timestamp < transition + window
    return pod.ready == "False" and pod.start_time + settings.initial_readiness_delay > transition


def pod_requests(pods: tuple[Pod, ...], *, resource: str, container: str) -> dict[str, int]:
    """Each pod's request for ``resource`` in milli-units (one container's, or the sum).

    Raises ValueError with the HPA's message when a counted container has no request;
    the caller turns it into a failed metric.
    """
    requests: dict[str, int] = {}
    for pod in pods:
        total = 0
        found = False
        for c in pod.containers:
            if container and c.name != container:
                continue
            if resource not in c.requests:
                raise ValueError(
                    f"missing request for {resource} in container {c.name} of Pod {pod.name}"
                )
            total += c.requests[resource]
            found = True
            if container:
                break
        if container and not found:
            raise ValueError(f"container {container} not found in Pod {pod.name}")
        requests[pod.name] = total
    return requests


def ready_running_count(pods: tuple[Pod, ...]) -> int:
    """Pods that are Running and Ready: what Object and External Value targets scale."""
    return sum(1 for pod in pods if pod.phase == "Running" and pod.ready == "True")
