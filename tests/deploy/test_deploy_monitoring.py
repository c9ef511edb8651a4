"""deploy/components/monitoring: the dashboard and the alerts read only what the code
exports, their PromQL parses, the alerts fire on the series the code writes, and the
PodMonitor scrapes the controller.

Exported names come from the code's own registry (``monitoring_series.catalogue``).
PromQL is checked with the machine's `promtool` (Prometheus' own parser): the alert group
with `promtool check rules` and `promtool test rules`, the dashboard's queries as
recording rules of a throwaway group. The Operator's kinds (PodMonitor, PrometheusRule)
are not in the Kubernetes OpenAPI that kubernetes-validate bundles: they are checked
against a strict schema of the fields we use, every other object against Kubernetes'.
"""

from __future__ import annotations

import json
import re
import subprocess
from pathlib import Path
from typing import Any

import jsonschema
import kubernetes_validate
import pytest
import yaml
from monitoring_series import (
    Family,
    Replica,
    at_max_and_enough,
    catalogue,
    exported_names,
    promtool_series,
)

REPO = Path(__file__).resolve().parents[2]
COMPONENT = REPO / "deploy" / "components" / "monitoring"
DASHBOARD = COMPONENT / "dashboards" / "podscale.json"
RULES = COMPONENT / "prometheusrule.yaml"
K8S_VERSION = "1.31"
OPERATOR_KINDS = {"PodMonitor", "PrometheusRule"}

# --- PromQL: the metric names and labels an expression reads --------------------------

KEYWORDS = {"by", "without", "on", "ignoring", "group_left", "group_right", "bool", "offset"}
KEYWORDS |= {"and", "or", "unless", "inf", "nan"}
GRAFANA = {"$__rate_interval": "5m", "$__interval": "1m", "$__range": "1h"}


def grafana_free(expr: str) -> str:
    """A dashboard query as Prometheus receives it (Grafana fills its variables in)."""
    for variable, value in GRAFANA.items():
        expr = expr.replace(variable, value)
    return re.sub(r"\$\w+", ".*", expr)


def metric_names(expr: str) -> set[str]:
    """Identifiers that name series: not functions, aggregations, keywords or labels."""
    text = re.sub(r'"(?:[^"\\]|\\.)*"', '""', expr)
    text = re.sub(r"\{[^}]*\}", "{}", text)
    text = re.sub(r"\[[^\]]*\]", "[]", text)
    text = re.sub(r"\b(by|without)\s*\([^)]*\)", "", text)  # sum by (a) (x): sum (x)
    text = re.sub(r"\b(on|ignoring|group_left|group_right)\s*\([^)]*\)", r"\1", text)
    names = set()
    for match in re.finditer(r"(?<![\w.])([a-zA-Z_:][\w:]*)(\s*\()?", text):
        word, call = match.groups()
        if not call and word.lower() not in KEYWORDS:
            names.add(word)
    return names


def selector_labels(expr: str) -> list[tuple[str, set[str]]]:
    """(metric, label names in its {selector}) for every selector in ``expr``."""
    found = []
    for metric, body in re.findall(r"([a-zA-Z_:][\w:]*)\s*\{([^}]*)\}", expr):
        found.append((metric, set(re.findall(r"(\w+)\s*(?:=~|!~|!=|=)", body))))
    return found


def grouping_labels(expr: str) -> set[str]:
    groups = re.findall(r"\b(?:by|without|on|ignoring)\s*\(([^)]*)\)", expr)
    return {label.strip() for group in groups for label in group.split(",") if label.strip()}


def unknown_names(expr: str) -> list[str]:
    """What ``expr`` reads that the code does not export, in words (empty: all good)."""
    exported = exported_names()
    problems = [f"metric {name} is not exported" for name in metric_names(expr) - set(exported)]
    for metric, labels in selector_labels(expr):
        if metric in exported and labels - exported[metric]:
            problems.append(f"{metric} has no label {sorted(labels - exported[metric])}")
    readable = set().union(*(exported.get(m, set()) for m in metric_names(expr)))
    if grouping_labels(expr) - readable:
        problems.append(f"no metric here has label {sorted(grouping_labels(expr) - readable)}")
    return problems


@pytest.mark.parametrize(
    "expr,problem",
    [
        ("podscale_desired_replica", "metric podscale_desired_replica is not exported"),
        ('podscale_max_replicas{polcy="web"}', "podscale_max_replicas has no label ['polcy']"),
        ("sum by (policy) (podscale_leader)", "no metric here has label ['policy']"),
        ("rate(podscale_decisions[5m])", "metric podscale_decisions is not exported"),
    ],
)
def test_the_name_check_catches_a_misspelt_metric_or_label(expr: str, problem: str) -> None:
    assert unknown_names(expr) == [problem]


def test_the_name_check_sees_through_functions_aggregations_and_selectors() -> None:
    expr = (
        "histogram_quantile(0.9, sum by (instance, le) (rate(podscale_sync_duration_seconds_bucket"
        '{namespace=~".*"}[10m]))) > on (instance) max by (instance) (podscale_sync_period_seconds)'
        " or vector(0)"
    )
    assert metric_names(expr) == {
        "podscale_sync_duration_seconds_bucket",
        "podscale_sync_period_seconds",
    }
    assert unknown_names(expr) == []


# --- the alert rules ---------------------------------------------------------------------


def rule_object() -> dict[str, Any]:
    return yaml.safe_load(RULES.read_text())


def alerts() -> list[dict[str, Any]]:
    return [rule for group in rule_object()["spec"]["groups"] for rule in group["rules"]]


def write_rule_file(tmp_path: Path, groups: list[dict[str, Any]]) -> Path:
    path = tmp_path / "rules.yaml"
    path.write_text(yaml.safe_dump({"groups": groups}))
    return path


def promtool(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        ["promtool", *args], capture_output=True, text=True, timeout=120, check=False
    )


def test_promtool_accepts_the_rule_group_of_the_prometheusrule(tmp_path: Path) -> None:
    result = promtool(
        "check", "rules", str(write_rule_file(tmp_path, rule_object()["spec"]["groups"]))
    )
    assert result.returncode == 0, result.stdout + result.stderr
    assert f"SUCCESS: {len(alerts())} rules found" in result.stdout


def test_promtool_rejects_a_broken_expression(tmp_path: Path) -> None:
    broken = [{"name": "x", "rules": [{"alert": "X", "expr": "sum by (policy (podscale_leader)"}]}]
    assert promtool("check", "rules", str(write_rule_file(tmp_path, broken))).returncode != 0


@pytest.mark.parametrize("rule", alerts(), ids=[r["alert"] for r in alerts()])
def test_each_alert_reads_only_exported_metrics_and_has_a_runbook_section(
    rule: dict[str, Any],
) -> None:
    assert unknown_names(rule["expr"]) == []
    assert rule["labels"]["severity"] in ("warning", "critical")
    assert rule["annotations"]["summary"] and rule["annotations"]["description"]
    page, _, anchor = rule["annotations"]["runbook"].partition("#")
    assert page == "docs/troubleshooting.md" and anchor == rule["alert"].lower()
    text = (REPO / page).read_text()
    section = re.search(rf"^### `{rule['alert']}`\n(.*?)(?=^##|\Z)", text, re.S | re.M)
    assert section, f"no '### `{rule['alert']}`' in {page}"
    words = " ".join(section.group(1).split())
    assert "**Meaning:**" in words and "**What to do:**" in words


# The alerts against series written by the real LoopMetrics (monitoring_series.Replica):
# promtool replays them a minute apart and evaluates the rules as Prometheus would.
HEALTHY = "podscale-0"
SHOP_WEB = {"namespace": "shop", "policy": "web"}
WORKER = {"namespace": "jobs", "policy": "worker"}
Firing = dict[str, list[dict[str, str]]]  # alert -> the label sets it fires with
SCENARIOS: list[tuple[str, list[tuple[str, Replica]], str, Firing]] = [
    (
        "a leader with a target at max wanting more, a failing metric and a refused write",
        [(HEALTHY, Replica()), ("podscale-1", Replica(leading=False, outcomes=()))],
        "40m",
        {
            "PodscaleTargetAtMaxReplicas": [SHOP_WEB],
            "PodscaleMetricUnavailable": [
                {**WORKER, "metric_name": "queue_depth", "reason": "FailedGetExternalMetric"}
            ],
            "PodscaleScalingInactive": [{**WORKER, "reason": "FailedGetExternalMetric"}],
            "PodscaleSyncErrors": [
                {"namespace": "jobs", "policy": "mailer", "reason": "FailedUpdateScale"}
            ],
        },
    ),
    (
        "only a standby",
        [("podscale-1", Replica(leading=False, outcomes=()))],
        "10m",
        {"PodscaleNoLeader": [{}]},
    ),
    (
        "two replicas that both may write",
        [("a", Replica(outcomes=())), ("b", Replica(outcomes=()))],
        "10m",
        {"PodscaleSeveralLeaders": [{}]},
    ),
    (
        "syncs of 25 s against a 15 s period",
        [(HEALTHY, Replica(sync_seconds=(25.0,), outcomes=()))],
        "40m",
        {"PodscaleSyncSlowerThanPeriod": [{"instance": HEALTHY}]},
    ),
    (
        "a leader whose syncs never finish",
        [(HEALTHY, Replica(sync_seconds=(), outcomes=()))],
        "20m",
        {"PodscaleNotSyncing": [{"instance": HEALTHY}]},
    ),
]


def alert_test(replicas: list[tuple[str, Replica]], at: str, firing: Firing) -> dict[str, Any]:
    """A promtool test: every alert is evaluated at ``at``; only ``firing`` may fire."""
    severity = {r["alert"]: r["labels"]["severity"] for r in alerts()}
    series = [s for name, replica in replicas for s in promtool_series(replica.registry, name)]
    return {
        "interval": "1m",
        "input_series": series,
        "alert_rule_test": [
            {
                "eval_time": at,
                "alertname": name,
                "exp_alerts": [
                    {"exp_labels": {**labels, "severity": severity[name]}}
                    for labels in firing.get(name, [])
                ],
            }
            for name in severity
        ],
    }


def run_alert_tests(
    tmp_path: Path, tests: list[dict[str, Any]]
) -> subprocess.CompletedProcess[str]:
    """`promtool test rules` on the alerts without their annotations: promtool compares
    annotations too, and those quoting $value would pin numbers the test does not care
    about (their templates are checked by `promtool check rules` and by
    test_each_annotation_quotes_only_labels_its_alert_has)."""
    groups = [
        {
            **group,
            "rules": [{k: v for k, v in r.items() if k != "annotations"} for r in group["rules"]],
        }
        for group in rule_object()["spec"]["groups"]
    ]
    write_rule_file(tmp_path, groups)
    spec = tmp_path / "tests.yaml"
    spec.write_text(
        yaml.safe_dump({"rule_files": ["rules.yaml"], "evaluation_interval": "1m", "tests": tests})
    )
    return promtool("test", "rules", str(spec))


@pytest.mark.parametrize(
    "replicas,at,firing", [s[1:] for s in SCENARIOS], ids=[s[0] for s in SCENARIOS]
)
def test_the_alerts_fire_on_exactly_the_targets_and_replicas_in_trouble(
    tmp_path: Path, replicas: list[tuple[str, Replica]], at: str, firing: Firing
) -> None:
    result = run_alert_tests(tmp_path, [alert_test(replicas, at, firing)])
    assert result.returncode == 0, result.stdout + result.stderr


def test_a_target_at_max_that_wants_no_more_does_not_alert(tmp_path: Path) -> None:
    replica = Replica(outcomes=(at_max_and_enough,))
    result = run_alert_tests(tmp_path, [alert_test([(HEALTHY, replica)], "40m", {})])
    assert result.returncode == 0, result.stdout + result.stderr


@pytest.mark.parametrize("rule", alerts(), ids=[r["alert"] for r in alerts()])
def test_each_annotation_quotes_only_labels_its_alert_has(rule: dict[str, Any]) -> None:
    has = {"PodscaleLeaderChanges": set()} | {
        name: {label for labels in sets for label in labels}
        for *_, firing in SCENARIOS
        for name, sets in firing.items()
    }
    quoted = set(re.findall(r"\$labels\.(\w+)", " ".join(rule["annotations"].values())))
    assert quoted <= has[rule["alert"]]


def test_a_flapping_lease_fires_leader_changes_and_a_steady_one_does_not(tmp_path: Path) -> None:
    def leader(instance: str, values: str) -> dict[str, str]:
        series = (
            f'podscale_leader{{instance="{instance}", job="podscale", namespace="podscale-system"}}'
        )
        return {"series": series, "values": values}

    flapping = [leader("a", "1 0 " * 30), leader("b", "0 1 " * 30)]
    steady = [leader("a", "1x60"), leader("b", "0x60")]
    tests = [
        {
            "interval": "1m",
            "input_series": series,
            "alert_rule_test": [
                {"eval_time": "59m", "alertname": "PodscaleLeaderChanges", "exp_alerts": expected}
            ],
        }
        for series, expected in (
            (flapping, [{"exp_labels": {"severity": "warning"}}]),
            (steady, []),
        )
    ]
    result = run_alert_tests(tmp_path, tests)
    assert result.returncode == 0, result.stdout + result.stderr


# --- the dashboard -------------------------------------------------------------------------


def dashboard() -> dict[str, Any]:
    return json.loads(DASHBOARD.read_text())


def queries() -> list[tuple[str, str]]:
    found = []
    for panel in dashboard()["panels"]:
        for target in panel.get("targets", []):
            found.append((f"{panel['title']} {target['refId']}", target["expr"]))
    return found


@pytest.mark.parametrize("where,expr", queries(), ids=[w for w, _ in queries()])
def test_each_dashboard_query_reads_only_exported_metrics(where: str, expr: str) -> None:
    assert unknown_names(grafana_free(expr)) == []


def test_promtool_parses_every_dashboard_query(tmp_path: Path) -> None:
    rules = [
        {"record": f"dashboard:query_{i}", "expr": grafana_free(expr)}
        for i, (_, expr) in enumerate(queries())
    ]
    result = promtool(
        "check", "rules", str(write_rule_file(tmp_path, [{"name": "dashboard", "rules": rules}]))
    )
    assert result.returncode == 0, result.stdout + result.stderr


def test_the_dashboard_filters_by_namespace_and_policy_from_exported_labels() -> None:
    variables = {v["name"]: v for v in dashboard()["templating"]["list"]}
    assert variables["datasource"]["query"] == "prometheus"
    for name in ("namespace", "policy"):
        metric, label = re.fullmatch(
            r"label_values\((\w+)(?:\{[^}]*\})?, (\w+)\)", variables[name]["query"]["query"]
        ).groups()  # type: ignore[union-attr]
        assert label == name and name in exported_names()[metric]
    per_target = [
        (where, expr)
        for where, expr in queries()
        if any("policy" in exported_names()[m] for m in metric_names(grafana_free(expr)))
    ]
    assert len(per_target) >= 6
    for where, expr in per_target:
        assert 'namespace=~"$namespace"' in expr and 'policy=~"$policy"' in expr, where


def test_the_dashboard_shows_what_the_issue_asks_for() -> None:
    read = {name for _, expr in queries() for name in metric_names(grafana_free(expr))}
    assert {
        "podscale_desired_replicas",
        "podscale_current_replicas",
        "podscale_metric_value",
        "podscale_metric_target",
        "podscale_condition",
        "podscale_sync_duration_seconds_bucket",
        "podscale_metric_errors_total",
        "podscale_sync_errors_total",
        "podscale_leader",
    } <= read
    ids = [panel["id"] for panel in dashboard()["panels"]]
    assert len(ids) == len(set(ids))


# --- the rendered component ----------------------------------------------------------------


def rendered() -> list[dict[str, Any]]:
    result = subprocess.run(
        ["kubectl", "kustomize", str(REPO / "deploy" / "overlays" / "monitoring")],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    return [d for d in yaml.safe_load_all(result.stdout) if d]


RENDERED = rendered()


def named(kind: str) -> dict[str, Any]:
    [found] = [d for d in RENDERED if d["kind"] == kind]
    return found


@pytest.mark.parametrize(
    "doc",
    [d for d in RENDERED if d["kind"] not in OPERATOR_KINDS],
    ids=[
        f"{d['kind']}/{d['metadata']['name']}" for d in RENDERED if d["kind"] not in OPERATOR_KINDS
    ],
)
def test_every_kubernetes_object_of_the_monitoring_overlay_validates(doc: dict[str, Any]) -> None:
    kubernetes_validate.validate(doc, K8S_VERSION, strict=True)


def strict(properties: dict[str, Any], required: tuple[str, ...] = ()) -> dict[str, Any]:
    return {
        "type": "object",
        "properties": properties,
        "required": list(required),
        "additionalProperties": False,
    }


STRING = {"type": "string"}
DURATION = {"type": "string", "pattern": r"^(\d+(ms|s|m|h|d|w|y))+$"}
STRINGS = {"type": "object", "additionalProperties": STRING}
METADATA = strict({"name": STRING, "namespace": STRING, "labels": STRINGS}, ("name", "namespace"))
# The monitoring.coreos.com/v1 fields we use, spelt as in the Operator's API reference.
OPERATOR_SCHEMAS = {
    "PodMonitor": strict(
        {
            "apiVersion": {"const": "monitoring.coreos.com/v1"},
            "kind": {"const": "PodMonitor"},
            "metadata": METADATA,
            "spec": strict(
                {
                    "selector": strict({"matchLabels": STRINGS}, ("matchLabels",)),
                    "podMetricsEndpoints": {
                        "type": "array",
                        "minItems": 1,
                        "items": strict(
                            {
                                "port": STRING,
                                "path": STRING,
                                "interval": DURATION,
                                "honorLabels": {"type": "boolean"},
                            },
                            ("port",),
                        ),
                    },
                },
                ("selector", "podMetricsEndpoints"),
            ),
        },
        ("apiVersion", "kind", "metadata", "spec"),
    ),
    "PrometheusRule": strict(
        {
            "apiVersion": {"const": "monitoring.coreos.com/v1"},
            "kind": {"const": "PrometheusRule"},
            "metadata": METADATA,
            "spec": strict(
                {
                    "groups": {
                        "type": "array",
                        "items": strict(
                            {
                                "name": STRING,
                                "rules": {
                                    "type": "array",
                                    "items": strict(
                                        {
                                            "alert": STRING,
                                            "expr": STRING,
                                            "for": DURATION,
                                            "labels": STRINGS,
                                            "annotations": STRINGS,
                                        },
                                        ("alert", "expr"),
                                    ),
                                },
                            },
                            ("name", "rules"),
                        ),
                    }
                },
                ("groups",),
            ),
        },
        ("apiVersion", "kind", "metadata", "spec"),
    ),
}


@pytest.mark.parametrize("kind", sorted(OPERATOR_KINDS))
def test_the_operator_objects_use_only_the_fields_the_operator_defines(kind: str) -> None:
    jsonschema.validate(named(kind), OPERATOR_SCHEMAS[kind])


def test_the_operator_schema_is_strict_enough_to_catch_a_typo() -> None:
    monitor = yaml.safe_load(yaml.safe_dump(named("PodMonitor")))
    monitor["spec"]["podMetricsEndpoints"][0]["honorLabel"] = True
    with pytest.raises(jsonschema.ValidationError):
        jsonschema.validate(monitor, OPERATOR_SCHEMAS["PodMonitor"])


def test_the_pod_monitor_scrapes_the_controller_port_and_keeps_the_policy_namespace() -> None:
    monitor = named("PodMonitor")["spec"]
    [deployment] = [d for d in RENDERED if d["kind"] == "Deployment"]
    template = deployment["spec"]["template"]
    assert monitor["selector"]["matchLabels"].items() <= template["metadata"]["labels"].items()
    [endpoint] = monitor["podMetricsEndpoints"]
    ports = {p["name"]: p["containerPort"] for p in template["spec"]["containers"][0]["ports"]}
    annotations = template["metadata"]["annotations"]
    assert str(ports[endpoint["port"]]) == annotations["prometheus.io/port"]  # both ways agree
    assert endpoint["path"] == annotations["prometheus.io/path"] == "/metrics"
    assert endpoint["honorLabels"] is True


def test_the_dashboard_config_map_carries_the_file_and_the_sidecar_label() -> None:
    [config_map] = [
        d
        for d in RENDERED
        if d["kind"] == "ConfigMap" and d["metadata"]["name"] == "podscale-dashboard"
    ]
    assert config_map["metadata"]["labels"]["grafana_dashboard"] == "1"
    assert json.loads(config_map["data"]["podscale.json"]) == dashboard()


def test_the_rule_object_is_the_file_that_promtool_checked() -> None:
    assert named("PrometheusRule")["spec"] == rule_object()["spec"]


# --- docs/metrics.md -----------------------------------------------------------------------


def documented_name(family: Family) -> str:
    return f"{family.name}_total" if family.type == "counter" else family.name


@pytest.mark.parametrize("family", catalogue().values(), ids=list(catalogue()))
def test_metrics_md_documents_each_exported_metric_with_its_type_and_labels(family: Family) -> None:
    page = (REPO / "docs" / "metrics.md").read_text()
    row = re.search(rf"^\| `{documented_name(family)}` \| (\w+) \|([^|]*)\| (.+) \|$", page, re.M)
    assert row, f"docs/metrics.md has no row for {documented_name(family)}"
    kind, labels, meaning = row.groups()
    assert kind == family.type
    if labels.strip() != "same as `podscale_metric_value`":
        assert set(re.findall(r"`(\w+)`", labels)) == family.labels
    assert meaning.strip()


def test_metrics_md_documents_no_metric_the_code_does_not_export() -> None:
    page = (REPO / "docs" / "metrics.md").read_text()
    rows = set(re.findall(r"^\| `(podscale_\w+)` \|", page, re.M))
    assert rows == {documented_name(f) for f in catalogue().values()}


def test_the_adapter_exports_no_prometheus_metrics_as_metrics_md_says() -> None:
    sources = (REPO / "autoscaler" / "adapter").glob("*.py")
    assert not [p.name for p in sources if "prometheus_client" in p.read_text()]


def test_the_dashboard_panels_fit_the_grid_without_overlapping() -> None:
    taken: set[tuple[int, int]] = set()
    for panel in dashboard()["panels"]:
        box = panel["gridPos"]
        assert box["x"] + box["w"] <= 24, panel["title"]
        cells = {
            (x, y)
            for x in range(box["x"], box["x"] + box["w"])
            for y in range(box["y"], box["y"] + box["h"])
        }
        assert not cells & taken, f"{panel['title']} overlaps another panel"
        taken |= cells
