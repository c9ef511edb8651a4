"""Targets from policy files: each valid policy becomes a Target; each problem one line."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

from autoscaler.documents import DocumentError, policy_from_spec
from autoscaler.loop.interfaces import Target, TargetRef
from autoscaler.policy import load_policies


@dataclass(slots=True)
class LoadedTargets:
    targets: list[Target] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)


def targets_from_files(paths: Sequence[str], *, namespace: str | None = None) -> LoadedTargets:
    """Every valid policy under ``paths``; a broken one is reported and skipped."""
    loaded = load_policies(paths)
    result = LoadedTargets(errors=[issue.format() for issue in loaded.errors])
    for item in loaded.policies:
        meta, spec = item.policy.metadata, item.policy.spec
        if namespace and meta.namespace != namespace:
            continue
        ref = spec.scale_target_ref
        try:
            policy = policy_from_spec(spec.hpa_spec(), f"{item.file}:{item.line}: spec")
        except DocumentError as exc:
            result.errors.append(str(exc))
            continue
        result.targets.append(
            Target(
                namespace=meta.namespace,
                name=meta.name,
                ref=TargetRef(ref.api_version or "apps/v1", ref.kind, ref.name),
                policy=policy,
                mode=spec.mode,
                source=f"{item.file}:{item.line}",
                metric_specs=tuple(spec.with_defaults().metrics or ()),
                fallback=None
                if spec.fallback is None
                else (spec.fallback.replicas, spec.fallback.failure_threshold),
                rollout_awareness=spec.rollout_awareness,
            )
        )
    return result
