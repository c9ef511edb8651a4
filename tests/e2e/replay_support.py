"""Replay what ``autoscaler run --record`` wrote through ``autoscaler decide``."""

from __future__ import annotations

import json
import subprocess
from collections.abc import Callable
from pathlib import Path
from typing import Any

from live_tooling import EXE


def replayed_by_decide(
    record: Path, wanted: Callable[[dict[str, Any]], Any]
) -> list[dict[str, Any]]:
    """The recorded lines ``wanted`` picks, after checking that ``autoscaler decide`` gives
    each of their snapshots exactly the decision the live loop recorded."""
    lines = [json.loads(text) for text in record.read_text().splitlines() if text]
    picked = [line for line in lines if wanted(line)]
    if not picked:
        return []
    batch = record.with_suffix(".snapshots.json")
    batch.write_text(json.dumps([line["snapshot"] for line in picked]))
    done = subprocess.run(
        [EXE, "decide", str(batch)], capture_output=True, text=True, timeout=60, check=False
    )
    assert done.returncode == 0, done.stderr
    decided = json.loads(done.stdout)
    for index, (line, decision) in enumerate(zip(picked, decided, strict=True)):
        assert decision == line["decision"], f"recorded line {index} of {len(picked)}"
    return picked
