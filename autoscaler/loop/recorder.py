"""``autoscaler run --record FILE``: the loop's own inputs, replayable offline.

"Why did it do that?" is answered best by the exact snapshot the loop decided on: each
line of FILE is ``{"policy", "snapshot", "decision"}``, and ``autoscaler decide`` fed the
snapshot gives the same decision (every rule runs in the core). Lines are flushed one
by one, so a file read while the loop runs holds whole lines only.
"""

from __future__ import annotations

import json
import threading
from typing import TextIO

from autoscaler.core.model import Decision, Snapshot
from autoscaler.documents import decision_to_document, snapshot_to_document
from autoscaler.ports import Target


class Recorder:
    """A Controller observer that appends one JSON line per decision."""

    def __init__(self, path: str) -> None:
        self._file: TextIO = open(path, "a", encoding="utf-8")  # noqa: SIM115 (lives with the loop)
        self._lock = threading.Lock()

    def __call__(self, target: Target, snapshot: Snapshot, decision: Decision) -> None:
        line = json.dumps(
            {
                "policy": target.key,
                "snapshot": snapshot_to_document(snapshot),
                "decision": decision_to_document(decision),
            }
        )
        with self._lock:
            self._file.write(line + "\n")
            self._file.flush()
