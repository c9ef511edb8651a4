"""Kubernetes quantities as integer milli-units, the way the HPA controller reads them.

The HPA does all its arithmetic on ``Quantity.MilliValue()``, which rounds *up* to the
next milli-unit: "1.0001m" is 2 milli-units, "100Mi" is 104857600000. We parse exactly
(``fractions.Fraction``) and round up once, so no float ever touches a quantity.
"""

from __future__ import annotations

import math
import re
from fractions import Fraction
from functools import lru_cache

_SUFFIXES: dict[str, Fraction] = {
    "": Fraction(1),
    "n": Fraction(1, 10**9),
    "u": Fraction(1, 10**6),
    "m": Fraction(1, 10**3),
    "k": Fraction(10**3),
    "M": Fraction(10**6),
    "G": Fraction(10**9),
    "T": Fraction(10**12),
    "P": Fraction(10**15),
    "E": Fraction(10**18),
    "Ki": Fraction(2**10),
    "Mi": Fraction(2**20),
    "Gi": Fraction(2**30),
    "Ti": Fraction(2**40),
    "Pi": Fraction(2**50),
    "Ei": Fraction(2**60),
}

_QUANTITY = re.compile(
    r"^(?P<number>[+-]?(?:\d+\.?\d*|\.\d+))"
    r"(?:(?P<suffix>Ki|Mi|Gi|Ti|Pi|Ei|[numkMGTPE])|[eE](?P<exponent>[+-]?\d+))?$"
)

# Largest exponent we accept; the API server refuses far smaller ones already.
_MAX_EXPONENT = 30

# DecimalSI suffixes by power of 1000, for canonical output.
_DECIMAL_OUT = ("", "k", "M", "G", "T", "P", "E")


class QuantityError(ValueError):
    """A string that is not a Kubernetes quantity."""


@lru_cache(maxsize=4096)
def parse_quantity(text: str) -> Fraction:
    """Return the exact value of a quantity string such as "250m", "1.5Gi" or "2e3"."""
    match = _QUANTITY.match(text.strip()) if isinstance(text, str) else None
    if match is None:
        raise QuantityError(f"{text!r} is not a Kubernetes quantity (e.g. 500m, 2, 1.5Gi)")
    number = Fraction(match["number"])
    exponent = match["exponent"]
    if exponent is not None:
        power = int(exponent)
        if abs(power) > _MAX_EXPONENT:
            raise QuantityError(f"{text!r}: exponent out of range")
        return number * Fraction(10) ** power
    return number * _SUFFIXES[match["suffix"] or ""]


def to_milli(value: str | int | float) -> int:
    """A quantity string or plain number as milli-units, rounded up like MilliValue()."""
    if isinstance(value, bool):
        raise QuantityError(f"{value!r} is not a quantity")
    if isinstance(value, int):
        return value * 1000
    if isinstance(value, float):
        if not math.isfinite(value):
            raise QuantityError(f"{value!r} is not a finite quantity")
        exact = Fraction(repr(value)) * 1000
        return math.ceil(exact)
    if not isinstance(value, str):  # e.g. a list from a malformed document
        raise QuantityError(f"{value!r} is not a quantity")
    return _text_to_milli(value)


@lru_cache(maxsize=65536)
def _text_to_milli(text: str) -> int:
    """Cached: snapshots repeat the same few request and usage strings many times."""
    return math.ceil(parse_quantity(text) * 1000)


def format_milli(milli: int) -> str:
    """Canonical DecimalSI form of a milli-value, as ``resource.NewMilliQuantity`` prints it.

    450 -> "450m", 1000 -> "1", 1500 -> "1500m", 2_000_000 -> "2k".
    """
    if milli % 1000:
        return f"{milli}m"
    whole = milli // 1000
    power = 0
    while whole and whole % 1000 == 0 and power < len(_DECIMAL_OUT) - 1:
        whole //= 1000
        power += 1
    return f"{whole}{_DECIMAL_OUT[power]}"
