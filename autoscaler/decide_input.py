"""What ``autoscaler decide`` reads: bounded input in, snapshots out one at a time.

Memory follows the input, not what it expands to: the input is refused past a byte
limit before it is parsed, and a list is handed out snapshot by snapshot, so the
caller can decide each and keep only its result. A JSON list is split into undecoded
items (views of the input) and each item decoded when its turn comes; a YAML list is
built from the parser's events item by item (``textdata.yaml_text``).

Errors are :class:`InputError`, one line naming the input and where. An error may come
only after earlier snapshots were handed out; the caller prints nothing until the whole
input has been read.
"""

from __future__ import annotations

import os
import sys
from collections.abc import Iterator, Sequence
from typing import TYPE_CHECKING, Any

import msgspec

from autoscaler.core import Snapshot
from autoscaler.documents import DocumentError, snapshot_from_document
from autoscaler.documents.fast import FastDocuments, has_escaped_colon, json_items
from autoscaler.textdata import DataError, NotJson, load_json

if TYPE_CHECKING:
    from autoscaler.textdata.yaml_text import YamlDocument

EXAMPLE = "example-snapshot.yaml"


class InputError(Exception):
    """The input could not be read or is not a snapshot document."""


def read_input(file: str | None, *, max_bytes: int) -> tuple[str, bytes]:
    """(display name, content) of FILE, standard input for "-", or the bundled example."""
    if file is None:
        from importlib import resources

        raw = resources.files("autoscaler").joinpath("examples", EXAMPLE).read_bytes()
        return f"(bundled) {EXAMPLE}", raw
    name = "<stdin>" if file == "-" else file
    try:
        if file == "-":
            raw = sys.stdin.buffer.read(max_bytes + 1)
        else:
            with open(file, "rb") as handle:
                if os.fstat(handle.fileno()).st_size > max_bytes:  # refused unread
                    raise _too_large(name, max_bytes)
                raw = handle.read(max_bytes + 1)  # bounded: FILE may be /dev/zero or grow
    except OSError as exc:
        raise InputError(f"{name}: cannot read: {exc.strerror or exc}") from None
    if len(raw) > max_bytes:
        raise _too_large(name, max_bytes)
    return name, raw


def _too_large(name: str, max_bytes: int) -> InputError:
    return InputError(
        f"{name}: larger than {max_bytes:,} bytes (--max-input-bytes); refusing it "
        "(split a list into smaller files, or raise the limit)"
    )


def read_snapshots(name: str, raw: bytes, *, now: float) -> tuple[Iterator[Snapshot], bool]:
    """The snapshots of a document, lazily, and whether it was a list.

    JSON goes through the fast path item by item; an item it refuses is parsed again by
    the full parser, which accepts the same documents and names what is wrong with the
    others. Text that msgspec does not take as JSON is read by the full JSON parser, and
    failing that as YAML.
    """
    found = json_items(raw)
    if found is not None:
        items, is_list = found
        if not items:
            raise InputError(f"{name}: empty list: expected at least one snapshot")
        return _json_snapshots(name, raw, items, is_list, now), is_list
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise InputError(f"{name}: not UTF-8 text (byte {exc.start})") from None
    try:
        data = load_json(text)
    except NotJson:
        del text  # the YAML parser reads the bytes
        return _yaml_snapshots(name, raw, now)
    except DataError as exc:
        raise InputError(f"{name}: {exc}") from None
    if isinstance(data, list):
        if not data:
            raise InputError(f"{name}: empty list: expected at least one snapshot")
        return _documents(name, data, True, now), True
    if isinstance(data, dict):
        return _documents(name, [data], False, now), False
    raise InputError(f"{name}: expected a snapshot mapping or a list of them, got {_kind(data)}")


def _kind(data: Any) -> str:
    return "nothing" if data is None else type(data).__name__


def _path(index: int, is_list: bool) -> str:
    return f"snapshot[{index}]" if is_list else "snapshot"


def _snapshot(name: str, doc: Any, path: str, now: float) -> Snapshot:
    try:
        return snapshot_from_document(doc, now=now, path=path)
    except DocumentError as exc:
        raise InputError(f"{name}: {exc}") from None


def _documents(name: str, docs: list[Any], is_list: bool, now: float) -> Iterator[Snapshot]:
    for index in range(len(docs)):
        doc, docs[index] = docs[index], None  # freed once turned into a snapshot
        yield _snapshot(name, doc, _path(index, is_list), now)


def _json_snapshots(
    name: str, raw: bytes, items: list[msgspec.Raw], is_list: bool, now: float
) -> Iterator[Snapshot]:
    """Each item through the fast path, or the full parser when refused.

    The fast path cannot see a key given twice by itself; it counts the colons of what
    it decoded, and when the whole input holds more, some item it took had a duplicate
    key: the full parser then reads those items again to say which and where.
    """
    fast = None if has_escaped_colon(raw) else FastDocuments()
    colons = 0
    taken: list[int] = []
    for index, item in enumerate(items):
        one = fast.snapshot(item, now=now) if fast is not None else None
        if one is None:
            yield _json_item(name, raw, items, index, is_list, now)
            colons += bytes(item).count(b":")
        else:
            yield one[0]
            colons += one[1]
            taken.append(index)
    if fast is not None and colons != raw.count(b":"):
        for index in taken:
            _json_item(name, raw, items, index, is_list, now)
        raise InputError(f"{name}: a key is given twice (not located)")


def _json_item(
    name: str, raw: bytes, items: Sequence[msgspec.Raw], index: int, is_list: bool, now: float
) -> Snapshot:
    path = _path(index, is_list)
    try:
        data = load_json(bytes(items[index]).decode("utf-8"), root=path)
    except DataError as exc:
        line, column = _position(raw, items, index)
        raise InputError(f"{name}: {exc.moved(line, column)}") from None
    except (NotJson, UnicodeDecodeError) as exc:  # msgspec took it as JSON; unlikely
        raise InputError(f"{name}: {path}: not valid JSON: {exc}") from None
    return _snapshot(name, data, path, now)


def _position(raw: bytes, items: Sequence[msgspec.Raw], index: int) -> tuple[int, int]:
    """Line and column where ``items[index]`` starts in ``raw`` (items are in order)."""
    offset = end = 0
    for item in items[: index + 1]:
        offset = raw.find(item, end)
        end = offset + memoryview(item).nbytes
    line_start = raw.rfind(b"\n", 0, offset) + 1
    column = len(raw[line_start:offset].decode("utf-8", "replace")) + 1
    return raw.count(b"\n", 0, offset) + 1, column


def _yaml_snapshots(name: str, raw: bytes, now: float) -> tuple[Iterator[Snapshot], bool]:
    from autoscaler.textdata.yaml_text import YamlDocument

    try:
        document = YamlDocument(raw)
    except DataError as exc:
        raise InputError(f"{name}: {exc}") from None
    if document.kind in ("sequence", "mapping"):
        is_list = document.kind == "sequence"
        return _yaml_items(name, document, is_list, now), is_list
    try:
        value = next(document.items(), None)
    except DataError as exc:
        raise InputError(f"{name}: {exc}") from None
    raise InputError(f"{name}: expected a snapshot mapping or a list of them, got {_kind(value)}")


def _yaml_items(name: str, document: YamlDocument, is_list: bool, now: float) -> Iterator[Snapshot]:
    count = 0
    items = document.items()
    while True:
        try:
            doc = next(items, _END)
        except DataError as exc:
            raise InputError(f"{name}: {exc}") from None
        if doc is _END:
            break
        yield _snapshot(name, doc, _path(count, is_list), now)
        count += 1
    if count == 0:
        raise InputError(f"{name}: empty list: expected at least one snapshot")


_END = object()
