"""PromQL query templates, and label selectors rendered as PromQL label matchers.

A metric declaration's ``query`` is PromQL with placeholders ``{name}``:

``{namespace}``
    The namespace of the target being scaled (for the adapter: of the request).
``{selector}``
    The metric identifier's label selector as PromQL label matchers, e.g.
    ``queue="jobs", region=~"eu|us"``; empty when the selector is empty. It must stand
    inside a matcher list: ``metric{job="x", {selector}}`` or ``metric{{selector}}``
    (PromQL accepts the trailing comma the first form leaves when it is empty).
``{object_kind}``, ``{object_name}``
    Object metrics only: the described object's kind (``Service``) and name.

Value placeholders (all but ``{selector}``) must stand inside a double-quoted PromQL
string (``namespace="{namespace}"``); inside a regex matcher's string
(``pod=~"{object_name}-.*"``) the value is regex-escaped first, so it matches literally.
Any ``{word}`` is a placeholder, so an unknown one is an error when the declaration is
loaded, not a surprise at query time; valid PromQL never contains ``{word}`` otherwise
(a matcher needs an operator), so no escape syntax is needed. ``#`` comments are copied
as written.

Why the rules are this strict: selector values arrive from policies and, through the
external-metrics adapter, from HTTP requests. Every value is rendered as a PromQL
string literal (``\\``, ``"`` and control characters escaped), regex values are
RE2-escaped, and label names must match ``[a-zA-Z_][a-zA-Z0-9_]*`` without the reserved
``__`` prefix (so a selector cannot pick another metric through ``__name__``). No input
can end a string or a matcher list early. Selectors render sorted, so equal selectors
give byte-identical queries, which the batched source runs once.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Final

from autoscaler.selectors import Requirement

NAMESPACE: Final = "namespace"
SELECTOR: Final = "selector"
OBJECT_KIND: Final = "object_kind"
OBJECT_NAME: Final = "object_name"
PLACEHOLDERS: Final = (NAMESPACE, SELECTOR, OBJECT_KIND, OBJECT_NAME)
OBJECT_PLACEHOLDERS: Final = frozenset({OBJECT_KIND, OBJECT_NAME})

OPERATORS: Final = ("In", "NotIn", "Exists", "DoesNotExist")

_LABEL_NAME: Final = re.compile(r"[a-zA-Z_][a-zA-Z0-9_]*\Z")
_PLACEHOLDER: Final = re.compile(r"\{([A-Za-z_][A-Za-z0-9_]*)\}")
_BY_CLAUSE: Final = re.compile(r"\bby\s*\(([^)]*)\)")
_PLAIN_SELECTOR: Final = re.compile(r"\s*[A-Za-z_:][A-Za-z0-9_:]*\s*(\{[^{}]*\})?\s*\Z")
_REGEX_OPERATOR: Final = re.compile(r"[=!]~\s*\Z")
_STRING_ESCAPES: Final = {"\\": "\\\\", '"': '\\"', "\n": "\\n", "\r": "\\r", "\t": "\\t"}


class PromQLError(ValueError):
    """A template, selector or value that cannot be rendered safely; one line."""


def quote(value: str) -> str:
    """``value`` as a double-quoted PromQL string literal that reads back exactly."""
    return '"' + "".join(_escape_char(c) for c in value) + '"'


def _escape_char(char: str) -> str:
    if char in _STRING_ESCAPES:
        return _STRING_ESCAPES[char]
    if ord(char) < 0x20 or ord(char) == 0x7F:
        return f"\\x{ord(char):02x}"
    return char


def regex_escape(value: str) -> str:
    """``value`` as an RE2 pattern matching exactly that text.

    Every ASCII character other than a letter, digit or ``_`` gets a backslash: RE2
    reads ``\\`` + ASCII punctuation as the character itself, and refuses ``\\`` before
    non-ASCII, which therefore stays as is.
    """
    return "".join("\\" + c if c < "\x80" and not (c.isalnum() or c == "_") else c for c in value)


def render_matchers(selector: Iterable[Requirement]) -> str:
    """PromQL label matchers for ``selector``, sorted, joined by ``", "``.

    In with one value is ``k="v"``, with several ``k=~"a|b"``; NotIn likewise with
    ``!=``/``!~`` (true when the label is absent, as Kubernetes' notin); Exists is
    ``k!=""`` and DoesNotExist ``k=""`` (Prometheus treats an empty label as absent).
    """
    rendered = {_matcher(requirement) for requirement in selector}
    return ", ".join(sorted(rendered))


def _matcher(requirement: Requirement) -> str:
    key, operator, values = requirement.key, requirement.operator, requirement.values
    if not _LABEL_NAME.match(key) or key.startswith("__"):
        raise PromQLError(
            f"selector key {quote(key)} is not a Prometheus label name "
            "([a-zA-Z_][a-zA-Z0-9_]*, not starting with __)"
        )
    if operator in ("Exists", "DoesNotExist"):
        if values:
            raise PromQLError(f"selector key {quote(key)}: {operator} takes no values")
        return f'{key}!=""' if operator == "Exists" else f'{key}=""'
    if operator not in ("In", "NotIn"):
        raise PromQLError(
            f"selector key {quote(key)}: unknown operator {quote(operator)} "
            f"(allowed: {', '.join(OPERATORS)})"
        )
    if not values:
        raise PromQLError(f"selector key {quote(key)}: {operator} needs at least one value")
    unique = sorted(set(values))
    if len(unique) == 1:
        return f"{key}{'=' if operator == 'In' else '!='}{quote(unique[0])}"
    pattern = "|".join(regex_escape(value) for value in unique)
    return f"{key}{'=~' if operator == 'In' else '!~'}{quote(pattern)}"


@dataclass(frozen=True, slots=True)
class _Slot:
    name: str
    regex: bool


@dataclass(frozen=True, slots=True)
class Template:
    """A checked query template; :meth:`render` fills it in.

    ``code`` is the template outside strings and comments (for rules such as "a Pods
    query groups by pod"); ``placeholders`` are the names it uses.
    """

    text: str
    parts: tuple[str | _Slot, ...]
    code: str

    @property
    def placeholders(self) -> frozenset[str]:
        return frozenset(p.name for p in self.parts if isinstance(p, _Slot))

    def grouped_by(self) -> frozenset[str]:
        """Every label named in a ``by (...)`` clause of the template."""
        labels: set[str] = set()
        for clause in _BY_CLAUSE.findall(self.code):
            labels.update(label.strip() for label in clause.split(","))
        return frozenset(labels - {""})

    def is_plain_selector(self) -> bool:
        """Whether the template is one series selector, e.g. a recording rule's name."""
        return _PLAIN_SELECTOR.match(self.code) is not None

    def render(
        self,
        *,
        namespace: str = "",
        selector: Iterable[Requirement] = (),
        object_kind: str = "",
        object_name: str = "",
    ) -> str:
        """The query with every placeholder filled in, escaped for where it stands.

        Raises :class:`PromQLError` for a selector that cannot be rendered, or that is
        not empty while the template has no ``{selector}`` to put it in (it would be
        silently ignored otherwise).
        """
        matchers = render_matchers(selector)
        if matchers and SELECTOR not in self.placeholders:
            raise PromQLError("the query has no {selector} placeholder to apply the selector")
        values = {NAMESPACE: namespace, OBJECT_KIND: object_kind, OBJECT_NAME: object_name}
        out: list[str] = []
        for part in self.parts:
            if isinstance(part, str):
                out.append(part)
            elif part.name == SELECTOR:
                out.append(matchers)
            else:
                value = regex_escape(values[part.name]) if part.regex else values[part.name]
                out.append(quote(value)[1:-1])
        return "".join(out)


def compile_template(text: str, *, allowed: Iterable[str] = PLACEHOLDERS) -> Template:
    """Check ``text`` (see the module docstring) and split it at its placeholders."""
    allowed = frozenset(allowed)
    parts: list[str | _Slot] = []
    code: list[str] = []
    literal_start = i = depth = 0
    quote_char = ""
    regex = False
    while i < len(text):
        match = _PLACEHOLDER.match(text, i)
        if match:
            name = match[1]
            _check_slot(name, allowed=allowed, quote_char=quote_char, depth=depth)
            parts += [text[literal_start:i], _Slot(name, regex)]
            i = literal_start = match.end()
            continue
        char = text[i]
        if quote_char:
            if char == "\\" and quote_char != "`":
                i += 1
            elif char == quote_char:
                quote_char = ""
        elif char in "\"'`":
            quote_char, regex = char, bool(_REGEX_OPERATOR.search(text, 0, i))
        elif char == "#":
            end = text.find("\n", i)
            i = len(text) if end < 0 else end
            continue
        else:
            code.append(char)
            depth += {"{": 1, "}": -1}.get(char, 0)
            if depth < 0:
                raise PromQLError(f"unbalanced '}}' at offset {i}")
        i += 1
    if quote_char:
        raise PromQLError(f"unterminated {quote_char}-quoted string")
    if depth:
        raise PromQLError("unbalanced '{': a label matcher list is not closed")
    parts.append(text[literal_start:])
    return Template(text=text, parts=tuple(p for p in parts if p != ""), code="".join(code))


def _check_slot(name: str, *, allowed: frozenset[str], quote_char: str, depth: int) -> None:
    placeholder = "{" + name + "}"
    if name not in PLACEHOLDERS:
        known = ", ".join("{" + p + "}" for p in PLACEHOLDERS)
        raise PromQLError(f"unknown placeholder {placeholder} (known: {known})")
    if name not in allowed:
        raise PromQLError(f"{placeholder} is only available to Object metrics")
    if name == SELECTOR:
        if quote_char or depth == 0:
            raise PromQLError(
                "{selector} must stand inside a label matcher list, "
                'e.g. metric{job="x", {selector}}'
            )
    elif quote_char != '"':
        raise PromQLError(
            f'{placeholder} must stand inside a double-quoted string, e.g. label="{placeholder}"'
        )
