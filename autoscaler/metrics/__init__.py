"""Metrics from Prometheus for Pods, Object and External metric sources.

- :mod:`~autoscaler.metrics.promql`: query templates; label selectors as PromQL matchers.
- :mod:`~autoscaler.metrics.declarations`: the MetricDeclarations document and its loader.
- :mod:`~autoscaler.metrics.prometheus`: the batched source (one query per distinct query).

Nothing is imported here, so reading declarations does not load the HTTP client.
"""
