"""The pure decision core: snapshot in, decision out; no clock, no I/O, no logging."""

from autoscaler.core.decide import decide
from autoscaler.core.model import Decision, Snapshot

__all__ = ["Decision", "Snapshot", "decide"]
