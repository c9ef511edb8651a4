"""A minimal Argo Rollout controller: pods for ``spec.replicas``, and a status.

No Argo controller runs behind the simulator, so nothing would ever create a
Rollout's pods. This one keeps, per Rollout, ``spec.replicas`` pods made from
``spec.template`` (named ``NAME-HASH-xxxxx`` like a ReplicaSet's, labelled with
``rollouts-pod-template-hash``, owned by the Rollout so the garbage collector removes
them with it) and writes ``status.replicas``, ``readyReplicas``,
``availableReplicas`` and the ``selector`` string through the status subresource,
which is what ``/scale`` and the HPA read. No canary steps, no template updates:
every pod counts, whatever its hash. Surplus pods go in the ReplicaSet's order
(:func:`~autoscaler.sim.podmodel.deletion_rank`).
"""

from __future__ import annotations

import hashlib
import json

from autoscaler.sim.api import MERGE, Api, Json
from autoscaler.sim.kubelet import pod_state
from autoscaler.sim.podmodel import deletion_rank

GROUP, VERSION, PLURAL = "argoproj.io", "v1alpha1", "rollouts"
HASH_LABEL = "rollouts-pod-template-hash"
# Pods created or deleted per Rollout per tick (a controller's burst).
BURST = 20


def selector_string(rollout: Json) -> str:
    """``spec.selector`` as a label selector string (``matchLabels`` and simple
    ``matchExpressions``), the form ``status.selector`` and ``/scale`` carry."""
    selector = (rollout.get("spec") or {}).get("selector") or {}
    parts = [f"{k}={v}" for k, v in sorted((selector.get("matchLabels") or {}).items())]
    for expression in selector.get("matchExpressions") or []:
        key, operator = expression.get("key"), expression.get("operator")
        values = ",".join(expression.get("values") or [])
        if operator == "In":
            parts.append(f"{key} in ({values})")
        elif operator == "NotIn":
            parts.append(f"{key} notin ({values})")
        elif operator == "Exists":
            parts.append(str(key))
        elif operator == "DoesNotExist":
            parts.append(f"!{key}")
    return ",".join(parts)


def template_hash(rollout: Json) -> str:
    template = (rollout.get("spec") or {}).get("template") or {}
    digest = hashlib.sha256(json.dumps(template, sort_keys=True).encode()).hexdigest()
    return digest[:10]


def reconcile(*, api: Api, rollout: Json, pods: list[Json]) -> None:
    """Create or delete the Rollout's pods (``pods``: those it owns), write its status."""
    meta, spec = rollout["metadata"], rollout.get("spec") or {}
    namespace, name = meta["namespace"], meta["name"]
    active = [p for p in pods if not p["metadata"].get("deletionTimestamp")]
    wanted = int(spec.get("replicas", 1) or 0)
    missing = wanted - len(active)
    for _ in range(min(missing, BURST)):
        api.call(
            f"create pod for rollout {namespace}/{name}",
            api.core.create_namespaced_pod,
            namespace,
            _pod(rollout),
        )
    if missing < 0:
        victims = sorted(active, key=lambda p: deletion_rank(pod_state(p)))[: min(-missing, BURST)]
        for pod in victims:
            api.call(
                f"delete pod {namespace}/{pod['metadata']['name']}",
                api.core.delete_namespaced_pod,
                pod["metadata"]["name"],
                namespace,
            )
    ready = sum(1 for p in active if _ready(p))
    status = {
        "replicas": len(active),
        "readyReplicas": ready,
        "availableReplicas": ready,
        "selector": selector_string(rollout),
    }
    current = rollout.get("status") or {}
    if any(current.get(k) != v for k, v in status.items()):
        api.call(
            f"write status of rollout {namespace}/{name}",
            api.custom.patch_namespaced_custom_object_status,
            GROUP,
            VERSION,
            namespace,
            PLURAL,
            name,
            {"status": status},
            _content_type=MERGE,
        )


def _ready(pod: Json) -> bool:
    return any(
        c.get("type") == "Ready" and c.get("status") == "True"
        for c in (pod.get("status") or {}).get("conditions") or []
    )


def _pod(rollout: Json) -> Json:
    meta = rollout["metadata"]
    template = (rollout.get("spec") or {}).get("template") or {}
    template_meta = template.get("metadata") or {}
    digest = template_hash(rollout)
    return {
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": {
            "generateName": f"{meta['name']}-{digest}-",
            "labels": {**(template_meta.get("labels") or {}), HASH_LABEL: digest},
            "annotations": dict(template_meta.get("annotations") or {}),
            "ownerReferences": [
                {
                    "apiVersion": f"{GROUP}/{VERSION}",
                    "kind": "Rollout",
                    "name": meta["name"],
                    "uid": meta["uid"],
                    "controller": True,
                    "blockOwnerDeletion": True,
                }
            ],
        },
        "spec": template.get("spec") or {},
    }
