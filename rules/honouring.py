"""How long the law gives to honour a callee's do-not-call request, and whether it was.

The guard honours an opt-out from the next call on once it holds it. What this measures is
the time before it held it: a request taken by an agent and exported from a CRM once a week,
an opt-out list imported with its request dates (`suppress import`, column `requested_at`).
The FCC's limit is the one the field asks to measure against (field.md section 3, item 3).

- US: a company-specific do-not-call request is honoured "within a reasonable time ... not
  to exceed 10 business days from the date of such request" from 11 April 2025, 30 days
  before (47 CFR 64.1200(d)(3); regulations.md 2.1 [S]). The TSR's entity-specific list has
  the same reading at its strictest (regulations.md 2.2).

Business days are Monday to Friday except the US federal holidays (the `holidays` library's
US calendar), counted on UTC dates from the day after the request; the request is late when
it was recorded after the end of the last of them.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from functools import cache

import holidays as holiday_calendars

TEN_BUSINESS_DAYS_FROM = date(2025, 4, 11)


@dataclass(frozen=True, slots=True)
class HonourLimit:
    """The most time a request may take to be honoured: `days` business days (or calendar
    days, when `business` is False) after the day of the request."""

    country: str
    days: int
    business: bool
    citation: str

    def unit(self) -> str:
        return f"{self.days} {'business days' if self.business else 'days'}"

    def describe(self) -> str:
        return f"{self.unit()} ({self.citation})"


_US_NOW = HonourLimit(
    "US", 10, True, "47 CFR 64.1200(d)(3): not over 10 business days, from 2025-04-11"
)
_US_BEFORE = HonourLimit("US", 30, False, "47 CFR 64.1200(d)(3): within 30 days, before 2025-04-11")


# The E.164 prefixes of the countries above: what a store may select on before asking.
LIMITED_PREFIXES = ("+1",)


def honour_limit(country: str | None, requested_at: datetime) -> HonourLimit | None:
    """The limit for a request from a callee under `country`'s law, made at `requested_at`
    (None where no figure is known: elsewhere the packs' laws say "immediately" or give
    none)."""
    if country != "US":
        return None
    return _US_NOW if _utc_day(requested_at) >= TEN_BUSINESS_DAYS_FROM else _US_BEFORE


def honour_deadline(requested_at: datetime, limit: HonourLimit) -> datetime:
    """The instant after which the request is honoured late: the end of its last day."""
    day = _utc_day(requested_at)
    counted = 0
    while counted < limit.days:
        day += timedelta(days=1)
        if not limit.business or _is_business_day(day, limit.country):
            counted += 1
    return datetime.combine(day + timedelta(days=1), time(), UTC)


def days_taken(requested_at: datetime, recorded_at: datetime, limit: HonourLimit) -> int:
    """The days (business days where the limit counts them) from the day after the request to
    the day it was recorded, both ends included: 0 when recorded the same day."""
    start, end = _utc_day(requested_at), _utc_day(recorded_at)
    if end <= start:
        return 0
    if not limit.business:
        return (end - start).days
    return sum(
        _is_business_day(start + timedelta(days=n), limit.country)
        for n in range(1, (end - start).days + 1)
    )


def _utc_day(at: datetime) -> date:
    return at.astimezone(UTC).date()


def _is_business_day(day: date, country: str) -> bool:
    return day.weekday() < 5 and day not in _holidays(country, day.year)


@cache
def _holidays(country: str, year: int) -> frozenset[date]:
    return frozenset(holiday_calendars.country_holidays(country, years=year))
