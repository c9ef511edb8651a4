"""YAML text to plain data from the parser's events, one top-level item at a time.

``yaml.load`` composes a node tree of the whole document first (each node an object
with two position marks: about 25 times the size of the text) and then recurses through
it. Here the C parser's events are turned into plain data directly, with an explicit
stack instead of recursion, and a top-level list is handed out item by item, so memory
follows the largest item rather than the whole document. On the way every duplicate key
and every level past :data:`MAX_DEPTH` is refused with its path, line and column, and
aliases count toward :data:`MAX_NODES` as often as they are used.

Keys are read as the text written (``on:`` stays ``"on"``), as the policy loader does.
Merge keys (``<<: *base``) work as in PyYAML; an alias may only name an anchor whose
value is complete, so no structure can contain itself.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any, Final

import yaml
from yaml.constructor import SafeConstructor
from yaml.events import (
    AliasEvent,
    DocumentStartEvent,
    Event,
    MappingEndEvent,
    MappingStartEvent,
    ScalarEvent,
    SequenceEndEvent,
    SequenceStartEvent,
    StreamEndEvent,
)
from yaml.nodes import ScalarNode

from autoscaler.textdata.errors import MAX_DEPTH, MAX_NODES, DataError

_LOADER: Final[type[yaml.SafeLoader]] = getattr(yaml, "CSafeLoader", yaml.SafeLoader)
_MAP_TAGS: Final = (None, "!", "tag:yaml.org,2002:map")
_SEQ_TAGS: Final = (None, "!", "tag:yaml.org,2002:seq")
_MERGE_TAG: Final = "tag:yaml.org,2002:merge"
_CACHED_SCALARS: Final = 50_000
_NO_KEY: Final = object()
_MERGE: Final = object()


class _Frame:
    """A mapping or sequence being built."""

    __slots__ = ("anchor", "depth", "key", "merges", "path", "started", "value")

    def __init__(self, value: dict[str, Any] | list[Any], path: str, depth: int) -> None:
        self.value = value
        self.path = path
        self.depth = depth
        self.anchor: str | None = None
        self.started = 0
        self.key: object = _NO_KEY
        self.merges: list[tuple[Any, Event]] = []

    def child(self) -> str:
        if isinstance(self.value, list):
            return f"{self.path}[{len(self.value)}]"
        return f"{self.path}.{self.key}"


class YamlDocument:
    """The single document of a YAML stream, read lazily.

    ``kind`` is what its root is: "sequence", "mapping", "scalar" or "nothing" (an
    empty stream). :meth:`items` gives a sequence's items one by one, else the root.
    """

    def __init__(self, text: str | bytes, *, root: str = "snapshot") -> None:
        self._loader = _LOADER(text)
        self._root = root
        self._anchors: dict[str, tuple[Any, int]] = {}
        self._visited = 0
        self._scalars: dict[tuple[str, str], Any] = {}
        self._first = self._start()
        if self._first is None:
            self.kind = "nothing"
        elif isinstance(self._first, SequenceStartEvent):
            self.kind = "sequence"
        elif isinstance(self._first, MappingStartEvent):
            self.kind = "mapping"
        else:
            self.kind = "scalar"

    def items(self) -> Iterator[Any]:
        try:
            first = self._first
            if first is None:
                return
            if isinstance(first, SequenceStartEvent):
                self._open_check(first, self._root, 1)
                index = 0
                while not isinstance(event := self._next(), SequenceEndEvent):
                    yield self._value(event, f"{self._root}[{index}]", 2)
                    index += 1
            else:
                yield self._value(first, self._root, 1)
            self._finish()
        finally:
            self._loader.dispose()

    def _start(self) -> Event | None:
        self._next()  # StreamStartEvent
        event = self._next()
        if isinstance(event, StreamEndEvent):
            return None
        return self._next()  # after DocumentStartEvent: the root's first event

    def _finish(self) -> None:
        self._next()  # DocumentEndEvent
        event = self._next()
        if isinstance(event, DocumentStartEvent):
            raise _error(event, "expected a single document, found another", "")

    def _next(self) -> Event:
        try:
            event: Event = self._loader.get_event()  # type: ignore[no-untyped-call]
        except yaml.MarkedYAMLError as exc:
            mark = exc.problem_mark or exc.context_mark
            problem = "not valid JSON or YAML: " + " ".join(str(exc.problem or exc.context).split())
            if "nesting depth" in problem:  # libyaml's own limit (1,000), met scanning ahead
                problem = f"nested more than {MAX_DEPTH} levels deep"
            if mark is None:
                raise DataError(problem) from None
            raise DataError(problem, line=mark.line + 1, column=mark.column + 1) from None
        except yaml.YAMLError as exc:
            raise DataError("not valid JSON or YAML: " + " ".join(str(exc).split())) from None
        return event

    def _count(self, values: int) -> None:
        self._visited += values
        if self._visited > MAX_NODES:
            raise DataError(
                f"document expands to more than {MAX_NODES:,} values (YAML aliases?); refusing it"
            )

    def _value(self, event: Event, path: str, depth: int) -> Any:
        """The data of the value that starts with ``event`` (consuming its events)."""
        if isinstance(event, ScalarEvent):
            return self._scalar(event, path)
        if isinstance(event, AliasEvent):
            return self._alias(event, path)
        stack: list[_Frame] = []
        frame = self._open(event, path, depth)
        while True:
            event = self._next()
            if isinstance(event, MappingEndEvent | SequenceEndEvent):
                value = self._close(frame, event)
                if not stack:
                    return value
                frame = stack.pop()
                self._add(frame, value, event)
            elif frame.key is _NO_KEY and isinstance(frame.value, dict):
                self._key(frame, event)
            elif isinstance(event, ScalarEvent):
                self._add(frame, self._scalar(event, frame.child()), event)
            elif isinstance(event, AliasEvent):
                self._add(frame, self._alias(event, frame.child()), event)
            else:
                stack.append(frame)
                frame = self._open(event, frame.child(), frame.depth + 1)

    def _open_check(self, event: Event, path: str, depth: int) -> None:
        if depth > MAX_DEPTH:
            raise _error(event, f"nested more than {MAX_DEPTH} levels deep", path)
        self._count(1)

    def _open(self, event: Event, path: str, depth: int) -> _Frame:
        self._open_check(event, path, depth)
        tag = getattr(event, "tag", None)
        if isinstance(event, MappingStartEvent) and tag in _MAP_TAGS:
            frame = _Frame({}, path, depth)
        elif isinstance(event, SequenceStartEvent) and tag in _SEQ_TAGS:
            frame = _Frame([], path, depth)
        else:
            raise _error(event, f"unsupported YAML tag {tag}", path)
        frame.anchor = getattr(event, "anchor", None)
        frame.started = self._visited
        return frame

    def _key(self, frame: _Frame, event: Event) -> None:
        if not isinstance(event, ScalarEvent):
            raise _error(event, "mapping keys must be plain strings", frame.path)
        self._count(1)
        key = event.value
        if key == "<<" and (event.tag == _MERGE_TAG or (event.tag is None and event.implicit[0])):
            frame.key = _MERGE
            return
        if key in frame.value:
            raise _error(event, f'duplicate key "{key}"', frame.path)
        frame.key = key

    def _add(self, frame: _Frame, value: Any, event: Event) -> None:
        if isinstance(frame.value, list):
            frame.value.append(value)
            return
        if frame.key is _MERGE:
            frame.merges.append((value, event))
        else:
            frame.value[str(frame.key)] = value
        frame.key = _NO_KEY

    def _close(self, frame: _Frame, event: Event) -> Any:
        value: Any = frame.value
        if frame.merges and isinstance(frame.value, dict):
            value = {**self._merged(frame), **frame.value}
        if frame.anchor is not None:
            self._anchors[frame.anchor] = (value, self._visited - frame.started + 1)
        return value

    def _merged(self, frame: _Frame) -> dict[str, Any]:
        """The keys ``<<`` brings in: earlier sources win, explicit keys win over all."""
        merged: dict[str, Any] = {}
        for value, event in reversed(frame.merges):
            sources = value if isinstance(value, list) else [value]
            for source in reversed(sources):
                if not isinstance(source, dict):
                    message = "a merge key (<<) needs a mapping or a list of mappings"
                    raise _error(event, message, frame.path)
                merged.update(source)
        return merged

    def _alias(self, event: Event, path: str) -> Any:
        anchor = getattr(event, "anchor", None)
        if anchor not in self._anchors:
            raise _error(event, f"alias *{anchor} names no complete anchor before it", path)
        value, size = self._anchors[anchor]
        self._count(size)
        return value

    def _scalar(self, event: ScalarEvent, path: str) -> Any:
        self._count(1)
        tag = event.tag
        if tag is None or tag == "!":
            tag = self._loader.resolve(ScalarNode, event.value, event.implicit)  # type: ignore[no-untyped-call]
        cached = self._scalars.get((tag, event.value), _NO_KEY)
        if cached is _NO_KEY:
            cached = self._construct(event, tag, path)
            if len(self._scalars) < _CACHED_SCALARS:
                self._scalars[(tag, event.value)] = cached
        if event.anchor is not None:
            self._anchors[event.anchor] = (cached, 1)
        return cached

    def _construct(self, event: ScalarEvent, tag: str, path: str) -> Any:
        construct = SafeConstructor.yaml_constructors.get(tag)
        if construct is None or tag in (_MAP_TAGS[2], _SEQ_TAGS[2], _MERGE_TAG):
            raise _error(event, f"unsupported YAML tag {tag}", path)
        node = ScalarNode(tag, event.value, None, None, event.style)
        try:
            return construct(self._loader, node)
        except (yaml.YAMLError, ValueError, OverflowError) as exc:
            reason = " ".join(str(getattr(exc, "problem", None) or exc).split())
            raise _error(event, f"invalid value: {reason}", path) from None


def _error(event: Event, problem: str, path: str) -> DataError:
    mark = event.start_mark
    if mark is None:
        return DataError(problem, path=path)
    return DataError(problem, path=path, line=mark.line + 1, column=mark.column + 1)
