"""Watch caches: after they sync, a sync reads pods and workloads from memory."""

from __future__ import annotations

import time

from e2e_support import Kubectl, Testbed, apply, deployment, deployment_at
from kubernetes import client
from live_tooling import wait_for

from autoscaler.core.model import RESOURCE, UTILIZATION, MetricSpec, MetricTarget, Policy, Settings
from autoscaler.kube.api import Api, connect
from autoscaler.kube.cache import CachedPods, CachedScales, NamespaceMetrics
from autoscaler.loop.controller import Controller
from autoscaler.ports import NotFound, Target, TargetRef

CPU_50 = MetricSpec(RESOURCE, "cpu", MetricTarget(UTILIZATION, average_utilization=50))


def test_synced_caches_make_a_sync_cost_one_request_per_namespace(
    testbed: Testbed, kube: client.ApiClient, kubectl: Kubectl, namespace: str
) -> None:
    names = ["a", "b", "c"]
    for name in names:
        deployment_at(
            kubectl, kube, namespace, name, cpu="500m"
        )  # 50%: within tolerance, no writes
    api = Api(connect(str(testbed.kubeconfig)))
    pods, scales = CachedPods(api, namespace=namespace), CachedScales(api, namespace=namespace)
    pods.start()
    loop = Controller(
        scales=scales,
        pods=pods,
        resource_metrics=NamespaceMetrics(api),
        custom_metrics=None,
        settings=Settings(),
    )
    targets = [
        Target(
            namespace,
            n,
            TargetRef("apps/v1", "Deployment", n),
            Policy(max_replicas=10, metrics=(CPU_50,)),
        )
        for n in names
    ]
    loop.sync(targets, now=time.time())  # starts the Deployment informer
    wait_for(
        lambda: (
            pods.informer.synced.is_set()
            and all(i.synced.is_set() for i in scales.informers.values())
        ),
        "caches to sync",
    )
    time.sleep(1.1)  # let the per-sync metrics cache expire
    before = api.requests
    outcomes = loop.sync(targets, now=time.time())
    assert [o.decision.desired_replicas for o in outcomes if o.decision] == [2, 2, 2]
    assert api.requests - before == 1  # one PodMetrics list for the namespace, nothing else

    # The caches follow changes made by others.
    kubectl("scale", "deployment", "a", "-n", namespace, "--replicas=3")
    wait_for(lambda: scales.get_scale(namespace, targets[0].ref).replicas == 3, "the scale cache")
    wait_for(lambda: len(pods.pods(namespace, "app=a")) == 3, "the pod cache")
    kubectl("delete", "deployment", "c", "-n", namespace)
    wait_for(lambda: _gone(scales, namespace, targets[2].ref), "the deletion")
    scales.stop()
    pods.informer.stop.set()


def _gone(scales: CachedScales, namespace: str, ref: TargetRef) -> bool:
    try:
        scales.get_scale(namespace, ref)
    except NotFound:
        return True
    return False


def test_pod_selector_matching_uses_set_based_requirements(
    testbed: Testbed, kubectl: Kubectl, namespace: str
) -> None:
    for name, tier in (("p1", "web"), ("p2", "api"), ("p3", "db")):
        kubectl(
            "run", name, "-n", namespace, "--image=example/app", f"--labels=app=shop,tier={tier}"
        )
    api = Api(connect(str(testbed.kubeconfig)))
    pods = CachedPods(api, namespace=namespace)
    pods.start()
    wait_for(lambda: len(pods.pods(namespace, "app=shop")) == 3, "the pod cache")
    assert {p.name for p in pods.pods(namespace, "app=shop,tier in (web,api)")} == {"p1", "p2"}
    assert {p.name for p in pods.pods(namespace, "tier notin (web),app")} == {"p2", "p3"}
    assert {p.name for p in pods.pods(namespace, "!tier")} == set()
    pods.informer.stop.set()


def _api_through(proxy_url: str, testbed: Testbed) -> Api:
    config = client.Configuration()
    config.host = proxy_url
    config.api_key = {"authorization": f"Bearer {testbed.env['TESTBED_ADMIN_TOKEN']}"}
    return Api(client.ApiClient(config))


def test_the_cache_survives_watch_cuts_and_api_errors(
    testbed: Testbed, kubectl: Kubectl, namespace: str
) -> None:
    from autoscaler.faults import Error, FaultProxy, FaultProxyThread, WatchDisconnect

    proxy = FaultProxy(upstream=testbed.server, upstream_ca=testbed.env["TESTBED_CA_FILE"])
    with FaultProxyThread(proxy) as running:
        # Fail the first LISTs, and cut the first watch streams after a few bytes.
        running.add_rule(Error(status=500), method="GET", path=r"/deployments$", max_count=2)
        running.add_rule(WatchDisconnect(after_bytes=10), path=r"watch=1", max_count=3)
        api = _api_through(running.url, testbed)
        scales = CachedScales(api, namespace=namespace)
        try:
            apply(kubectl, namespace, deployment("w", 1))
            ref = TargetRef("apps/v1", "Deployment", "w")
            scales.get_scale(namespace, ref)  # answered directly; starts the informer
            informer = scales.informers[("apps/v1", "Deployment")]
            wait_for(informer.synced.is_set, "the informer to sync", timeout=40)
            for replicas in (2, 3, 4):
                kubectl("scale", "deployment", "w", "-n", namespace, f"--replicas={replicas}")
                wait_for(
                    lambda r=replicas: scales.get_scale(namespace, ref).replicas == r,
                    f"the cache to see {replicas} replicas",
                    timeout=40,
                )
            assert running.stats()["faulted"] == 5
        finally:
            scales.stop()


def test_api_calls_honour_a_short_retry_after_and_report_other_errors(testbed: Testbed) -> None:
    from autoscaler.faults import Error, FaultProxy, FaultProxyThread
    from autoscaler.ports import Unavailable

    proxy = FaultProxy(upstream=testbed.server, upstream_ca=testbed.env["TESTBED_CA_FILE"])
    with FaultProxyThread(proxy) as running:
        api = _api_through(running.url, testbed)
        running.add_rule(
            Error(status=429, retry_after_s=1), path=r"/api/v1/namespaces$", max_count=1
        )
        started = time.monotonic()
        assert api.call("GET", "/api/v1/namespaces")["kind"] == "NamespaceList"
        assert time.monotonic() - started >= 1  # waited as asked, then succeeded
        running.add_rule(Error(status=500), path=r"/api/v1/namespaces$", max_count=1)
        try:
            api.call("GET", "/api/v1/namespaces")
        except Unavailable as exc:
            assert "HTTP 500" in str(exc) and "\n" not in str(exc)
        else:
            raise AssertionError("a 500 must be reported, not retried")


def test_a_write_based_on_an_old_read_is_a_conflict_not_an_overwrite(
    testbed: Testbed, kubectl: Kubectl, namespace: str
) -> None:
    from autoscaler.kube.scale import KubeScales
    from autoscaler.ports import Conflict

    apply(kubectl, namespace, deployment("w", 2))
    scales = KubeScales(Api(connect(str(testbed.kubeconfig))))
    ref = TargetRef("apps/v1", "Deployment", "w")
    assert scales.get_scale(namespace, ref).replicas == 2
    kubectl("scale", "deployment", "w", "-n", namespace, "--replicas=7")  # an operator
    try:
        scales.set_replicas(namespace, ref, 3)
    except Conflict:
        pass
    else:
        raise AssertionError("a write based on a stale read must be refused")
    assert scales.get_scale(namespace, ref).replicas == 7
    # After a fresh read it goes through (the Deployment controller's own status writes
    # may still race with us, as with the HPA: the next sync simply reads again).
    for _ in range(10):
        scales.get_scale(namespace, ref)
        try:
            scales.set_replicas(namespace, ref, 3)
            break
        except Conflict:
            time.sleep(0.5)
    assert scales.get_scale(namespace, ref).replicas == 3
