"""A forecast metric's past from Prometheus (``query_range``), so a restart or a new
replica forecasts from days of history at once instead of waiting to collect it.

The total is what :func:`autoscaler.core.paths.metric_total` measures now, rebuilt
over time from the same queries the loop reads:

- External: the declared query's series summed; Object: its one series;
- Pods: the declared query per pod, summed over the target's pods;
- Resource and ContainerResource (``--resource-metrics prometheus``): cAdvisor's usage
  per pod (:mod:`autoscaler.loop.resource_prometheus`), summed over the target's pods.

Which pods were the target's in the past cannot be asked of the API server (they are
gone), so they are told by name, as their controllers name them: a Deployment's (or an
Argo Rollout's) ``NAME-HASH-XXXXX``, a StatefulSet's ``NAME-N``, any other kind's
``NAME-XXXXX``. A Pods metric whose series carry no ``pod`` label is summed as it is.
A metric Prometheus does not serve (metrics-server's CPU, an undeclared name) answers
None: the loop's own history (and ``--state-dir``) is all there is for it.
"""

from __future__ import annotations

import math
import re
from typing import Any

from autoscaler.core.model import CONTAINER_RESOURCE, EXTERNAL, OBJECT, PODS, RESOURCE
from autoscaler.core.quantity import to_milli
from autoscaler.loop.custom_metrics import PrometheusMetrics
from autoscaler.loop.resource_prometheus import PrometheusResourceMetrics
from autoscaler.metrics.prometheus import PrometheusSource, QueryError
from autoscaler.metrics.promql import PromQLError, quote
from autoscaler.ports import LoopError, Target
from autoscaler.selectors import requirements

USAGE = {
    "cpu": "sum by (pod) (rate(container_cpu_usage_seconds_total{{{matchers}}}[{window}s]))",
    "memory": "sum by (pod) (container_memory_working_set_bytes{{{matchers}}})",
}


def pod_pattern(kind: str, name: str) -> re.Pattern[str]:
    """The names a workload's controller gives its pods (see the module doc)."""
    base = re.escape(name)
    if kind in ("Deployment", "Rollout"):
        return re.compile(rf"{base}-[a-z0-9]{{1,10}}-[a-z0-9]{{5}}")
    if kind == "StatefulSet":
        return re.compile(rf"{base}-\d+")
    return re.compile(rf"{base}-[a-z0-9]{{5}}")


class PrometheusHistory:
    """HistorySource over the loop's Prometheus sources (either may be absent)."""

    def __init__(
        self,
        custom: PrometheusMetrics | None,
        resources: PrometheusResourceMetrics | None,
    ) -> None:
        self.custom = custom
        self.resources = resources
        self.queries = 0

    def totals(
        self, target: Target, metric: int, *, start: float, end: float, step: float
    ) -> list[tuple[float, float]] | None:
        spec = target.policy.metrics[metric]
        asked = self._query(target, metric)
        if asked is None:
            return None
        source, query, per_pod = asked
        self.queries += 1
        try:
            series = source.range_query(query, start=start, end=end, step=step)
        except QueryError as exc:
            raise LoopError(f"history of {spec.name} from {exc}") from None
        pattern = pod_pattern(target.ref.kind, target.ref.name) if per_pod else None
        return _summed(series, pattern)

    def _query(self, target: Target, metric: int) -> tuple[PrometheusSource, str, bool] | None:
        """(source, query, whether to keep the target's pods only), None: not there."""
        spec = target.policy.metrics[metric]
        if spec.type in (RESOURCE, CONTAINER_RESOURCE):
            if self.resources is None or spec.name not in USAGE:
                return None
            matchers = [f"namespace={quote(target.namespace)}", 'container!=""', 'container!="POD"']
            if spec.type == CONTAINER_RESOURCE:
                matchers.append(f"container={quote(spec.container)}")
            query = USAGE[spec.name].format(
                matchers=", ".join(matchers), window=self.resources.window
            )
            return self.resources.source, query, True
        if self.custom is None or spec.type not in (PODS, OBJECT, EXTERNAL):
            return None
        declaration = self.custom.declarations.get(spec.name)
        if declaration is None or declaration.type != spec.type:
            return None
        wire = target.metric_specs[metric] if metric < len(target.metric_specs) else None
        source = None
        if wire is not None:
            source = {"Pods": wire.pods, "Object": wire.object, "External": wire.external}.get(
                spec.type
            )
        described = spec.described_object
        try:
            query = declaration.template.render(
                namespace=target.namespace,
                selector=requirements(source.metric.selector) if source is not None else (),
                object_kind=described.kind if described else "",
                object_name=described.name if described else "",
            )
        except PromQLError:
            return None  # the loop reports the bad selector at every sync
        return (
            self.custom.source,
            f"sum({query})" if spec.type != PODS else query,
            spec.type == PODS,
        )


def _summed(
    series: list[dict[str, Any]], pods: re.Pattern[str] | None
) -> list[tuple[float, float]]:
    """The series' values summed per time (milli-units), those of ``pods`` only."""
    totals: dict[float, int] = {}
    for item in series:
        labels = item.get("metric") or {}
        pod = labels.get("pod")
        if pods is not None and pod is not None and not pods.fullmatch(pod):
            continue
        for stamp, text in item.get("values") or ():
            value = float(text)
            if math.isfinite(value):
                t = float(stamp)
                totals[t] = totals.get(t, 0) + to_milli(value)
    return sorted((t, float(total)) for t, total in totals.items())
