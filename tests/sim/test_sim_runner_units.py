"""The pure parts of ``autoscaler sim run``: traffic accounting, the pod <-> API status
mapping, the admin API's load syntax, selectors and the command line's one-line errors."""

from __future__ import annotations

import io
from pathlib import Path

import pytest

from autoscaler.sim.admin import parse_load
from autoscaler.sim.api import Warnings
from autoscaler.sim.cli import main
from autoscaler.sim.kubelet import pod_requests, pod_state, pod_status, rfc3339
from autoscaler.sim.load import Constant
from autoscaler.sim.podmodel import PodModel, PodState
from autoscaler.sim.rollouts import selector_string
from autoscaler.sim.scenario import ScenarioError
from autoscaler.sim.traffic import RunningPod, Traffic

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
