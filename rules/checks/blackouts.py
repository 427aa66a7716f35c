"""Blackouts: periods in which no call of a purpose is made to a place, declared by an
operator (`dialguard blackout add`), such as a state of emergency.

Louisiana bans telemarketing outright while a state of emergency is declared (LPSC General
Order R-29617, regulations.md 2.5, [S]/[V]); no calendar holds such days, so an operator
declares them as they happen. A callee whose region is not known (a mobile, a toll-free
number) may be in the place, and is held: the strictest reading, as for calling hours. A
callee address given with the call (`DIALGUARD_CALLEE_REGION`) narrows it.

Consent does not lift a blackout: Louisiana's General Order excludes the EBR and consent
exemptions from its time and day bans.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime

from rules.context import RuleContext
from rules.facts import Blackout
from rules.location import CalleeLocation, names_a_region_of
from rules.models import Finding, FindingVerdict

RULE = "holiday.blackout"
BLACKOUT_CITATION = (
    "Blackout declared by the operator (dialguard blackout add); Louisiana: no telemarketing"
    " during a declared state of emergency (LPSC General Order R-29617, regulations.md 2.5)"
)

# Constants: most checks meet no blackout at all, or none that holds them, and the audit
# record encodes a constant finding once (store.facts.finding_json). (Never mutate them.)
_NONE_DECLARED = Finding(RULE, FindingVerdict.ALLOW, "no blackout is declared")
_NONE_HOLDS = Finding(RULE, FindingVerdict.ALLOW, "no blackout declared holds this call")


def blackouts(ctx: RuleContext) -> Iterable[Finding]:
    declared = ctx.facts.blackouts
    if not declared:
        yield _NONE_DECLARED
        return
    attempt = ctx.attempt
    held = [
        b
        for b in declared
        if b.in_force(attempt.at)
        and b.holds(attempt.tenant, attempt.purpose.value)
        and may_be_in(ctx.location, b.place, ctx)
    ]
    if not held:
        yield _NONE_HOLDS
        return
    # The one that holds longest names the decision: lifting the others changes nothing.
    first = max(held, key=_ends_last)
    yield Finding(
        RULE,
        FindingVerdict.BLOCK,
        _reason(ctx, first, attempt.purpose.value),
        BLACKOUT_CITATION,
        details={
            "blackout": first.id,
            "place": first.place,
            "regions": list(ctx.location.regions),
            "location": ctx.location.basis or ctx.location.source,
        },
    )


def may_be_in(location: CalleeLocation, place: str, ctx: RuleContext) -> bool:
    """Whether the callee may be in `place`: a country (the law's: France for Réunion), or a
    region of it, which a callee of unknown region may be in. A region the call's address
    gives counts wherever the number is from (a Toronto number living in Louisiana). A
    region counts under any code its pack names the same place by (`FR-RE`, `FR-974`), and
    a callee is held by a place that holds their region (`FR-PAC` holds `FR-13`) or that
    their region holds (an address in `FR-PAC` may be in `FR-13`).

    An address that disagrees with the number keeps the number's place too
    (`CalleeLocation.held_regions`): an Australian mobile given US-FL may be in Sydney, and
    escaped a blackout of AU-NSW."""
    return _by_the_address(location, place, ctx) or _by_the_number(location, place, ctx)


def _by_the_address(location: CalleeLocation, place: str, ctx: RuleContext) -> bool:
    return _may_be_in(location.country, location.regions, place, ctx)


def _by_the_number(location: CalleeLocation, place: str, ctx: RuleContext) -> bool:
    """Whether the number places the callee in `place`, when an address disagrees with it."""
    number_regions = location.held_regions
    return number_regions is not None and _may_be_in(location.country, number_regions, place, ctx)


def _may_be_in(country: str | None, regions: tuple[str, ...], place: str, ctx: RuleContext) -> bool:
    if len(place) == 2:
        return place == country or names_a_region_of(regions, place)
    if any(_within(r, place, ctx) or _within(place, r, ctx) for r in regions):
        return True
    return place[:2] == country and not regions


def _within(region: str, place: str, ctx: RuleContext) -> bool:
    """Whether `region` is `place` or lies in it, by the pack of `place`'s country."""
    if region == place:
        return True
    pack = ctx.policy.jurisdictions.for_country(place[:2])
    return pack is not None and pack.within(region, place)


def _ends_last(blackout: Blackout) -> tuple[bool, datetime]:
    ends = blackout.ends_at
    return (ends is None, ends or blackout.starts_at)


def _reason(ctx: RuleContext, blackout: Blackout, purpose: str) -> str:
    location, where = ctx.location, blackout.place
    if location.held_regions is not None and not _by_the_address(location, where, ctx):
        # Held by the number alone, the address being elsewhere: say so.
        where = f"{where} (by the number, {location.held_why})"
    elif len(where) > 2 and not location.regions:
        where = f"{where} (the callee's region is not known: {location.basis or 'no location'})"
    elif len(where) > 2 and not any(_within(r, where, ctx) for r in location.regions):
        # Held only as a part of a wider region the callee is known by: say which.
        wider = ", ".join(r for r in location.regions if _within(where, r, ctx))
        basis = location.basis or location.source
        where = f"{where} (the callee's region {wider} holds it: {basis})"
    until = (
        f"until {blackout.ends_at:%Y-%m-%d %H:%M} UTC"
        if blackout.ends_at is not None
        else "until lifted"
    )
    why = f": {blackout.reason}" if blackout.reason else ""
    return (
        f"the callee may be in {where}, under blackout {blackout.id} since"
        f" {blackout.starts_at:%Y-%m-%d %H:%M} UTC {until}{why}; no {purpose} calls there"
    )


CHECKS = (blackouts,)
