"""`dialguard jurisdiction show CODE`: read a pack as the guard applies it (after overrides).

Every rule is printed with its source and an [unverified] mark where the research notes
could not confirm the figure. CODE is a country (`AU`, `US`, `GB`, ...) or a state table
(`US-FL`).
"""

from __future__ import annotations

from collections.abc import Mapping

import click

from dialguard.cli.app import AppContext, InputError, cli, emit_json, pass_app
from rules.checks.frequency import TRIGGER_WORDS
from rules.jurisdictions import Jurisdiction
from rules.jurisdictions.model import (
    DAYS,
    CapRule,
    ConsentRegime,
    HolidayRule,
    HoursRule,
    offset_text,
)
from rules.numbers import shorten


@cli.group()
def jurisdiction() -> None:
    """Jurisdiction packs: calling windows, holidays, caps and consent regimes."""


@jurisdiction.command("list")
@click.option("--json", "as_json", is_flag=True)
@pass_app
def list_(app: AppContext, as_json: bool) -> None:
    """List the packs in force."""
    packs = app.settings.policy.jurisdictions.packs
    if as_json:
        emit_json({code: {"name": p.name, "states": sorted(p.states)} for code, p in packs.items()})
        return
    for code, pack in sorted(packs.items()):
        states = f" (states: {', '.join(sorted(pack.states))})" if pack.states else ""
        click.echo(f"{code}  {pack.name}{states}")


@jurisdiction.command("show")
@click.argument("code")
@click.option("--json", "as_json", is_flag=True)
@pass_app
def show(app: AppContext, code: str, as_json: bool) -> None:
    """Print every rule of pack CODE (e.g. AU, US, US-FL) with its source."""
    packs = app.settings.policy.jurisdictions.packs
    country, _, state = code.upper().partition("-")
    pack = packs.get(country)
    if pack is not None and state:
        pack = pack.states.get(state)
    if pack is None:
        raise InputError(
            f"no jurisdiction pack {shorten(code)!r} (known: {', '.join(sorted(packs))})"
        )
    if as_json:
        emit_json(as_dict(pack))
        return
    for line in describe(pack):
        click.echo(line)


def as_dict(pack: Jurisdiction) -> dict[str, object]:
    return {
        "code": pack.code,
        "name": pack.name,
        "notes": list(pack.notes),
        "location": {
            "citation": pack.location_citation,
            "timezones": list(pack.timezones),
            "regions": {k: list(v) for k, v in pack.region_timezones.items()},
            "prefixes": {
                k: {"regions": list(r), "timezones": list(z)} for k, (r, z) in pack.prefixes.items()
            },
            "same_places": dict(pack.same_places),
            "parts": _parts(pack),
        },
        "hours": [_hours_dict(r) for r in pack.hours],
        "holidays": [_rule_dict(r) for r in pack.holidays],
        "caps": [_rule_dict(r) for r in pack.caps],
        "consent": [_rule_dict(r) for r in pack.consent],
        "states": {code: as_dict(table) for code, table in sorted(pack.states.items())},
    }


def _parts(pack: Jurisdiction) -> dict[str, list[str]]:
    """`[location] parts` as the pack writes it: each place, the places it holds."""
    parts: dict[str, list[str]] = {}
    for part, place in sorted(pack.part_of.items()):
        parts.setdefault(place, []).append(part)
    return dict(sorted(parts.items()))


def _rule_dict(rule: HolidayRule | CapRule | ConsentRegime) -> dict[str, object]:
    out: dict[str, object] = {}
    for name in rule.__dataclass_fields__:
        value = getattr(rule, name)
        if isinstance(value, frozenset):
            value = sorted(str(v) for v in value)
        elif isinstance(value, tuple):
            value = list(value)
        elif isinstance(value, dict):
            value = dict(value)
        elif value is not None and not isinstance(value, str | int | float | bool):
            value = str(value)
        out[name] = value
    return out


def _hours_dict(rule: HoursRule) -> dict[str, object]:
    out = _rule_dict_plain(rule)
    out["days"] = {day: [[_clock(a), _clock(b)] for a, b in rule.days.get(day, ())] for day in DAYS}
    out["automated"] = rule.automated
    if rule.holiday_calendar:
        out["holiday_calendar"] = rule.holiday_calendar
        out["holiday_subdivision"] = rule.holiday_subdivision
        out["holiday_hours"] = [[_clock(a), _clock(b)] for a, b in rule.holiday_hours]
        out["holiday_days_after"] = list(rule.holiday_days_after)
    return out


def _rule_dict_plain(rule: HoursRule) -> dict[str, object]:
    return {
        "name": rule.name,
        "purposes": sorted(p.value for p in rule.purposes),
        "citation": rule.citation,
        "unverified": rule.unverified,
        "consent_lifts": rule.consent_lifts,
        "standard_time": (
            offset_text(rule.standard_time) if rule.standard_time is not None else None
        ),
    }


def describe(pack: Jurisdiction, indent: str = "") -> list[str]:
    lines = [f"{indent}{pack.code}: {pack.name}"]
    if pack.timezones:
        lines.append(f"{indent}  time zones: {', '.join(pack.timezones)}")
    if pack.location_citation:
        lines.append(f"{indent}  location: {pack.location_citation}")
    # What a blackout of a place holds besides it (the whole tables are in --json).
    if pack.same_places:
        lines.append(f"{indent}  codes of the same place: {_pairs(pack.same_places)}")
    if pack.part_of:
        held = "; ".join(f"{place}: {', '.join(p)}" for place, p in _parts(pack).items())
        lines.append(f"{indent}  places within places: {held}")
    for rule in pack.hours:
        days = "; ".join(
            f"{day} "
            + (" and ".join(f"{_clock(a)}-{_clock(b)}" for a, b in rule.days[day]) or "no calls")
            if rule.days.get(day)
            else f"{day} no calls"
            for day in DAYS
        )
        lift = ", out-of-hours consent lifts it" if rule.consent_lifts else ""
        standard = (
            f", also read at UTC{offset_text(rule.standard_time)} (the law's standard time)"
            if rule.standard_time is not None
            else ""
        )
        holidays = ""
        if rule.holiday_calendar:
            calendar = "-".join(filter(None, (rule.holiday_calendar, rule.holiday_subdivision)))
            spans = " and ".join(f"{_clock(a)}-{_clock(b)}" for a, b in rule.holiday_hours)
            after = "".join(f" and the day after {name}" for name in rule.holiday_days_after)
            holidays = f"; {calendar} holidays{after} {spans or 'no calls'}"
        automated = ", automated calls only" if rule.automated else ""
        lines.append(
            f"{indent}  hours {rule.name} [{_purposes(rule.purposes)}]{_mark(rule.unverified)}:"
            f" {days}{holidays}{standard}{automated}{lift}"
        )
        lines.append(f"{indent}    source: {rule.citation}")
    for hol in pack.holidays:
        scope = {"": "national", "callee": "the callee's region"}.get(
            hol.subdivision, hol.subdivision
        )
        only = f", only {', '.join(hol.names)}" if hol.names else ""
        extra = ", conservative" if hol.conservative else ""
        unknown = f", when unknown: {', '.join(hol.when_unknown)}" if hol.when_unknown else ""
        lines.append(
            f"{indent}  holidays {hol.name} [{_purposes(hol.purposes)}]{_mark(hol.unverified)}: "
            f"{hol.calendar} calendar, {scope}{unknown}{only}{extra}"
        )
        lines.append(f"{indent}    source: {hol.citation}")
    for cap in pack.caps:
        span = (
            f"{cap.window_hours / 24:g} calendar days on the callee's clock"
            if cap.calendar_days
            else f"{cap.window_hours:g} h"
        )
        what = (
            f"at most {cap.limit} calls per {span}"
            if cap.trigger == "attempt"
            else f"no call for {span} after {TRIGGER_WORDS.get(cap.trigger, cap.trigger)}"
        )
        persons = ", a person's call (no campaign) exempt" if cap.person_calls_exempt else ""
        automated = ", automated calls only (counting automated calls)" if cap.automated else ""
        lifted = (
            f", lifted by {' or '.join(sorted(k.value for k in cap.lifted_by))} consent"
            if cap.lifted_by
            else ""
        )
        lines.append(
            f"{indent}  cap {cap.name} [{_purposes(cap.purposes)}]{_mark(cap.unverified)}: {what}, "
            f"per {cap.scope}{persons}{automated}{lifted}"
        )
        lines.append(f"{indent}    source: {cap.citation}")
    for regime in pack.consent:
        since = f" from {regime.since}" if regime.since else ""
        types = (
            f" to {', '.join(sorted(regime.number_types))} numbers" if regime.number_types else ""
        )
        kinds = ", ".join(sorted(k.value for k in regime.accepts))
        aged = "".join(
            f"; {kind.value} lapses after {days} days" for kind, days in regime.max_age_days
        )
        lines.append(
            f"{indent}  consent {regime.name} [{_purposes(regime.purposes)}]{_mark(regime.unverified)}: "
            f"opt-in{' of automated calls' if regime.automated else ''}{since}{types};"
            f" accepts {kinds}{aged}"
        )
        lines.append(f"{indent}    source: {regime.citation}")
    lines += [f"{indent}  note: {note}" for note in pack.notes]
    for _, table in sorted(pack.states.items()):
        lines += describe(table, indent + "  ")
    return lines


def _purposes(purposes: frozenset[object]) -> str:
    return ", ".join(sorted(str(p) for p in purposes))


def _mark(unverified: bool) -> str:
    return " [unverified]" if unverified else ""


def _clock(seconds: int) -> str:
    return f"{seconds // 3600:02d}:{seconds % 3600 // 60:02d}"


def _pairs(same: Mapping[str, str]) -> str:
    """`FR-974 = FR-LRE, FR-RE; ...`: each place's main code, then its other codes."""
    others: dict[str, list[str]] = {}
    for code, main in sorted(same.items()):
        others.setdefault(main, []).append(code)
    return "; ".join(f"{main} = {', '.join(codes)}" for main, codes in sorted(others.items()))
