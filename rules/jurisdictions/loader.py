"""Reading the shipped packs (`rules/packs/*.toml`) and the operator's overrides.

The packs are package data read once (cached); the result depends only on the shipped files
and the override mapping, so it stays deterministic. Validation names every bad key as
`jurisdictions.<path>: why`.
"""

from __future__ import annotations

import copy
import math
import re
import tomllib
from collections.abc import Mapping
from datetime import date, timedelta
from functools import cache
from importlib import resources
from typing import Any, TypeGuard

from rules.facts import ConsentKind
from rules.jurisdictions.model import (
    ATTEMPT_LOOKBACK,
    DAYS,
    CapRule,
    ConsentRegime,
    HolidayRule,
    HoursRule,
    Interval,
    Jurisdiction,
)
from rules.models import Purpose
from rules.numbers import NUMBER_TYPES

PACK_CODES: tuple[str, ...] = ("AU", "US", "GB", "FR", "DE", "ES", "IT", "NL", "BE", "IE")
RULE_LISTS: tuple[str, ...] = ("hours", "holidays", "caps", "consent")
TRIGGERS = ("attempt", "conversation", "refusal", "abandoned", "amd")
SCOPES = ("campaign", "tenant", "number")

_COMMON = {"name", "purposes", "citation", "unverified", "remove"}
_KEYS: dict[str, set[str]] = {
    "hours": _COMMON
    | {
        "days",
        "consent_lifts",
        "standard_time",
        "automated",
        "holiday_calendar",
        "holiday_subdivision",
        "holiday_hours",
        "holiday_days_after",
    },
    "holidays": _COMMON
    | {
        "calendar",
        "subdivision",
        "when_unknown",
        "aliases",
        "observed",
        "names",
        "dates",
        "conservative",
        "consent_lifts",
    },
    "caps": _COMMON
    | {
        "window_hours",
        "trigger",
        "limit",
        "scope",
        "calendar_days",
        "person_calls_exempt",
        "automated",
        "lifted_by",
    },
    "consent": _COMMON | {"accepts", "since", "until", "number_types", "max_age_days", "automated"},
}
_PACK_KEYS = {"code", "name", "notes", "location", "states", *RULE_LISTS}
_LOCATION_KEYS = {
    "timezones",
    "regions",
    "prefixes",
    "citation",
    "region_codes",
    "same_places",
    "parts",
}
MAX_PREFIX_DIGITS = 10  # what rules.location reads of a national number to place it


@cache
def shipped_raw() -> Mapping[str, Mapping[str, Any]]:
    """The shipped packs as parsed TOML, keyed by country code."""
    folder = resources.files("rules") / "packs"
    return {
        code: tomllib.loads((folder / f"{code.lower()}.toml").read_text(encoding="utf-8"))
        for code in PACK_CODES
    }


@cache
def nanp_table() -> Mapping[str, tuple[str, tuple[str, ...], tuple[str, ...]]]:
    """NANP area code -> (country, regions, zones), from `rules/packs/nanp.toml`."""
    text = (resources.files("rules") / "packs" / "nanp.toml").read_text(encoding="utf-8")
    return {
        npa: (row["country"], tuple(row["regions"]), tuple(row["timezones"]))
        for npa, row in tomllib.loads(text).items()
    }


def merge(base: Mapping[str, Any], override: Mapping[str, Any]) -> dict[str, Any]:
    """The pack `base` with the operator's `override` applied (see docs/jurisdictions.md).

    Rule lists merge by `name`: a named rule replaces the fields it gives (an hours rule's
    `days` weekday by weekday, a holiday rule's `dates` day by day), a new name adds a rule,
    `remove = true` deletes it. `states` merge per state; other keys replace.
    """
    out = copy.deepcopy(dict(base))
    for key, value in override.items():
        if key in RULE_LISTS and isinstance(value, list):
            out[key] = _merge_rules(out.get(key, []), value)
        elif key == "states" and isinstance(value, dict):
            states = dict(out.get("states", {}))
            for code, table in value.items():
                if isinstance(table, dict):
                    states[code] = merge(states.get(code, {}), table)
                else:
                    states[code] = table
            out["states"] = states
        elif key == "location" and isinstance(value, dict):
            out["location"] = {**out.get("location", {}), **value}
        else:
            out[key] = copy.deepcopy(value)
    return out


def _merge_rules(base: list[Any], override: list[Any]) -> list[Any]:
    rules = [dict(r) if isinstance(r, dict) else r for r in base]
    for item in override:
        if not isinstance(item, dict) or "name" not in item:
            rules.append(item)  # validation reports it
            continue
        index = next(
            (
                i
                for i, r in enumerate(rules)
                if isinstance(r, dict) and r.get("name") == item["name"]
            ),
            None,
        )
        if item.get("remove") is True:
            if index is not None:
                del rules[index]
            continue
        if index is None:
            rules.append(dict(item))
            continue
        merged = {**rules[index], **item}
        # Weekdays merge one by one: `days = { sun = [...] }` changes Sunday only. A
        # holiday's dates too: a governor's day adds to the pack's, and "" drops one.
        for table in ("days", "dates"):
            if isinstance(rules[index].get(table), dict) and isinstance(item.get(table), dict):
                merged[table] = {**rules[index][table], **item[table]}
        if isinstance(merged.get("dates"), dict):
            merged["dates"] = {day: name for day, name in merged["dates"].items() if name != ""}
        ages, kinds = merged.get("max_age_days"), item.get("accepts")
        if "max_age_days" not in item and isinstance(ages, dict) and isinstance(kinds, list):
            # A consent regime's new `accepts` keeps the pack's ages of the kinds it still
            # accepts: Spain's express-written age must not refuse an override dropping it.
            merged["max_age_days"] = {kind: days for kind, days in ages.items() if kind in kinds}
        rules[index] = merged
    return rules


def build(code: str, raw: Any, path: str, errors: list[str]) -> Jurisdiction | None:
    """Validate one pack (or state table) into a `Jurisdiction`, naming every bad key."""
    if not isinstance(raw, dict):
        errors.append(f"{path}: must be a table")
        return None
    errors += [f"{path}.{key}: unknown setting" for key in raw if key not in _PACK_KEYS]
    name = raw.get("name", code)
    if not isinstance(name, str):
        errors.append(f"{path}.name: must be a string")
        name = code
    notes = raw.get("notes", [])
    if not _strings(notes):
        errors.append(f"{path}.notes: must be a list of strings")
        notes = []
    lists: dict[str, list[Any]] = {}
    for key in RULE_LISTS:
        value = raw.get(key, [])
        if not isinstance(value, list):
            errors.append(f"{path}.{key}: must be a list of tables")
            value = []
        lists[key] = value
    states: dict[str, Jurisdiction] = {}
    state_tables = raw.get("states", {})
    if not isinstance(state_tables, dict):
        errors.append(f"{path}.states: must be a table of state tables")
        state_tables = {}
    for state, table in state_tables.items():
        built = build(f"{code}-{state}", table, f"{path}.states.{state}", errors)
        if built is not None:
            states[str(state).upper()] = built
    location = raw.get("location", {})
    zones, region_zones, prefixes, loc_citation = _location(location, path, errors)
    codes = _region_codes(location, code, path, errors) if isinstance(location, dict) else []
    same = _same_places(location, codes, path, errors) if isinstance(location, dict) else {}
    part_of = (
        _parts(location, code, codes, same, path, errors) if isinstance(location, dict) else {}
    )
    holidays = tuple(r for r in _rules(lists["holidays"], path, "holidays", _holiday, errors) if r)
    if codes:
        # The pack's own codes must be ones an address may name, or they could never match.
        named = {r for regions, _ in prefixes.values() for r in regions} | set(region_zones)
        named |= {alias for rule in holidays for alias in rule.aliases}
        errors += [
            f"{path}.location.region_codes: {region!r} is used by the pack but not listed"
            for region in sorted(named - set(codes))
        ]
    return Jurisdiction(
        code=code,
        name=name,
        hours=tuple(r for r in _rules(lists["hours"], path, "hours", _hours, errors) if r),
        holidays=holidays,
        caps=tuple(r for r in _rules(lists["caps"], path, "caps", _cap, errors) if r),
        consent=tuple(r for r in _rules(lists["consent"], path, "consent", _regime, errors) if r),
        states=states,
        notes=tuple(notes),
        timezones=zones,
        region_timezones=region_zones,
        prefixes=prefixes,
        location_citation=loc_citation,
        region_codes=frozenset(codes),
        same_places=same,
        part_of=part_of,
    )


def _rules(items: list[Any], path: str, kind: str, make: Any, errors: list[str]) -> list[Any]:
    out = []
    for index, item in enumerate(items):
        if not isinstance(item, dict):
            errors.append(f"{path}.{kind}[{index}]: must be a table")
            continue
        label = item.get("name")
        if not isinstance(label, str) or not label:
            errors.append(f"{path}.{kind}[{index}].name: required (a non-empty string)")
            continue
        where = f"{path}.{kind}.{label}"
        errors += [f"{where}.{k}: unknown setting" for k in item if k not in _KEYS[kind]]
        if not isinstance(item.get("citation"), str) or not item["citation"]:
            errors.append(f"{where}.citation: required: every rule cites its source")
        if "unverified" in item and not isinstance(item["unverified"], bool):
            errors.append(f"{where}.unverified: must be true or false")
        out.append(make(item, where, errors))
    return out


def _purposes(item: Mapping[str, Any], where: str, errors: list[str]) -> frozenset[Purpose]:
    value = item.get("purposes")
    try:
        if not isinstance(value, list) or not value:
            raise ValueError
        return frozenset(Purpose(p) for p in value)
    except (ValueError, TypeError):
        errors.append(
            f"{where}.purposes: must list purposes from {', '.join(p.value for p in Purpose)}"
        )
        return frozenset()


def _clock(text: Any) -> int | None:
    if not isinstance(text, str) or len(text) != 5 or text[2] != ":":
        return None
    hours, minutes = text[:2], text[3:]
    if not (hours.isdigit() and minutes.isdigit()):
        return None
    value = int(hours) * 3600 + int(minutes) * 60
    return value if int(minutes) < 60 and value <= 86400 else None


def _hours(item: Mapping[str, Any], where: str, errors: list[str]) -> HoursRule | None:
    days_raw = item.get("days")
    if not isinstance(days_raw, dict):
        errors.append(f"{where}.days: required: a table of weekday = [[start, end], ...]")
        days_raw = {}
    days: dict[str, tuple[Interval, ...]] = {}
    for day, spans in days_raw.items():
        if day not in DAYS:
            errors.append(f"{where}.days.{day}: unknown weekday (use {', '.join(DAYS)})")
            continue
        days[day] = _intervals(spans, f"{where}.days.{day}", errors)
    standard_time = _utc_offset(item, "standard_time", where, errors)
    calendar, subdivision, holiday_hours = _holiday_hours(item, where, errors)
    if calendar and standard_time is not None:
        # The law's clock is read by weekday alone (`_on_standard_time`): not both.
        errors.append(f"{where}.holiday_calendar: not with standard_time")
        calendar, subdivision, holiday_hours = "", "", ()
    days_after = item.get("holiday_days_after", [])
    if not _strings(days_after) or (days_after and not calendar):
        errors.append(f"{where}.holiday_days_after: a list of holiday names, with holiday_calendar")
        days_after = []
    return HoursRule(
        str(item.get("name")),
        _purposes(item, where, errors),
        days,
        str(item.get("citation", "")),
        bool(item.get("unverified", False)),
        _bool(item, "consent_lifts", where, errors),
        standard_time,
        _bool(item, "automated", where, errors),
        calendar,
        subdivision,
        holiday_hours,
        tuple(days_after),
    )


def _intervals(spans: object, where: str, errors: list[str]) -> tuple[Interval, ...]:
    """`[["HH:MM", "HH:MM"], ...]`, half-open; "24:00" ends a day."""
    intervals: list[Interval] = []
    for span in spans if isinstance(spans, list) else [None]:
        start = _clock(span[0]) if isinstance(span, list) and len(span) == 2 else None
        end = _clock(span[1]) if isinstance(span, list) and len(span) == 2 else None
        if start is None or end is None or start >= end:
            errors.append(f'{where}: each interval is ["HH:MM", "HH:MM"] with start before end')
            continue
        intervals.append((start, end))
    return tuple(intervals)


def _holiday_hours(
    item: Mapping[str, Any], where: str, errors: list[str]
) -> tuple[str, str, tuple[Interval, ...]]:
    """An hours rule's `holiday_calendar`, `holiday_subdivision` and `holiday_hours`: all
    three or none (a calendar without hours would close its holidays silently)."""
    calendar = item.get("holiday_calendar", "")
    subdivision = item.get("holiday_subdivision", "")
    spans = item.get("holiday_hours")
    if not calendar and not subdivision and spans is None:
        return "", "", ()
    if not _known_calendar(calendar, f"{where}.holiday_calendar", errors):
        return "", "", ()
    known = _calendar_subdivisions(calendar)
    if not isinstance(subdivision, str) or (subdivision and subdivision not in known):
        shown = ", ".join(sorted(known)) or "none"
        errors.append(
            f"{where}.holiday_subdivision: {subdivision!r} is not a {calendar} subdivision"
            f" ({shown})"
        )
        return "", "", ()
    if spans is None:
        errors.append(
            f'{where}.holiday_hours: required with holiday_calendar ([["HH:MM", "HH:MM"], ...],'
            " or [] for no calls on a holiday)"
        )
        return "", "", ()
    hours = _intervals(spans, f"{where}.holiday_hours", errors) if spans != [] else ()
    return calendar, subdivision, hours


def _utc_offset(
    item: Mapping[str, Any], key: str, where: str, errors: list[str]
) -> timedelta | None:
    """An optional UTC offset written `-06:00` (hours and minutes, signed)."""
    value = item.get(key)
    if value is None or value is False:  # false: an override turning a pack's off
        return None
    match = re.fullmatch(r"([+-])(\d{2}):(\d{2})", value) if isinstance(value, str) else None
    hours, minutes = (int(match[2]), int(match[3])) if match else (99, 99)
    if match is None or hours > 14 or minutes > 59:
        errors.append(f'{where}.{key}: must be a UTC offset such as "-06:00", or false')
        return None
    offset = timedelta(hours=hours, minutes=minutes)
    return -offset if match[1] == "-" else offset


def _known_calendar(value: object, key: str, errors: list[str]) -> TypeGuard[str]:
    """Whether `value` is a country code the holidays library has a calendar for."""
    import holidays

    if isinstance(value, str) and value in holidays.list_supported_countries():
        return True
    errors.append(f"{key}: must be a country code the holidays library knows")
    return False


def _holiday(item: Mapping[str, Any], where: str, errors: list[str]) -> HolidayRule | None:
    calendar = item.get("calendar")
    if not _known_calendar(calendar, f"{where}.calendar", errors):
        return None
    names = item.get("names", [])
    when_unknown = item.get("when_unknown", [])
    aliases = item.get("aliases", {})
    if not _strings(names):
        errors.append(f"{where}.names: must be a list of strings")
        names = []
    if not _strings(when_unknown):
        errors.append(f'{where}.when_unknown: must be a list of subdivision codes (or "*")')
        when_unknown = []
    if not isinstance(aliases, dict) or not _strings(list(aliases.values())):
        errors.append(f"{where}.aliases: must map region codes to subdivision codes")
        aliases = {}
    subdivision = item.get("subdivision", "")
    if not isinstance(subdivision, str):
        errors.append(f'{where}.subdivision: must be "", "callee" or a subdivision code')
        subdivision = ""
    # A code the calendar does not know raised NotImplementedError on every call it covers
    # (a guard.error, or every call allowed under on_failure = "allow"): refused here.
    known = _calendar_subdivisions(calendar)
    shown = ", ".join(sorted(known)) or "none"
    if subdivision not in ("", "callee") and subdivision not in known:
        errors.append(
            f"{where}.subdivision: {subdivision!r} is not a {calendar} subdivision ({shown})"
        )
        subdivision = ""
    unknown_codes = [c for c in when_unknown if c != "*" and c not in known]
    if unknown_codes:
        errors.append(
            f"{where}.when_unknown: {', '.join(map(repr, unknown_codes))} not {calendar}"
            f" subdivisions ({shown})"
        )
        when_unknown = [c for c in when_unknown if c not in unknown_codes]
    bad_aliases = sorted(k for k, v in aliases.items() if v not in known)
    if bad_aliases:
        errors.append(
            f"{where}.aliases: {', '.join(map(repr, bad_aliases))} map to no {calendar}"
            f" subdivision ({shown})"
        )
        aliases = {k: v for k, v in aliases.items() if k not in bad_aliases}
    dates = _holiday_dates(item.get("dates", {}), f"{where}.dates", errors)
    return HolidayRule(
        str(item.get("name")),
        _purposes(item, where, errors),
        calendar,
        str(item.get("citation", "")),
        subdivision=subdivision,
        when_unknown=tuple(when_unknown),
        aliases=dict(aliases),
        observed=item.get("observed", True) is not False,
        names=tuple(names),
        dates=dates,
        conservative=_bool(item, "conservative", where, errors),
        unverified=bool(item.get("unverified", False)),
        consent_lifts=_bool(item, "consent_lifts", where, errors),
    )


def _holiday_dates(raw: object, where: str, errors: list[str]) -> dict[str, str]:
    """`{"01-08" = "Battle of New Orleans", "2023-12-26" = "governor's proclamation"}`."""
    if not isinstance(raw, dict):
        errors.append(f"{where}: must map MM-DD or YYYY-MM-DD to a holiday's name")
        return {}
    out: dict[str, str] = {}
    for key, name in raw.items():
        text = str(key)
        try:
            # Every year's MM-DD must exist in some year: read it in a leap year.
            date.fromisoformat(text if len(text) == 10 else f"2024-{text}")
            valid = len(text) in (5, 10)
        except ValueError:
            valid = False
        if not valid or not isinstance(name, str) or not name:
            errors.append(f"{where}.{text}: must be MM-DD or YYYY-MM-DD = a holiday's name")
            continue
        out[text] = name
    return out


def _cap(item: Mapping[str, Any], where: str, errors: list[str]) -> CapRule | None:
    window = item.get("window_hours")
    if (
        isinstance(window, bool)
        or not isinstance(window, int | float)
        or not math.isfinite(window)  # TOML's nan passed both comparisons
        or window <= 0
    ):
        errors.append(f"{where}.window_hours: must be a positive number of hours")
        window = 24
    elif window > ATTEMPT_LOOKBACK / timedelta(hours=1):
        # Attempts further back are never read: a longer window would silently count fewer.
        errors.append(
            f"{where}.window_hours: at most {ATTEMPT_LOOKBACK / timedelta(hours=1):g}"
            f" ({ATTEMPT_LOOKBACK.days} days, how far back the guard reads attempts)"
        )
        window = 24
    trigger = item.get("trigger", "attempt")
    if trigger not in TRIGGERS:
        errors.append(f"{where}.trigger: must be one of {', '.join(TRIGGERS)}")
        trigger = "attempt"
    scope = item.get("scope", "campaign")
    if scope not in SCOPES:
        errors.append(f"{where}.scope: must be one of {', '.join(SCOPES)}")
        scope = "campaign"
    limit = item.get("limit", 0)
    if trigger == "attempt" and (
        isinstance(limit, bool) or not isinstance(limit, int) or limit < 1
    ):
        errors.append(f"{where}.limit: must be a whole number of calls, at least 1")
        limit = 1
    calendar_days = item.get("calendar_days", False)
    if not isinstance(calendar_days, bool):
        errors.append(f"{where}.calendar_days: must be true or false")
        calendar_days = False
    elif calendar_days and (window % 24 or window > _CALENDAR_MAX_HOURS):
        # Whole days, and room for the hour a clock change adds within what is read.
        errors.append(
            f"{where}.window_hours: with calendar_days, whole days of at most"
            f" {_CALENDAR_MAX_HOURS // 24} ({_CALENDAR_MAX_HOURS:g} hours)"
        )
        calendar_days = False
    person_calls_exempt = item.get("person_calls_exempt", False)
    if not isinstance(person_calls_exempt, bool):
        errors.append(f"{where}.person_calls_exempt: must be true or false")
        person_calls_exempt = False
    try:
        kinds = item.get("lifted_by", [])
        if not _strings(kinds):  # a table's keys would read as a list of kinds
            raise TypeError
        lifted_by = frozenset(ConsentKind(k) for k in kinds)
    except (ValueError, TypeError):
        errors.append(f"{where}.lifted_by: must list consent kinds from {', '.join(ConsentKind)}")
        lifted_by = frozenset()
    return CapRule(
        str(item.get("name")),
        _purposes(item, where, errors),
        float(window),
        str(item.get("citation", "")),
        str(trigger),
        int(limit) if isinstance(limit, int) else 0,
        str(scope),
        bool(item.get("unverified", False)),
        calendar_days,
        person_calls_exempt,
        _bool(item, "automated", where, errors),
        lifted_by,
    )


_CALENDAR_MAX_HOURS = (ATTEMPT_LOOKBACK.days - 1) * 24


@cache
def _calendar_subdivisions(calendar: str) -> frozenset[str]:
    """The subdivision codes the holidays library has for `calendar`. Not its aliases
    (`Moselle`): the holiday rules read codes only, and an alias matched no calendar."""
    import holidays

    return frozenset(holidays.country_holidays(calendar).subdivisions)


def _regime(item: Mapping[str, Any], where: str, errors: list[str]) -> ConsentRegime | None:
    try:
        accepts = frozenset(ConsentKind(k) for k in item.get("accepts", []))
        if not accepts:
            raise ValueError
    except (ValueError, TypeError):
        errors.append(f"{where}.accepts: must list consent kinds from {', '.join(ConsentKind)}")
        accepts = frozenset()
    bounds: dict[str, date | None] = {}
    for key in ("since", "until"):
        value = item.get(key)
        if value is not None and not isinstance(value, date):
            errors.append(f"{where}.{key}: must be a TOML date (YYYY-MM-DD, unquoted)")
            value = None
        bounds[key] = value
    types = item.get("number_types", [])
    if not _strings(types) or not set(types) <= NUMBER_TYPES:
        # A misspelt type (`mobiles`) matched no number and silently turned the regime off.
        unknown = sorted(repr(t) for t in types if t not in NUMBER_TYPES) if _strings(types) else []
        named = f" ({', '.join(unknown)} is not one)" if unknown else ""
        errors.append(
            f"{where}.number_types: must be a list of number types from"
            f" {', '.join(sorted(NUMBER_TYPES))}{named}"
        )
        types = []
    automated = item.get("automated", False)
    if not isinstance(automated, bool):
        errors.append(f"{where}.automated: must be true or false")
        automated = False
    return ConsentRegime(
        str(item.get("name")),
        _purposes(item, where, errors),
        accepts,
        str(item.get("citation", "")),
        bounds["since"],
        bounds["until"],
        frozenset(types),
        bool(item.get("unverified", False)),
        _max_ages(item.get("max_age_days", {}), accepts, where, errors),
        automated,
    )


def _max_ages(
    value: object, accepts: frozenset[ConsentKind], where: str, errors: list[str]
) -> tuple[tuple[ConsentKind, int], ...]:
    """`max_age_days = { express = 730 }`: days a consent of each kind counts for, each
    kind one the regime accepts (`merge` drops the pack's ages of kinds an override no
    longer accepts)."""
    key = f"{where}.max_age_days"
    ages: list[tuple[ConsentKind, int]] = []
    for kind, days in consent_kind_table(value, key, "{ express = 730 }", errors):
        if isinstance(days, bool) or not isinstance(days, int) or not 1 <= days <= 36500:
            errors.append(f"{key}.{kind.value}: must be a whole number of days, 1 to 36500")
        elif kind not in accepts:
            errors.append(f"{key}.{kind.value}: not a kind this regime accepts")
        else:
            ages.append((kind, days))
    return tuple(ages)


def consent_kind_table(
    value: object, key: str, example: str, errors: list[str]
) -> list[tuple[ConsentKind, object]]:
    """The entries of a settings table keyed by consent kind (`{ express = 730 }`), each
    kind checked; an error for anything else, named by `key`."""
    if not isinstance(value, dict):
        errors.append(f"{key}: must be a table of consent kinds, e.g. {example}")
        return []
    entries: list[tuple[ConsentKind, object]] = []
    for kind, item in value.items():
        try:
            entries.append((ConsentKind(kind), item))
        except ValueError:
            errors.append(f"{key}.{kind}: not a consent kind ({', '.join(ConsentKind)})")
    return entries


def _region_codes(location: dict[str, Any], code: str, path: str, errors: list[str]) -> list[str]:
    """`[location] region_codes`: `CC-SUB` codes of this pack's country."""
    value = location.get("region_codes", [])
    key = f"{path}.location.region_codes"
    if not _strings(value):
        errors.append(f"{key}: must be a list of region codes such as {code}-75")
        return []
    good = []
    for item in value:
        country, sep, sub = str(item).partition("-")
        if country != code or not sep or not sub.isalnum() or len(sub) > 3:
            errors.append(f"{key}: {item!r} is not a region code of {code} ({code}-SUB)")
        else:
            good.append(f"{country}-{sub.upper()}")
    return good


def _same_places(
    location: dict[str, Any], codes: list[str], path: str, errors: list[str]
) -> dict[str, str]:
    """`[location] same_places`: a region code -> the code the pack names the same place by
    (both among `region_codes`, when the pack lists them)."""
    key = f"{path}.location.same_places"
    table = _table(location.get("same_places", {}), key, errors)
    same: dict[str, str] = {}
    for alias, canonical in table.items():
        unknown = [
            c for c in (alias, canonical) if not isinstance(c, str) or (codes and c not in codes)
        ]
        if unknown:
            errors.append(
                f"{key}.{alias}: {', '.join(map(repr, unknown))} is not a listed region code"
            )
        else:
            same[alias] = canonical
    return same


def _parts(
    location: dict[str, Any],
    code: str,
    codes: list[str],
    same: dict[str, str],
    path: str,
    errors: list[str],
) -> dict[str, str]:
    """`[location] parts`: a place -> the places it holds (`"FR-PAC" = ["FR-04", ...]`), as
    each part -> its place. Every code is one the pack names a place by (not another code of
    it in `same_places`), a part has one place, and no place is a part of itself."""
    key = f"{path}.location.parts"
    part_of: dict[str, str] = {}
    wholes: list[str] = []
    for whole, parts in _table(location.get("parts", {}), key, errors).items():
        where = f"{key}.{whole}"
        if not _strings(parts):
            errors.append(f"{where}: must be a list of region codes such as {code}-13")
            continue
        names = [whole, *parts]
        unknown = [c for c in names if (c not in codes if codes else c[:3] != f"{code}-")]
        aliases = [c for c in names if c in same]
        if unknown:
            what = "listed region code" if codes else f"region code of {code}"
            many = f"are not {what}s" if len(unknown) > 1 else f"is not a {what}"
            errors.append(f"{where}: {', '.join(map(repr, unknown))} {many}")
        elif aliases:
            errors.append(
                f"{where}: {aliases[0]!r} names the same place as {same[aliases[0]]!r}"
                f" (same_places): name it {same[aliases[0]]!r}"
            )
        else:
            wholes.append(whole)
            for part in parts:
                if part in part_of:
                    errors.append(f"{where}: {part!r} is already a part of {part_of[part]!r}")
                else:
                    part_of[part] = whole
    for whole in wholes:
        # Up from `whole` through the places that hold it: back at `whole` is a cycle, which
        # is reported once, at its first place in the table, and cut.
        chain = [whole]
        while chain[-1] in part_of and part_of[chain[-1]] not in chain:
            chain.append(part_of[chain[-1]])
        if part_of.get(chain[-1]) == whole:
            errors.append(f"{key}.{whole}: a part of itself ({' in '.join([*chain, whole])})")
            del part_of[chain[-1]]
    return part_of


def _location(
    raw: Any, path: str, errors: list[str]
) -> tuple[
    tuple[str, ...],
    dict[str, tuple[str, ...]],
    dict[str, tuple[tuple[str, ...], tuple[str, ...]]],
    str,
]:
    from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

    def zones(value: Any, key: str) -> tuple[str, ...]:
        if not _strings(value):
            errors.append(f"{key}: must be a list of IANA time zones")
            return ()
        good = []
        for name in value:
            try:
                ZoneInfo(name)
            except (ZoneInfoNotFoundError, ValueError):
                errors.append(f"{key}: {name!r} is not an IANA time zone")
                continue
            good.append(name)
        return tuple(good)

    if not isinstance(raw, dict):
        errors.append(f"{path}.location: must be a table")
        return (), {}, {}, ""
    where = f"{path}.location"
    errors += [f"{where}.{k}: unknown setting" for k in raw if k not in _LOCATION_KEYS]
    all_zones = zones(raw.get("timezones", []), f"{where}.timezones")
    regions = {
        str(region): zones(value, f"{where}.regions.{region}")
        for region, value in _table(raw.get("regions", {}), f"{where}.regions", errors).items()
    }
    prefixes: dict[str, tuple[tuple[str, ...], tuple[str, ...]]] = {}
    for prefix, value in _table(raw.get("prefixes", {}), f"{where}.prefixes", errors).items():
        key = f"{where}.prefixes.{prefix}"
        if not (str(prefix).isdigit() and len(str(prefix)) <= MAX_PREFIX_DIGITS):
            errors.append(f"{key}: must be 1 to {MAX_PREFIX_DIGITS} digits of the national number")
            continue
        if not isinstance(value, dict) or not _strings(value.get("regions", [])):
            errors.append(f"{key}: must be a table with regions = [...] and timezones = [...]")
            continue
        prefixes[str(prefix)] = (
            tuple(value.get("regions", [])),
            zones(value.get("timezones", []), f"{key}.timezones"),
        )
    return all_zones, regions, prefixes, str(raw.get("citation", ""))


def _table(value: Any, key: str, errors: list[str]) -> dict[str, Any]:
    if not isinstance(value, dict):
        errors.append(f"{key}: must be a table")
        return {}
    return value


def _strings(value: Any) -> bool:
    return isinstance(value, list) and all(isinstance(v, str) for v in value)


def _bool(item: Mapping[str, Any], key: str, where: str, errors: list[str]) -> bool:
    value = item.get(key, False)
    if not isinstance(value, bool):
        errors.append(f"{where}.{key}: must be true or false")
        return False
    return value
