"""HPA manifests <-> ScalingPolicies, field for field (``import-hpa``, ``export-hpa``).

A policy's ``spec`` is an ``autoscaling/v2`` HPA spec plus Podscale's extensions, so
importing copies the spec exactly as written (no defaults added, so a later change of
a default applies to both alike) and exporting copies it back without the extensions.
What the API server added to the object (status, uid, managedFields, ...) was already
left out when the document was read (:func:`autoscaler.policy.document.as_written`);
a v1 HPA was read as the v2 HPA the server converts it to. Metadata keeps the name,
the namespace when written, and the labels; annotations belong to the tools that set
them (kubectl, Argo CD) and stay behind.
"""

from __future__ import annotations

from typing import Any, Final

from autoscaler.policy.document import HPA_KIND
from autoscaler.policy.issues import FieldPath, Finding
from autoscaler.policy.model import (
    API_VERSION,
    EXTENSION_FIELDS,
    KIND,
    ObjectMeta,
    ScalingPolicy,
)

HPA_API_VERSION: Final = "autoscaling/v2"
EXTENSIONS: Final = EXTENSION_FIELDS
_DROPPED: Final = {
    "mode": "a native HPA always writes its decisions (there is no DryRun)",
    "fallback": "a native HPA holds its replicas while metrics fail (no fallback)",
    "rollout": "a native HPA counts surge and canary pods during a rollout (no HoldAndCap)",
    "predictive": "a native HPA scales only once the load has arrived (no forecast)",
    "burst": "a native HPA keeps its scale-up rate limits in a burst (no burst mode)",
    "activation": "a native HPA leaves zero only through its own arithmetic (the "
    "HPAScaleToZero feature gate), with no cooldown",
}


def policy_document(written: ScalingPolicy, *, mode: str | None = None) -> dict[str, Any]:
    """The ScalingPolicy with the same name, namespace, labels and spec as written."""
    spec = _target_first(written.spec.model_dump(by_alias=True, exclude_unset=True))
    if mode is not None:
        spec["mode"] = mode
    return {
        "apiVersion": API_VERSION,
        "kind": KIND,
        "metadata": _metadata(written.metadata),
        "spec": spec,
    }


def hpa_document(
    written: ScalingPolicy, *, served: frozenset[str] | None = None
) -> tuple[dict[str, Any], list[Finding]]:
    """The ``autoscaling/v2`` HPA with the policy's HPA spec, and what it cannot keep.

    Each Podscale extension the policy sets is dropped with a finding that says what the
    native HPA will do instead; metrics a native HPA reads through an API that needs a
    provider get a finding naming it. ``served`` is the External metric names that
    ``autoscaler adapter`` serves (from the MetricDeclarations), when known: those need
    no finding, and any other External name gets one saying the adapter lacks it.
    """
    spec = written.spec.model_dump(by_alias=True, exclude_unset=True)
    findings = [
        Finding(("spec", name), f"dropped: {_DROPPED[name]}") for name in EXTENSIONS if name in spec
    ]
    hpa_spec = _target_first({k: v for k, v in spec.items() if k not in EXTENSIONS})
    findings += _metric_notes(hpa_spec.get("metrics") or [], served)
    findings += _tolerance_notes(hpa_spec.get("behavior") or {})
    document = {
        "apiVersion": HPA_API_VERSION,
        "kind": HPA_KIND,
        "metadata": _metadata(written.metadata),
        "spec": hpa_spec,
    }
    return document, findings


def _target_first(spec: dict[str, Any]) -> dict[str, Any]:
    """``scaleTargetRef`` first, as kubectl and people write it."""
    first = {"scaleTargetRef": spec["scaleTargetRef"]} if "scaleTargetRef" in spec else {}
    return {**first, **spec}


def _metadata(metadata: ObjectMeta) -> dict[str, Any]:
    kept = metadata.model_dump(by_alias=True, exclude_unset=True, include={"name", "namespace"})
    if metadata.labels:
        kept["labels"] = dict(metadata.labels)
    return kept


def _metric_notes(metrics: list[dict[str, Any]], served: frozenset[str] | None) -> list[Finding]:
    notes = []
    for index, metric in enumerate(metrics):
        kind = metric.get("type")
        path: FieldPath = ("spec", "metrics", index)
        if kind == "External":
            name = metric.get("external", {}).get("metric", {}).get("name", "")
            if served is not None and name in served:
                continue  # the adapter answers it with the policy's own query
            if served is not None:
                notes.append(
                    Finding(
                        path,
                        f'"{name}" is not an External metric of the MetricDeclarations given: '
                        "the adapter would answer the HPA with 404 (declare it, type: External)",
                    )
                )
                continue
            notes.append(
                Finding(
                    path,
                    f'the HPA reads "{name}" from external.metrics.k8s.io: declare it '
                    "(type: External) for `autoscaler adapter` (docs/adapter.md)",
                )
            )
        elif kind in ("Pods", "Object"):
            source = metric.get(kind.lower(), {})
            name = source.get("metric", {}).get("name", "")
            notes.append(
                Finding(
                    path,
                    f'the HPA reads {kind} metric "{name}" from custom.metrics.k8s.io, which '
                    "needs a custom metrics provider (autoscaler adapter serves External only)",
                )
            )
    return notes


def _tolerance_notes(behavior: dict[str, Any]) -> list[Finding]:
    return [
        Finding(
            ("spec", "behavior", direction, "tolerance"),
            "needs Kubernetes 1.33+ (on by default from 1.35; 1.33-1.34 with the "
            "HPAConfigurableTolerance feature gate); older API servers drop it "
            "(and use the controller's 0.1)",
        )
        for direction in ("scaleUp", "scaleDown")
        if "tolerance" in (behavior.get(direction) or {})
    ]
