"""A call's local CDR times placed in UTC across clock changes (rules.outcomes.placed_times)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

from hypothesis import example, given
from hypothesis import strategies as st

from rules.outcomes import placed_answer, placed_times


def readings(instant: datetime, zone: str) -> list[datetime]:
    """What a CDR writer's local text of `instant` can be read back as, earliest first."""
    naive = instant.astimezone(ZoneInfo(zone)).replace(tzinfo=None)
    return sorted(
        {naive.replace(tzinfo=ZoneInfo(zone), fold=fold).astimezone(UTC) for fold in (0, 1)}
    )


# Each zone with one of its 2026 clock changes, around which a local time can be read two
# ways (the zone and its change drawn together, so that every example meets one).
CHANGES = [
    ("Europe/London", datetime(2026, 10, 25, 1, 0, tzinfo=UTC)),  # autumn
    ("Europe/London", datetime(2026, 3, 29, 1, 0, tzinfo=UTC)),  # spring
    ("America/New_York", datetime(2026, 11, 1, 6, 0, tzinfo=UTC)),  # autumn
    ("Australia/Lord_Howe", datetime(2026, 4, 4, 15, 0, tzinfo=UTC)),  # autumn, 30 minutes
    ("Australia/Sydney", datetime(2026, 4, 4, 16, 0, tzinfo=UTC)),  # autumn
    ("America/Santiago", datetime(2026, 4, 5, 3, 0, tzinfo=UTC)),  # autumn, at midnight
]


@given(st.sampled_from(CHANGES), st.integers(-7200, 7200), st.integers(0, 5400), st.integers(-1, 1))
def test_a_call_s_start_and_end_are_placed_by_its_duration(
    change: tuple[str, datetime], offset_s: int, duration_s: int, rounding_s: int
) -> None:
    zone, moment = change
    start = moment + timedelta(seconds=offset_s)
    end = start + timedelta(seconds=duration_s)
    # Asterisk's Duration may be a second off the times' difference (rounding).
    duration = max(0, duration_s + rounding_s)
    placed = placed_times(readings(start, zone), readings(end, zone), duration, end)
    assert placed == (start, end)


@given(
    st.sampled_from(CHANGES), st.integers(-7200, 7200), st.integers(0, 5400), st.integers(-900, 900)
)
# London: 00:50 BST (23:50 UTC) to 01:10 GMT (01:10 UTC) is 4,800 s; the event, on a clock
# 10 minutes behind, at 01:00 UTC. The end that fits came after the event and was dropped:
# the call lasted 20 minutes.
@example(CHANGES[0], -4200, 4800, -600)
def test_an_event_clock_off_by_minutes_never_reverses_or_stretches_a_call(
    change: tuple[str, datetime], offset_s: int, duration_s: int, skew_s: int
) -> None:
    # The listener's clock (no Timestamp header) may be behind Asterisk's: the reading that
    # fits the call's duration was dropped, and a call ended 30 minutes before it started.
    zone, moment = change
    start = moment + timedelta(seconds=offset_s)
    end = start + timedelta(seconds=duration_s)
    event = end + timedelta(seconds=skew_s)
    placed_start, placed_end = placed_times(
        readings(start, zone), readings(end, zone), duration_s, event
    )
    assert placed_start is not None and placed_end is not None
    assert placed_end - placed_start == timedelta(seconds=duration_s)
    if skew_s >= 0:  # the event after the call: exact, whichever readings the times have
        assert (placed_start, placed_end) == (start, end)


def test_a_duration_of_any_size_and_an_answer_without_an_end() -> None:
    at = datetime(2026, 7, 1, 9, 0, tzinfo=UTC)
    assert placed_times([at], [at], 10**400) == (at, at)  # a float overflowed
    # 01:50 BST start, answer at 01:10 GMT (after it), no end: the answer is not before it.
    start = datetime(2026, 10, 25, 0, 50, tzinfo=UTC)
    answers = [datetime(2026, 10, 25, 0, 10, tzinfo=UTC), datetime(2026, 10, 25, 1, 10, tzinfo=UTC)]
    assert placed_answer(answers, start, None, None) == answers[1]


def test_an_answer_is_placed_within_its_call() -> None:
    # 01:11:48 to 01:15:34 in London's repeated hour, with no Duration: the start takes its
    # later reading (01:11:48 UTC), and the answer, written 01:11:48 too, was placed by its
    # billable seconds an hour before it.
    start = datetime(2026, 10, 25, 1, 11, 48, tzinfo=UTC)
    end = datetime(2026, 10, 25, 1, 15, 34, tzinfo=UTC)
    answers = [start - timedelta(hours=1), start]
    assert placed_answer(answers, start, end, 3826) == start
    # Without billable seconds, the first reading after the start.
    assert placed_answer(answers, start - timedelta(hours=1), end, None) == answers[0]
    # Alone, as any time: the later reading not after the event.
    assert placed_answer(answers, None, None, None) == answers[1]


def test_without_a_duration_the_later_readings_are_taken_and_never_reversed() -> None:
    london = ZoneInfo("Europe/London")
    twice = [datetime(2026, 10, 25, 0, 30, tzinfo=UTC), datetime(2026, 10, 25, 1, 30, tzinfo=UTC)]
    assert placed_times(twice, [], None) == (twice[1], None)
    # An end read before the second 01:30 bounds the start to the first one.
    end = datetime(2026, 10, 25, 0, 45, tzinfo=UTC)
    assert placed_times(twice, [end], None) == (twice[0], end)
    # The event that reported the call bounds its end.
    assert placed_times([], twice, None, not_after=end) == (None, twice[0])
    once = [datetime(2026, 7, 1, 9, 0, tzinfo=london).astimezone(UTC)]
    assert placed_times(once, once, 0) == (once[0], once[0])
    assert placed_times([], [], None) == (None, None)
