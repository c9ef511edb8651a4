"""Scaling policies: the document model, loading, best-practice lint, ``validate``.

``load_policies`` is the entry point for the control loop; ``run_validate`` is the
``autoscaler validate`` command. Importing this package does nothing else.
"""

from autoscaler.policy.issues import Issue
from autoscaler.policy.loader import LoadedPolicy, LoadResult, load_policies
from autoscaler.policy.model import AutoscalingSpec, ScalingPolicy, ScalingPolicySpec
from autoscaler.policy.validate import run_validate

__all__ = [
    "AutoscalingSpec",
    "Issue",
    "LoadResult",
    "LoadedPolicy",
    "ScalingPolicy",
    "ScalingPolicySpec",
    "load_policies",
    "run_validate",
]
