"""Emergency numbers, suspensions, unusable destinations and the local suppression list."""

from __future__ import annotations

from collections.abc import Iterable

from rules.context import RuleContext
from rules.facts import SuppressionEntry, folded, suspension_subjects
from rules.models import Finding, FindingVerdict
from rules.numbers import shorten

EMERGENCY_CITATION = (
    "47 CFR 64.1200(a)(1)(i): no autodialled or prerecorded calls to emergency lines; "
    "a person's emergency call is never blocked (regulations.md section 6.7)"
)
SUPPRESSION_CITATION = (
    "Internal do-not-call list: 47 CFR 64.1200(d)(3); 16 CFR 310.4(b)(1)(iii)(A); "
    "PECR reg 21(1)(a); an opt-out overrides consent and EBR (FTC DNC FAQ)"
)

# Constants: these findings do not depend on the call. (Never mutate their `details`.)
_NO_SUSPENSION = Finding("suspension.none", FindingVerdict.ALLOW, "no suspension applies")
_NOT_SUPPRESSED = Finding("suppression.list", FindingVerdict.ALLOW, "not on a suppression list")
_NO_DESTINATION = Finding(
    "suppression.list", FindingVerdict.SKIP, "no usable destination to look up"
)


def emergency(ctx: RuleContext) -> Finding:
    """A person dialling an emergency number is always allowed; campaign traffic and
    automated calls never (47 CFR 64.1200(a)(1)(i): no autodialed or prerecorded calls to
    emergency lines)."""
    if ctx.attempt.automated and not ctx.attempt.is_campaign:
        return Finding(
            "emergency.automated",
            FindingVerdict.BLOCK,
            f"{ctx.attempt.destination} is an emergency number and the call is automated"
            " (a prerecorded or artificial voice)",
            EMERGENCY_CITATION,
        )
    if ctx.attempt.is_campaign:
        return Finding(
            "emergency.campaign",
            FindingVerdict.BLOCK,
            f"{ctx.attempt.destination} is an emergency number and campaign "
            f"{ctx.attempt.campaign} is dialler traffic",
            EMERGENCY_CITATION,
        )
    return Finding(
        "emergency.person",
        FindingVerdict.ALLOW,
        f"{ctx.attempt.destination} is an emergency number dialled by a person: never blocked",
        EMERGENCY_CITATION,
    )


def suspension(ctx: RuleContext) -> Iterable[Finding]:
    if not ctx.facts.suspensions:
        yield _NO_SUSPENSION
        return
    caller_id = ctx.caller_id.e164 if ctx.caller_id is not None else None
    subjects = {
        folded(s) for s in suspension_subjects(ctx.attempt.tenant, ctx.attempt.campaign, caller_id)
    }
    active = [
        s
        for s in ctx.facts.suspensions
        if folded(s.subject) in subjects and s.created_at <= ctx.attempt.at
    ]
    if not active:
        yield _NO_SUSPENSION
        return
    for s in sorted(active, key=lambda s: s.subject):
        kind = s.subject.split(":", 1)[0]
        yield Finding(
            f"suspension.{kind}",
            FindingVerdict.BLOCK,
            f"{s.subject} is suspended since {s.created_at:%Y-%m-%d %H:%M} UTC: {s.reason}",
            "Acceptable Use Policy: suspension of accounts suspected of misuse",
            details={"subject": s.subject, "flag_id": s.flag_id},
        )


def number(ctx: RuleContext) -> Iterable[Finding]:
    dest = ctx.destination
    if dest.e164 is None or not dest.valid:
        yield Finding(
            "number.invalid",
            FindingVerdict.BLOCK,
            f"the destination {shorten(dest.raw)!r} {dest.problem}",
            "ITU-T E.164 numbering plan (phonenumbers metadata)",
        )
        return
    yield Finding(
        "number.valid",
        FindingVerdict.ALLOW,
        f"{dest.e164} is a valid {dest.country} {dest.number_type} number",
    )


def suppression(ctx: RuleContext) -> Iterable[Finding]:
    if ctx.destination.e164 is None:
        yield _NO_DESTINATION
        return
    if not ctx.facts.suppressions:
        yield _NOT_SUPPRESSED
        return
    at = ctx.attempt.at
    e164 = ctx.destination.e164
    matching = [
        e
        for e in ctx.facts.suppressions
        if e.matches(e164) and e.covers(ctx.attempt.tenant, ctx.attempt.campaign)
    ]
    in_force = [e for e in matching if e.in_force(at)]
    if not in_force:
        expired = [e for e in matching if e.expires_at is not None and e.expires_at <= at]
        if not expired:
            yield _NOT_SUPPRESSED
            return
        note = f" ({len(expired)} expired entr{'y' if len(expired) == 1 else 'ies'})"
        yield Finding("suppression.list", FindingVerdict.ALLOW, f"not on a suppression list{note}")
        return
    # The record names the entry that blocks longest (no end first), then the callee's own
    # request before a range an operator keeps, then the wider scope: a global opt-out
    # before a campaign's.
    entry = min(in_force, key=_named_first)
    rule = (
        "suppression.global"
        if entry.tenant is None
        else ("suppression.tenant" if entry.campaign is None else "suppression.campaign")
    )
    until = f" until {entry.expires_at:%Y-%m-%d}" if entry.expires_at else ""
    reason = f" ({entry.reason})" if entry.reason else ""
    listed = (
        f"{e164} is in the range {entry.number}, suppressed"
        if entry.is_range
        else f"{entry.number} opted out"
    )
    yield Finding(
        rule,
        FindingVerdict.BLOCK,
        f"{listed} ({entry.scope}) on {entry.requested_at:%Y-%m-%d}"
        f" via {entry.source}{reason}{until}",
        SUPPRESSION_CITATION,
        details={"source": entry.source, "range": entry.number}
        if entry.is_range
        else {"source": entry.source},
    )


def _named_first(entry: SuppressionEntry) -> tuple[bool, float, bool, bool, bool]:
    """Sorts the entries in force: the one a decision names comes first."""
    ends = entry.expires_at
    return (
        ends is not None,
        -ends.timestamp() if ends is not None else 0.0,
        entry.is_range,
        entry.tenant is not None,
        entry.campaign is not None,
    )


CHECKS = (suspension, number, suppression)
