"""Opt-in regimes (consent.*): where the law needs consent before a call, require one.

DE, NL, ES (since 29 Jun 2023), FR (from 11 Aug 2026), IE mobiles; for automated calls
(prerecorded or artificial voice: `CallAttempt.automated`) the US (written consent for
telemarketing; express consent for every other purpose to lines that may be mobiles), the UK
(PECR reg 19) and the EU (ePrivacy art. 13(1)). A regime applies to the
purposes its pack lists, so purpose exemptions go exactly as far as the pack says. A regime
of some `number_types` applies to every line that may be of one of them
(`possible_number_types`: a US number is a mobile until the call's line type says otherwise).
The internal opt-out list is checked before this family (engine PRECEDENCE), so an opt-out
always beats a consent.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import date
from functools import lru_cache

from rules.context import RuleContext
from rules.jurisdictions.applicable import applicable_rules, consents_in_force, rule_id
from rules.jurisdictions.model import ConsentRegime
from rules.models import Finding, FindingVerdict, LineType, Purpose, possible_number_types
from rules.numbers import country_text


def opt_in(ctx: RuleContext) -> Iterable[Finding]:
    if ctx.destination.e164 is None:
        return
    purpose = ctx.attempt.purpose
    days = _callee_days(ctx)
    day = min(days)
    found = False
    line_type = ctx.attempt.line_type
    types = possible_number_types(ctx.destination.number_type, line_type)
    # What the number alone allows: a regime it leaves out only on the call's word is
    # recorded as skipped for that word.
    unknown_line = (
        types if line_type is None else (possible_number_types(ctx.destination.number_type, None))
    )
    for label, regime in applicable_rules(ctx, lambda table: table.consent):
        # In force on any candidate's local date: the most restrictive candidate decides.
        if not any(regime.in_force(d) for d in days):
            continue
        if regime.number_types and not regime.number_types & types:
            if line_type is not None and regime.number_types & unknown_line:
                found = True
                yield _not_for_this_line(label, regime, line_type)
            continue
        found = True
        yield _regime(ctx, label, regime)
    if not found:
        yield _no_regime(purpose, ctx.destination.country, ctx.destination.number_type, day)


def _regime(ctx: RuleContext, label: str, regime: ConsentRegime) -> Finding:
    rid = rule_id("consent", label, regime.name)
    at = ctx.attempt.at
    in_force = consents_in_force(ctx, regime.accepts)
    consent = next((c for c in in_force if not regime.too_old(c.kind, c.counted_from, at)), None)
    if consent is None and in_force:
        stale = in_force[0]  # the most recent: every other is older still
        days = regime.max_age(stale.kind)
        return Finding(
            rid,
            FindingVerdict.BLOCK,
            f"the {stale.kind.value} consent for tenant {stale.tenant} recorded on "
            f"{stale.granted_at:%Y-%m-%d} is more than {days} days old, and {label} "
            f"{regime.name} needs it renewed; record the renewed consent with `dialguard "
            "consent add`",
            regime.citation,
            regime.unverified,
            {"accepts": sorted(k.value for k in regime.accepts), "max_age_days": days},
        )
    if consent is not None:
        return Finding(
            rid,
            FindingVerdict.ALLOW,
            f"{consent.kind.value} consent for tenant {consent.tenant} recorded on "
            f"{consent.granted_at:%Y-%m-%d} ({label} {regime.name})",
            regime.citation,
            regime.unverified,
        )
    kinds = " or ".join(sorted(k.value for k in regime.accepts))
    return Finding(
        rid,
        FindingVerdict.BLOCK,
        f"{label} requires consent ({kinds}) for {_automated(regime)}"
        f"{ctx.attempt.purpose.value} calls{_to_whom(regime)} and none is recorded for tenant"
        f" {ctx.attempt.tenant}; record it with `dialguard consent add`"
        + _line_type_hint(ctx, regime),
        regime.citation,
        regime.unverified,
        {"accepts": sorted(k.value for k in regime.accepts)},
    )


@lru_cache(maxsize=256)
def _not_for_this_line(label: str, regime: ConsentRegime, line_type: LineType) -> Finding:
    """A regime the number would be held by, left out on the call's word (a landline):
    the record says so. One finding per regime and line type."""
    return Finding(
        rule_id("consent", label, regime.name),
        FindingVerdict.SKIP,
        f"the call says the line is a {line_type.value} (DIALGUARD_LINE_TYPE), and {label} "
        f"{regime.name} is for calls{_to_whom(regime)} only",
        regime.citation,
        regime.unverified,
    )


# How a reason names the number types (rules.numbers.NUMBER_TYPES) a regime is for.
_TYPE_NAMES = {"personal_number": "personal (5XX)", "toll_free": "toll-free"}


def _type_name(number_type: str) -> str:
    return _TYPE_NAMES.get(number_type, number_type.replace("_", " "))


def _to_whom(regime: ConsentRegime) -> str:
    """` to mobile or pager numbers`, for a regime of some number types (empty for every
    number)."""
    if not regime.number_types:
        return ""
    names = sorted(_type_name(t) for t in regime.number_types)
    listed = names[0] if len(names) == 1 else ", ".join(names[:-1]) + " or " + names[-1]
    return f" to {listed} numbers"


def _automated(regime: ConsentRegime) -> str:
    return "automated " if regime.automated else ""


def _line_type_hint(ctx: RuleContext, regime: ConsentRegime) -> str:
    """Where the regime holds the call only because the line may be of its types (a US
    number, no DIALGUARD_LINE_TYPE), how a call to another line says so; where the number
    itself is of its types, that no line type changes it."""
    if not regime.number_types:
        return ""
    own = ctx.destination.number_type
    if own in regime.number_types:
        if ctx.attempt.line_type is None or own == "mobile":
            return ""
        return (
            f" ({ctx.destination.e164} is a {_type_name(own)} number whatever the line type says; an"
            " override can narrow the rule's number_types: docs/jurisdictions.md)"
        )
    if ctx.attempt.line_type is not None:
        return ""
    other = "landline" if "mobile" in regime.number_types else "mobile"
    return (
        f", or, for a {other}, say so with DIALGUARD_LINE_TYPE={other} (`--line-type"
        f" {other}` or a `line_type` column for check and scrub:"
        f" {country_text(ctx.destination.country)} numbers do not tell)"
    )


@lru_cache(maxsize=1024)
def _no_regime(
    purpose: Purpose, country: str | None, number_type: str | None, day: date
) -> Finding:
    # One finding per (purpose, country, number type, day): it depends on nothing else.
    callee = f"this {country} {number_type} number" if country else country_text(country)
    return Finding(
        "consent.none",
        FindingVerdict.SKIP,
        f"no opt-in regime applies to {purpose.value} calls to {callee} on {day}",
    )


def _callee_days(ctx: RuleContext) -> set[date]:
    return set(ctx.local.days) or {ctx.attempt.at.date()}


CHECKS = (opt_in,)
