"""``autoscaler decide``: snapshot documents in, decision documents out.

The whole input is parsed before anything is decided or printed, so a bad snapshot in
a list of a thousand leaves stdout empty and says exactly where it is (exit 2).
"""

from __future__ import annotations

import gc
import json
import sys
import time
from typing import Any, TextIO

import msgspec

from autoscaler.core import Snapshot, decide
from autoscaler.documents import DocumentError, decision_to_document, snapshot_from_document
from autoscaler.documents.fast import FastDocuments
from autoscaler.textdata import DataError, load_data

EXAMPLE = "example-snapshot.yaml"


class InputError(Exception):
    """The input could not be read or is not a snapshot document."""


def read_input(file: str | None) -> tuple[str, bytes]:
    """(display name, content) of FILE, standard input for "-", or the bundled example."""
    if file is None:
        from importlib import resources

        raw = resources.files("autoscaler").joinpath("examples", EXAMPLE).read_bytes()
        return f"(bundled) {EXAMPLE}", raw
    if file == "-":
        return "<stdin>", sys.stdin.buffer.read()
    try:
        with open(file, "rb") as handle:
            return file, handle.read()
    except OSError as exc:
        raise InputError(f"{file}: cannot read: {exc.strerror or exc}") from None


def parse_snapshots(name: str, raw: bytes, *, now: float) -> tuple[list[Snapshot], bool]:
    """All snapshots of a document, and whether it was a list.

    JSON goes through the fast path first; whatever it refuses (YAML, or anything not
    exactly as the fast path expects) is parsed again by the full parser, which accepts
    the same documents and names what is wrong with the others.
    """
    fast = FastDocuments().snapshots(raw, now=now)
    if fast is not None:
        return fast
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise InputError(f"{name}: not UTF-8 text (byte {exc.start})") from None
    try:
        data: Any = load_data(text)
    except DataError as exc:
        raise InputError(f"{name}: {exc}") from None
    if isinstance(data, list):
        if not data:
            raise InputError(f"{name}: empty list: expected at least one snapshot")
        items, is_list = data, True
    elif isinstance(data, dict):
        items, is_list = [data], False
    else:
        kind = "nothing" if data is None else type(data).__name__
        raise InputError(f"{name}: expected a snapshot mapping or a list of them, got {kind}")
    snapshots = []
    for i, item in enumerate(items):
        path = f"snapshot[{i}]" if is_list else "snapshot"
        try:
            snapshots.append(snapshot_from_document(item, now=now, path=path))
        except DocumentError as exc:
            raise InputError(f"{name}: {exc}") from None
    return snapshots, is_list


def run_decide(file: str | None, *, explain: bool | None, out: TextIO, err: TextIO) -> int:
    # Snapshots, decisions and their documents hold no reference cycles, so reference
    # counting frees them all; the cyclic collector would only re-scan the growing
    # batch over and over (a third of the run time for 10,000 snapshots).
    gc.disable()
    try:
        return _run(file, explain=explain, out=out, err=err)
    finally:
        gc.enable()


def _run(file: str | None, *, explain: bool | None, out: TextIO, err: TextIO) -> int:
    try:
        name, raw = read_input(file)
        snapshots, is_list = parse_snapshots(name, raw, now=time.time())
    except InputError as exc:
        print(f"autoscaler decide: {exc}", file=err)
        return 2
    decisions = [decide(s) for s in snapshots]
    if explain if explain is not None else file is None:
        from autoscaler.explain import explain_decision

        for snapshot, decision in zip(snapshots, decisions, strict=True):
            out.write(explain_decision(name, snapshot, decision))
        return 0
    if is_list:
        encode = msgspec.json.Encoder().encode
        lines = b",\n".join([encode(decision_to_document(d)) for d in decisions])
        out.write("[\n" + lines.decode() + "\n]\n")
    else:
        out.write(json.dumps(decision_to_document(decisions[0]), indent=2) + "\n")
    return 0
