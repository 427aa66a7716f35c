"""How long the law gives to honour a do-not-call request (rules/honouring.py)."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta

import pytest
from hypothesis import given
from hypothesis import strategies as st

from rules.honouring import days_taken, honour_deadline, honour_limit


def _at(day: str, hour: int = 12) -> datetime:
    return datetime.fromisoformat(day).replace(hour=hour, tzinfo=UTC)


def test_ten_us_business_days_skip_weekends_and_federal_holidays() -> None:
    requested = _at("2026-11-01")  # a Sunday
    limit = honour_limit("US", requested)
    assert limit is not None and (limit.days, limit.business) == (10, True)
    # Nov 2-6 (5), Nov 9, 10, 12, 13 (Veterans Day, the 11th, is not one), Nov 16: the 10th.
    deadline = honour_deadline(requested, limit)
    assert deadline == datetime(2026, 11, 17, tzinfo=UTC)
    assert days_taken(requested, deadline - timedelta(microseconds=1), limit) == 10
    assert days_taken(requested, _at("2026-11-01", 23), limit) == 0


@pytest.mark.parametrize(
    ("requested", "deadline"),
    [
        # Counted by hand on a calendar: Thanksgiving (Thu 26 Nov 2026) is skipped.
        ("2026-11-23", "2026-12-09"),
        # Christmas (Fri 25 Dec) and New Year's Day (Fri 1 Jan 2027) are skipped.
        ("2026-12-18", "2027-01-06"),
        # Independence Day 2026 is a Saturday, observed on Friday 3 July: skipped.
        ("2026-07-01", "2026-07-17"),
    ],
)
def test_deadlines_counted_by_hand(requested: str, deadline: str) -> None:
    limit = honour_limit("US", _at(requested))
    assert limit is not None
    assert honour_deadline(_at(requested), limit) == _at(deadline, 0)


def test_before_11_april_2025_the_us_limit_was_30_days() -> None:
    requested = _at("2025-04-10")
    limit = honour_limit("US", requested)
    assert limit is not None and (limit.days, limit.business) == (30, False)
    assert honour_deadline(requested, limit) == datetime(2025, 5, 11, tzinfo=UTC)
    later = honour_limit("US", _at("2025-04-11"))
    assert later is not None and later.business


def test_no_figure_is_known_outside_the_us() -> None:
    assert honour_limit("AU", _at("2026-11-02")) is None
    assert honour_limit(None, _at("2026-11-02")) is None


@given(
    requested=st.datetimes(
        min_value=datetime(2024, 1, 1), max_value=datetime(2030, 12, 31), timezones=st.just(UTC)
    )
)
def test_the_deadline_ends_the_last_of_exactly_the_days_the_limit_gives(
    requested: datetime,
) -> None:
    limit = honour_limit("US", requested)
    assert limit is not None
    deadline = honour_deadline(requested, limit)
    assert deadline.time() == datetime.min.time() and deadline > requested
    last_day: date = (deadline - timedelta(days=1)).date()
    if limit.business:
        assert last_day.weekday() < 5
    assert days_taken(requested, deadline - timedelta(microseconds=1), limit) == limit.days
    assert days_taken(requested, deadline - timedelta(days=1, microseconds=1), limit) < limit.days
