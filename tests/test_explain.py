"""The one renderer of ``decide --explain`` and ``autoscaler explain``, on hand-built
snapshots: each metric's formula with its numbers, the pods counted how, the window or
limit that holds the decision, and each diagnosis's sentence."""

from __future__ import annotations

import io
import json
from pathlib import Path
from typing import Any

import pytest
from builders import NOW, cpu_metric, external_metric, pod, pods_metric, snapshot, usage

from autoscaler.cli import main
from autoscaler.core import decide
from autoscaler.documents import snapshot_from_document
from autoscaler.explain import explain_decision
from autoscaler.explain_command import ExplainError, policy_key
from autoscaler.explain_diagnoses import unread_target
from autoscaler.kube.pods import METRICS_SERVER_MISSING


def explained(doc: dict[str, Any], *, selector: str = "") -> str:
    parsed = snapshot_from_document(doc, now=NOW)
    return explain_decision("shop/web", parsed, decide(parsed), selector=selector)


def cpu_pods(*cpus: str | None) -> tuple[list[dict[str, Any]], dict[str, Any]]:
    """Pods web-1.. requesting 1 cpu, with a sample of each cpu given (None: no sample)."""
    pods = [pod(f"web-{i}") for i in range(1, len(cpus) + 1)]
    samples = {f"web-{i}": usage(c) for i, c in enumerate(cpus, 1) if c is not None}
    return pods, {"resource": samples}


def test_a_scale_up_fills_in_the_formula() -> None:
    pods, data = cpu_pods("900m", "900m", "900m")
    out = explained(snapshot(current=3, pods=pods, data=data, metrics=[cpu_metric(50)]))
    assert (
        "  - Resource cpu: 90% of request (0.9 per pod), target 50% of request -> 6 replicas" in out
    )
    assert "      3 pods use 2.7 of 3 cpu requested = 90%; ratio 90% / 50% = 1.80" in out
    assert "      outside 0.9 <= ratio <= 1.1: ceil(3 pods x 90% / 50%) = 6" in out
    assert "  3 ready, counted: web-1, web-2, web-3" in out
    assert "  scale-up limit (no behavior): max(2 x 3, 4) = 6 replicas now; budget left 3" in out
    assert "Decision: scale 3 -> 6" in out


def test_a_ratio_within_the_tolerance_band_changes_nothing() -> None:
    pods, data = cpu_pods("520m", "520m", "520m")
    out = explained(snapshot(current=3, pods=pods, data=data, metrics=[cpu_metric(50)]))
    assert "ratio 52% / 50% = 1.04" in out
    assert "      0.9 <= ratio <= 1.1: no change, 3 replicas" in out


def test_a_pending_pod_counts_at_zero_when_scaling_up() -> None:
    pods, data = cpu_pods("900m", "900m")
    pods.append(pod("web-3", phase="Pending", ready=None, start=None))
    out = explained(snapshot(current=3, pods=pods, data=data, metrics=[cpu_metric(50)]))
    assert "  1 pending (counted at 0% when scaling up, left out otherwise): web-3" in out
    assert "      1 pod not ready or pending counted at 0% (scaling up): web-3" in out
    assert "      again: 3 pods use 1.8 of 3 cpu = 60%; ratio 60% / 50% = 1.20" in out
    assert "      outside 0.9 <= ratio <= 1.1: ceil(3 pods x 60% / 50%) = 4" in out


def test_a_pod_without_a_sample_counts_at_its_full_request_when_scaling_down() -> None:
    pods, data = cpu_pods("100m", "100m", None)
    out = explained(snapshot(current=3, pods=pods, data=data, metrics=[cpu_metric(50)]))
    assert "  1 without metrics (counted at 100% of the request when scaling down" in out
    assert (
        "      1 pod without a sample counted at 100% of the request (scaling down): web-3" in out
    )
    assert "      again: 3 pods use 1.2 of 3 cpu = 40%; ratio 40% / 50% = 0.80" in out
    assert "      outside 0.9 <= ratio <= 1.1: ceil(3 pods x 40% / 50%) = 3" in out


def test_pods_in_initialization_and_being_deleted_are_named() -> None:
    pods, data = cpu_pods("500m", "500m", "500m")
    pods[1] = pod("web-2", start=NOW - 60, ready_since=NOW - 20)  # sample before a window
    pods[2] = pod("web-3", deleting=True)
    out = explained(snapshot(current=3, pods=pods, data=data, metrics=[cpu_metric(50)]))
    assert (
        "  1 with a CPU sample from their initialization period (counted as not ready): web-2"
    ) in out
    assert "  1 being deleted or failed (ignored): web-3" in out


def test_quantities_print_in_the_metric_units() -> None:
    pods = [pod("web-1"), pod("web-2")]
    values = {"web-1": "56250m", "web-2": "56250m"}
    doc = snapshot(current=2, pods=pods, data={"pods": {"rps": values}},
                   metrics=[pods_metric("rps", "50")])  # fmt: skip
    out = explained(doc)
    assert "  - Pods rps: 56.25 per pod, target 50 per pod -> 3 replicas" in out
    assert "      outside 0.9 <= ratio <= 1.1: ceil(2 pods x 56.25 / 50) = 3" in out
    assert "56250m" not in out


def test_the_stabilization_window_says_which_recommendation_holds_and_until_when() -> None:
    pods, data = cpu_pods("100m", "100m", "100m", "100m", "100m")
    history = {"recommendations": [{"time": NOW - 100, "replicas": 5}]}
    doc = snapshot(current=5, pods=pods, data=data, metrics=[cpu_metric(50)], history=history)
    out = explained(doc)
    assert (
        "  scale-down stabilization window 300 s: the highest recent recommendation, 5 at "
        "2023-11-14T22:11:40Z, holds the replicas at 5 instead of 1; it holds until "
        "2023-11-14T22:16:40Z (200 s from now)"
    ) in out
    assert "Decision: keep 5 replicas" in out
    behavior = {"scaleDown": {"stabilizationWindowSeconds": 120}}
    out = explained({**doc, "policy": {**doc["policy"], "behavior": behavior}})
    assert (
        "  scale-down stabilization window 120 s: the highest recent recommendation, 5 at "
        "2023-11-14T22:11:40Z, holds the replicas at 5 instead of 1; it holds until "
        "2023-11-14T22:13:40Z (20 s from now)"
    ) in out


def test_the_rate_limit_budget_left_in_the_period() -> None:
    pods, data = cpu_pods("900m", "900m", "900m")
    behavior = {"scaleUp": {"policies": [{"type": "Pods", "value": 2, "periodSeconds": 60}]}}
    history = {"scaleUpEvents": [{"time": NOW - 30, "change": 1}]}
    doc = snapshot(current=3, pods=pods, data=data, metrics=[cpu_metric(50)],
                   behavior=behavior, history=history)  # fmt: skip
    out = explained(doc)
    assert (
        "  scale-up limit (Pods 2 per 60 s: 2 + 2 = 4; selectPolicy Max): 4 replicas now; "
        "budget left 1"
    ) in out
    assert (
        "    1 replica of scale-up in the last 60 s count against it; the first of them "
        "leaves the period at 2023-11-14T22:13:50Z (30 s)"
    ) in out
    assert "Decision: scale 3 -> 4" in out


def test_metrics_server_missing() -> None:
    pods, _ = cpu_pods("1", "1")
    data = {"errors": {"resource": METRICS_SERVER_MISSING}}
    out = explained(snapshot(current=2, pods=pods, data=data, metrics=[cpu_metric(50)]))
    assert (
        "  - metrics.k8s.io is not served by this cluster (no metrics-server): the cpu metric "
        "cannot be read for any of the 2 pods; install metrics-server, or run Podscale with "
        "--resource-metrics prometheus (AUTOSCALER_RESOURCE_METRICS) with --prometheus-url "
        "(AUTOSCALER_PROMETHEUS_URL)"
    ) in out


def test_metrics_api_with_no_samples_for_the_pods() -> None:
    pods, _ = cpu_pods("1", "1")
    out = explained(snapshot(current=2, pods=pods, data={"resource": {}},
                             metrics=[cpu_metric(50)]), selector="app=web")  # fmt: skip
    assert (
        "  - the resource metrics API returned no samples for the 2 pods of the target "
        "(selector app=web): the cpu metric cannot be computed"
    ) in out
    assert "  2 without metrics (counted at 100% of the request when scaling down" in out


def test_a_container_without_a_request() -> None:
    pods, data = cpu_pods("500m", "500m", "500m")
    for name in ("web-2", "web-3"):
        index = int(name[-1]) - 1
        pods[index] = pod(name, cpu=None, memory="64Mi")
    out = explained(snapshot(current=3, pods=pods, data=data, metrics=[cpu_metric(60)]))
    assert (
        "  - container app of pod web-2 (and 1 more pods) has no cpu request: the 60% "
        "Utilization target is a percentage of the request, so the cpu metric fails; set "
        "resources.requests.cpu in the pod template, or use an AverageValue target"
    ) in out


def test_a_prometheus_query_returning_nothing_names_the_query() -> None:
    query = 'sum by (namespace, pod) (rate(http_requests_total{namespace="shop"}[1m]))'
    data = {"errors": {"rps": f"NoData: no series for namespace shop: {query}"}}
    out = explained(snapshot(current=2, pods=[pod("web-1"), pod("web-2")], data=data,
                             metrics=[pods_metric("rps", "50")]))  # fmt: skip
    assert (
        "  - the Prometheus query for the Pods metric rps returned no series (an empty "
        f"result is not 0, so the metric fails): {query}; run it in Prometheus"
    ) in out


def test_a_selector_matching_no_pods() -> None:
    out = explained(snapshot(current=2, metrics=[cpu_metric(50)]), selector="app=web")
    assert "Pods: none matched" in out
    assert ("  - the selector app=web matches no pods although the target has 2 replicas") in out


def test_another_writer_on_the_replicas() -> None:
    pods, data = cpu_pods("900m", "900m")
    doc = snapshot(current=2, pods=pods, data=data, metrics=[cpu_metric(50)],
                   externalChanges=[NOW - 200, NOW - 60])  # fmt: skip
    out = explained(doc)
    assert (
        "  - another writer changed spec.replicas 2 times in the last 600 s (last at "
        "2023-11-14T22:12:20Z): Podscale holds the replicas at 2 (ExternalScaleConflict) "
        "until 2023-11-14T22:22:20Z unless it changes them again"
    ) in out
    once = explained({**doc, "externalChanges": [NOW - 60]})
    assert "changed spec.replicas once in the last 600 s" in once
    assert "one more change within 600 s and Podscale stops scaling" in once


def test_a_target_that_cannot_be_read() -> None:
    missing = unread_target(
        "cannot read the scale of Deployment/ghost: GET /apis/apps/v1/namespaces/shop/"
        "deployments/ghost/scale: not found: deployments.apps \"ghost\" not found",
        namespace="shop", ref="Deployment/ghost", key="shop/web",
    )  # fmt: skip
    assert missing.startswith(
        "Deployment/ghost was not found in namespace shop: check spec.scaleTargetRef "
        "(apiVersion, kind, name) of shop/web"
    )
    no_scale = unread_target(
        "cannot read the scale of Job/batch: Job (batch/v1) has no scale subresource: it "
        "cannot be scaled", namespace="shop", ref="Job/batch", key="shop/batch",
    )  # fmt: skip
    assert no_scale.startswith("Job/batch cannot be scaled: its kind has no scale subresource")


def test_policy_names() -> None:
    assert policy_key("shop/web", None) == ("shop", "web")
    assert policy_key("web", "shop") == ("shop", "web")
    assert policy_key("web", None) == ("default", "web")
    with pytest.raises(ExplainError, match="not -n other"):
        policy_key("shop/web", "other")


def run_cli(*args: str) -> tuple[int, str, str]:
    out, err = io.StringIO(), io.StringIO()
    code = main(list(args), out=out, err=err)
    return code, out.getvalue(), err.getvalue()


def test_decide_explain_and_explain_snapshot_are_one_renderer(tmp_path: Path) -> None:
    pods, data = cpu_pods("900m", "900m", None)
    path = tmp_path / "snap.json"
    path.write_text(json.dumps(snapshot(current=3, pods=pods, data=data,
                                        metrics=[cpu_metric(50)])))  # fmt: skip
    decided = run_cli("decide", str(path), "--explain")
    offline = run_cli("explain", "--snapshot", str(path))
    assert decided == offline and decided[0] == 0
    assert "ceil(" in decided[1] and "Diagnoses" not in decided[1]


def test_explain_json_replays_with_decide_to_the_same_replicas(tmp_path: Path) -> None:
    pods, data = cpu_pods("900m", "900m", "900m")
    path = tmp_path / "snap.json"
    path.write_text(json.dumps(snapshot(current=3, pods=pods, data=data,
                                        metrics=[cpu_metric(50)])))  # fmt: skip
    code, out, _ = run_cli("explain", "--snapshot", str(path), "--output", "json")
    document = json.loads(out)
    assert code == 0 and document["decision"]["desiredReplicas"] == 6
    (tmp_path / "again.json").write_text(json.dumps(document["snapshot"]))
    code, out, _ = run_cli("decide", str(tmp_path / "again.json"))
    assert code == 0 and json.loads(out)["desiredReplicas"] == 6


def test_explain_of_an_unreadable_snapshot_is_one_line_and_exit_2(tmp_path: Path) -> None:
    code, out, err = run_cli("explain", "--snapshot", str(tmp_path / "nope.json"))
    assert (code, out) == (2, "") and err.count("\n") == 1
    assert err.startswith("autoscaler explain: ")


def test_a_cluster_that_cannot_be_read_is_one_line_and_exit_2(tmp_path: Path) -> None:
    kubeconfig = tmp_path / "kubeconfig"
    kubeconfig.write_text(
        "apiVersion: v1\nkind: Config\ncurrent-context: c\n"
        'clusters: [{name: c, cluster: {server: "https://127.0.0.1:9"}}]\n'
        "users: [{name: u, user: {token: x}}]\n"
        "contexts: [{name: c, context: {cluster: c, user: u}}]\n"
    )
    code, out, err = run_cli("explain", "shop/web", "--kubeconfig", str(kubeconfig))
    assert (code, out) == (2, "") and err.count("\n") == 1
    assert err.startswith(
        "autoscaler explain: cannot read the cluster: cannot list ScalingPolicy objects: "
        "GET /apis/podscale.dev/v1alpha1/namespaces/shop/scalingpolicies: Kubernetes API "
        "unreachable"
    )


def test_external_metrics_show_their_formula() -> None:
    pods = [pod("web-1"), pod("web-2")]
    value = snapshot(current=2, pods=pods, data={"external": {"queue": ["250"]}},
                     metrics=[external_metric("queue", value="100")])  # fmt: skip
    out = explained(value)
    assert "      250 / target 100 = ratio 2.50" in out
    assert "      outside 0.9 <= ratio <= 1.1: ceil(2 ready pods x 250 / 100) = 5" in out
    average = snapshot(current=2, pods=pods, data={"external": {"queue": ["300"]}},
                       metrics=[external_metric("queue", average="50")])  # fmt: skip
    out = explained(average)
    assert "      300 in total / (50 x 2 pods) = ratio 3.00" in out
    assert "      outside 0.9 <= ratio <= 1.1: ceil(300 / 50 per pod) = 6" in out


def test_the_scale_up_window_holds_at_its_lowest_recommendation() -> None:
    pods, data = cpu_pods("900m", "900m", "900m")
    behavior = {"scaleUp": {"stabilizationWindowSeconds": 60}}
    history = {"recommendations": [{"time": NOW - 30, "replicas": 3}]}
    doc = snapshot(current=3, pods=pods, data=data, metrics=[cpu_metric(50)],
                   behavior=behavior, history=history)  # fmt: skip
    out = explained(doc)
    assert (
        "  scale-up stabilization window 60 s: the lowest recent recommendation, 3 at "
        "2023-11-14T22:12:50Z, holds the replicas at 3 instead of 6; it holds until "
        "2023-11-14T22:13:50Z (30 s from now)"
    ) in out
    assert "Decision: keep 3 replicas" in out
