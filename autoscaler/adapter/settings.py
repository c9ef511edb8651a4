"""What the adapter serves: the External metric declarations and the namespaces."""

from __future__ import annotations

from dataclasses import dataclass

from autoscaler.metrics.declarations import MetricDeclaration


@dataclass(frozen=True, slots=True)
class AdapterSettings:
    """The served metrics by name, the namespaces allowed (empty: all), and the mode.

    ``direct`` answers each request with its own Prometheus query, the way
    prometheus-adapter does; it exists to measure what the cache saves.
    """

    external: dict[str, MetricDeclaration]
    namespaces: frozenset[str] = frozenset()
    direct: bool = False

    def serves(self, namespace: str) -> bool:
        return not self.namespaces or namespace in self.namespaces
