"""Kubernetes quantities (``"500m"``, ``"1.5"``, ``"512Mi"``, ``"1e3"``): syntax and value.

Policies keep quantities as the strings written (numbers become strings) so that the
wire form survives a round trip; the decision core converts them to milli-units.
Here we only need to check the syntax, and the sign and size for validation rules.
"""

from __future__ import annotations

import math
from fractions import Fraction
from typing import Final

from autoscaler.core.quantity import QuantityError, parse_quantity

_MAX_QUANTITY_LENGTH: Final = 64


def as_quantity(value: object) -> object:
    """Accept a quantity string or a plain YAML number, and keep it as a string."""
    if isinstance(value, bool):
        raise ValueError("must be a quantity such as 500m, 1.5 or 512Mi (got a boolean)")
    if isinstance(value, int):
        return str(value)
    if isinstance(value, float):
        if not math.isfinite(value):
            raise ValueError(f"must be a finite quantity (got {value})")
        value = repr(value)  # checked below: 1e300 is finite but beyond what we read
    if isinstance(value, str) and (len(value) > _MAX_QUANTITY_LENGTH or not _is_quantity(value)):
        shown = value if len(value) <= _MAX_QUANTITY_LENGTH else value[:20] + "..."
        raise ValueError(f'must be a quantity such as 500m, 1.5, 512Mi or 1e3 (got "{shown}")')
    return value  # other types fail the strict ``str`` check with a type message


def _is_quantity(text: str) -> bool:
    """Kubernetes quantity syntax, exactly as the decision core will read it."""
    if text != text.strip():
        return False
    try:
        parse_quantity(text)
    except QuantityError:
        return False
    return True


def quantity_value(quantity: str) -> Fraction:
    """The exact value of an already syntax-checked quantity: ``"50m"`` -> 1/20."""
    return parse_quantity(quantity)


def quantity_sign(quantity: str) -> int:
    """-1, 0 or 1: the sign of an already syntax-checked quantity string."""
    value = parse_quantity(quantity)
    return 0 if value == 0 else (1 if value > 0 else -1)
