"""Numbers in the paths' explanations read in the metric's own units, exactly."""

from __future__ import annotations

import pytest

from autoscaler.core.paths import units


@pytest.mark.parametrize(
    ("milli", "text"),
    [
        (950_000, "950"),
        (56_250, "56.25"),
        (500, "0.5"),
        (1, "0.001"),
        (0, "0"),
        (1_234_500, "1,234.5"),
        (2_000_000_000, "2,000,000"),
        (-1_500, "-1.5"),
    ],
)
def test_units_are_exact_and_never_scientific(milli: int, text: str) -> None:
    assert units(milli) == text
