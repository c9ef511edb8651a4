"""Quantities: parsed exactly, rounded up to milli-units like Quantity.MilliValue()."""

import pytest

from autoscaler.core.quantity import QuantityError, format_milli, to_milli


@pytest.mark.parametrize(
    ("text", "milli"),
    [
        pytest.param("500m", 500, id="milli"),
        pytest.param("1", 1000, id="whole"),
        pytest.param("1.5", 1500, id="decimal"),
        pytest.param(".5", 500, id="leading-dot"),
        pytest.param("2.", 2000, id="trailing-dot"),
        pytest.param("+3", 3000, id="plus-sign"),
        pytest.param("2k", 2_000_000, id="kilo"),
        pytest.param("1M", 10**9, id="mega"),
        pytest.param("512Mi", 512 * 2**20 * 1000, id="mebi"),
        pytest.param("1Ki", 1_024_000, id="kibi"),
        pytest.param("1e3", 1_000_000, id="exponent"),
        pytest.param("1E-3", 1, id="negative-exponent"),
        pytest.param("100n", 1, id="nano-rounds-up"),
        pytest.param("1.0001m", 2, id="fraction-of-milli-rounds-up"),
        pytest.param("250u", 1, id="micro-rounds-up"),
        pytest.param(" 3 ", 3000, id="surrounding-space"),
    ],
)
def test_parses_quantity_strings_to_milli_units_rounding_up(text: str, milli: int) -> None:
    assert to_milli(text) == milli


@pytest.mark.parametrize(
    ("number", "milli"),
    [(2, 2000), (0.25, 250), (0.0001, 1), (0, 0)],
)
def test_accepts_plain_numbers(number: float, milli: int) -> None:
    assert to_milli(number) == milli


@pytest.mark.parametrize("text", ["", "abc", "1.2.3", "5 m", "1Kb", "m", "1e", "--1", "1e999"])
def test_rejects_what_is_not_a_quantity(text: str) -> None:
    with pytest.raises(QuantityError):
        to_milli(text)


@pytest.mark.parametrize("value", [True, float("nan"), float("inf")])
def test_rejects_booleans_and_non_finite_numbers(value: object) -> None:
    with pytest.raises(QuantityError):
        to_milli(value)  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("milli", "text"),
    [
        (450, "450m"),
        (1000, "1"),
        (1500, "1500m"),
        (2_000_000, "2k"),
        (0, "0"),
        (104857600000, "104857600"),
    ],
)
def test_formats_like_new_milli_quantity_decimal_si(milli: int, text: str) -> None:
    assert format_milli(milli) == text
