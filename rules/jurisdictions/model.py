"""The validated form of a jurisdiction pack: frozen values the rule code reads.

Every rule carries `citation` (its source, as regulations.md gives it) and `unverified`
(True where the doc marks the figure [U] or only [S]).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta

from rules.facts import ConsentKind
from rules.models import Purpose

DAYS: tuple[str, ...] = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")

# A permitted interval of one day in seconds since local midnight, half-open [start, end).
Interval = tuple[int, int]


@dataclass(frozen=True, slots=True)
class HoursRule:
    """Permitted calling intervals per weekday in the callee's local time.

    A weekday absent from `days` (or with no intervals) is a day without calls.
    `consent_lifts`: out-of-hours consent (`consent add --kind out-of-hours`) lifts the rule.
    `standard_time`: the UTC offset of a standard time the law names (Mississippi's
    "Central Standard Time", -6 hours). That may mean that clock all year, or the callee's
    local time: the call must be inside the window on both, the strictest reading.
    `automated`: the rule holds automated calls only (a prerecorded or artificial voice).
    `holiday_calendar`/`holiday_subdivision`: on the holidays of that `holidays` library
    calendar the day's intervals are `holiday_hours`, whatever the weekday (Nebraska's
    prerecorded calls: Sundays and holidays 13:00-21:00 only). `holiday_days_after`: the
    day after each of these holidays (by whole name) is one too, where the law's list has a
    day the library's calendar lacks (Nebraska's day after Thanksgiving).
    """

    name: str
    purposes: frozenset[Purpose]
    days: Mapping[str, tuple[Interval, ...]]
    citation: str
    unverified: bool = False
    consent_lifts: bool = False
    standard_time: timedelta | None = None
    automated: bool = False
    holiday_calendar: str = ""
    holiday_subdivision: str = ""
    holiday_hours: tuple[Interval, ...] = ()
    holiday_days_after: tuple[str, ...] = ()

    def allows(self, weekday: int, seconds: float) -> bool:
        # A loop, not any() over a generator: asked for every candidate zone of every call.
        for start, end in self.days.get(DAYS[weekday], ()):  # noqa: SIM110
            if start <= seconds < end:
                return True
        return False

    def allows_on_holiday(self, seconds: float) -> bool:
        """Inside `holiday_hours`, the intervals of a holiday of `holiday_calendar`."""
        return any(start <= seconds < end for start, end in self.holiday_hours)


def offset_text(offset: timedelta) -> str:
    """A UTC offset as packs write it (`HoursRule.standard_time`): `-06:00`."""
    minutes = int(offset.total_seconds()) // 60
    sign = "-" if minutes < 0 else "+"
    return f"{sign}{abs(minutes) // 60:02d}:{abs(minutes) % 60:02d}"


@dataclass(frozen=True, slots=True)
class HolidayRule:
    """No calls on the holidays of `calendar` (a `holidays` library country code).

    `subdivision`: "" national only; "callee" the callee's state or region (with
    `when_unknown` used when it is not known, "*" meaning every subdivision); or a fixed code.
    `names`: only these holidays, by their whole name, and the days they are observed on
    instead (empty: all of the calendar).
    `dates`: days banned besides the calendar's, `MM-DD` every year or `YYYY-MM-DD` once,
    to their names: the holidays a library calendar lacks (Louisiana's 8 January), and those
    a governor declares, kept by a person in the settings.
    `conservative`: blocking beyond what the law is known to require, said so in the reason.
    """

    name: str
    purposes: frozenset[Purpose]
    calendar: str
    citation: str
    subdivision: str = ""
    when_unknown: tuple[str, ...] = ()
    aliases: Mapping[str, str] = field(default_factory=dict)
    observed: bool = True
    names: tuple[str, ...] = ()
    dates: Mapping[str, str] = field(default_factory=dict)
    conservative: bool = False
    unverified: bool = False
    consent_lifts: bool = False

    def dated(self, day: date) -> str | None:
        """The name of the holiday `dates` gives `day`, or None."""
        if not self.dates:
            return None
        return self.dates.get(day.isoformat()) or self.dates.get(day.isoformat()[5:])


# How far back the guard reads a number's prior attempts: the longest cap window it can
# enforce (France's 60 days, with a day's margin). Settings may not ask for more.
ATTEMPT_LOOKBACK = timedelta(days=61)


@dataclass(frozen=True, slots=True)
class CapRule:
    """A rolling-window frequency rule over prior attempts to the same number.

    `trigger` "attempt": at most `limit` attempts in `window_hours`, so the next one blocks.
    Other triggers ("conversation", "refusal", "abandoned", "amd": an answering-machine
    verdict of AMD): no call within `window_hours` after such an attempt. `scope`
    "campaign" counts the tenant's calls in the same campaign (the subject, or the debt
    for Regulation F); "tenant" counts all the tenant's calls;
    "number" counts every tenant's calls to the number (regulations.md 6.4 keys Ofcom's
    repeat-call lock on the number alone). `calendar_days`: the window is whole days on the
    callee's clock (France's "30 calendar days"): an attempt counts until the end of the
    Nth day after its date, as a period of days ends, and never for less than
    `window_hours` (after a spring clock change the days can be an hour shorter).
    `person_calls_exempt`: a call without a campaign (a person dialling, so a live operator is
    on the line) is not held by the rule (Ofcom's locks allow a repeat with an operator).
    `automated`: the rule holds automated calls only and counts only the attempts the guard
    decided as automated (TRACED's 3 exempt prerecorded calls in 30 days).
    `lifted_by`: a consent of one of these kinds in force for the tenant lifts the rule
    (TRACED's caps bind only calls made without the callee's prior express consent).
    """

    name: str
    purposes: frozenset[Purpose]
    window_hours: float
    citation: str
    trigger: str = "attempt"
    limit: int = 0
    scope: str = "campaign"
    unverified: bool = False
    calendar_days: bool = False
    person_calls_exempt: bool = False
    automated: bool = False
    lifted_by: frozenset[ConsentKind] = frozenset()


@dataclass(frozen=True, slots=True)
class ConsentRegime:
    """An opt-in regime: calls for `purposes` need a consent of one of `accepts` in force.

    `since`/`until` bound when the regime applies (callee's local date, `until` exclusive);
    `number_types` limits it to lines that may be of those phonenumbers types (empty: every
    number; `rules.models.possible_number_types`: a NANP number may be a mobile until the
    call's line type says otherwise).
    `max_age_days`: a consent of that kind counts only this many days after it was given
    (Spain's renewal every two years), whatever the record's own expiry. `automated`: the
    regime holds automated calls only (prerecorded or artificial voice, automated calling
    systems: TCPA, PECR reg 19, ePrivacy art. 13(1)).
    """

    name: str
    purposes: frozenset[Purpose]
    accepts: frozenset[ConsentKind]
    citation: str
    since: date | None = None
    until: date | None = None
    number_types: frozenset[str] = frozenset()
    unverified: bool = False
    max_age_days: tuple[tuple[ConsentKind, int], ...] = ()  # (kind, days): hashable
    automated: bool = False

    def max_age(self, kind: ConsentKind) -> int | None:
        """The days a consent of `kind` counts for, or None for as long as it is in force."""
        return next((days for aged, days in self.max_age_days if aged is kind), None)

    def too_old(self, kind: ConsentKind, counted_from: datetime, at: datetime) -> bool:
        """A consent of `kind` whose age counts from `counted_from` (`ConsentRecord`) no
        longer counts at `at`."""
        days = self.max_age(kind)
        return days is not None and at >= counted_from + timedelta(days=days)

    def in_force(self, day: date) -> bool:
        return (self.since is None or self.since <= day) and (
            self.until is None or day < self.until
        )


@dataclass(frozen=True, slots=True)
class Jurisdiction:
    """One pack (a country) or one of its state tables (`states`)."""

    code: str
    name: str
    hours: tuple[HoursRule, ...] = ()
    holidays: tuple[HolidayRule, ...] = ()
    caps: tuple[CapRule, ...] = ()
    consent: tuple[ConsentRegime, ...] = ()
    states: Mapping[str, Jurisdiction] = field(default_factory=dict)
    notes: tuple[str, ...] = ()
    # Where callees of this country may be: every zone (mobiles, unknown), per-region zones,
    # and geographic prefixes of the national number -> (regions, zones).
    timezones: tuple[str, ...] = ()
    region_timezones: Mapping[str, tuple[str, ...]] = field(default_factory=dict)
    prefixes: Mapping[str, tuple[tuple[str, ...], tuple[str, ...]]] = field(default_factory=dict)
    location_citation: str = ""
    # Every region code a callee address may name (`FR-75`), when the pack lists them: a
    # made-up one is then refused as bad input. Empty: any well-formed code is taken.
    region_codes: frozenset[str] = frozenset()
    # Region codes that name the same place as another (`FR-RE`, `FR-LRE` -> `FR-974`,
    # Réunion): a blackout of one holds a callee named by another.
    same_places: Mapping[str, str] = field(default_factory=dict)
    # Each place that is part of another -> the place it is part of, under the codes places
    # are named by (`FR-13` -> `FR-PAC`; `FR-67` -> `FR-6AE` -> `FR-GES`): a blackout of
    # either holds a callee named by the other. The loader refuses cycles.
    part_of: Mapping[str, str] = field(default_factory=dict)

    def place(self, region: str) -> str:
        """`region` under the code the pack names its place by."""
        return self.same_places.get(region, region)

    def within(self, region: str, place: str) -> bool:
        """Whether `region` is `place` or lies in it, under any of their codes."""
        at, whole = self.place(region), self.place(place)
        for _ in range(len(self.part_of) + 1):  # bounded: a table built by hand may loop
            if at == whole:
                return True
            if at not in self.part_of:
                return False
            at = self.part_of[at]
        return False
