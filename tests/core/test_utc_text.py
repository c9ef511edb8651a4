"""The core's own RFC 3339 formatter agrees with the standard library's."""

from __future__ import annotations

from datetime import UTC, datetime

from hypothesis import given
from hypothesis import strategies as st

from autoscaler.core.rules import utc_text


@given(st.floats(min_value=-62_135_596_800, max_value=253_402_300_799, allow_nan=False))
def test_utc_text_matches_datetime(timestamp: float) -> None:
    moment = datetime.fromtimestamp(int(timestamp // 1), UTC)
    # %Y does not pad years before 1000 on glibc; RFC 3339 wants four digits.
    expected = f"{moment.year:04d}-" + moment.strftime("%m-%dT%H:%M:%SZ")
    assert utc_text(timestamp) == expected


def test_leap_days_and_the_epoch() -> None:
    assert utc_text(0) == "1970-01-01T00:00:00Z"
    assert utc_text(951_782_400) == "2000-02-29T00:00:00Z"
    assert utc_text(1_796_677_745.9) == datetime.fromtimestamp(1_796_677_745, UTC).strftime(
        "%Y-%m-%dT%H:%M:%SZ"
    )
