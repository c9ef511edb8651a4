"""A Deployment manifest for simulated workloads (tests, benchmarks, examples).

Nothing pulls its image: the simulator plays the kubelet, so only the pod template's
labels, requests and termination grace matter.
"""

from __future__ import annotations

from typing import Any


def deployment_manifest(
    name: str,
    replicas: int = 1,
    *,
    namespace: str | None = None,
    cpu: str = "100m",
    memory: str = "64Mi",
    grace_seconds: int = 2,
    image: str = "registry.invalid/app:1",
) -> dict[str, Any]:
    """An apps/v1 Deployment of ``replicas`` pods labelled ``app: NAME``, one container
    ``app`` requesting ``cpu`` and ``memory``."""
    labels = {"app": name}
    metadata: dict[str, Any] = {"name": name}
    if namespace:
        metadata["namespace"] = namespace
    return {
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "metadata": metadata,
        "spec": {
            "replicas": replicas,
            "selector": {"matchLabels": labels},
            "template": {
                "metadata": {"labels": labels},
                "spec": {
                    "terminationGracePeriodSeconds": grace_seconds,
                    "containers": [
                        {
                            "name": "app",
                            "image": image,
                            "resources": {"requests": {"cpu": cpu, "memory": memory}},
                        }
                    ],
                },
            },
        },
    }


def cpu_hpa_spec(name: str, *, down_window: int) -> dict[str, Any]:
    """An autoscaling/v2 HPA spec for the Deployment ``name``: CPU at 50 %, 1..10
    replicas, the given scale-down stabilization window. The same spec drives a native
    HPA and a ScalingPolicy when the two are compared."""
    return {
        "scaleTargetRef": {"apiVersion": "apps/v1", "kind": "Deployment", "name": name},
        "minReplicas": 1,
        "maxReplicas": 10,
        "metrics": [
            {
                "type": "Resource",
                "resource": {
                    "name": "cpu",
                    "target": {"type": "Utilization", "averageUtilization": 50},
                },
            }
        ],
        "behavior": {"scaleDown": {"stabilizationWindowSeconds": down_window}},
    }
