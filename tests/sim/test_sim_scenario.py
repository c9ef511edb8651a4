"""Scenario files: a full scenario builds a cluster; unknown fields and bad values are
refused with one line naming the file and the field path."""

from __future__ import annotations

from pathlib import Path

import pytest

from autoscaler.sim.clock import ManualClock
from autoscaler.sim.load import Noisy, TraceLoad
from autoscaler.sim.scenario import ScenarioError, load_scenario

FULL = """\
seed: 7
nodes: {count: 2, cpu: "1", memory: 4Gi}
workloads:
  - kind: Deployment
    name: web
    replicas: 3
    pod:
      scheduleDelay: 1
      readyDelay: 5
      cpuRequest: 250m
      cpuLimit: "1"
      memoryRequest: 256Mi
      cpuPerRequest: 0.5m
      idleCpu: 5m
      memoryPerRps: 1Ki
      capacityRps: 80
    load:
      type: noisy
      sigma: 0.1
      load: {type: trace, path: t.csv, scale: 2, loop: true}
  - kind: StatefulSet
    name: db
    load: {type: flash, base: 1, peak: 50, start: 600}
"""


def write(tmp_path: Path, text: str) -> Path:
    (tmp_path / "t.csv").write_text("timestamp_seconds,value\n0,600\n60,1200\n")
    path = tmp_path / "scenario.yaml"
    path.write_text(text)
    return path


def test_a_full_scenario_builds_a_running_cluster(tmp_path: Path) -> None:
    scenario = load_scenario(write(tmp_path, FULL))
    web, db = scenario.workloads
    assert scenario.seed == 7 and scenario.nodes is not None
    assert scenario.nodes.memory_bytes == 4 * 2**30
    model = web.workload.model
    assert (model.cpu_request_milli, model.cpu_limit_milli) == (250, 1000)
    assert (model.cpu_per_request_milli, model.idle_cpu_milli) == (0.5, 5.0)
    assert (model.memory_request_bytes, model.memory_per_rps_bytes) == (256 * 2**20, 1024)
    assert web.workload.selector == {"app": "web"} and db.workload.kind == "StatefulSet"
    assert isinstance(web.load, Noisy) and isinstance(web.load.shape, TraceLoad)
    assert web.load.shape.rate(60.0) == 40.0  # 1200 per minute, times 2
    sim = scenario.build(ManualClock(0.0))
    sim.step(15.0)
    assert len(sim.pods("web")) == 3 and len(sim.pods("db")) == 1
    # 2 nodes of 1 CPU fit 8 pods of 250m: all fit.
    assert all(p.start_time == 0.0 for p in sim.pods("web"))


@pytest.mark.parametrize(
    ("change", "message"),
    [
        pytest.param(
            ("cpuRequest: 250m", "cpuRequst: 250m"),
            'workloads[0].pod.cpuRequst: unknown field (did you mean "cpuRequest"?)',
            id="unknown-field",
        ),
        pytest.param(
            ("cpuRequest: 250m", "cpuRequest: lots"),
            "workloads[0].pod.cpuRequest: 'lots' is not a Kubernetes quantity",
            id="bad-quantity",
        ),
        pytest.param(
            ('cpuLimit: "1"', "cpuLimit: 100m"),
            "workloads[0].pod: cpuLimit (100m) must be >= cpuRequest (250m)",
            id="limit-below-request",
        ),
        pytest.param(
            ("sigma: 0.1", "sigma: -1"),
            "workloads[0].load.sigma: Input should be greater than or equal to 0",
            id="negative",
        ),
        pytest.param(
            ("type: flash", "type: flood"),
            "workloads[1].load: Input tag 'flood'",
            id="unknown-load",
        ),
        pytest.param(
            ("start: 600}", "start: 600, peek: 3}"),
            "workloads[1].load.peek: unknown field",
            id="unknown-load-field",
        ),
        pytest.param(
            ("kind: StatefulSet", "kind: Job"),
            "workloads[1].kind: Input should be 'Deployment', 'StatefulSet' or 'Rollout'",
            id="kind",
        ),
        pytest.param(
            ("path: t.csv", "path: none.csv"),
            "workloads[0].load.load.path: ",
            id="missing-trace",
        ),
        pytest.param(("name: db", "name: web"), "workloads[1].name: duplicate 'web'", id="dup"),
        pytest.param(("seed: 7", "seed: [7"), "not YAML", id="yaml"),
    ],
)
def test_errors_are_one_line_with_the_field_path(
    tmp_path: Path, change: tuple[str, str], message: str
) -> None:
    path = write(tmp_path, FULL.replace(*change))
    with pytest.raises(ScenarioError) as caught:
        load_scenario(path)
    text = str(caught.value)
    assert text.startswith(f"{path}: ") and message in text
    assert "\n" not in text
