"""The pure parts of ``autoscaler sim run``: traffic accounting, the pod <-> API status
mapping, the admin API's load syntax, selectors and the command line's one-line errors."""

from __future__ import annotations

import http.client
import io
import json
import socket
import threading
from pathlib import Path
from typing import Any

import pytest

from autoscaler.sim.admin import parse_load, serve_admin
from autoscaler.sim.api import Reply, Warnings
from autoscaler.sim.cli import main
from autoscaler.sim.kubelet import Kubelet, NodeShape, pod_requests, pod_state, pod_status, rfc3339
from autoscaler.sim.load import Constant
from autoscaler.sim.podmodel import PodModel, PodState
from autoscaler.sim.publisher import PodMetricsWriter
from autoscaler.sim.rollouts import selector_string
from autoscaler.sim.runner import Options, Runner
from autoscaler.sim.scenario import ScenarioError
from autoscaler.sim.traffic import PodCounters, RunningPod, Traffic

KEY = ("Deployment", "ns", "web")
MODEL = PodModel(capacity_rps=100, cpu_per_request_milli=2, idle_cpu_milli=10)


def running(*names: str, serving: bool = True) -> list[RunningPod]:
    return [RunningPod(name=n, labels={"app": "web"}, container="app", serving=serving)
            for n in names]  # fmt: skip


def test_traffic_conserves_requests_and_serves_with_the_pods_ready_at_the_tick_start() -> None:
    traffic = Traffic()
    traffic.ensure(KEY, model=MODEL, load=Constant(300), epoch=0)
    counts = {KEY: (2, 2, 2)}
    traffic.tick({KEY: running("a", "b")}, counts=counts, now=10)  # first tick: no interval
    traffic.tick({KEY: running("a", "b")}, counts=counts, now=12)  # 2 s, both serving
    (w,) = traffic.workloads()
    assert (w.offered, w.served, w.dropped) == (600, 400, 200)
    pods = traffic.pods()
    assert pods[("ns", "a")].served == 200 and pods[("ns", "a")].dropped == 100
    assert pods[("ns", "a")].cpu_milli == 210
    assert pods[("ns", "a")].cpu_seconds == pytest.approx(2 * 0.21)
    traffic.tick({KEY: running("a")}, counts=counts, now=13)  # b went away
    (w,) = traffic.workloads()
    assert w.served + w.dropped == w.offered
    assert set(traffic.pods()) == {("ns", "a")}


def test_no_ready_pod_drops_everything_and_starting_pods_idle() -> None:
    traffic = Traffic()
    traffic.ensure(KEY, model=MODEL, load=Constant(50), epoch=0)
    traffic.tick({KEY: running("a", serving=False)}, counts={}, now=0)
    traffic.tick({KEY: running("a", serving=False)}, counts={}, now=4)
    (w,) = traffic.workloads()
    assert (w.offered, w.served, w.dropped) == (200, 0, 200)
    assert traffic.pods()[("ns", "a")].cpu_milli == 10


def test_a_wall_clock_step_back_never_makes_counters_shrink() -> None:
    # The runner ticks on time.time(); an NTP step back must not turn into a negative
    # interval (Prometheus reads a shrinking counter as a reset).
    traffic = Traffic()
    traffic.ensure(KEY, model=MODEL, load=Constant(100), epoch=0)
    counts = {KEY: (1, 1, 1)}
    traffic.tick({KEY: running("a")}, counts=counts, now=100)
    traffic.tick({KEY: running("a")}, counts=counts, now=110)
    before = traffic.pods()[("ns", "a")]
    traffic.tick({KEY: running("a")}, counts=counts, now=105)  # the clock stepped back
    (w,) = traffic.workloads()
    after = traffic.pods()[("ns", "a")]
    assert (w.offered, w.served, w.dropped) == (1000, 1000, 0)
    assert (after.served, after.cpu_seconds) == (before.served, before.cpu_seconds)
    assert after.sampled_at == 110
    traffic.tick({KEY: running("a")}, counts=counts, now=106)  # and moves on from there
    assert traffic.workloads()[0].offered == 1100


def test_set_load_restarts_the_shape_clock() -> None:
    traffic = Traffic()
    traffic.ensure(KEY, model=MODEL, load=Constant(0), epoch=0)
    assert traffic.set_load("ns", "web", Constant(5), now=100) == [KEY]
    assert traffic.set_load("ns", "nope", Constant(5), now=100) == []
    assert traffic.workloads()[0].epoch == 100


def test_pod_status_round_trips_through_the_api_shape() -> None:
    pod = {
        "metadata": {"name": "web-1", "creationTimestamp": rfc3339(1000)},
        "spec": {"nodeName": "n", "containers": [{"name": "app", "image": "x",
                 "resources": {"requests": {"cpu": "250m", "memory": "64Mi"}}}]},
    }  # fmt: skip
    state = PodState(name="web-1", created=1000, phase="Running", ready=True, start_time=1001,
                     running_since=1003, ready_since=1013)  # fmt: skip
    pod.update(pod_status(pod, state))
    assert pod_state(pod) == state
    conditions = {c["type"]: c["status"] for c in pod["status"]["conditions"]}
    assert conditions == {"Initialized": "True", "ContainersReady": "True", "Ready": "True"}
    assert pod_requests(pod) == (250, 64 * 2**20)


def test_a_terminating_pod_reads_back_its_deletion_start() -> None:
    pod = {
        "metadata": {
            "name": "p",
            "creationTimestamp": rfc3339(0),
            "deletionTimestamp": rfc3339(130),
            "deletionGracePeriodSeconds": 30,
        }
    }
    assert pod_state(pod).deletion_time == 100


class RecordingApi:
    """Stands in for autoscaler.sim.api.Api: records every call, answers 200 with no body."""

    def __init__(self) -> None:
        self.calls: list[tuple[str, tuple[Any, ...], dict[str, Any]]] = []
        self.core = self

    def call(self, what: str, method: Any, *args: Any, **kwargs: Any) -> Reply:
        self.calls.append((method.__name__, args, kwargs))
        return Reply(200)

    def delete_namespaced_pod(self, *args: Any, **kwargs: Any) -> None: ...

    def patch_namespaced_pod_status(self, *args: Any, **kwargs: Any) -> None: ...


def test_a_bound_pod_deleted_before_its_first_status_write_is_still_removed() -> None:
    # Bound to a simulated node, but the status write was lost (an API hiccup, or the
    # simulator stopped in between), then deleted: only our kubelet can remove it, or it
    # stays Terminating for ever (and its namespace with it).
    api = RecordingApi()
    kubelet = Kubelet(api=api, nodes=NodeShape(count=1))  # type: ignore[arg-type]
    pod = {
        "metadata": {
            "name": "web-1",
            "namespace": "ns",
            "uid": "u-1",
            "creationTimestamp": rfc3339(1000),
            "deletionTimestamp": rfc3339(1030),
            "deletionGracePeriodSeconds": 30,
        },
        "spec": {"nodeName": "sim-node-0", "containers": [{"name": "app"}]},
        "status": {"phase": "Pending"},
    }
    assert kubelet.sync(pod, MODEL, now=1010) is True  # still within its grace period
    assert api.calls == []
    assert kubelet.sync(pod, MODEL, now=1030) is False
    body = {"gracePeriodSeconds": 0, "preconditions": {"uid": "u-1"}}
    assert api.calls == [("delete_namespaced_pod", ("web-1", "ns"), {"body": body})]


class FakeCluster:
    """Stands in for autoscaler.sim.api.Api in a whole tick: every client method exists,
    a ``list_*`` call answers ``lists[method]``, anything else is recorded as a write."""

    def __init__(self, lists: dict[str, list[dict[str, Any]]]) -> None:
        self.lists = lists
        self.writes: list[tuple[str, tuple[Any, ...], dict[str, Any]]] = []
        self.core = self.apps = self.custom = self

    def __getattr__(self, name: str) -> Any:
        def method(*args: Any, **kwargs: Any) -> None: ...

        method.__name__ = name
        return method

    def requests_sent(self) -> dict[tuple[str, int], int]:
        return {}

    def call(self, what: str, method: Any, *args: Any, **kwargs: Any) -> Reply:
        name = method.__name__
        if name.startswith("list_"):
            return Reply(200, {"items": self.lists.get(name, [])})
        self.writes.append((name, args, kwargs))
        return Reply(200)


def test_pods_left_terminating_by_a_deleted_workload_leave_the_simulated_nodes() -> None:
    # Deleting a Deployment: the garbage collector removes its ReplicaSet, then deletes
    # the pods, which then belong to no workload the runner manages. Only the kubelet of
    # their node can finish them; otherwise they stay Terminating and take its room.
    def pod(name: str, **meta: Any) -> dict[str, Any]:
        return {
            "metadata": {"name": name, "namespace": "ns", "uid": f"u-{name}",
                         "creationTimestamp": rfc3339(900),
                         "ownerReferences": [{"uid": "rs-gone", "controller": True}], **meta},
            "spec": {"nodeName": "sim-node-0", "containers": [{"name": "app"}]},
            "status": {"phase": "Running", "startTime": rfc3339(901)},
        }  # fmt: skip

    doomed = pod("web-1", deletionTimestamp=rfc3339(990), deletionGracePeriodSeconds=30)
    api = FakeCluster({"list_pod_for_all_namespaces": [doomed, pod("bare")]})
    runner = Runner(api=api, options=Options(), out=io.StringIO(), warn=print)  # type: ignore[arg-type]
    runner.tick(1000.0)
    pod_writes = [w for w in api.writes if "pod" in w[0]]
    body = {"gracePeriodSeconds": 0, "preconditions": {"uid": "u-web-1"}}
    assert pod_writes == [("delete_namespaced_pod", ("web-1", "ns"), {"body": body})]


@pytest.mark.parametrize("length", ["-1", "lots"])
def test_the_admin_api_refuses_a_bad_content_length_at_once(length: str) -> None:
    server, thread = serve_admin(Traffic(), host="127.0.0.1", port=0)
    try:
        connection = http.client.HTTPConnection("127.0.0.1", server.server_address[1], timeout=5)
        connection.putrequest("PUT", "/workloads/ns/web/load")
        connection.putheader("Content-Length", length)
        connection.endheaders()
        answer = connection.getresponse()
        assert answer.status == 400
        assert "Content-Length" in json.loads(answer.read())["error"]
        connection.close()
    finally:
        server.shutdown()
        server.server_close()
        thread.join(timeout=5)


def test_parse_load_speaks_the_scenario_syntax_in_one_line() -> None:
    assert parse_load({"type": "constant", "rps": 200}) == Constant(200)
    with pytest.raises(ScenarioError, match=r"^load\.rps: .*greater than or equal to 0"):
        parse_load({"type": "constant", "rps": -1})
    with pytest.raises(ScenarioError, match=r"^load: "):
        parse_load(["not", "a", "mapping"])


def test_selector_string_for_match_labels_and_expressions() -> None:
    rollout = {"spec": {"selector": {
        "matchLabels": {"b": "2", "a": "1"},
        "matchExpressions": [{"key": "t", "operator": "In", "values": ["x", "y"]},
                             {"key": "gone", "operator": "DoesNotExist"}],
    }}}  # fmt: skip
    assert selector_string(rollout) == "a=1,b=2,t in (x,y),!gone"


def test_warnings_repeat_a_message_at_most_every_30_seconds() -> None:
    seen: list[str] = []
    warn = Warnings(seen.append)
    warn("list pods: 500 boom")
    warn("list pods: 500 boom")
    warn("other")
    assert seen == ["sim: warning: list pods: 500 boom", "sim: warning: other"]


def test_warnings_remember_a_bounded_number_of_messages(monkeypatch: pytest.MonkeyPatch) -> None:
    clock = iter(range(0, 10**9, 31))  # every call 31 s after the last: nothing repeats
    monkeypatch.setattr("autoscaler.sim.api.time.monotonic", lambda: float(next(clock)))
    seen: list[str] = []
    warn = Warnings(seen.append)
    for i in range(25_000):
        warn(f"write PodMetrics default/pod-{i}: 500")
    assert len(seen) == 25_000 and len(warn._last) <= 10_000


@pytest.mark.parametrize(
    ("args", "message"),
    [
        pytest.param(["--kubeconfig", "/nonexistent"], "cannot use kubeconfig", id="kubeconfig"),
        pytest.param(["--kubeconfig", "x", "--scenario", "/nonexistent.yaml"], "cannot read",
                     id="scenario"),
    ],
)  # fmt: skip
def test_unusable_inputs_are_one_line_and_exit_2(args: list[str], message: str) -> None:
    out, err = io.StringIO(), io.StringIO()
    assert main(["run", *args], out=out, err=err) == 2
    assert message in err.getvalue()
    assert err.getvalue().count("\n") == 1 and "Traceback" not in err.getvalue()
    assert out.getvalue() == ""


def test_a_bad_scenario_names_file_and_field(tmp_path: Path) -> None:
    scenario = tmp_path / "s.yaml"
    scenario.write_text("workloads: [{kind: Deployment, name: web, load: {type: constant}}]\n")
    err = io.StringIO()
    assert main(["run", "--kubeconfig", "x", "--scenario", str(scenario)], err=err) == 2
    assert err.getvalue().startswith(f"autoscaler sim: {scenario}: workloads[0].load.rps")


def test_a_taken_metrics_port_leaves_no_admin_server_behind() -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        runner = Runner(
            api=FakeCluster({}),  # type: ignore[arg-type]
            options=Options(metrics_port=port),
            out=io.StringIO(),
            warn=print,
        )
        before = {t.name for t in threading.enumerate()}
        with pytest.raises(OSError):
            runner.run(threading.Event())
        assert {t.name for t in threading.enumerate()} - before == set()


def _counters(sampled: float = 1.0) -> PodCounters:
    return PodCounters(workload=("Deployment", "ns", "web"), container="app", sampled_at=sampled)


def test_pod_metrics_are_rewritten_once_per_resolution_and_spread_over_it() -> None:
    clock = [100.0]
    api = FakeCluster({})
    writer = PodMetricsWriter(api=api, namespace=None, resolution=10.0, clock=lambda: clock[0])
    pods = {("ns", f"web-{i}"): _counters() for i in range(50)}
    writer.publish(pods)
    first = [w for w in api.writes if w[0] == "create_namespaced_custom_object"]
    assert len(first) == 50  # a new pod's sample is written at once
    per_second = []
    for second in range(1, 21):  # two periods, a tick a second
        clock[0] = 100.0 + second
        before = len(api.writes)
        writer.publish(pods)
        per_second.append(len(api.writes) - before)
    assert sum(per_second[:10]) == 50 and sum(per_second[10:]) == 50  # once per period each
    assert max(per_second) <= 15  # spread: not all fifty in one tick


def test_without_a_resolution_every_tick_rewrites_every_pod() -> None:
    api = FakeCluster({})
    writer = PodMetricsWriter(api=api, namespace=None)
    pods = {("ns", f"web-{i}"): _counters() for i in range(5)}
    for _ in range(3):
        writer.publish(pods)
    assert len(api.writes) == 15


def test_nodes_advertise_their_kubelet_endpoint_for_metrics_server() -> None:
    api = FakeCluster({})
    kubelet = Kubelet(api=api, nodes=NodeShape(count=2))  # type: ignore[arg-type]
    kubelet.advertise({"sim-node-0": 40001, "sim-node-1": 40002})
    kubelet.ensure_nodes()
    statuses = {w[1][0]: w[1][1]["status"] for w in api.writes if w[0] == "patch_node_status"}
    assert statuses["sim-node-1"]["daemonEndpoints"] == {"kubeletEndpoint": {"Port": 40002}}
    assert {"type": "InternalIP", "address": "127.0.0.1"} in statuses["sim-node-1"]["addresses"]
    # a node whose status already says so is left alone; one with another port is rewritten
    room = statuses["sim-node-0"]["allocatable"]

    def node(name: str, port: int) -> dict[str, Any]:
        endpoint = {"kubeletEndpoint": {"Port": port}}
        return {"metadata": {"name": name},
                "status": {"allocatable": room, "daemonEndpoints": endpoint}}  # fmt: skip

    api = FakeCluster({"list_node": [node("sim-node-0", 40001), node("sim-node-1", 39999)]})
    kubelet = Kubelet(api=api, nodes=NodeShape(count=2))  # type: ignore[arg-type]
    kubelet.advertise({"sim-node-0": 40001, "sim-node-1": 40002})
    kubelet.ensure_nodes()
    assert [w[1][0] for w in api.writes if w[0] == "patch_node_status"] == ["sim-node-1"]
    assert kubelet.nodes == ["sim-node-0", "sim-node-1"]
