"""The decision engine: parse, gather the facts the store must supply, run every rule, pick one.

Two steps, so the I/O in between stays outside this package:

    prepared = prepare(attempt, policy)          # pure: numbers, location, what to look up
    facts = await store.facts_for(prepared.query) # the edge does this
    decision = decide(prepared, facts)            # pure: every rule, then precedence

Precedence (documented in the README): an emergency call by a person is always allowed and
nothing else is consulted. Otherwise every rule family runs and each result is kept as a
finding; the deciding rule is the first blocking finding in `PRECEDENCE` order.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass
from datetime import timedelta

from rules.checks import blackouts, callerid, consent, core, frequency, hours, registry
from rules.context import RuleContext
from rules.facts import Facts
from rules.location import CalleeLocation, local_view, locate
from rules.models import CallAttempt, Decision, Finding, FindingVerdict, Verdict
from rules.numbers import ParsedNumber, is_emergency, parse_number
from rules.policy import Policy
from rules.ports import FactQuery

Rule = Callable[[RuleContext], Iterable[Finding]]

# The order in which blocking families decide. Earlier families are the more fundamental
# reasons: a suspended account or an unreadable number says more than a closed window.
PRECEDENCE: tuple[str, ...] = (
    "guard",
    "emergency",
    "suspension",
    "number",
    "suppression",
    "callerid",
    "registry",
    "consent",
    "holiday",
    "hours",
    "frequency",
)

RULES: tuple[Rule, ...] = (
    *core.CHECKS,
    callerid.family,  # callerid.CHECKS, part memoised
    *registry.CHECKS,
    *consent.CHECKS,
    *blackouts.CHECKS,  # family holiday: named before a holiday that blocks too
    *hours.CHECKS,
    *frequency.CHECKS,
)


@dataclass(frozen=True, slots=True)
class Prepared:
    attempt: CallAttempt
    policy: Policy
    region: str | None
    destination: ParsedNumber
    caller_id: ParsedNumber | None
    location: CalleeLocation
    emergency: bool
    query: FactQuery


def prepare(attempt: CallAttempt, policy: Policy) -> Prepared:
    region = policy.region_for(attempt.tenant)
    destination = parse_number(attempt.destination, region)
    caller_id = parse_number(attempt.caller_id, region) if attempt.caller_id else None
    location = locate(attempt, destination, policy)
    registers = [s.name for s in policy.registers_for_country(location.country)]
    query = FactQuery(
        number=destination.e164,
        tenant=attempt.tenant,
        campaign=attempt.campaign,
        caller_id=caller_id.e164 if caller_id else None,
        registers=registers,
        caller_id_registers=[s.name for s in policy.caller_id_registers()],
        attempts_since=attempt.at - policy.attempt_lookback - CALENDAR_SLACK,
    )
    return Prepared(
        attempt,
        policy,
        region,
        destination,
        caller_id,
        location,
        is_emergency(attempt.destination, region),
        query,
    )


def decide(prepared: Prepared, facts: Facts) -> Decision:
    ctx = RuleContext(
        attempt=prepared.attempt,
        policy=prepared.policy,
        region=prepared.region,
        destination=prepared.destination,
        caller_id=prepared.caller_id,
        location=prepared.location,
        facts=facts,
        local=local_view(prepared.location.timezones, prepared.attempt.at),
    )
    if prepared.emergency:
        return _decision(ctx, [core.emergency(ctx)])
    findings: list[Finding] = []
    for rule in RULES:
        findings.extend(rule(ctx))
    return _decision(ctx, findings)


def failure_decision(attempt: CallAttempt, policy: Policy, rule: str, reason: str) -> Decision:
    """The declared failure policy, for when the guard itself fails or runs out of time."""
    verdict = policy.on_failure
    finding = Finding(
        rule,
        FindingVerdict.BLOCK if verdict is Verdict.BLOCK else FindingVerdict.ALLOW,
        reason,
        citation="dialguard failure policy ([guard] on_failure)",
    )
    return Decision(
        verdict=verdict,
        rule=rule if verdict is Verdict.BLOCK else None,
        reason=reason if verdict is Verdict.BLOCK else f"allowed by failure policy: {reason}",
        citation=finding.citation,
        number=number_as_read(attempt, policy),
        caller_id=attempt.caller_id,
        jurisdiction=None,
        local_time=None,
        findings=(finding,),
        context={"failure_policy": verdict.value},
    )


# A cap counted in calendar days starts at a local midnight: up to a day, and a clock
# change's hour, before the same time that many days back (rules/checks/frequency.py).
CALENDAR_SLACK = timedelta(hours=25)


def number_as_read(attempt: CallAttempt, policy: Policy) -> str | None:
    """The destination in E.164 when it can be read, for a decision made without the rules
    (the failure policy, bad input): `log --number` finds it by that number, and a call the
    failure policy allowed counts toward the caps as any allowed call does. Never raises:
    the guard may be failing on this very number."""
    try:
        return parse_number(attempt.destination, policy.region_for(attempt.tenant)).e164
    except Exception:
        return None


def _family(rule_id: str) -> str:
    return rule_id.split(".", 1)[0]


def _rank(finding: Finding) -> int:
    family = _family(finding.rule)
    return PRECEDENCE.index(family) if family in PRECEDENCE else len(PRECEDENCE)


def _decision(ctx: RuleContext, findings: list[Finding]) -> Decision:
    block = FindingVerdict.BLOCK
    blocking = sorted([f for f in findings if f.verdict is block], key=_rank)
    local = ctx.local.moment(0) if ctx.local.zones else None
    context: dict[str, object] = {
        "tenant": ctx.attempt.tenant,
        "campaign": ctx.attempt.campaign,
        "purpose": ctx.attempt.purpose.value,
        "automated": ctx.attempt.automated,
        "line_type": ctx.attempt.line_type.value if ctx.attempt.line_type else None,
        "timezones": list(ctx.location.timezones),
        # Every candidate zone's local time, once for the hours and holiday findings.
        "local_times": dict(ctx.local.iso),
        "regions": list(ctx.location.regions),
        "location_source": ctx.location.source,
    }
    number = ctx.destination.e164
    cid = ctx.caller_id.e164 if ctx.caller_id and ctx.caller_id.e164 else ctx.attempt.caller_id
    if blocking:
        first = blocking[0]
        return Decision(
            Verdict.BLOCK,
            first.rule,
            first.reason,
            first.citation,
            number,
            cid,
            ctx.location.country,
            local,
            tuple(findings),
            context,
        )
    return Decision(
        Verdict.ALLOW,
        None,
        "allowed: no rule blocks this call",
        "",
        number,
        cid,
        ctx.location.country,
        local,
        tuple(findings),
        context,
    )
