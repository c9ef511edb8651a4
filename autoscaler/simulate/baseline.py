"""The built-in ``hpa-default`` baseline: a native HPA with default behavior.

It keeps what a user would copy into a plain HorizontalPodAutoscaler (the metrics,
minReplicas, maxReplicas, the target) and drops everything else: no ``behavior``, so the
controller takes the HPA's legacy path (scale-up limit ``max(2 x current, 4)`` per
sync, the controller-wide downscale stabilization window), and Enforce mode. Compared
on the same trace, it shows what a policy's tuning buys over doing nothing.
"""

from __future__ import annotations

from dataclasses import replace

from autoscaler.core.model import Policy
from autoscaler.ports import Target

NAME = "hpa-default"


def hpa_default_policy(policy: Policy) -> Policy:
    """``policy`` as a native HPA with default behavior on the same metrics would run it."""
    return Policy(
        max_replicas=policy.max_replicas,
        min_replicas=max(1, policy.min_replicas),  # a plain HPA cannot scale to zero
        metrics=policy.metrics,
        behavior=None,
    )


def hpa_default_target(target: Target) -> Target:
    """The baseline for ``target``: same workload and metrics, default behavior."""
    return replace(
        target,
        name=NAME,
        policy=hpa_default_policy(target.policy),
        mode="Enforce",
        source=f"{NAME} (from {target.key})",
    )
