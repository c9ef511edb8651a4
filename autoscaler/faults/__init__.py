"""Fault injection for reliability tests: a proxy in front of the API server or Prometheus.

`FaultProxy` (asyncio) and `FaultProxyThread` (for synchronous tests) forward HTTP/1.1 traffic
and apply the first matching `FaultRule`; ``python -m autoscaler.faults`` runs one from the
shell with a JSON control API. Importing this package opens nothing.
"""

from autoscaler.faults.proxy import FaultProxy, FaultProxyThread
from autoscaler.faults.rules import (
    Blackhole,
    Drop,
    Error,
    Exchange,
    Fault,
    FaultRule,
    Latency,
    LostResponse,
    RuleError,
    RuleSet,
    WatchDisconnect,
    rule_from_json,
    rule_to_json,
)

__all__ = [
    "Blackhole",
    "Drop",
    "Error",
    "Exchange",
    "Fault",
    "FaultProxy",
    "FaultProxyThread",
    "FaultRule",
    "Latency",
    "LostResponse",
    "RuleError",
    "RuleSet",
    "WatchDisconnect",
    "rule_from_json",
    "rule_to_json",
]
