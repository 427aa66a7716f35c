"""Frequency caps (frequency.*): rolling windows over earlier attempts to the same number.

Attempts come from the guard's own allowed decisions, recorded outcomes and imported history;
one call seen by several sources (same `call_id`) counts once. Windows are rolling and
inclusive of their far end: a call exactly 24 h ago still counts in a 24 h window (the
conservative reading). Keys follow regulations.md 6.4: `campaign` scope is (tenant, number,
campaign) - the subject for FL/OK/MD, the debt for Regulation F; `tenant` scope is
(tenant, number) - the professional for France; `number` scope is the number alone, whoever
calls it - Ofcom's repeat-call lock as regulations.md 6.4 keys it.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import replace
from datetime import UTC, date, datetime, time, timedelta
from zoneinfo import ZoneInfo

from rules.context import RuleContext
from rules.facts import PriorAttempt, same_name
from rules.jurisdictions.applicable import (
    applicable_rules,
    consent_in_force,
    nothing_applies,
    rule_id,
)
from rules.jurisdictions.model import CapRule
from rules.models import Finding, FindingVerdict

# How a reason (and `jurisdiction show`) names each trigger.
TRIGGER_WORDS = {
    "conversation": "a conversation",
    "refusal": "a refusal",
    "abandoned": "an abandoned call",
    "amd": "an answering-machine verdict",
}


def merged_attempts(attempts: Sequence[PriorAttempt]) -> list[PriorAttempt]:
    """One entry per attempt: the sources of one call (`call_id`) merge, earliest time and
    any flag: its decision, its outcome, its imported history.

    Except that one channel can dial the same number twice (a dialplan that retries after
    BUSY): its uniqueid is then the call_id of two decisions at different instants, two
    attempts that both count, and the outcome merges into the first. The same decision seen
    twice (committed, and still in the writer's queue) counts once: instants under
    `SAME_DECISION` apart (a float of epoch seconds in the store keeps the microsecond at
    best; no dialplan dials again within a millisecond)."""
    by_call: dict[str, PriorAttempt] = {}  # the outcome and history of each call, merged
    decisions: dict[str, list[PriorAttempt]] = {}
    out: list[PriorAttempt] = []
    for attempt in attempts:
        call_id = attempt.call_id
        if call_id is None:
            out.append(attempt)
        elif attempt.source == "decision":
            decisions.setdefault(call_id, []).append(attempt)
        else:
            seen = by_call.get(call_id)
            by_call[call_id] = attempt if seen is None else _merged(seen, attempt)
    for call_id, decided in decisions.items():
        first, *later = _distinct(decided)
        recorded = by_call.pop(call_id, None)
        out += later
        out.append(first if recorded is None else _merged(first, recorded))
    return out + list(by_call.values())


SAME_DECISION = timedelta(milliseconds=1)


def _distinct(decided: list[PriorAttempt]) -> list[PriorAttempt]:
    """One call's decisions in time order, each once."""
    kept: list[PriorAttempt] = []
    for attempt in sorted(decided, key=lambda a: a.at):
        if not kept or attempt.at - kept[-1].at >= SAME_DECISION:
            kept.append(attempt)
    return kept


def _merged(seen: PriorAttempt, attempt: PriorAttempt) -> PriorAttempt:
    """Two sources of one call as one attempt: the earliest time, any flag."""
    return replace(
        seen,
        at=min(seen.at, attempt.at),
        campaign=seen.campaign if seen.campaign is not None else attempt.campaign,
        purpose=seen.purpose or attempt.purpose,
        disposition=_disposition(seen.disposition, attempt.disposition),
        billsec=seen.billsec if seen.billsec is not None else attempt.billsec,
        conversation=seen.conversation or attempt.conversation,
        refused=seen.refused or attempt.refused,
        machine=seen.machine or attempt.machine,
        automated=seen.automated or attempt.automated,
    )


def caps(ctx: RuleContext) -> Iterable[Finding]:
    applicable = applicable_rules(ctx, lambda table: table.caps)
    if not applicable:
        yield nothing_applies(ctx, "frequency.none", "frequency cap")
        return
    attempts = merged_attempts(ctx.facts.attempts)
    for label, rule in applicable:
        yield _cap(ctx, label, rule, attempts)


def _cap(ctx: RuleContext, label: str, rule: CapRule, attempts: list[PriorAttempt]) -> Finding:
    rid = rule_id("frequency", label, rule.name)
    consent = consent_in_force(ctx, rule.lifted_by) if rule.lifted_by else None
    if consent is not None:  # nothing to count
        return Finding(
            rid,
            FindingVerdict.ALLOW,
            f"{consent.kind.value} consent for tenant {consent.tenant} recorded on "
            f"{consent.granted_at:%Y-%m-%d} lifts the {label} {rule.name} rule",
            rule.citation,
            rule.unverified,
        )
    at = ctx.attempt.at
    since = _window_start(ctx, rule)
    in_scope = [
        a
        for a in attempts
        if since <= a.at <= at and _same_key(ctx, rule, a) and (a.automated or not rule.automated)
    ]
    key = _key(ctx, rule)
    span = _span(rule.window_hours)
    calls = "automated calls" if rule.automated else "calls"
    if rule.person_calls_exempt and not ctx.attempt.is_machine:
        return Finding(
            rid,
            FindingVerdict.ALLOW,
            f"a person's call (no campaign): a live operator is on the line, which the"
            f" {label} {rule.name} rule allows",
            rule.citation,
            rule.unverified,
        )
    if rule.trigger == "attempt":
        details: dict[str, object] = {"count": len(in_scope), "limit": rule.limit, "key": key}
        if len(in_scope) >= rule.limit:
            oldest = min(a.at for a in in_scope)
            return Finding(
                rid,
                FindingVerdict.BLOCK,
                f"{len(in_scope)} {calls} to {ctx.destination.e164} {key} in the last {span} "
                f"already reach the {label} limit of {rule.limit}; the next is allowed after "
                f"{_utc(_window_end(ctx, rule, sorted(a.at for a in in_scope)[-rule.limit]))}",
                rule.citation,
                rule.unverified,
                {**details, "oldest": oldest.isoformat()},
            )
        return Finding(
            rid,
            FindingVerdict.ALLOW,
            f"{len(in_scope)} of {rule.limit} {calls} {key} in the last {span}"
            f" ({label} {rule.name})",
            rule.citation,
            rule.unverified,
            details,
        )
    triggers = [a for a in in_scope if _triggered(rule.trigger, a)]
    if triggers:
        last = max(a.at for a in triggers)
        return Finding(
            rid,
            FindingVerdict.BLOCK,
            f"{TRIGGER_WORDS[rule.trigger]} with {ctx.destination.e164} on {_utc(last)} {key}: "
            f"no call for {span} under the {label} {rule.name} rule, until "
            f"{_utc(_window_end(ctx, rule, last))}",
            rule.citation,
            rule.unverified,
            {"since": last.isoformat(), "key": key},
        )
    return Finding(
        rid,
        FindingVerdict.ALLOW,
        f"no {TRIGGER_WORDS[rule.trigger].split(' ', 1)[1]} {key} in the last {span}"
        f" ({label} {rule.name})",
        rule.citation,
        rule.unverified,
    )


def _window_start(ctx: RuleContext, rule: CapRule) -> datetime:
    """The far end (inclusive) of the window that ends at this call.

    In calendar days (N of them), an attempt counts while today is at most N days after its
    date, on the callee's clock: the window starts at the local midnight N days back, on
    whichever candidate clock that is earliest. A period of days ends at the end of its last
    day, so a lock set on the 4th at 15:00 holds through the whole 60th day after."""
    # Hours are elapsed time: counted in UTC (on a zone's clock, Python's arithmetic is the
    # wall clock's, and a time given on one would count calendar hours).
    start = ctx.attempt.at.astimezone(UTC) - timedelta(hours=rule.window_hours)
    if rule.calendar_days:
        back = timedelta(days=rule.window_hours // 24)
        for i, zone in enumerate(ctx.local.zones):
            start = min(start, _midnight(ctx.local.moment(i).date() - back, zone))
    return start


def _window_end(ctx: RuleContext, rule: CapRule, t: datetime) -> datetime:
    """When the window an attempt at `t` opened ends (the first instant it no longer
    counts): `_window_start`'s counterpart, the local midnight after its Nth day."""
    end = t.astimezone(UTC) + timedelta(hours=rule.window_hours)
    if rule.calendar_days:
        after = timedelta(days=rule.window_hours // 24 + 1)
        for zone in ctx.local.zones:
            end = max(end, _midnight(t.astimezone(ZoneInfo(zone)).date() + after, zone))
    return end


def _midnight(day: date, zone: str) -> datetime:
    """The first instant of `day` on `zone`'s clock, in UTC. Where a clock change repeats
    midnight, its first reading (fold 0); where it skips midnight (the Azores, Santiago,
    Beirut...), fold 0 reads the skipped time on the old offset, which is the instant the
    day began. Fold 1 there is an hour earlier, in the day before."""
    return datetime.combine(day, time(0), ZoneInfo(zone)).astimezone(UTC)


def _same_key(ctx: RuleContext, rule: CapRule, attempt: PriorAttempt) -> bool:
    if rule.scope == "number":
        return True
    # Names in another case count together: a cap only ever blocks more for it.
    if not same_name(attempt.tenant, ctx.attempt.tenant):
        return False
    return rule.scope == "tenant" or same_name(attempt.campaign, ctx.attempt.campaign)


def _key(ctx: RuleContext, rule: CapRule) -> str:
    if rule.scope == "number":
        return "by any tenant"
    if rule.scope == "tenant":
        return f"by tenant {ctx.attempt.tenant}"
    return f"by tenant {ctx.attempt.tenant} for campaign {ctx.attempt.campaign or '(none)'}"


def _triggered(trigger: str, attempt: PriorAttempt) -> bool:
    if trigger == "conversation":
        return attempt.conversation
    if trigger == "refusal":
        return attempt.refused
    if trigger == "amd":
        return attempt.machine
    return attempt.disposition == "ABANDONED"


def _disposition(first: str | None, second: str | None) -> str | None:
    # An abandoned mark must survive the merge: it is what Ofcom's lock keys on.
    if "ABANDONED" in (first, second):
        return "ABANDONED"
    return first or second


def _span(hours: float) -> str:
    return f"{hours / 24:g} days" if hours >= 48 and hours % 24 == 0 else f"{hours:g} hours"


def _utc(moment: datetime) -> str:
    return moment.astimezone(moment.tzinfo).strftime("%Y-%m-%d %H:%M %Z").strip()


CHECKS = (caps,)
