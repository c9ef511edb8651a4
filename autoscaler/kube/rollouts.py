"""Rollout awareness, the reading half: spot a workload between two revisions.

A Deployment or an Argo Rollout says, in its own object, whether it is rolling out and
which pods belong to the stable revision; the watch caches read that here into a
``RolloutState``. What a HoldAndCap policy then decides is the core's
(``autoscaler.core.rules``), which sees the stable revision's pods in the snapshot.
"""

from __future__ import annotations

from typing import Any

from autoscaler.ports import RolloutState

JSON = dict[str, Any]
DEPLOYMENT_HASH = "pod-template-hash"
ARGO_HASH = "rollouts-pod-template-hash"
REVISION = "deployment.kubernetes.io/revision"


def deployment_rollout(obj: JSON) -> RolloutState:
    """An apps/v1 Deployment's rollout, from the object alone (``new_hash`` comes later).

    In progress while the controller has not observed the latest spec, fewer replicas
    than wanted run the new template, or old pods are still around. A rollout past its
    progress deadline is stalled, not progressing: the loop scales it as the HPA would.
    """
    meta, spec, status = obj.get("metadata") or {}, obj.get("spec") or {}, obj.get("status") or {}
    wanted = 1 if spec.get("replicas") is None else int(spec["replicas"])
    updated, total = int(status.get("updatedReplicas") or 0), int(status.get("replicas") or 0)
    stalled = any(
        c.get("type") == "Progressing" and c.get("reason") == "ProgressDeadlineExceeded"
        for c in status.get("conditions") or []
    )
    generation, observed = meta.get("generation"), status.get("observedGeneration")
    if stalled:
        return RolloutState(False, "progress deadline exceeded")
    if generation is not None and observed != generation:
        return RolloutState(True, f"generation {generation} not observed yet")
    if updated < wanted or total > updated:
        return RolloutState(True, f"{updated} of {wanted} replicas updated, {total} in all")
    return RolloutState(False)


def new_revision_hash(deployment: str, replicasets: list[JSON]) -> str:
    """The pod-template-hash of the Deployment's newest ReplicaSet, while older ones have pods.

    The newest revision is the highest ``deployment.kubernetes.io/revision`` among the
    ReplicaSets the Deployment named ``deployment`` owns (by name: a namespace holds one
    Deployment of a name). "" when no older one has pods: nothing has been replaced yet
    (or the change was only the replica count), so every pod is stable.
    """
    owned = []
    for rs in replicasets:
        meta = rs.get("metadata") or {}
        owners = meta.get("ownerReferences") or []
        if any(o.get("kind") == "Deployment" and o.get("name") == deployment for o in owners):
            revision = str((meta.get("annotations") or {}).get(REVISION, "0"))
            pods = int((rs.get("status") or {}).get("replicas") or 0)
            hash_ = str((meta.get("labels") or {}).get(DEPLOYMENT_HASH, ""))
            owned.append((int(revision) if revision.isdigit() else 0, pods, hash_))
    if not owned:
        return ""
    newest = max(owned)
    return newest[2] if any(pods for rev, pods, _ in owned if rev != newest[0]) else ""


def argo_rollout(obj: JSON) -> RolloutState:
    """An Argo Rollout's rollout: a current pod hash that is not the stable one yet.

    A Rollout whose status lacks those fields (an old controller, or none) is never
    taken to be rolling out.
    """
    spec, status = obj.get("spec") or {}, obj.get("status") or {}
    current, stable = str(status.get("currentPodHash") or ""), str(status.get("stableRS") or "")
    if not current:
        return RolloutState(False, hash_label=ARGO_HASH)
    if stable and stable != current:
        return RolloutState(
            True, f"canary {current}, stable {stable}", ARGO_HASH, stable_hash=stable
        )
    wanted = 1 if spec.get("replicas") is None else int(spec["replicas"])
    updated, total = int(status.get("updatedReplicas") or 0), int(status.get("replicas") or 0)
    if updated < wanted or total > updated:
        message = f"{updated} of {wanted} replicas updated, {total} in all"
        return RolloutState(True, message, ARGO_HASH, new_hash=current)
    return RolloutState(False, hash_label=ARGO_HASH)
