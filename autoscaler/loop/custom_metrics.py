"""Pods, Object and External metrics for the loop, from Prometheus declarations.

All targets of a sync are read in one ``collect`` call, so a query template shared by
many targets runs once; each target then gets its own ``MetricData``. A metric nobody
declared is a failed read whose message says where to declare it.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

from autoscaler.core.model import MetricData
from autoscaler.metrics.declarations import MetricDeclaration
from autoscaler.metrics.prometheus import MetricRequest, ObjectRef, PrometheusSource
from autoscaler.ports import Target
from autoscaler.selectors import requirements


class PrometheusMetrics:
    """CustomMetricSource over a PrometheusSource and the declared metrics."""

    def __init__(self, source: PrometheusSource, declarations: Mapping[str, MetricDeclaration]):
        self.source = source
        self.declarations = dict(declarations)
        self.queries = 0  # Prometheus queries of the last sync
        self.total_queries = 0  # ... and since start, for podscale_prometheus_queries_total

    def _requests(self, target: Target, undeclared: dict[str, str]) -> list[MetricRequest]:
        requests = []
        for spec in target.metric_specs:
            source = {"Pods": spec.pods, "Object": spec.object, "External": spec.external}.get(
                spec.type
            )
            if source is None:
                continue
            name = source.metric.name
            declaration = self.declarations.get(name)
            if declaration is None or declaration.type != spec.type:
                undeclared[name] = (
                    f"no MetricDeclarations entry declares the {spec.type} metric {name!r}: "
                    "add one (name, type, query) to a file given with --metrics-config"
                )
                continue
            described = None
            if spec.object is not None:
                ref = spec.object.described_object
                described = ObjectRef(kind=ref.kind, name=ref.name)
            requests.append(
                MetricRequest(
                    target=target.key,
                    namespace=target.namespace,
                    declaration=declaration,
                    selector=requirements(source.metric.selector),
                    described_object=described,
                )
            )
        return requests

    def read_all(self, targets: Sequence[Target], *, now: float) -> Mapping[str, MetricData]:
        requests: list[MetricRequest] = []
        undeclared: dict[str, dict[str, str]] = {}
        for target in targets:
            undeclared[target.key] = {}
            requests += self._requests(target, undeclared[target.key])
        collection = self.source.collect(requests, now=now) if requests else None
        self.queries = 0 if collection is None else collection.queries
        self.total_queries += self.queries
        result: dict[str, MetricData] = {}
        for target in targets:
            found = None if collection is None else collection.targets.get(target.key)
            data = found.metric_data() if found is not None else MetricData()
            errors = {**data.errors, **undeclared[target.key]}
            result[target.key] = MetricData(
                resource=None,
                pods=data.pods,
                object=data.object,
                external=data.external,
                errors=errors,
            )
        return result
