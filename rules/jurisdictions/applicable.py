"""Which pack tables apply to a call, and the consent records that speak for it."""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from datetime import datetime
from functools import lru_cache
from typing import Protocol, TypeVar

from rules.context import RuleContext
from rules.facts import ConsentKind, ConsentRecord
from rules.jurisdictions.model import Jurisdiction
from rules.models import Finding, FindingVerdict, Purpose
from rules.numbers import country_text


class _ForPurposes(Protocol):
    @property
    def purposes(self) -> frozenset[Purpose]: ...


R = TypeVar("R", bound=_ForPurposes)


def tables(ctx: RuleContext) -> list[tuple[str, Jurisdiction]]:
    """The country's pack and the state tables of every candidate state, labelled.

    With no state known (a mobile, a non-geographic number), every state table applies:
    the most restrictive candidate decides. An address abroad names no state either (a
    toll-free number given AU-NSW lost every state's table).
    """
    pack = ctx.policy.jurisdictions.for_country(ctx.location.country)
    if pack is None:
        return []
    out = [(pack.code, pack)]
    if not pack.states:
        return out
    prefix = f"{pack.code}-"
    states = [r[len(prefix) :] for r in ctx.location.regions if r.startswith(prefix)]
    if not states:
        states = sorted(pack.states)
    for state in states:
        table = pack.states.get(state)
        if table is not None:
            out.append((f"{pack.code}-{state}", table))
    return out


def applicable_rules(
    ctx: RuleContext, pick: Callable[[Jurisdiction], Sequence[R]]
) -> list[tuple[str, R]]:
    """The rules of one kind (`pick`) in every applicable table that cover the call's purpose;
    a rule of automated calls only (`automated`, on caps and hours) not for a live call."""
    purpose, automated = ctx.attempt.purpose, ctx.attempt.automated
    return [
        (label, rule)
        for label, table in tables(ctx)
        for rule in pick(table)
        if purpose in rule.purposes and (automated or not getattr(rule, "automated", False))
    ]


def nothing_applies(ctx: RuleContext, rule: str, what: str) -> Finding:
    """The SKIP finding of a family with no rule for this call."""
    return _nothing_applies(rule, what, ctx.attempt.purpose, ctx.location.country)


@lru_cache(maxsize=1024)
def _nothing_applies(rule: str, what: str, purpose: Purpose, country: str | None) -> Finding:
    # One finding per (family, purpose, country): it depends on nothing else.
    return Finding(
        rule,
        FindingVerdict.SKIP,
        f"no {what} applies to {purpose.value} calls to {country_text(country)}",
    )


def consents_in_force(
    ctx: RuleContext, kinds: Iterable[ConsentKind], at: datetime | None = None
) -> list[ConsentRecord]:
    """Every consent of one of `kinds` in force for this tenant (and campaign, if it names
    one), the most recently granted first: a new purchase is a new relationship, and an old
    record must not hide it."""
    wanted = frozenset(kinds)
    when = at or ctx.attempt.at
    found = [
        consent
        for consent in ctx.facts.consents
        if consent.kind in wanted
        and consent.tenant == ctx.attempt.tenant
        and consent.campaign in (None, ctx.attempt.campaign)
        and consent.in_force(when)
    ]
    return sorted(found, key=lambda consent: consent.granted_at, reverse=True)


def consent_in_force(
    ctx: RuleContext, kinds: Iterable[ConsentKind], at: datetime | None = None
) -> ConsentRecord | None:
    """The most recently granted consent of one of `kinds` in force (`consents_in_force`)."""
    found = consents_in_force(ctx, kinds, at)
    return found[0] if found else None


def rule_id(family: str, label: str, name: str) -> str:
    return f"{family}.{label.lower()}-{name}"
