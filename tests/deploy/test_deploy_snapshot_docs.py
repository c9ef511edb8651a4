"""docs/snapshots.md stays the format's reference: its example decides as it says, and it
describes every field the snapshot readers accept and the decision writer gives."""

from __future__ import annotations

import dataclasses
import io
import json
import re
from pathlib import Path

import msgspec
import pytest
import yaml

from autoscaler.cli import main
from autoscaler.core.model import Settings
from autoscaler.documents import snapshot, spec, wire

REPO = Path(__file__).resolve().parents[2]
PAGE = (REPO / "docs" / "snapshots.md").read_text()
EXAMPLE = REPO / "autoscaler" / "examples" / "example-snapshot.yaml"


def _block(language: str) -> str:
    example = PAGE.split("\n## Example\n", 1)[1]
    [block] = re.findall(rf"^```{language}\n(.*?)^```$", example, re.S | re.M)
    return str(block)


CODE = re.findall(r"`([^`\n]+)`", PAGE.split("\n## Example\n", 1)[0])


def _described(name: str) -> bool:
    """Whether ``name`` is a word of a code span before the example (`{time, replicas}`,
    `resource.<pod>.window`, `statusReplicas`)."""
    return any(re.search(rf"(?<![A-Za-z]){name}(?![A-Za-z])", span) for span in CODE)


def test_the_example_is_the_bundled_one_and_decides_as_shown(tmp_path: Path) -> None:
    assert yaml.safe_load(_block("yaml")) == yaml.safe_load(EXAMPLE.read_text())
    path = tmp_path / "snapshot.yaml"
    path.write_text(_block("yaml"))
    out, err = io.StringIO(), io.StringIO()
    assert main(["decide", str(path)], out=out, err=err) == 0, err.getvalue()
    assert json.loads(out.getvalue()) == json.loads(_block("json"))


def _wire_names(struct: type[msgspec.Struct]) -> list[str]:
    return [f.encode_name for f in msgspec.structs.fields(struct)]


STRUCTS = (
    wire.Snapshot,
    wire.Pod,
    wire.Container,
    wire.InitContainer,
    wire.Usage,
    wire.Forecast,
)


@pytest.mark.parametrize("struct", [*STRUCTS, wire.Metrics, wire.History, wire.Entry])
def test_every_field_of_the_fast_reader_is_described(struct: type[msgspec.Struct]) -> None:
    for name in _wire_names(struct):
        assert _described(name), f"docs/snapshots.md does not describe {struct.__name__}.{name}"


def _camel(name: str) -> str:
    first, *rest = name.split("_")
    return first + "".join(word.title() for word in rest)


def test_every_field_of_the_full_reader_is_described() -> None:
    settings = {_camel(f.name) for f in dataclasses.fields(Settings)}
    for name in sorted(set(snapshot._SNAPSHOT_KEYS) | settings):
        assert _described(name), f"docs/snapshots.md does not describe {name}"
    # settings are read under those names (an unknown one is an error)
    snapshot.settings_from_document(dict.fromkeys(settings, 1))


def test_every_field_of_a_decision_is_described() -> None:
    out = io.StringIO()
    assert main(["decide", str(EXAMPLE)], out=out, err=io.StringIO()) == 0
    decision = json.loads(out.getvalue())
    names = set(decision) | set(decision["metrics"][0]) | set(decision["conditions"][0])
    names |= set(decision["history"]) | set(decision["metrics"][0]["current"])
    for name in sorted(names):
        assert _described(name), f"docs/snapshots.md does not describe the decision's {name}"


def test_every_field_of_podscales_paths_is_described(tmp_path: Path) -> None:
    """The policy's paths, the snapshot's forecasts and the decision's path and proposals."""
    keys = {*spec._PREDICTIVE_KEYS, *spec._BURST_KEYS, *spec._ACTIVATION_KEYS}
    keys |= {"predictive", "burst", "activation", *snapshot._FORECAST_KEYS}
    doc = yaml.safe_load(EXAMPLE.read_text())
    doc["policy"]["burst"] = {}
    path = tmp_path / "burst.yaml"
    path.write_text(yaml.safe_dump(doc))
    out = io.StringIO()
    assert main(["decide", str(path)], out=out, err=io.StringIO()) == 0
    decision = json.loads(out.getvalue())
    keys |= set(decision) | set(decision["proposals"][0])
    assert {"path", "proposals"} <= keys
    for name in sorted(keys):
        assert _described(name), f"docs/snapshots.md does not describe {name}"
