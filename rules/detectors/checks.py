"""The detectors themselves, one function each, and `run_detectors`."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import replace
from datetime import datetime, timedelta
from operator import itemgetter

from rules.detectors.model import (
    MAX_EVIDENCE,
    Action,
    DetectorContext,
    DetectorSettings,
    FlagFinding,
)
from rules.detectors.settings import DetectorPolicy
from rules.detectors.windows import (
    as_aware,
    dedupe,
    group_by,
    in_window,
    make_finding,
    outcome_time,
    per_callee,
    ring_seconds_of,
    scope_subject,
    sorted_in_steps,
    span_text,
    talk_seconds_of,
    tenant_of,
)
from rules.outcomes import CallOutcome

# -- the detectors ----------------------------------------------------------------------


Detector = Callable[
    [Sequence[CallOutcome], datetime, DetectorSettings, DetectorContext], list[FlagFinding]
]


def repeat_callee(
    outcomes: Sequence[CallOutcome],
    now: datetime,
    settings: DetectorSettings,
    context: DetectorContext,
) -> list[FlagFinding]:
    span = settings.hours("window_hours")
    limit = settings.count("max_attempts")
    return per_callee(
        settings,
        in_window(outcomes, now, span),
        now,
        span,
        lambda calls: float(len(calls)),
        limit,
        lambda subject, number, value: (
            f"{subject} called {number} {value:g} times in {span_text(span)}, "
            f"more than the {limit} allowed"
        ),
    )


def callerid_rotation(
    outcomes: Sequence[CallOutcome],
    now: datetime,
    settings: DetectorSettings,
    context: DetectorContext,
) -> list[FlagFinding]:
    span = settings.hours("window_hours")
    limit = settings.count("max_per_callee")
    return per_callee(
        settings,
        in_window(outcomes, now, span),
        now,
        span,
        lambda calls: float(len({c.caller_id for c in calls if c.caller_id})),
        limit,
        lambda subject, number, value: (
            f"{subject} presented {value:g} different caller IDs to {number} in "
            f"{span_text(span)}, more than the {limit} allowed"
        ),
    )


def short_calls(
    outcomes: Sequence[CallOutcome],
    now: datetime,
    settings: DetectorSettings,
    context: DetectorContext,
) -> list[FlagFinding]:
    span = settings.hours("window_hours")
    short_s = settings.value("short_seconds")
    max_ratio = settings.value("max_ratio")

    def judge(subject: str, whose: str, calls: list[CallOutcome]) -> FlagFinding | None:
        if len(calls) < settings.count("min_attempts"):
            return None  # the small-sample guard: too few attempts to judge
        answered = [c for c in calls if c.answered]
        short = [c for c in answered if (t := talk_seconds_of(c)) is not None and t < short_s]
        ratio = len(short) / len(answered) if answered else 0.0
        if ratio <= max_ratio:
            return None
        return make_finding(
            settings,
            subject,
            now,
            span,
            ratio,
            max_ratio,
            short,
            f"{len(short)} of {len(answered)} answered calls {whose} "
            f"({ratio:.1%}) lasted under {short_s:g} s in {span_text(span)}, "
            f"above the {max_ratio:.0%} allowed",
        )

    return _by_caller(in_window(outcomes, now, span), judge)


Judge = Callable[[str, str, list[CallOutcome]], "FlagFinding | None"]


def _by_caller(window: Sequence[CallOutcome], judge: Judge) -> list[FlagFinding]:
    """`judge` each caller ID's calls, then each campaign's (or tenant's without one) that
    no flagged caller ID explains: a caller that withholds its number, or spreads its calls
    over several, is judged too. Keyed on the caller ID alone, withheld calls were dropped
    and five caller IDs each stayed under the minimum sample. A campaign is not flagged
    again for the calls of a caller ID flagged already. Findings on a whole tenant are
    flagged only (`_tenants_flagged_only`)."""
    findings: list[FlagFinding] = []
    flagged: set[str] = set()
    for cid, calls in sorted(group_by(window, lambda o: o.caller_id).items()):
        found = judge(f"callerid:{cid}", f"from {cid}", calls)
        if found is not None:
            findings.append(found)
            flagged.add(cid)
    rest = [o for o in window if o.caller_id not in flagged]
    for subject, calls in sorted(group_by(rest, scope_subject).items()):
        found = judge(subject, f"by {subject}", calls)
        if found is not None:
            findings.append(found)
    return _tenants_flagged_only(findings)


def answer_profile(
    outcomes: Sequence[CallOutcome],
    now: datetime,
    settings: DetectorSettings,
    context: DetectorContext,
) -> list[FlagFinding]:
    span = settings.hours("window_hours")
    min_asr = settings.value("min_asr")
    min_acd = settings.value("min_acd_seconds")

    def judge(subject: str, whose: str, calls: list[CallOutcome]) -> FlagFinding | None:
        if len(calls) < settings.count("min_attempts"):
            return None
        answered = [c for c in calls if c.answered]
        asr = len(answered) / len(calls)
        durations = [t for c in answered if (t := talk_seconds_of(c)) is not None]
        acd = sum(durations) / len(durations) if durations else None
        if asr < min_asr:
            detail = (
                f"only {len(answered)} of {len(calls)} calls {whose} were answered "
                f"({asr:.1%}) in {span_text(span)}, below the {min_asr:.0%} expected"
            )
            return make_finding(settings, subject, now, span, asr, min_asr, calls, detail)
        if acd is not None and acd < min_acd:
            detail = (
                f"answered calls {whose} lasted {acd:.1f} s on average in "
                f"{span_text(span)}, below the {min_acd:g} s expected"
            )
            return make_finding(settings, subject, now, span, acd, min_acd, answered, detail)
        return None

    return _by_caller(in_window(outcomes, now, span), judge)


def _callee_country(number: str | None) -> str:
    if number is None:
        return "other"
    if number.startswith("+1"):
        return "US"
    if number.startswith("+44"):
        return "UK"
    return "other"


def abandoned_rate(
    outcomes: Sequence[CallOutcome],
    now: datetime,
    settings: DetectorSettings,
    context: DetectorContext,
) -> list[FlagFinding]:
    spans = {
        "US": settings.days("us_window_days"),
        "UK": settings.hours("uk_window_hours"),
        "other": settings.days("other_window_days"),
    }
    rules = {"US": "the US rule", "UK": "Ofcom's rule", "other": "house policy"}
    max_rate = settings.value("max_rate")
    share = settings.value("amd_false_positive_share")
    findings = []
    # Per campaign, and per tenant (the call centre) for its calls without one: regulations.md
    # 3.2 measures "per campaign or per call centre". Campaign-less calls were not measured.
    for subject, calls in sorted(group_by(outcomes, scope_subject).items()):
        candidates = []
        for country, span in spans.items():
            window = [
                c
                for c in in_window(calls, now, span)
                if _callee_country(c.number) == country and (c.answered or c.abandoned)
            ]
            abandoned = [c for c in window if c.abandoned]
            # An answer AMD classed as a machine is no live answer (the US rate's denominator),
            # but AMD's false positives are people hung up on: Ofcom counts them as abandoned
            # (regulations.md 3.2). Which ones they were is unknown, so `share` of them counts.
            machines = [c for c in window if c.machine and not c.abandoned]
            false_positives = share * len(machines)
            live = len(window) - len(machines) + false_positives
            if live < settings.count("min_answered"):  # at least 1
                continue
            rate = (len(abandoned) + false_positives) / live
            if rate > max_rate:
                detail = (
                    f"{subject} abandoned {len(abandoned)}{_amd_text(machines, share)} of "
                    f"{_count_text(live)} live answers ({rate:.1%}) to "
                    f"{country if country != 'other' else 'non-US/UK'} numbers in "
                    f"{span_text(span)}, above the {max_rate:.0%} {rules[country]} allows"
                )
                evidence = abandoned + machines if false_positives else abandoned
                candidates.append(
                    make_finding(settings, subject, now, span, rate, max_rate, evidence, detail)
                )
        if candidates:  # one flag per subject: the worst rate
            findings.append(max(candidates, key=lambda f: (f.measured, f.detail)))
    return _tenants_flagged_only(findings)


def _count_text(value: float) -> str:
    """A count that an estimate can make fractional: 1200000, 105.5, 0.03 (never 1.2e+06)."""
    return f"{value:.0f}" if value == int(value) else f"{value:.2f}".rstrip("0").rstrip(".")


def _amd_text(machines: Sequence[CallOutcome], share: float) -> str:
    if not machines or not share:
        return ""
    return (
        f" and an estimated {_count_text(share * len(machines))} AMD false positives ({share:.0%} of "
        f"{len(machines)} answering-machine verdicts, amd_false_positive_share)"
    )


def _no_answer(outcome: CallOutcome) -> bool:
    return outcome.disposition == "NO ANSWER" and not outcome.answered


def ring_time(
    outcomes: Sequence[CallOutcome],
    now: datetime,
    settings: DetectorSettings,
    context: DetectorContext,
) -> list[FlagFinding]:
    span = settings.hours("window_hours")
    min_ring = settings.value("min_ring_seconds")
    findings = []
    window = in_window(outcomes, now, span)
    for subject, calls in sorted(group_by(window, scope_subject).items()):
        rings = [(r, c) for c in calls if _no_answer(c) and (r := ring_seconds_of(c)) is not None]
        short = [(r, c) for r, c in rings if r < min_ring]
        if short:
            shortest = min(r for r, _ in short)
            detail = (
                f"{subject} hung up {len(short)} unanswered call{'s' if len(short) != 1 else ''} "
                f"before {min_ring:g} s of ringing in {span_text(span)} (shortest {shortest:.1f} s)"
            )
            evidence = [c for _, c in short]
            findings.append(
                make_finding(settings, subject, now, span, shortest, min_ring, evidence, detail)
            )
    return findings


def one_ring(
    outcomes: Sequence[CallOutcome],
    now: datetime,
    settings: DetectorSettings,
    context: DetectorContext,
) -> list[FlagFinding]:
    span = settings.hours("window_hours")
    max_ring = settings.value("max_ring_seconds")
    min_calls = settings.count("min_calls")
    min_share = settings.value("min_share")
    findings = []
    for subject, calls in sorted(group_by(in_window(outcomes, now, span), scope_subject).items()):
        unanswered = [c for c in calls if _no_answer(c)]
        brief = [c for c in unanswered if (r := ring_seconds_of(c)) is not None and r < max_ring]
        if len(brief) < min_calls or not unanswered:
            continue
        share = len(brief) / len(unanswered)
        if share >= min_share:
            detail = (
                f"{subject} let {len(brief)} of {len(unanswered)} unanswered calls ring under "
                f"{max_ring:g} s in {span_text(span)}: a one-ring (Wangiri-like) pattern"
            )
            findings.append(
                make_finding(settings, subject, now, span, len(brief), min_calls, brief, detail)
            )
    return findings


def _declared_pool(context: DetectorContext, tenant: str, campaign: str | None) -> frozenset[str]:
    pools = context.caller_id_pools.get(tenant, {})
    if campaign and campaign in pools:
        return pools[campaign]
    return frozenset().union(*pools.values()) if pools else frozenset()


def callerid_pool(
    outcomes: Sequence[CallOutcome],
    now: datetime,
    settings: DetectorSettings,
    context: DetectorContext,
) -> list[FlagFinding]:
    span = settings.hours("window_hours")
    findings = []
    for subject, calls in sorted(group_by(in_window(outcomes, now, span), scope_subject).items()):
        tenant, campaign = tenant_of(calls[0]), calls[0].campaign
        presented = {c.caller_id for c in calls if c.caller_id}
        pool = _declared_pool(context, tenant, campaign)
        if pool:
            outside = sorted(presented - pool)
            limit = settings.count("max_outside_pool")
            if len(outside) > limit:
                evidence = [c for c in calls if c.caller_id in outside]
                detail = (
                    f"{subject} presented {len(outside)} caller ID{'s' if len(outside) != 1 else ''} "
                    f"outside its declared pool in {span_text(span)} (e.g. {outside[0]})"
                )
                findings.append(
                    make_finding(
                        settings, subject, now, span, len(outside), limit, evidence, detail
                    )
                )
            continue
        if len(calls) < settings.count("min_attempts"):
            continue
        ratio = len(presented) / len(calls)
        max_ratio = settings.value("max_unique_ratio")
        if ratio > max_ratio:
            detail = (
                f"{subject} presented {len(presented)} distinct caller IDs over {len(calls)} calls "
                f"({ratio:.0%}) in {span_text(span)} with no declared pool, above {max_ratio:.0%}"
            )
            findings.append(
                make_finding(settings, subject, now, span, ratio, max_ratio, calls, detail)
            )
    return findings


def _digits(number: str | None) -> int | None:
    if number is None or not number.startswith("+") or not number[1:].isdigit():
        return None
    return int(number[1:])


def sequential(
    outcomes: Sequence[CallOutcome],
    now: datetime,
    settings: DetectorSettings,
    context: DetectorContext,
) -> list[FlagFinding]:
    """Runs of consecutive numbers: per campaign (or tenant for calls without one), then per
    tenant for runs no single campaign dialled (a list walked across several campaigns)."""
    span = settings.hours("window_hours")
    min_run = settings.count("min_run")
    calls_in_window = in_window(outcomes, now, span)
    findings = []
    explained: set[tuple[str, int]] = set()  # (tenant, number) in a campaign's own run
    for subject, calls in sorted(group_by(calls_in_window, scope_subject).items()):
        finding, in_runs = _sequential_finding(settings, subject, calls, now, span, min_run)
        if finding is not None:
            findings.append(finding)
            explained |= {(tenant_of(c), v) for c in in_runs if (v := _digits(c.number))}
    for tenant, calls in sorted(group_by(calls_in_window, tenant_of).items()):
        subject = f"tenant:{tenant}"
        if any(f.subject == subject for f in findings):
            continue  # its calls without a campaign were judged as the tenant's already
        unexplained = [c for c in calls if (tenant, _digits(c.number)) not in explained]
        finding, _ = _sequential_finding(settings, subject, unexplained, now, span, min_run)
        if finding is not None:
            findings.append(finding)
    return findings


def _sequential_finding(
    settings: DetectorSettings,
    subject: str,
    calls: Sequence[CallOutcome],
    now: datetime,
    span: timedelta,
    min_run: int,
) -> tuple[FlagFinding | None, list[CallOutcome]]:
    """The finding for the runs in `calls`, with the calls in them."""
    by_value = group_by(calls, lambda o: None if (d := _digits(o.number)) is None else str(d))
    runs: list[list[int]] = []
    for value in sorted_in_steps(int(v) for v in by_value):
        if runs and value == runs[-1][-1] + 1:
            runs[-1].append(value)
        else:
            runs.append([value])
    long_runs = [r for r in runs if len(r) >= min_run]
    if not long_runs:
        return None, []
    longest = max(long_runs, key=lambda r: (len(r), -r[0]))
    evidence = [c for run in long_runs for v in run for c in by_value[str(v)]]
    detail = (
        f"{subject} called {len(longest)} consecutive numbers +{longest[0]} to +{longest[-1]} "
        f"in {span_text(span)} (runs of {min_run} or more are flagged)"
    )
    finding = make_finding(settings, subject, now, span, len(longest), min_run, evidence, detail)
    return finding, evidence


def repeat_after_abandoned(
    outcomes: Sequence[CallOutcome],
    now: datetime,
    settings: DetectorSettings,
    context: DetectorContext,
) -> list[FlagFinding]:
    return _repeats_after(outcomes, now, settings, _abandoned, "an abandoned call")


def repeat_after_amd(
    outcomes: Sequence[CallOutcome],
    now: datetime,
    settings: DetectorSettings,
    context: DetectorContext,
) -> list[FlagFinding]:
    return _repeats_after(outcomes, now, settings, _machine, "an answering-machine verdict")


def _repeats_after(
    outcomes: Sequence[CallOutcome],
    now: datetime,
    settings: DetectorSettings,
    marked: Callable[[CallOutcome], bool],
    what: str,
) -> list[FlagFinding]:
    """UK numbers a campaign called again within `hold_hours` of a `marked` call to them by
    the same tenant."""
    hold = settings.hours("hold_hours")
    end = as_aware(now)
    # A marked call up to `hold` before the window's start can still forbid a call in it.
    window = [o for o in in_window(outcomes, now, hold * 2) if _callee_country(o.number) == "UK"]
    offending: dict[str, list[CallOutcome]] = defaultdict(list)
    callees: dict[str, set[str]] = defaultdict(set)
    by_callee = _by_tenant_and_number(window)
    for (_tenant, number), calls in sorted_in_steps(by_callee.items(), key=itemgetter(0)):
        marked_at = [t for c in calls if marked(c) and (t := outcome_time(c)) is not None]
        for later in calls:
            t_later = outcome_time(later)
            if t_later is None or t_later < end - hold or not later.campaign:
                continue  # a call without a campaign is a person's: a live operator
            causes = [t for t in marked_at if t < t_later <= t + hold]
            if causes:
                subject = scope_subject(later)
                offending[subject].append(later)
                callees[subject].add(number)
    findings = []
    for subject, calls in sorted(offending.items()):
        count = len(callees[subject])
        detail = (
            f"{subject} called {count} UK number{'s' if count != 1 else ''} again within "
            f"{span_text(hold)} of {what} (e.g. {sorted(callees[subject])[0]})"
        )
        findings.append(
            make_finding(settings, subject, now, hold, count, 0, calls, detail, callees[subject])
        )
    return findings


def _abandoned(outcome: CallOutcome) -> bool:
    return outcome.abandoned


def _machine(outcome: CallOutcome) -> bool:
    return outcome.machine


def _by_tenant_and_number(
    outcomes: Iterable[CallOutcome],
) -> dict[tuple[str, str], list[CallOutcome]]:
    groups: dict[tuple[str, str], list[CallOutcome]] = defaultdict(list)
    for o in outcomes:
        if o.number is not None:
            groups[(tenant_of(o), o.number)].append(o)
    return groups


def breach(
    outcomes: Sequence[CallOutcome],
    now: datetime,
    settings: DetectorSettings,
    context: DetectorContext,
) -> list[FlagFinding]:
    """Every call to a number suppressed or registered at the time (per `context.breaches`)."""
    span = settings.hours("window_hours")
    hits = [o for o in in_window(outcomes, now, span) if context.breaches.get(o.call_id)]
    findings = []
    for subject, calls in sorted(group_by(hits, scope_subject).items()):
        first = min(calls, key=lambda c: c.call_id)
        why = context.breaches[first.call_id][0]
        # The count is the measured figure; the detail names one call, so that merging
        # findings over time (see `accumulate`) keeps it true.
        detail = f"{subject} called {first.number or 'a number'} while {why}"
        finding = make_finding(
            settings,
            subject,
            now,
            span,
            len(calls),
            0,
            calls,
            detail,
            (c.number for c in calls if c.number),
        )
        findings.append(finding)
    return _tenants_flagged_only(findings)


def _tenants_flagged_only(findings: list[FlagFinding]) -> list[FlagFinding]:
    """Findings on a whole tenant (its calls without a campaign, a person's among them) are
    flagged, never suspended, whatever the detector's action: an operator decides that."""
    return [
        replace(f, action=Action.FLAG) if f.subject.startswith("tenant:") else f for f in findings
    ]


def accumulate(
    finding: FlagFinding, earlier_evidence: Iterable[str], earlier_callees: Iterable[str] = ()
) -> FlagFinding:
    """A count-of-calls finding (breach) merged with the evidence of its open flag, for the
    per-call path that sees one call at a time: measured becomes the number of calls."""
    evidence = sorted(set(finding.evidence) | set(earlier_evidence))
    return replace(
        finding,
        evidence=tuple(evidence[:MAX_EVIDENCE]),
        measured=float(len(evidence)),
        callees=tuple(sorted(set(finding.callees) | set(earlier_callees))),
    )


def unguarded(
    outcomes: Sequence[CallOutcome],
    now: datetime,
    settings: DetectorSettings,
    context: DetectorContext,
) -> list[FlagFinding]:
    if context.guarded_call_ids is None:
        return []
    span = settings.hours("window_hours")
    guarded = context.guarded_call_ids
    loose = [
        o for o in in_window(outcomes, now, span) if o.source == "ami" and o.call_id not in guarded
    ]
    findings = []
    for subject, calls in sorted(group_by(loose, scope_subject).items()):
        detail = (
            f"{subject} placed {len(calls)} call{'s' if len(calls) != 1 else ''} in "
            f"{span_text(span)} that the guard never allowed"
        )
        findings.append(make_finding(settings, subject, now, span, len(calls), 0, calls, detail))
    return findings


DETECTORS: Mapping[str, Detector] = {
    "repeat_callee": repeat_callee,
    "short_calls": short_calls,
    "answer_profile": answer_profile,
    "abandoned_rate": abandoned_rate,
    "ring_time": ring_time,
    "one_ring": one_ring,
    "callerid_rotation": callerid_rotation,
    "callerid_pool": callerid_pool,
    "sequential": sequential,
    "repeat_after_abandoned": repeat_after_abandoned,
    "repeat_after_amd": repeat_after_amd,
    "breach": breach,
    "unguarded": unguarded,
}


def run_detectors(
    outcomes: Sequence[CallOutcome],
    now: datetime,
    policy: DetectorPolicy,
    context: DetectorContext,
    only: Iterable[str] | None = None,
) -> list[FlagFinding]:
    """Run every enabled detector (or those named in `only`); findings sorted by subject.

    Over the calls placed only: a call the dialplan refused after the guard blocked it is
    the guard working, not a call to the callee (a blocked redial is no repeat call, a
    blocked call to an opted-out number no breach)."""
    wanted = set(only) if only is not None else None
    placed = dedupe(o for o in outcomes if o.placed)  # once for every detector's window
    findings: list[FlagFinding] = []
    for settings in policy.enabled():
        if wanted is not None and settings.id not in wanted:
            continue
        findings += DETECTORS[settings.id](placed, now, settings, context)
    return sorted(findings, key=lambda f: (f.subject, f.detector))
