"""Label selectors, in one place: the requirement type, parsing, matching and rendering.

``labelSelector`` query strings are parsed the way ``labels.Parse`` in apimachinery does.

The HPA sends ``Selector.String()`` (requirements sorted by key, ``in`` values sorted),
other clients may send any form of the grammar::

    requirement ("," requirement)*
    requirement = [!]KEY | KEY (=|==|!=) VALUE | KEY (in|notin) (V1, V2, ...) | KEY (>|<) INT

Keys and values are validated as Kubernetes label keys and values, so a value can never
carry a quote, brace or backslash into PromQL (the templates escape anyway: two fences).
``>``/``<`` parse but are refused: PromQL has no numeric label comparison. Results are
:class:`Requirement` values (``=``/``==`` become a one-value
``In``, ``!=`` a one-value ``NotIn``) and :func:`canonical` gives the sorted string that
keys the adapter's cache, so ``a=b,c in (y,x)`` and ``c in (x,y), a==b`` share an entry.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Final

from autoscaler.policy.model import LabelSelector

_NAME: Final = re.compile(r"[A-Za-z0-9]([-A-Za-z0-9_.]*[A-Za-z0-9])?\Z")
_PREFIX: Final = re.compile(r"[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*\Z")
_INTEGER: Final = re.compile(r"-?[0-9]+\Z")
_TOKEN: Final = re.compile(r"\s*(==|!=|[=!(),<>]|[^\s=!(),<>]+)")
_MAX_LENGTH: Final = 4096


@dataclass(frozen=True, slots=True)
class Requirement:
    """One selector requirement: ``key`` ``operator`` (In/NotIn/Exists/DoesNotExist) ``values``."""

    key: str
    operator: str
    values: tuple[str, ...] = ()


def requirements(selector: LabelSelector | None) -> tuple[Requirement, ...]:
    """A Kubernetes LabelSelector as requirements (``matchLabels`` become single-value In)."""
    if selector is None:
        return ()
    found = [Requirement(k, "In", (v,)) for k, v in (selector.match_labels or {}).items()]
    for expression in selector.match_expressions or ():
        found.append(
            Requirement(expression.key, expression.operator, tuple(expression.values or ()))
        )
    return tuple(found)


def matches(requirements: tuple[Requirement, ...], labels: dict[str, str]) -> bool:
    """Whether ``labels`` satisfy every requirement (Kubernetes label selector semantics)."""
    for r in requirements:
        present = r.key in labels
        if r.operator == "In" and not (present and labels[r.key] in r.values):
            return False
        if r.operator == "NotIn" and present and labels[r.key] in r.values:
            return False
        if r.operator == "Exists" and not present:
            return False
        if r.operator == "DoesNotExist" and present:
            return False
    return True


class SelectorError(ValueError):
    """A selector that does not parse; the message is one line (400 BadRequest)."""


def parse_selector(text: str) -> tuple[Requirement, ...]:
    """The requirements of ``text``, sorted by key; ``""`` selects everything."""
    if len(text) > _MAX_LENGTH:
        raise SelectorError(f"unable to parse labelSelector: longer than {_MAX_LENGTH} characters")
    tokens = _tokens(text)
    found: list[Requirement] = []
    position = 0
    while position < len(tokens):
        requirement, position = _requirement(tokens, position, text)
        found.append(requirement)
        if position < len(tokens):
            if tokens[position] != ",":
                raise _error(text, f"found '{tokens[position]}', expected: ','")
            position += 1
            if position == len(tokens):
                raise _error(text, "found end of string, expected: identifier")
    return tuple(sorted(found, key=lambda r: (r.key, r.operator, r.values)))


def canonical(requirements: tuple[Requirement, ...]) -> str:
    """The ``Selector.String()`` form: sorted requirements, sorted ``in`` values."""
    parts = []
    for r in requirements:
        values = sorted(set(r.values))
        if r.operator == "Exists":
            parts.append(r.key)
        elif r.operator == "DoesNotExist":
            parts.append("!" + r.key)
        elif len(values) == 1:
            parts.append(f"{r.key}{'=' if r.operator == 'In' else '!='}{values[0]}")
        else:
            parts.append(f"{r.key} {'in' if r.operator == 'In' else 'notin'} ({','.join(values)})")
    return ",".join(sorted(parts))


def _tokens(text: str) -> list[str]:
    tokens: list[str] = []
    position = 0
    while position < len(text):
        match = _TOKEN.match(text, position)
        if match is None:  # only trailing whitespace is left
            break
        tokens.append(match[1])
        position = match.end()
    return tokens


def _requirement(tokens: list[str], i: int, text: str) -> tuple[Requirement, int]:
    if tokens[i] == "!":
        key = _key(tokens, i + 1, text)
        return Requirement(key, "DoesNotExist"), i + 2
    key = _key(tokens, i, text)
    i += 1
    if i == len(tokens) or tokens[i] == ",":
        return Requirement(key, "Exists"), i
    operator = tokens[i]
    if operator in ("=", "==", "!="):
        value = tokens[i + 1] if i + 1 < len(tokens) and tokens[i + 1] != "," else ""
        _value(value, text)
        step = 2 if value else 1
        return Requirement(key, "In" if operator != "!=" else "NotIn", (value,)), i + step
    if operator in ("in", "notin"):
        values, i = _set(tokens, i + 1, text)
        return Requirement(key, "In" if operator == "in" else "NotIn", values), i
    if operator in ("<", ">"):
        value = tokens[i + 1] if i + 1 < len(tokens) else ""
        if not _INTEGER.match(value):
            raise _error(text, f"for '{operator}' operator, the value must be an integer")
        raise _error(text, f"operator '{operator}' is not supported for Prometheus metrics")
    raise _error(text, f"found '{operator}', expected: in, notin, =, ==, !=, gt, lt")


def _set(tokens: list[str], i: int, text: str) -> tuple[tuple[str, ...], int]:
    if i >= len(tokens) or tokens[i] != "(":
        raise _error(
            text,
            "found end of string, expected: '('"
            if i >= len(tokens)
            else f"found '{tokens[i]}', expected: '('",
        )
    values: list[str] = []
    i += 1
    while True:
        if i >= len(tokens):
            raise _error(text, "found end of string, expected: ')'")
        token = tokens[i]
        if token == ")":
            break
        if token == ",":
            values.append("")  # an empty value between commas, as the Go parser allows
            i += 1
            continue
        _value(token, text)
        values.append(token)
        i += 1
        if i < len(tokens) and tokens[i] not in (",", ")"):
            raise _error(text, f"found '{tokens[i]}', expected: ',' or ')'")
        if i < len(tokens) and tokens[i] == ",":
            i += 1
            if i < len(tokens) and tokens[i] == ")":
                values.append("")
    if not values:
        raise _error(text, "for 'in', 'notin' operators, values set can't be empty")
    return tuple(values), i + 1


def _key(tokens: list[str], i: int, text: str) -> str:
    if i >= len(tokens):
        raise _error(text, "found end of string, expected: identifier")
    key = tokens[i]
    prefix, slash, name = key.rpartition("/")
    if slash and (not prefix or len(prefix) > 253 or not _PREFIX.match(prefix)):
        raise _error(text, f"invalid label key {key!r}: prefix must be a DNS subdomain")
    if len(name) > 63 or not _NAME.match(name):
        raise _error(
            text,
            f"invalid label key {key!r}: name must be 63 characters or less, alphanumeric "
            "at both ends, with '-', '_' or '.' between",
        )
    return key


def _value(value: str, text: str) -> None:
    if value and (len(value) > 63 or not _NAME.match(value)):
        raise _error(
            text,
            f"invalid label value {value!r}: must be 63 characters or less, empty or "
            "alphanumeric at both ends, with '-', '_' or '.' between",
        )


def _error(text: str, reason: str) -> SelectorError:
    shown = text if len(text) <= 200 else text[:200] + "..."
    return SelectorError(f"unable to parse labelSelector {shown!r}: {reason}")
