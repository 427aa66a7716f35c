"""Calling windows (hours.*) and holiday bans (holiday.*) in the callee's local time.

Every rule of the callee's country pack and of each candidate state applies, in every
candidate time zone: the call is allowed only if all of them allow it. Windows are half-open
`[start, end)`. Out-of-hours consent lifts a rule only where the pack says the law allows it
(`consent_lifts`).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from datetime import UTC, date, timedelta
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
from rules.jurisdictions.model import DAYS, HolidayRule, HoursRule, offset_text
from rules.location import (
    DAY_NAMES,
    CalleeLocation,
    clock_of,
    names_a_region_of,
    offsets_of_year,
    region_zones,
)
from rules.models import Finding, FindingVerdict


def windows(ctx: RuleContext) -> Iterable[Finding]:
    applicable = applicable_rules(ctx, lambda table: table.hours)
    if not applicable:
        yield nothing_applies(ctx, "hours.none", "calling window")
        return
    for label, rule in applicable:
        yield _window(ctx, label, rule)


def _placed_in(location: CalleeLocation, country: str | None) -> bool:
    """Whether the callee is placed in a region of `country` (one abroad places no one)."""
    if not location.regions or country is None:
        return False
    return names_a_region_of(location.regions, country)


def clocks_for(ctx: RuleContext, label: str) -> tuple[int, ...] | None:
    """The candidate zones (indices into `ctx.local`) a table's rules are read on; None for
    every one, () for none: the table does not apply.

    A state's table applies to a callee in that state, so on that state's clocks. This only
    narrows anything for a number placed nowhere (a toll-free number: every state's table
    applies, on every zone of the country): Kentucky's window was read on Adak's clock and
    Rhode Island's on Guam's, and a toll-free number was never callable once the
    territories' zones were candidates. A callee placed by area code or address keeps every
    candidate clock for every table (an address in Florida is on Florida's clock, whichever
    state's area code presumes the callee its resident). When a customer address names the
    callee's zone but no region, a state none of whose clocks that zone shows does not
    apply: the callee is not there (Rhode Island's window was read on Chicago's clock). A
    zone without summer time (`EST`, `Etc/GMT+4`, as a CRM may write New York all year)
    may stand for either season's clock: it keeps every state that keeps its offset at some
    time of the year. Otherwise a state none of whose zones are candidates keeps them all.

    Where the number's clocks are held beside an address that disagrees with it
    (`CalleeLocation.held`), the tables the address alone applies (`on_address`: the
    federal rule and the address's state, in the number's country) keep the address's
    clocks; every other table is read on both (a state by area code, every table for an
    address abroad), but a state the number places nowhere keeps its own clocks, as
    above."""
    location = ctx.location
    if location.held:
        if label in location.on_address:
            return location.address_clocks()
        if label == location.country or _placed_in(location, label[:2]):
            return None
    elif label == location.country or _placed_in(location, location.country):
        # (A region abroad places no one in the country: a toll-free number given GB-LND
        # keeps each state's table on that state's clocks.)
        return None
    own = region_zones(label, ctx.policy)
    picked = ctx.local.clocks_of(own)
    if not picked and own and ctx.location.source == "customer":
        at = ctx.attempt.at
        each = [offsets_of_year((zone,), at) for zone in ctx.local.zones]
        fixed = all(len(offsets) == 1 for offsets in each)
        if not fixed or not frozenset().union(*each) & offsets_of_year(own, at):
            return ()
    return picked if picked and len(picked) < len(ctx.local.zones) else None


def _zone_text(ctx: RuleContext, index: int) -> str:
    """Zone `index`'s name, and why it is read when it is one of the number's clocks held
    beside the address's (`CalleeLocation.held`): an operator sees why a Sydney clock
    blocks a callee said to live in Florida."""
    location, zone = ctx.location, ctx.local.zones[index]
    if location.held and index >= len(location.timezones) - len(location.held):
        return f"{zone}: the number's clock, held {location.held_why}"
    return zone


def _elsewhere(
    ctx: RuleContext, rid: str, label: str, what: str, rule: HoursRule | HolidayRule
) -> Finding:
    """The finding of a state table that does not apply: the callee's clock is not its."""
    zones = ", ".join(ctx.local.zones)
    return Finding(
        rid,
        FindingVerdict.SKIP,
        f"the callee's address is on {zones}, none of {label}'s clocks: its {rule.name} "
        f"{what} does not apply",
        rule.citation,
        rule.unverified,
        _details(ctx),
    )


def _window(ctx: RuleContext, label: str, rule: HoursRule) -> Finding:
    rid = rule_id("hours", label, rule.name)
    view = ctx.local
    details = _details(ctx)
    clocks = clocks_for(ctx, label)
    if clocks == ():
        return _elsewhere(ctx, rid, label, "window", rule)
    if not view.zones:
        return Finding(
            rid,
            FindingVerdict.BLOCK,
            f"the callee's time zone is unknown, so the {label} {rule.name} window cannot be checked",
            rule.citation,
            rule.unverified,
            details,
        )
    indices = range(len(view.clock)) if clocks is None else clocks
    if rule.holiday_calendar:
        return _window_with_holidays(ctx, rid, label, rule, indices, clocks, details)
    first = next((i for i in indices if not rule.allows(*view.clock[i])), None)
    if first is None and rule.standard_time is not None:
        return _on_standard_time(ctx, rid, label, rule, rule.standard_time, clocks, details)
    if first is None:
        return _inside(ctx, rid, label, rule, clocks, details)
    weekday = view.clock[first][0]
    window = describe_day(rule.days, weekday)
    reason = (
        f"it is {view.stamp(first)} for the callee ({_zone_text(ctx, first)}), outside the "
        f"{label} {rule.name} window ({DAY_NAMES[weekday]} {window})"
    )
    return _closed(ctx, rid, rule, reason, details)


def _window_with_holidays(
    ctx: RuleContext,
    rid: str,
    label: str,
    rule: HoursRule,
    indices: Iterable[int],
    clocks: tuple[int, ...] | None,
    details: dict[str, object],
) -> Finding:
    """A window whose holidays have hours of their own (`HoursRule.holiday_hours`): on each
    candidate clock, the holiday's hours if that local date is a holiday of the rule's
    calendar, else the weekday's."""
    view = ctx.local
    for i in indices:
        weekday, seconds = view.clock[i]
        holiday = _hours_holiday(rule, view.dates[i])
        if holiday is None and rule.allows(weekday, seconds):
            continue
        if holiday is not None and rule.allows_on_holiday(seconds):
            continue
        if holiday is None:
            window = f"{DAY_NAMES[weekday]} {describe_day(rule.days, weekday)}"
        else:
            spans = " and ".join(f"{_clock(a)}-{_clock(b)}" for a, b in rule.holiday_hours)
            window = f"{holiday}, a holiday: {spans or 'no calls'}"
        reason = (
            f"it is {view.stamp(i)} for the callee ({_zone_text(ctx, i)}), outside the "
            f"{label} {rule.name} window ({window})"
        )
        return _closed(ctx, rid, rule, reason, details)
    return _inside(ctx, rid, label, rule, clocks, details)


def _inside(
    ctx: RuleContext,
    rid: str,
    label: str,
    rule: HoursRule,
    clocks: tuple[int, ...] | None,
    details: dict[str, object],
) -> Finding:
    """The allowing finding of a window the call is inside on every clock it is read on."""
    when = ctx.local.when if clocks is None else ctx.local.when_on(clocks)
    return Finding(
        rid,
        FindingVerdict.ALLOW,
        f"{when} is inside the {label} {rule.name} window",
        rule.citation,
        rule.unverified,
        details,
    )


def _hours_holiday(rule: HoursRule, day: date) -> str | None:
    """The holiday of an hours rule's calendar on `day` (`HoursRule.holiday_calendar`), or
    the day after one of its `holiday_days_after`; None on other days."""
    subdivision = rule.holiday_subdivision or None
    name = _holiday_name(rule.holiday_calendar, True, (), subdivision, day)
    if name is not None or not rule.holiday_days_after:
        return name
    before = _holiday_name(
        rule.holiday_calendar, True, rule.holiday_days_after, subdivision, day - timedelta(days=1)
    )
    return None if before is None else f"the day after {before}"


def _on_standard_time(
    ctx: RuleContext,
    rid: str,
    label: str,
    rule: HoursRule,
    offset: timedelta,
    clocks: tuple[int, ...] | None,
    details: dict[str, object],
) -> Finding:
    """A window the law gives in a standard time, already inside it on the callee's clock:
    the call must be inside it on the law's clock too. In summer, 08:30 Central Daylight
    Time is 07:30 Central Standard Time, outside Mississippi's window that opens at 08:00
    CST; and a callee said to be on Eastern time is read on CST all the same."""
    law = ctx.attempt.at.astimezone(UTC).replace(tzinfo=None) + offset
    weekday, seconds = clock_of(law)
    on_law = f"{DAY_NAMES[weekday]} {law:%H:%M:%S} at UTC{offset_text(offset)}"
    when = ctx.local.when if clocks is None else ctx.local.when_on(clocks)
    if rule.allows(weekday, seconds):
        return Finding(
            rid,
            FindingVerdict.ALLOW,
            f"{when} is inside the {label} {rule.name} window, and so is {on_law}, the "
            "standard time the law names",
            rule.citation,
            rule.unverified,
            details,
        )
    reason = (
        f"it is {on_law}, the standard time the law names, outside the {label} {rule.name}"
        f" window ({DAY_NAMES[weekday]} {describe_day(rule.days, weekday)}); for the callee"
        f" it is {when}"
    )
    return _closed(ctx, rid, rule, reason, details)


def holiday_bans(ctx: RuleContext) -> Iterable[Finding]:
    applicable = applicable_rules(ctx, lambda table: table.holidays)
    if not applicable:
        yield nothing_applies(ctx, "holiday.none", "holiday ban")
        return
    for label, rule in applicable:
        yield _holiday_memoised(ctx, label, rule)


_HOLIDAY_MAX = 4096  # allowing findings kept per policy before the memo starts over


def _holiday_memoised(ctx: RuleContext, label: str, rule: HolidayRule) -> Finding:
    """`_holiday`, with its allowing findings kept on the policy whose pack holds `rule`.

    Without a holiday on the callee's dates the finding depends only on the key: the rule,
    the dates, the regions and where the location came from (`_details`).
    """
    location = ctx.location
    clocks = clocks_for(ctx, label)
    if clocks == ():
        return _elsewhere(ctx, rule_id("holiday", label, rule.name), label, "holiday ban", rule)
    days = ctx.local.days if clocks is None else ctx.local.days_on(clocks)
    key = (id(rule), label, days, location.regions, location.basis or location.source)
    memo = ctx.policy.memo("holiday")
    # The entry holds `rule`, so its id cannot pass to another rule while the entry exists.
    kept: tuple[HolidayRule, Finding] | None = memo.get(key)
    if kept is not None and kept[0] is rule:
        return kept[1]
    finding = _holiday(ctx, label, rule, clocks, days)
    # An allowing finding that names a holiday was lifted by the callee's consent: not kept.
    if finding.verdict is FindingVerdict.ALLOW and "holiday" not in finding.details:
        if len(memo) >= _HOLIDAY_MAX:
            memo.clear()
        memo[key] = (rule, finding)
    return finding


def _holiday(
    ctx: RuleContext,
    label: str,
    rule: HolidayRule,
    clocks: tuple[int, ...] | None,
    days: tuple[date, ...],
) -> Finding:
    """`days`: the local dates on the table's clocks (`clocks`, None for every one)."""
    rid = rule_id("holiday", label, rule.name)
    view = ctx.local
    details = _details(ctx)
    subdivisions = subdivisions_for(rule, ctx.location.regions)
    # The zones share one or two dates: look each date up once, then take the first zone
    # (in the pack's order) whose date is a holiday, as a loop over every zone would.
    by_day = {
        day: _dated(rule, day)
        or _first_holiday(rule.calendar, rule.observed, rule.names, subdivisions, day)
        for day in days
    }
    hit = None
    if any(found is not None for found in by_day.values()):
        indices = range(len(view.zones)) if clocks is None else clocks
        index, found = next((i, f) for i in indices if (f := by_day[view.dates[i]]) is not None)
        hit = (index, found)
    if hit is None:
        return Finding(
            rid,
            FindingVerdict.ALLOW,
            f"{_dates(days)} is not a holiday for the callee ({label} {rule.name})",
            rule.citation,
            rule.unverified,
            details,
        )
    index, (name, subdivision) = hit
    where = f" in {rule.calendar}-{subdivision}" if subdivision else ""
    note = (
        " (conservative: blocked although the law may not require it)" if rule.conservative else ""
    )
    reason = (
        f"{view.moment(index):%a %Y-%m-%d} is {name}{where} for the callee "
        f"({_zone_text(ctx, index)}), "
        f"a day without calls ({label} {rule.name}){note}"
    )
    details = {**details, "holiday": name}
    return _closed(ctx, rid, rule, reason, details)


def _closed(
    ctx: RuleContext,
    rid: str,
    rule: HoursRule | HolidayRule,
    reason: str,
    details: dict[str, object],
) -> Finding:
    """A closed window or a holiday blocks, unless the rule lets out-of-hours consent lift it
    and the callee gave it."""
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


@lru_cache(maxsize=64)
def _dates(days: tuple[date, ...]) -> str:
    # Every holiday rule of a call prints the same dates.
    return ", ".join(sorted(d.isoformat() for d in days))


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


def _dated(rule: HolidayRule, day: date) -> tuple[str, str | None] | None:
    """The rule's own dated holiday on `day` (`HolidayRule.dates`), wherever it applies."""
    name = rule.dated(day)
    return (name, None) if name is not None else None


@lru_cache(maxsize=4096)
def _first_holiday(
    calendar: str,
    observed: bool,
    names: tuple[str, ...],
    subdivisions: tuple[str | None, ...],
    day: date,
) -> tuple[str, str | None] | None:
    """The first of `subdivisions` in which `day` is a banned holiday, with its name.

    Memoised: pure, and every call of a day asks the same (calendar, subdivisions, day).
    """
    for subdivision in subdivisions:
        name = _holiday_name(calendar, observed, names, subdivision, day)
        if name is not None:
            return name, subdivision
    return None


def _holiday_name(
    calendar: str, observed: bool, names: tuple[str, ...], subdivision: str | None, day: date
) -> str | None:
    """The holiday a rule with these settings bans on `day` in `subdivision`, or None."""
    name = _calendar(calendar, subdivision, day.year, observed).get(day)
    if name is None:
        return None
    if names and not _named(name, names):
        return None
    return name


def _named(name: str, wanted: tuple[str, ...]) -> bool:
    """Whether the holiday `name` is one of `wanted`, or the day one is observed on instead.

    The library joins the names of one day with "; ", and names a substitute day either
    "X (observed)" or plainly "X" (Australia Day on Monday 28 Jan 2030, Tasmania's Boxing
    Day on 28 Dec 2026). Whole names, not parts: "Western Australia Day" is not Australia
    Day."""
    return any(one.removesuffix(" (observed)") in wanted for one in name.split("; "))


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


def _details(ctx: RuleContext) -> dict[str, object]:
    """The location part of an hours or holiday finding's details. Shared by every finding
    of the same location (the audit record encodes each such finding once, by the dict's
    identity): never change it, copy it (`{**details, ...}`)."""
    return _location_details(ctx.location.regions, ctx.location.basis or ctx.location.source)


@lru_cache(maxsize=1024)
def _location_details(regions: tuple[str, ...], location: str) -> dict[str, object]:
    # The zones' local times are in the decision's context (`local_times`), once.
    # A tuple (JSON's array all the same): no reader can change what the findings share.
    return {"regions": regions, "location": location}


CHECKS = (holiday_bans, windows)
