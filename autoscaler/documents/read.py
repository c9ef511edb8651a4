"""Typed readers for hand-parsed documents: each names the field path it failed at."""

from __future__ import annotations

import math
from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Any

from autoscaler.core.quantity import QuantityError, to_milli


class DocumentError(ValueError):
    """A document that is not valid; the message names the field and the problem."""


def fail(path: str, message: str, field: str = "") -> DocumentError:
    """The error for ``path`` (plus ``.field``): paths are joined only when something fails."""
    return DocumentError(f"{path}.{field}: {message}" if field else f"{path}: {message}")


def mapping(value: Any, path: str, field: str = "") -> Mapping[str, Any]:
    if type(value) is dict:  # the fast path: nearly every value is a plain dict
        return value
    if value is None:
        return {}
    if not isinstance(value, Mapping):
        raise fail(path, f"expected a mapping, got {type(value).__name__}", field)
    return value


def listing(value: Any, path: str, field: str = "") -> list[Any]:
    if type(value) is list:
        return value
    if value is None:
        return []
    if not isinstance(value, list):
        raise fail(path, f"expected a list, got {type(value).__name__}", field)
    return value


def integer(value: Any, path: str, field: str = "", *, minimum: int | None = None) -> int:
    if type(value) is int and (minimum is None or value >= minimum):
        return value
    if isinstance(value, float) and value.is_integer():
        value = int(value)
    if isinstance(value, bool) or not isinstance(value, int):
        raise fail(path, f"expected an integer, got {value!r}", field)
    result: int = value
    if minimum is not None and result < minimum:
        raise fail(path, f"must be at least {minimum} (got {result})", field)
    return result


def number(value: Any, path: str, field: str = "", *, minimum: float = 0.0) -> float:
    if isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(value):
        raise fail(path, f"expected a number, got {value!r}", field)
    if value < minimum:
        raise fail(path, f"must be at least {minimum:g} (got {value})", field)
    return float(value)


def string(value: Any, path: str, field: str = "") -> str:
    if type(value) is str and value:
        return value
    if not isinstance(value, str) or not value:
        raise fail(path, f"expected a non-empty string, got {value!r}", field)
    return value


class MilliUnits(dict[str | int | float, int]):
    """Quantity -> milli-units, converting each distinct quantity once.

    Snapshots repeat a handful of quantities ("500m", "256Mi") thousands of times, and a
    hit is one dict lookup. Bounded: past ``MAX_KEPT`` quantities, new ones are converted
    but not kept.
    """

    MAX_KEPT = 100_000

    def __missing__(self, quantity: str | int | float) -> int:
        value = to_milli(quantity)
        if len(self) < self.MAX_KEPT:
            self[quantity] = value
        return value


MILLI_UNITS = MilliUnits()  # shared by both snapshot parsers


def milli(value: Any, path: str, field: str = "") -> int:
    try:
        if type(value) in (str, int, float):  # hashable, and never a bool (True == 1)
            return MILLI_UNITS[value]
        return to_milli(value)
    except QuantityError as exc:
        raise fail(path, str(exc), field) from None


def time(value: Any, path: str, field: str = "") -> float:
    """RFC 3339 string or seconds since the epoch (YAML timestamps arrive as datetimes)."""
    kind = type(value)
    if kind is int or (kind is float and math.isfinite(value)):
        return float(value)
    if isinstance(value, datetime):
        if value.tzinfo is None:  # YAML: a timestamp without a zone is UTC
            value = value.replace(tzinfo=UTC)
        stamp: float = value.timestamp()
        return stamp
    if isinstance(value, str):
        try:
            parsed = datetime.fromisoformat(value.replace("z", "Z"))
        except ValueError:
            raise fail(
                path, f"expected RFC 3339 time or epoch seconds, got {value!r}", field
            ) from None
        if parsed.tzinfo is None:
            raise fail(path, f"time {value!r} has no timezone (add Z)", field)
        return parsed.timestamp()
    return number(value, path, field, minimum=-math.inf)


def optional_time(value: Any, path: str, field: str = "") -> float | None:
    return None if value is None else time(value, path, field)
