"""CPU and memory per pod from Prometheus, for clusters without metrics-server.

metrics-server gets its numbers from the kubelet's cAdvisor; Prometheus usually
scrapes the same series. We read ``rate(container_cpu_usage_seconds_total[window])``
and ``container_memory_working_set_bytes`` per pod and container, and hand them to the
loop as metrics.k8s.io would: one sample per pod, with the evaluation time as its
timestamp and the rate window as its window. One pair of queries per namespace and
sync serves every target of that namespace.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable
from typing import Any

from autoscaler.core.model import PodUsage
from autoscaler.core.quantity import to_milli
from autoscaler.metrics.prometheus import PrometheusSource, QueryError
from autoscaler.metrics.promql import quote
from autoscaler.ports import LoopError

CPU = (
    "sum by (pod, container) (rate(container_cpu_usage_seconds_total"
    '{{namespace={ns}, container!="", container!="POD"}}[{window}s]))'
)
MEMORY = (
    "sum by (pod, container) (container_memory_working_set_bytes"
    '{{namespace={ns}, container!="", container!="POD"}})'
)


class PrometheusResourceMetrics:
    """ResourceMetricSource over Prometheus (cAdvisor series)."""

    namespace_wide = True  # answers for every pod of the namespace, not the selector

    def __init__(
        self,
        source: PrometheusSource,
        *,
        window: float = 60.0,
        cache_seconds: float = 1.0,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.source = source
        self.window = int(window)
        self.cache_seconds = cache_seconds
        self.clock = clock
        self.queries = 0
        self._cache: dict[str, tuple[float, dict[str, PodUsage]]] = {}

    def new_sync(self) -> None:
        """Its cache lives ``cache_seconds``, across syncs that close together."""

    def usage(self, namespace: str, selector: str) -> dict[str, PodUsage]:
        """Every pod of the namespace; the loop keeps those of the target."""
        cached = self._cache.get(namespace)
        if cached is not None and self.clock() - cached[0] < self.cache_seconds:
            return cached[1]
        now = time.time()
        cpu = self._query(CPU.format(ns=quote(namespace), window=self.window), now)
        memory = self._query(MEMORY.format(ns=quote(namespace)), now)
        samples: dict[str, PodUsage] = {}
        for resource, series in (("cpu", cpu), ("memory", memory)):
            for item in series:
                labels, (stamp, text) = item.get("metric") or {}, item.get("value") or (now, "nan")
                value = float(text)
                if not math.isfinite(value) or "pod" not in labels:
                    continue
                pod = samples.setdefault(
                    labels["pod"], PodUsage(float(stamp), float(self.window), {})
                )
                pod.containers.setdefault(labels.get("container", ""), {})[resource] = to_milli(
                    value
                )
        at = self.clock()
        for old in [ns for ns, (t, _) in self._cache.items() if at - t >= self.cache_seconds]:
            del self._cache[old]  # namespaces no target asks for any more hold no samples
        self._cache[namespace] = (at, samples)
        return samples

    def _query(self, query: str, now: float) -> list[dict[str, Any]]:
        self.queries += 1
        try:
            return self.source.instant(query, now=now)
        except QueryError as exc:
            raise LoopError(f"resource metrics from {exc}") from None
