"""Problems found in policy files, and how they read on one line.

A :class:`Finding` is a problem inside one document: a field path and a message. The
loader turns it into an :class:`Issue` by adding the file and the line of that field,
so every problem prints as ``error: policies/web.yaml:12: spec.maxReplicas: ...``.
Pydantic's errors are translated here into the same wording as our own rules.
"""

from __future__ import annotations

import difflib
import types
import typing
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any, Final, Literal

from pydantic import BaseModel, ValidationError

FieldPath = tuple[str | int, ...]
Severity = Literal["error", "warning"]

_MAX_SHOWN: Final = 40


@dataclass(frozen=True, slots=True)
class Finding:
    """A problem at ``path`` inside one document (``()`` is the document itself)."""

    path: FieldPath
    message: str


@dataclass(frozen=True, slots=True)
class Issue:
    """A problem located in a file; ``line`` is None when no line applies."""

    severity: Severity
    file: str
    line: int | None
    path: str
    message: str

    def format(self) -> str:
        """The one-line form: ``error: FILE:LINE: PATH: MESSAGE``."""
        where = self.file if self.line is None else f"{self.file}:{self.line}"
        what = f"{self.path}: {self.message}" if self.path else self.message
        return _printable(f"{self.severity}: {where}: {what}")


def _printable(text: str) -> str:
    """``text`` with control and other unprintable characters escaped: one line, always."""
    if text.isprintable():
        return text
    return "".join(c if c.isprintable() else repr(c)[1:-1] for c in text)


def line_of(lines: dict[FieldPath, int], path: FieldPath, *, default: int) -> int:
    """The line ``path`` was written on, else that of its nearest written parent."""
    for end in range(len(path), 0, -1):
        line = lines.get(path[:end])
        if line is not None:
            return line
    return default


def format_path(path: FieldPath) -> str:
    """``("spec", "metrics", 0, "type")`` -> ``spec.metrics[0].type``."""
    text = ""
    for part in path:
        if isinstance(part, int):
            text += f"[{part}]"
        else:
            text += f".{part}" if text else part
    return text


def show(value: object) -> str:
    """A short, YAML-flavoured rendering of a value for messages."""
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, str):
        shown = value if len(value) <= _MAX_SHOWN else value[:_MAX_SHOWN] + "..."
        return '"' + shown.replace("\n", "\\n") + '"'
    if isinstance(value, dict):
        return "a mapping"
    if isinstance(value, list):
        return "a list"
    text = str(value)
    return text if len(text) <= _MAX_SHOWN else text[:_MAX_SHOWN] + "..."


_TYPE_NAMES: Final = {
    "int_type": "an integer",
    "string_type": "a string",
    "bool_type": "a boolean",
    "list_type": "a list",
    "dict_type": "a mapping",
    "model_type": "a mapping",
    "model_attributes_type": "a mapping",
}


def pydantic_findings(
    error: ValidationError, *, model: type[BaseModel], prefix: FieldPath = ()
) -> list[Finding]:
    """One finding per pydantic error, in our wording, with ``prefix`` before each path."""
    findings = []
    for detail in error.errors(include_url=False):
        loc = tuple(detail["loc"])
        findings.append(Finding(prefix + loc, _message(detail, model=model, loc=loc)))
    return findings


def _message(detail: Any, *, model: type[BaseModel], loc: FieldPath) -> str:
    kind = detail["type"]
    value = detail.get("input")
    if kind == "missing":
        return "required"
    if kind == "extra_forbidden":
        return "unknown field" + _suggestion(str(loc[-1]), _field_names(model, loc[:-1]))
    if kind in _TYPE_NAMES:
        return f"must be {_TYPE_NAMES[kind]} (got {show(value)})"
    if kind == "value_error":
        return str(detail["ctx"]["error"])
    if kind in ("greater_than_equal", "less_than_equal"):
        return f"must be a 32-bit integer (got {show(value)})"
    return f"{detail['msg']} (got {show(value)})"


def _suggestion(name: str, choices: Iterable[str]) -> str:
    close = difflib.get_close_matches(name, list(choices), n=1, cutoff=0.6)
    return f' (did you mean "{close[0]}"?)' if close else ""


def _field_names(model: type[BaseModel], loc: Sequence[str | int]) -> list[str]:
    """The wire names of the fields allowed at ``loc``, for "did you mean" hints."""
    current: Any = model
    for part in loc:
        current = _unwrap(current)
        if isinstance(part, int):
            args = typing.get_args(current)
            current = args[0] if args else None
        elif isinstance(current, type) and issubclass(current, BaseModel):
            field = next((f for n, f in current.model_fields.items() if part in (n, f.alias)), None)
            current = field.annotation if field is not None else None
        else:
            return []
    current = _unwrap(current)
    if isinstance(current, type) and issubclass(current, BaseModel):
        return [field.alias or name for name, field in current.model_fields.items()]
    return []


def _unwrap(annotation: Any) -> Any:
    """``X | None`` -> ``X``; anything else unchanged."""
    if isinstance(annotation, types.UnionType) or typing.get_origin(annotation) is typing.Union:
        rest = [arg for arg in typing.get_args(annotation) if arg is not type(None)]
        return rest[0] if len(rest) == 1 else annotation
    return annotation
