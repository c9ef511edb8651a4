"""Reading YAML safely, and remembering on which line every field was written.

We compose YAML node trees (``SafeLoader``, never arbitrary Python objects) and build
the plain data ourselves, because that lets us:

- map every field path to the line it was written on, for one-line error messages;
- bound the work: aliases make YAML a DAG, and a "billion laughs" document expands
  to billions of nodes; we count every node we visit and refuse a document past
  :data:`MAX_NODES`, so any input finishes in milliseconds;
- refuse duplicate keys (a silent last-one-wins hides typos) and non-string keys;
- read keys as the text written (``on:`` stays ``"on"``, as Kubernetes reads it).

Nothing here raises for bad input: problems come back as data.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Final

import yaml
from yaml.constructor import SafeConstructor
from yaml.nodes import MappingNode, Node, ScalarNode, SequenceNode

from autoscaler.policy.issues import FieldPath, line_of

MAX_BYTES: Final = 1024 * 1024
MAX_NODES: Final = 10_000
MAX_LIST_NODES: Final = 1_000_000
"""A ``kind: List`` (``kubectl get hpa -A -o yaml``) holds a cluster's objects in one
document, so it may have up to this many nodes: the 1 MiB file limit already bounds
what is written, and this bounds what aliases could expand it to (about a second)."""
MAX_DEPTH: Final = 50

_MAP_TAG: Final = "tag:yaml.org,2002:map"
_SEQ_TAG: Final = "tag:yaml.org,2002:seq"
_MERGE_TAG: Final = "tag:yaml.org,2002:merge"
_NULL_TAG: Final = "tag:yaml.org,2002:null"


@dataclass(frozen=True, slots=True)
class Problem:
    """Something wrong with the YAML itself, at ``line`` (None: the whole file)."""

    line: int | None
    message: str


@dataclass(slots=True)
class Document:
    """One non-empty YAML document: its data, first line, and field -> line map."""

    data: object
    line: int
    lines: dict[FieldPath, int] = field(default_factory=dict)
    problems: list[Problem] = field(default_factory=list)

    def line_of(self, path: FieldPath) -> int:
        """The line of ``path``, or of its nearest written parent."""
        return line_of(self.lines, path, default=self.line)


def read_bounded(file: str) -> bytes:
    """At most one byte past :data:`MAX_BYTES` (a path may be /dev/zero), never waiting
    for a writer that does not exist: a FIFO given by name (``<(kubectl get ...)``) is
    read to its end, one with no writer reads as empty. Raises OSError."""
    fd = os.open(file, os.O_RDONLY | os.O_NONBLOCK)
    try:
        os.set_blocking(fd, True)  # a writer is there or never was: reads may wait now
        with os.fdopen(fd, "rb", closefd=False) as stream:
            return stream.read(MAX_BYTES + 1)
    finally:
        os.close(fd)


def irregular(files: list[str]) -> list[str]:
    """The files found in a folder that are not regular files (a FIFO, a socket, a
    device): reading a FIFO would wait for a writer forever, so they are skipped."""
    return [f for f in files if os.path.exists(f) and not os.path.isfile(f)]


def decode(raw: bytes) -> str | Problem:
    """The text of a file's bytes, or why it cannot be policy YAML."""
    if len(raw) > MAX_BYTES:
        return Problem(None, f"file is larger than {MAX_BYTES >> 20} MiB; refusing to read it")
    try:
        return raw.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        line = raw.count(b"\n", 0, exc.start) + 1
        return Problem(line, f"not valid UTF-8 text (byte 0x{raw[exc.start]:02x})")


def parse(text: str) -> Iterator[Document | Problem]:
    """Each non-empty document of ``text``; a YAML syntax error ends the stream."""
    loader = None
    try:
        loader = _DepthLimitedLoader(text)  # checks every character up front
        while loader.check_node():
            loader.nodes = 0
            node = loader.get_node()
            if node is None or (isinstance(node, ScalarNode) and node.tag == _NULL_TAG):
                continue  # an empty document, e.g. after a trailing "---"
            if loader.nodes > MAX_NODES and not _is_list(node):
                raise _Refused(node.start_mark.line + 1, _TOO_MANY_NODES)
            yield _build_document(node, limit=MAX_LIST_NODES if _is_list(node) else MAX_NODES)
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        yield Problem(mark.line + 1 if mark else None, _yaml_message(exc))
    except yaml.reader.ReaderError as exc:
        line = text.count("\n", 0, max(exc.position, 0)) + 1
        yield Problem(line, f"invalid YAML: unacceptable character #x{exc.character:04x}")
    except yaml.YAMLError as exc:
        yield Problem(None, "invalid YAML: " + " ".join(str(exc).split()))
    except _Refused as exc:
        yield Problem(exc.line, str(exc))
    except RecursionError:  # a safety net: _DepthLimitedLoader stops far earlier
        yield Problem(None, f"invalid YAML: nested more than {MAX_DEPTH} levels deep")
    finally:
        if loader is not None:
            loader.dispose()


_TOO_MANY_NODES: Final = (
    f"document has more than {MAX_NODES} YAML nodes (a kind: List may have {MAX_LIST_NODES})"
)


def _is_list(node: Node) -> bool:
    """Whether ``node`` is a mapping written as ``kind: List`` (kubectl's list output)."""
    return isinstance(node, MappingNode) and any(
        isinstance(key, ScalarNode)
        and key.value == "kind"
        and isinstance(value, ScalarNode)
        and value.value == "List"
        for key, value in node.value
    )


class _Refused(Exception):
    """The composer stopped: a document is nested too deep or has too many nodes."""

    def __init__(self, line: int, message: str) -> None:
        super().__init__(message)
        self.line = line


class _DepthLimitedLoader(yaml.SafeLoader):
    """A SafeLoader that stops composing past MAX_DEPTH levels or MAX_NODES nodes.

    Besides bounding recursion and memory, this bounds time: PyYAML's scanner is
    quadratic in the flow nesting depth (``[[[[...``), and it scans lazily, so
    stopping the composer early stops the scanner early.
    """

    depth = 0
    nodes = 0

    def compose_node(self, parent: Node | None, index: int) -> Node | None:
        self.depth += 1
        self.nodes += 1
        try:
            if self.depth > MAX_DEPTH or self.nodes > MAX_LIST_NODES:
                event = self.peek_event()  # type: ignore[no-untyped-call]
                line = event.start_mark.line + 1
                if self.depth > MAX_DEPTH:
                    raise _Refused(line, f"invalid YAML: nested more than {MAX_DEPTH} levels deep")
                raise _Refused(line, f"document has more than {MAX_LIST_NODES} YAML nodes")
            return super().compose_node(parent, index)
        finally:
            self.depth -= 1


def _yaml_message(exc: yaml.MarkedYAMLError) -> str:
    parts = [part for part in (exc.context, exc.problem) if part]
    return "invalid YAML: " + " ".join(", ".join(parts).split())


class _TooLarge(Exception):
    """The document expands past MAX_NODES or MAX_DEPTH."""


def _build_document(root: Node, *, limit: int) -> Document:
    line = root.start_mark.line + 1
    builder = _Builder(limit)
    try:
        data = builder.build(root, path=(), depth=0)
    except _TooLarge as exc:
        return Document(data=None, line=line, problems=[Problem(line, str(exc))])
    return Document(data=data, line=line, lines=builder.lines, problems=builder.problems)


class _Builder:
    """Turns one node tree into plain data while counting the nodes it visits."""

    def __init__(self, limit: int) -> None:
        self.limit = limit
        self.visited = 0
        self.lines: dict[FieldPath, int] = {}
        self.problems: list[Problem] = []
        self.constructor = SafeConstructor()

    def build(self, node: Node, *, path: FieldPath, depth: int) -> object:
        self.visited += 1
        if self.visited > self.limit:
            raise _TooLarge(
                f"document expands to more than {self.limit} YAML nodes "
                "(through aliases?); refusing to load it"
            )
        if depth > MAX_DEPTH:
            raise _TooLarge(f"document is nested more than {MAX_DEPTH} levels deep")
        if isinstance(node, MappingNode) and node.tag == _MAP_TAG:
            return self._mapping(node, path=path, depth=depth)
        if isinstance(node, SequenceNode) and node.tag == _SEQ_TAG:
            items = []
            for index, child in enumerate(node.value):
                self.lines.setdefault((*path, index), child.start_mark.line + 1)
                items.append(self.build(child, path=(*path, index), depth=depth + 1))
            return items
        if isinstance(node, ScalarNode):
            return self._scalar(node)
        self._problem(node, f"unsupported YAML tag {node.tag}")
        return None

    def _scalar(self, node: ScalarNode) -> object:
        try:
            return self.constructor.construct_object(node)
        except (yaml.YAMLError, ValueError, OverflowError) as exc:
            reason = getattr(exc, "problem", None) or str(exc)
            self._problem(node, "invalid value: " + " ".join(str(reason).split()))
            return None

    def _problem(self, node: Node, message: str) -> None:
        self.problems.append(Problem(node.start_mark.line + 1, message))

    def _mapping(self, node: MappingNode, *, path: FieldPath, depth: int) -> dict[str, object]:
        result: dict[str, object] = {}
        merged: dict[str, object] = {}
        merges: list[Node] = []
        for key_node, value_node in node.value:
            if key_node.tag == _MERGE_TAG:
                merges.append(value_node)
                continue
            if not isinstance(key_node, ScalarNode):
                self._problem(key_node, "mapping keys must be strings")
                continue
            key = str(key_node.value)
            if key in result:
                self._problem(key_node, f'duplicate key "{key}"')
                continue
            self.lines[(*path, key)] = key_node.start_mark.line + 1
            result[key] = self.build(value_node, path=(*path, key), depth=depth + 1)
        # Merged keys are read after the explicit ones, whatever the order written, so
        # that a key written here keeps its own line (and value) over a merged one's.
        explicit, self.lines = self.lines, {}
        try:
            for value_node in merges:
                merged.update(self._merge(value_node, path=path, depth=depth))
        finally:
            merged_lines, self.lines = self.lines, explicit
        for at, line in merged_lines.items():
            if at[len(path)] not in result:
                self.lines[at] = line
        return {**merged, **result}

    def _merge(self, node: Node, *, path: FieldPath, depth: int) -> dict[str, object]:
        """The keys a YAML merge (``<<: *base``) brings in; explicit keys win later."""
        sources = node.value if isinstance(node, SequenceNode) else [node]
        merged: dict[str, object] = {}
        for source in reversed(sources):  # earlier sources take precedence
            value = self.build(source, path=path, depth=depth + 1)
            if isinstance(value, dict):
                merged.update(value)
            else:
                self._problem(source, "a merge key (<<) needs a mapping or a list of mappings")
        return merged
