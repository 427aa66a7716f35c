"""Calling windows (hours.*) and holiday bans (holiday.*) in the callee's local time.

Every rule of the callee's country pack and of each candidate state applies, in every
candidate time zone: the call is allowed only if all of them allow it. Windows are half-open
`[start, end)`. Out-of-hours consent lifts a rule only where the pack says the law allows it
(`consent_lifts`).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import date, datetime
from functools import cache, lru_cache

import holidays as holiday_calendars

from rules.context import RuleContext
from rules.facts import ConsentKind
from rules.jurisdictions.applicable import (
    applicable_rules,
    consent_in_force,
    nothing_applies,
    rule_id,
)
from rules.jurisdictions.model import DAYS, HolidayRule, HoursRule
from rules.location import local_times
from rules.models import Finding, FindingVerdict

_DAY_NAMES = ("Mon", "Tue", "Wed", "Thu", "Fri", "Sat", "Sun")


def windows(ctx: RuleContext) -> Iterable[Finding]:
    applicable = applicable_rules(ctx, lambda table: table.hours)
    if not applicable:
        yield nothing_applies(ctx, "hours.none", "calling window")
        return
    view = _local_view(ctx.location.timezones, ctx.attempt.at)
    for label, rule in applicable:
        yield _window(ctx, label, rule, view)


def _window(ctx: RuleContext, label: str, rule: HoursRule, view: _LocalView) -> Finding:
    rid = rule_id("hours", label, rule.name)
    local = view.moments
    details = _details(ctx, view)
    if not local:
        return Finding(
            rid,
            FindingVerdict.BLOCK,
            f"the callee's time zone is unknown, so the {label} {rule.name} window cannot be checked",
            rule.citation,
            rule.unverified,
            details,
        )
    outside = [t for t in local if not rule.allows(t.weekday(), _seconds(t))]
    if not outside:
        return Finding(
            rid,
            FindingVerdict.ALLOW,
            f"{_when(ctx.location.timezones, ctx.attempt.at)} is inside the {label} {rule.name} window",
            rule.citation,
            rule.unverified,
            details,
        )
    first = outside[0]
    window = describe_day(rule.days, first.weekday())
    reason = (
        f"it is {_stamp(first)} for the callee ({first.tzinfo}), outside the {label} "
        f"{rule.name} window ({_DAY_NAMES[first.weekday()]} {window})"
    )
    if rule.consent_lifts:
        consent = consent_in_force(ctx, (ConsentKind.OUT_OF_HOURS,))
        if consent is not None:
            return Finding(
                rid,
                FindingVerdict.ALLOW,
                f"{reason}, but out-of-hours consent was given on {consent.granted_at:%Y-%m-%d}",
                rule.citation,
                rule.unverified,
                details,
            )
    return Finding(rid, FindingVerdict.BLOCK, reason, rule.citation, rule.unverified, details)


def holiday_bans(ctx: RuleContext) -> Iterable[Finding]:
    applicable = applicable_rules(ctx, lambda table: table.holidays)
    if not applicable:
        yield nothing_applies(ctx, "holiday.none", "holiday ban")
        return
    view = _local_view(ctx.location.timezones, ctx.attempt.at)
    for label, rule in applicable:
        yield _holiday(ctx, label, rule, view)


def _holiday(ctx: RuleContext, label: str, rule: HolidayRule, view: _LocalView) -> Finding:
    rid = rule_id("holiday", label, rule.name)
    details = _details(ctx, view)
    subdivisions = subdivisions_for(rule, ctx.location.regions)
    # The zones share one or two dates: look each date up once, then take the first zone
    # (in the pack's order) whose date is a holiday, as a loop over every zone would.
    by_day: dict[date, tuple[str, str | None] | None] = {}
    for day in view.days:
        by_day[day] = _first_holiday(rule, subdivisions, day)
    hit = next(((t, found) for t in view.moments if (found := by_day[t.date()]) is not None), None)
    if hit is None:
        days = sorted(d.isoformat() for d in view.days)
        return Finding(
            rid,
            FindingVerdict.ALLOW,
            f"{', '.join(days)} is not a {label} {rule.name} holiday for the callee",
            rule.citation,
            rule.unverified,
            details,
        )
    moment, (name, subdivision) = hit
    where = f" in {rule.calendar}-{subdivision}" if subdivision else ""
    note = (
        " (conservative: blocked although the law may not require it)" if rule.conservative else ""
    )
    reason = (
        f"{moment:%a %Y-%m-%d} is {name}{where} for the callee ({moment.tzinfo}), "
        f"a {label} {rule.name} day without calls{note}"
    )
    details["holiday"] = name
    if rule.consent_lifts:
        consent = consent_in_force(ctx, (ConsentKind.OUT_OF_HOURS,))
        if consent is not None:
            return Finding(
                rid,
                FindingVerdict.ALLOW,
                f"{reason}, but out-of-hours consent was given on {consent.granted_at:%Y-%m-%d}",
                rule.citation,
                rule.unverified,
                details,
            )
    return Finding(rid, FindingVerdict.BLOCK, reason, rule.citation, rule.unverified, details)


def subdivisions_for(rule: HolidayRule, regions: tuple[str, ...]) -> tuple[str | None, ...]:
    """The calendar subdivisions to consult: None is the national calendar."""
    if not rule.subdivision:
        return (None,)
    known = _known_subdivisions(rule.calendar)
    if rule.subdivision != "callee":
        return (rule.subdivision,)
    prefix = f"{rule.calendar}-"
    mine = [r for r in regions if r.startswith(prefix)]
    if not mine:
        unknown = known if "*" in rule.when_unknown else rule.when_unknown
        return (None, *unknown)
    out: list[str | None] = []
    for region in mine:
        code = rule.aliases.get(region, region[len(prefix) :])
        value = code if code in known else None
        if value not in out:
            out.append(value)
    return tuple(out)


def _first_holiday(
    rule: HolidayRule, subdivisions: tuple[str | None, ...], day: date
) -> tuple[str, str | None] | None:
    for subdivision in subdivisions:
        name = holiday_name(rule, subdivision, day)
        if name is not None:
            return name, subdivision
    return None


def holiday_name(rule: HolidayRule, subdivision: str | None, day: date) -> str | None:
    """The holiday `rule` bans on `day` in `subdivision`, or None."""
    name = _calendar(rule.calendar, subdivision, day.year, rule.observed).get(day)
    if name is None:
        return None
    if rule.names and not any(wanted in name for wanted in rule.names):
        return None
    return name


@cache
def _calendar(
    country: str, subdivision: str | None, year: int, observed: bool
) -> Mapping[date, str]:
    # `holidays` is pure computation; cached because every decision consults it.
    table = holiday_calendars.country_holidays(
        country, subdiv=subdivision, years=year, observed=observed
    )
    return {day: str(name) for day, name in table.items()}


@cache
def _known_subdivisions(country: str) -> tuple[str, ...]:
    return tuple(holiday_calendars.country_holidays(country).subdivisions)


def describe_day(days: Mapping[str, tuple[tuple[int, int], ...]], weekday: int) -> str:
    spans = days.get(DAYS[weekday], ())
    if not spans:
        return "no calls"
    return " and ".join(f"{_clock(a)}-{_clock(b)}" for a, b in spans)


def _clock(seconds: int) -> str:
    return f"{seconds // 3600:02d}:{seconds % 3600 // 60:02d}"


def _seconds(moment: datetime) -> float:
    return moment.hour * 3600 + moment.minute * 60 + moment.second + moment.microsecond / 1e6


def _stamp(moment: datetime) -> str:
    return f"{moment:%a %H:%M:%S}"


@dataclass(frozen=True, slots=True)
class _LocalView:
    """One instant on every candidate zone's clock, with what the findings print of it."""

    moments: tuple[datetime, ...]
    days: tuple[date, ...]  # the distinct local dates, in zone order
    iso: Mapping[str, str]  # zone -> ISO local time (read-only: copied into each finding)


@lru_cache(maxsize=16)
def _local_view(timezones: tuple[str, ...], at: datetime) -> _LocalView:
    # Computed once per decision and shared by every hours and holiday finding.
    moments = local_times(timezones, at)
    return _LocalView(
        moments,
        tuple(dict.fromkeys(t.date() for t in moments)),
        {str(t.tzinfo): t.isoformat() for t in moments},
    )


@lru_cache(maxsize=16)
def _when(timezones: tuple[str, ...], at: datetime) -> str:
    # Only an allowing window prints every zone's time; cached for the decision's other rules.
    # Keyed like `local_times`: equal datetimes in different zones compare equal.
    return ", ".join(f"{_stamp(t)} ({t.tzinfo})" for t in local_times(timezones, at))


def _details(ctx: RuleContext, view: _LocalView) -> dict[str, object]:
    return {
        "local_times": dict(view.iso),
        "regions": list(ctx.location.regions),
        "location": ctx.location.basis or ctx.location.source,
    }


CHECKS = (holiday_bans, windows)
