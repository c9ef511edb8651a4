"""JSON text to plain data: the C parser, with duplicate keys and deep nesting refused.

``json.loads`` silently keeps the last of two equal keys and recurses once per level of
nesting. Here a hook refuses duplicates as the C parser builds each object, and the
result is checked for depth (the C parser itself fails only near Python's recursion
limit). The C parser knows no positions, so when something is refused, :func:`locate`
reads the text once more, token by token, to name the path, line and column: that is
slow, but it only runs to explain an error, and stops at the first one.
"""

from __future__ import annotations

import json
import re
from typing import Any

from autoscaler.textdata.errors import MAX_DEPTH, DataError

_TOKEN = re.compile(r'"[^"\\]*(?:\\.[^"\\]*)*"|[\[\]{}:,]')


class NotJson(ValueError):
    """The text is not JSON at all (it may still be YAML)."""


class _Duplicate(Exception):
    """An object repeats a key; :func:`locate` says which and where."""


def load_json(text: str, *, root: str = "snapshot") -> Any:
    """The data of JSON ``text``; paths in errors start at ``root``."""
    try:
        data = json.loads(text, object_pairs_hook=_unique)
    except (_Duplicate, RecursionError):
        raise locate(text, root=root) from None
    except ValueError as exc:  # JSONDecodeError, or an integer too long to convert
        raise NotJson(str(exc)) from None
    if deeper_than(data, MAX_DEPTH):
        raise locate(text, root=root)
    return data


def _unique(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    result = dict(pairs)
    if len(result) != len(pairs):
        raise _Duplicate
    return result


def deeper_than(data: Any, limit: int) -> bool:
    """Whether collections nest more than ``limit`` levels (without recursing)."""
    if type(data) is not dict and type(data) is not list:
        return False
    stack = [(data, 1)]
    while stack:
        value, depth = stack.pop()
        children = value.values() if type(value) is dict else value
        for child in children:
            kind = type(child)
            if kind is dict or kind is list:
                if depth >= limit:
                    return True
                stack.append((child, depth + 1))
    return False


class _Frame:
    """An open object or array while :func:`locate` reads tokens."""

    __slots__ = ("index", "is_object", "key", "keys", "path", "wants_key")

    def __init__(self, path: str, is_object: bool) -> None:
        self.path = path
        self.is_object = is_object
        self.keys: set[str] = set()
        self.key = ""
        self.index = 0
        self.wants_key = is_object

    def child(self) -> str:
        return f"{self.path}.{self.key}" if self.is_object else f"{self.path}[{self.index}]"


def locate(text: str, *, root: str = "snapshot") -> DataError:
    """The first duplicate key or too-deep collection in valid JSON ``text``, as an error."""
    stack: list[_Frame] = []
    for token in _TOKEN.finditer(text):
        char = token.group()[0]
        top = stack[-1] if stack else None
        if char in "[{":
            path = top.child() if top else root
            if len(stack) >= MAX_DEPTH:
                message = f"nested more than {MAX_DEPTH} levels deep"
                return _at(text, token.start(), message, path)
            stack.append(_Frame(path, char == "{"))
        elif top is None:
            continue
        elif char in "]}":
            stack.pop()
        elif char == ",":
            top.index += 1
            top.wants_key = top.is_object
        elif char == ":":
            top.wants_key = False
        elif top.wants_key:  # a string where a key belongs
            key = json.loads(token.group())
            if key in top.keys:
                return _at(text, token.start(), f'duplicate key "{key}"', top.path)
            top.keys.add(key)
            top.key = key
    return DataError("a duplicate key or too deep nesting (not located)", path=root)


def _at(text: str, offset: int, problem: str, path: str) -> DataError:
    line_start = text.rfind("\n", 0, offset) + 1
    return DataError(
        problem, path=path, line=text.count("\n", 0, offset) + 1, column=offset - line_start + 1
    )
