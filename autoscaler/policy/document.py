"""One YAML document -> a ScalingPolicy, or every problem found in it.

A document is a ``podscale.dev/v1alpha1`` ScalingPolicy or a native
HorizontalPodAutoscaler manifest (``autoscaling/v2``, ``v2beta2`` or ``v1``), which
is read as the policy with the same name, namespace and spec (a v1
``targetCPUUtilizationPercentage`` becomes a cpu Utilization metric).

Shape errors (unknown fields, wrong types) do not hide rule errors: the offending
fields are cut out and the rest is parsed again, so one run shows everything, and
rule findings about the cut-out fields are dropped (they would only repeat them).
"""

from __future__ import annotations

import copy
from typing import Any, Final, TypeVar

from pydantic import BaseModel, ValidationError

from autoscaler.policy import v1
from autoscaler.policy.checks import check_metadata, check_spec
from autoscaler.policy.issues import FieldPath, Finding, pydantic_findings, show
from autoscaler.policy.model import (
    API_VERSION,
    KIND,
    HorizontalPodAutoscaler,
    ScalingPolicy,
    ScalingPolicySpec,
)

HPA_KIND: Final = "HorizontalPodAutoscaler"
READ_ONLY_METADATA: Final = (
    "managedFields",
    "resourceVersion",
    "uid",
    "creationTimestamp",
    "generation",
    "selfLink",
    "deletionTimestamp",
    "deletionGracePeriodSeconds",
)
"""Metadata the API server sets and ``kubectl get -o yaml`` prints: never the user's."""
LAST_APPLIED: Final = "kubectl.kubernetes.io/last-applied-configuration"
HPA_VERSIONS: Final = ("autoscaling/v2", "autoscaling/v2beta2", "autoscaling/v1")
_V1_CPU_PATH: Final = ("spec", "targetCPUUtilizationPercentage")
_MAX_ROUNDS: Final = 8
_M = TypeVar("_M", bound=BaseModel)
_Document = ScalingPolicy | HorizontalPodAutoscaler


def to_policy(data: object) -> tuple[ScalingPolicy, str] | list[Finding]:
    """The policy a document declares and its ``"apiVersion kind"``, or its problems."""
    if not isinstance(data, dict):
        return [Finding((), f"a policy document must be a mapping (got {_kind_of(data)})")]
    kind, version = data.get("kind"), data.get("apiVersion")
    model: type[_Document]
    if kind == KIND:
        allowed: tuple[str, ...] = (API_VERSION,)
        model = ScalingPolicy
    elif kind == HPA_KIND:
        allowed = HPA_VERSIONS
        model = HorizontalPodAutoscaler
    elif kind is None:
        return [Finding(("kind",), f"required (must be {KIND} or {HPA_KIND})")]
    else:
        return [Finding(("kind",), f"unsupported kind {show(kind)} (must be {KIND} or {HPA_KIND})")]
    if version not in allowed:
        return [Finding(("apiVersion",), _bad_version(version, allowed))]
    written = as_written(data)
    findings: list[Finding] = []
    from_cpu_only = False
    if version == "autoscaling/v1":
        from_cpu_only = v1.METRICS_ANNOTATION not in (written.get("metadata") or {}).get(
            "annotations", {}
        )
        written, findings = v1.to_v2(written)
    parsed, shape, cut = _parse(model, written)
    findings += shape
    if parsed is None:
        return findings
    policy = _as_policy(parsed)
    rules = check_metadata(policy.metadata) + check_spec(policy.spec.with_defaults())
    if version == "autoscaling/v1":
        rules = [_v1_path(finding, from_cpu_only) for finding in rules]
    findings += [finding for finding in rules if not _related(finding.path, cut)]
    return findings or (policy, f"{version} {kind}")


def as_written(data: dict[str, Any]) -> dict[str, Any]:
    """``data`` without what the server adds to an object: ``status``, the read-only
    metadata (:data:`READ_ONLY_METADATA`) and kubectl's last-applied annotation, so that
    what ``kubectl get -o yaml`` prints reads as the manifest that was applied."""
    kept = {key: value for key, value in data.items() if key != "status"}
    metadata = data.get("metadata")
    if isinstance(metadata, dict):
        kept["metadata"] = {k: v for k, v in metadata.items() if k not in READ_ONLY_METADATA}
        annotations = metadata.get("annotations")
        if isinstance(annotations, dict) and LAST_APPLIED in annotations:
            rest = {k: v for k, v in annotations.items() if k != LAST_APPLIED}
            if rest:
                kept["metadata"]["annotations"] = rest
            else:
                del kept["metadata"]["annotations"]
    return kept


def _parse(
    model: type[_M], data: dict[str, Any]
) -> tuple[_M | None, list[Finding], list[FieldPath]]:
    """The model, all shape findings, and the paths cut out to get past them."""
    data = copy.deepcopy(data)
    findings: list[Finding] = []
    cut: list[FieldPath] = []
    for _ in range(_MAX_ROUNDS):
        try:
            return model.model_validate(data), findings, cut
        except ValidationError as exc:
            details = exc.errors(include_url=False)
            # A required field we cut out is now "missing": already reported.
            findings += [f for f in pydantic_findings(exc, model=model) if f.path not in cut]
            if any(detail["type"] == "missing" for detail in details):
                return None, findings, cut
            cut += [_cut(data, tuple(detail["loc"])) for detail in details]
    return None, findings, cut


def _cut(data: dict[str, Any], loc: FieldPath) -> FieldPath:
    """Remove the field at ``loc`` (or the whole list holding it); the path removed."""
    node: Any = data
    parents: list[Any] = [data]
    for part in loc[:-1]:
        try:
            node = node[part]
        except (KeyError, IndexError, TypeError):
            node = None
        parents.append(node)
    end = len(loc) - 1
    while end > 0 and isinstance(loc[end], int):  # never shift list indexes: cut the list
        end -= 1
    holder = parents[end]
    if isinstance(holder, dict):
        holder.pop(loc[end], None)
    return loc[: end + 1]


def _related(path: FieldPath, cut: list[FieldPath]) -> bool:
    """Whether a rule finding at ``path`` may come from cutting a field out.

    That is when ``path`` is inside or contains a cut field or, below the top level
    of ``spec`` (whose fields are independent), is a sibling of one: cutting
    ``target.averageValue`` makes "must set either ... or averageUtilization" fire.
    """
    return any(
        path[: len(c)] == c
        or c[: len(path)] == path
        or (len(c) > 2 and path[: len(c) - 1] == c[:-1])
        for c in cut
    )


def _as_policy(document: _Document) -> ScalingPolicy:
    """A native HPA manifest as a policy: same metadata and spec, no extensions."""
    if isinstance(document, ScalingPolicy):
        return document
    spec = _written_fields(document.spec)
    return ScalingPolicy(metadata=document.metadata, spec=ScalingPolicySpec(**spec))


def _written_fields(model: BaseModel) -> dict[str, Any]:
    """The fields the document set, so "was it written?" survives the conversion."""
    return {name: getattr(model, name) for name in model.model_fields_set}


def _v1_path(finding: Finding, from_cpu_only: bool) -> Finding:
    """Point errors in the metric made from ``targetCPUUtilizationPercentage`` at it."""
    if from_cpu_only and finding.path[:2] == ("spec", "metrics"):
        return Finding(_V1_CPU_PATH, finding.message)
    return finding


def _bad_version(version: object, allowed: tuple[str, ...]) -> str:
    if version is None:
        return f"required (must be {' or '.join(allowed)})"
    return f"unsupported apiVersion {show(version)} (must be {' or '.join(allowed)})"


def _kind_of(value: object) -> str:
    if isinstance(value, list):
        return "a list"
    if isinstance(value, str):
        return f"the string {show(value)}"
    return f"the value {show(value)}"
