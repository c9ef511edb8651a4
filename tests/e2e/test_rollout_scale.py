"""A Rollout-like custom resource is scaled through ``/scale``, and nothing else is written.

``autoscaler sim run`` plays kubelet, metrics-server, traffic and a minimal Rollout
controller; ``autoscaler run --once`` reads a ScalingPolicy object and scales the Rollout.
Two independent records show what Podscale wrote:

- every request Podscale sends goes through a proxy (``autoscaler.faults``) whose
  pass-through rules count the writes by method and path: the only ones allowed are
  the PATCH of the Rollout's ``/scale``, the policy's own ``/status`` and Events;
  catch-all rules after them count any other write (there must be none);
- a watch replayed from the Rollout's resourceVersion before the run lists every
  change of the object: its spec changes only in ``replicas``, its metadata only in
  what the API server maintains.

(kube-apiserver 1.20 records no managedFields for writes through ``/scale``, and the
testbed has no audit log, so neither can attribute the write; the proxy can.)
"""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

from e2e_support import Kubectl, Testbed, apply, constant_load_scenario
from kubernetes import client, watch
from live_tooling import cpu_policy, wait_for
from live_tooling import run_once as autoscaler_run_once
from test_policy_objects import crd
from test_sim_run import rollout, start_sim
from testbed_fixture import Sim

from autoscaler.faults import FaultProxy, FaultProxyThread, Latency

__all__ = ["crd", "start_sim"]  # fixtures used by name

GROUP, VERSION = "argoproj.io", "v1alpha1"
# Metadata the API server maintains itself on every write.
SERVER_MAINTAINED = {"resourceVersion", "generation", "managedFields"}


def scaling_policy(name: str) -> dict[str, Any]:
    target = {"apiVersion": f"{GROUP}/{VERSION}", "kind": "Rollout", "name": name}
    return cpu_policy(name, min_replicas=2, maxReplicas=8, scaleTargetRef=target)


def proxied_kubeconfig(path: Path, url: str, token: str) -> Path:
    path.write_text(
        json.dumps(
            {
                "apiVersion": "v1",
                "kind": "Config",
                "clusters": [{"name": "proxy", "cluster": {"server": url}}],
                "users": [{"name": "admin", "user": {"token": token}}],
                "contexts": [{"name": "proxy", "context": {"cluster": "proxy", "user": "admin"}}],
                "current-context": "proxy",
            }
        )
    )
    return path


def count_writes(
    proxy: FaultProxyThread, namespace: str, name: str
) -> Callable[[], dict[str, int]]:
    """Pass-through rules, most specific first; returns a reader of the counts by label."""
    ns = f"/namespaces/{namespace}"
    allowed = {
        "scale": ("PATCH", rf"^/apis/{GROUP}/{VERSION}{ns}/rollouts/{name}/scale(\?|$)"),
        "status": ("PATCH", rf"^/apis/podscale\.dev/v1alpha1{ns}/scalingpolicies/{name}/status"),
        "event": ("POST", rf"^/api/v1{ns}/events(\?|$)"),
        "event update": ("PATCH", rf"^/api/v1{ns}/events/[^/?]+(\?|$)"),
    }
    other = {f"other {method}": (method, None) for method in ("POST", "PUT", "PATCH", "DELETE")}
    ids = {
        label: proxy.add_rule(Latency(delay_s=0), method=method, path=path)
        for label, (method, path) in {**allowed, **other}.items()
    }

    def counts() -> dict[str, int]:
        rules: Any = proxy.stats()["rules"]
        return {label: int(rules[str(i)]["seen"]) for label, i in ids.items()}

    return counts


def rollout_changes(kube: client.ApiClient, namespace: str, name: str, since: str) -> list[Any]:
    """Every version of the Rollout after ``since``, replayed by a watch (then it times out)."""
    custom = client.CustomObjectsApi(kube)
    stream = watch.Watch().stream(
        custom.list_namespaced_custom_object,
        GROUP,
        VERSION,
        namespace,
        "rollouts",
        field_selector=f"metadata.name={name}",
        resource_version=since,
        timeout_seconds=2,
    )
    return [(event["type"], event["object"]) for event in stream]


def test_podscale_scales_a_rollout_through_scale_and_writes_nothing_else(
    crd: None,
    testbed: Testbed,
    kube: client.ApiClient,
    kubectl: Kubectl,
    namespace: str,
    start_sim: Callable[..., Sim],
    tmp_path: Path,
) -> None:
    # 300 rps over the Rollout's pods: 100 rps served by each of 2, 210m of a 100m request.
    scenario = constant_load_scenario(tmp_path, namespace, "Rollout", "shop", rps=300)
    start_sim("--scenario", str(scenario))
    apply(kubectl, namespace, rollout("shop", 2))
    apply(kubectl, namespace, scaling_policy("shop"))
    custom = client.CustomObjectsApi(kube)

    def get() -> Any:
        return custom.get_namespaced_custom_object(GROUP, VERSION, namespace, "rollouts", "shop")

    metrics = f"/apis/metrics.k8s.io/v1beta1/namespaces/{namespace}/pods?labelSelector=app%3Dshop"
    wait_for(
        lambda: (
            (get().get("status") or {}).get("readyReplicas") == 2
            and len(json.loads(kubectl("get", "--raw", metrics).stdout)["items"]) == 2
        ),
        "2 ready Rollout pods with PodMetrics",
    )
    before = get()

    proxy = FaultProxy(upstream=testbed.server, upstream_ca=testbed.env["TESTBED_CA_FILE"])
    with FaultProxyThread(proxy) as running:
        counts = count_writes(running, namespace, "shop")
        config = proxied_kubeconfig(
            tmp_path / "proxied.kubeconfig", running.url, testbed.env["TESTBED_ADMIN_TOKEN"]
        )

        def run_once() -> list[dict[str, Any]]:
            done = autoscaler_run_once(
                config, None, "--namespace", namespace, "--cpu-initialization-period", "0"
            )
            assert done.returncode == 0 and "Traceback" not in done.stderr, done.stderr
            outcomes: list[dict[str, Any]] = json.loads(done.stdout)
            return outcomes

        # 210 % of the request against a 50 % target wants ceil(2 x 4.2) = 9; the default
        # scale-up limit (4 pods or 100 % per 15 s) allows 4.
        [outcome] = wait_for(
            lambda: [o for o in run_once() if o["patched"]], "Podscale to scale the Rollout"
        )
        writes = counts()

    assert (outcome["current"], outcome["decision"]["desiredReplicas"]) == (2, 4)
    assert get()["spec"]["replicas"] == 4
    wait_for(lambda: (get().get("status") or {}).get("replicas") == 4, "the Rollout's 4 pods")

    # Through the proxy: one PATCH of /scale, the policy's status, events; nothing else.
    assert writes["scale"] == 1, writes
    assert writes["status"] >= 1 and writes["event"] >= 1, writes
    assert {k: v for k, v in writes.items() if k.startswith("other")} == {
        "other POST": 0, "other PUT": 0, "other PATCH": 0, "other DELETE": 0
    }  # fmt: skip

    # On the Rollout: every change since, and what each changed.
    changes = rollout_changes(kube, namespace, "shop", before["metadata"]["resourceVersion"])
    assert changes and {kind for kind, _ in changes} == {"MODIFIED"}
    replicas = [before["spec"]["replicas"]]
    previous = before
    for _, version in changes:
        spec = {k: v for k, v in version["spec"].items() if k != "replicas"}
        assert spec == {k: v for k, v in previous["spec"].items() if k != "replicas"}
        meta = {k: v for k, v in version["metadata"].items() if k not in SERVER_MAINTAINED}
        assert meta == {k: v for k, v in previous["metadata"].items() if k not in SERVER_MAINTAINED}
        if version["spec"]["replicas"] != replicas[-1]:
            replicas.append(version["spec"]["replicas"])
        previous = version
    assert replicas == [2, 4]

    # Podscale names itself: its Events are managed by "podscale" (the client's user agent).
    events = client.CoreV1Api(kube).list_namespaced_event(namespace).items
    managers = {f.manager for e in events for f in e.metadata.managed_fields or []}
    assert "podscale" in managers
