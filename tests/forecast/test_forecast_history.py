"""The totals history: downsampled into buckets, bounded in size and time, and its
byte form read back exactly (or refused with one line)."""

from __future__ import annotations

import numpy as np
import pytest

from autoscaler.forecast.history import COARSE_STEP, FINE_STEP, TotalsHistory

T0 = 1_700_000_100.0  # on a quarter-hour boundary (1_700_000_100 = 1_888_889 x 900)
DAY = 86_400.0
assert T0 % COARSE_STEP == 0


def test_buckets_hold_the_mean_of_their_samples() -> None:
    history = TotalsHistory(DAY)
    start = T0
    for i, value in enumerate((100.0, 200.0, 300.0, 400.0)):
        history.add(start + 15 * i, value)  # four syncs in one minute
    history.add(start + 60, 1000.0)
    fine = history.fine.points()
    assert list(fine.values) == [250.0, 1000.0]
    assert fine.times[0] == start + FINE_STEP / 2
    coarse = history.coarse.points()
    assert list(coarse.values) == [pytest.approx(400.0)]  # all five in one 15-minute bucket


def test_size_is_fixed_by_the_lookback_and_old_samples_fall_out() -> None:
    history = TotalsHistory(2 * DAY)
    size = history.nbytes()
    for i in range(int(5 * DAY / 15)):  # five days of syncs every 15 s
        history.add(T0 + 15 * i, float(i))
    assert history.nbytes() == size == (1440 + 192) * 6
    assert history.span() <= 2 * DAY + COARSE_STEP
    assert history.fine.points().times[0] >= T0 + 4 * DAY - FINE_STEP
    # A sample older than the ring is dropped, not written over a newer bucket.
    history.add(T0, 1e9)
    assert history.coarse.points().values.max() < 1e9


def test_a_gap_longer_than_the_ring_clears_it() -> None:
    history = TotalsHistory(DAY)
    history.add(T0, 5.0)
    history.add(T0 + 3 * DAY, 7.0)
    assert list(history.fine.points().values) == [7.0]
    assert list(history.coarse.points().values) == [7.0]


def test_byte_form_round_trips() -> None:
    history = TotalsHistory(14 * DAY)
    rng = np.random.default_rng(0)
    for i in range(5000):
        history.add(T0 + 60 * i, float(rng.uniform(0, 1e6)))
    data = history.to_bytes()
    back = TotalsHistory.from_bytes(data)
    assert back.lookback == history.lookback
    for mine, theirs in ((history.fine, back.fine), (history.coarse, back.coarse)):
        assert mine.newest == theirs.newest
        assert np.array_equal(mine.means, theirs.means)
        assert np.array_equal(mine.counts, theirs.counts)
    assert data[0] == 1 and len(data) < history.nbytes()


@pytest.mark.parametrize(
    ("data", "message"),
    [
        (b"", "history: empty"),
        (b"\x07abc", "history: format version 7, this release reads 1"),
        (b"\x01not zlib", "history: unreadable"),
    ],
)
def test_unreadable_bytes_are_one_line_errors(data: bytes, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        TotalsHistory.from_bytes(data)


def test_truncated_bytes_are_refused() -> None:
    history = TotalsHistory(DAY)
    history.add(T0, 1.0)
    import zlib

    payload = zlib.decompress(history.to_bytes()[1:])
    with pytest.raises(ValueError, match="history: unreadable"):
        TotalsHistory.from_bytes(b"\x01" + zlib.compress(payload[:-10]))


def test_a_new_lookback_keeps_what_fits() -> None:
    history = TotalsHistory(14 * DAY)
    for i in range(int(3 * DAY / 60)):
        history.add(T0 + 60 * i, 10.0)
    shorter = history.with_lookback(DAY)
    assert shorter.lookback == DAY
    assert shorter.span() <= DAY + COARSE_STEP
    assert list(shorter.fine.points().values) == list(history.fine.points().values)
