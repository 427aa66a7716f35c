"""Abuse detectors over call outcomes (issue 5): pure functions over rolling windows.

Each detector takes the outcomes it may look at, the evaluation instant `now`, its own
settings and a `DetectorContext` (facts the store looked up, passed in as values), and returns
`FlagFinding`s. A detector never reads the clock and never raises on odd records: outcomes
without a time are ignored, duplicates of one call id are merged, and the result does not
depend on the order of the input.

Subjects are the party responsible for the calls, so that a finding can suspend it:
`campaign:NAME` for dialler traffic, `tenant:NAME` for calls without a campaign (and for
patterns that span a tenant's campaigns), `callerid:+E164` for caller-ID profiles. The callee
of a per-callee pattern is named in the finding's detail and `callees`.

Figures come from `regulations.md` and `field.md`; `basis` says whether a figure is law,
carrier practice or house policy (our own choice), and `unverified` marks [U]/[S]-only sources.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime, timedelta
from enum import StrEnum

from rules.outcomes import CallOutcome

MAX_EVIDENCE = 500  # call ids kept per finding; the detail still counts them all
SUSPENDABLE = ("tenant", "campaign", "callerid")


class Action(StrEnum):
    FLAG = "flag"
    SUSPEND = "suspend"


class Basis(StrEnum):
    LAW = "law"
    CARRIER = "carrier practice"
    HOUSE = "house policy"


@dataclass(frozen=True, slots=True)
class FlagFinding:
    """One detector's conclusion about one subject over one window."""

    subject: str
    detector: str
    window_start: datetime
    window_end: datetime
    measured: float
    threshold: float
    evidence: tuple[str, ...]  # call ids, sorted
    detail: str
    citation: str
    action: Action
    unverified: bool = False
    callees: tuple[str, ...] = ()

    @property
    def suspendable(self) -> bool:
        return self.subject.split(":", 1)[0] in SUSPENDABLE


@dataclass(frozen=True, slots=True)
class DetectorContext:
    """Facts about the outcomes that only the store knows, handed in as values.

    `breaches`: call id -> why the number was suppressed or registered when it was called.
    `caller_id_pools`: tenant -> pool name ('' for none) -> caller IDs in the inventory.
    `guarded_call_ids`: call ids the guard allowed; None when not looked up.
    """

    breaches: Mapping[str, tuple[str, ...]] = field(default_factory=dict)
    caller_id_pools: Mapping[str, Mapping[str, frozenset[str]]] = field(default_factory=dict)
    guarded_call_ids: frozenset[str] | None = None


# -- settings ---------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Param:
    default: float
    minimum: float
    maximum: float
    integer: bool = False
    doc: str = ""


@dataclass(frozen=True, slots=True)
class DetectorSpec:
    """What a detector measures, its parameters with their defaults, and its source."""

    id: str
    summary: str
    citation: str
    basis: Basis
    params: Mapping[str, Param]
    action: Action = Action.FLAG
    enabled: bool = True
    unverified: bool = False


@dataclass(frozen=True, slots=True)
class DetectorSettings:
    """One detector's effective settings: enabled, action and parameter values."""

    spec: DetectorSpec
    enabled: bool
    action: Action
    values: Mapping[str, float]

    @property
    def id(self) -> str:
        return self.spec.id

    def value(self, name: str) -> float:
        return self.values[name]

    def count(self, name: str) -> int:
        return int(self.values[name])

    def hours(self, name: str) -> timedelta:
        return timedelta(hours=self.values[name])

    def days(self, name: str) -> timedelta:
        return timedelta(days=self.values[name])

    @property
    def lookback(self) -> timedelta:
        """The widest stretch of past outcomes this detector reads."""
        spans = [timedelta(hours=v) for k, v in self.values.items() if k.endswith("_hours")]
        spans += [timedelta(days=v) for k, v in self.values.items() if k.endswith("_days")]
        return max(spans, default=timedelta(0))


def _window(hours: float, doc: str = "length of the rolling window, hours") -> Param:
    return Param(hours, 0.01, 24 * 366, doc=doc)


def _count(default: int, doc: str, minimum: int = 1) -> Param:
    return Param(default, minimum, 1_000_000, integer=True, doc=doc)


def _ratio(default: float, doc: str) -> Param:
    return Param(default, 0.0, 1.0, doc=doc)


def _seconds(default: float, doc: str) -> Param:
    return Param(default, 0.0, 3600.0, doc=doc)


SPECS: Mapping[str, DetectorSpec] = {
    spec.id: spec
    for spec in (
        DetectorSpec(
            "repeat_callee",
            "more than `max_attempts` calls to one number within the window, per campaign "
            "(and per tenant for calls spread over campaigns or made without one)",
            "House policy; cf. FL/OK/MD 3 calls per 24 h (regulations.md 2.5) and TSR "
            "16 CFR 310.4(b)(1)(i): causing a telephone to ring repeatedly [S]",
            Basis.HOUSE,
            {
                "max_attempts": _count(3, "calls to one number allowed in the window"),
                "window_hours": _window(24),
            },
        ),
        DetectorSpec(
            "short_calls",
            "share of answered calls shorter than `short_seconds`, per caller ID, once the "
            "caller ID has made `min_attempts` attempts in the window",
            "Carrier practice: 46 Labs short-duration filter, >= 100 attempts and > 20 % under "
            "6 s (field.md section 4); Ofcom persistent misuse: short-duration silent calls [S]",
            Basis.CARRIER,
            {
                "short_seconds": _seconds(6, "an answered call shorter than this is short"),
                "max_ratio": _ratio(0.20, "share of short answered calls allowed"),
                "min_attempts": _count(100, "attempts needed before the ratio counts"),
                "window_hours": _window(6),
            },
        ),
        DetectorSpec(
            "answer_profile",
            "answer-seizure ratio (answered / attempts) and average call duration of a caller "
            "ID, once it has made `min_attempts` attempts in the window",
            "House policy after carrier ANI profiling (46 Labs: ASR, ACD, SDR over 6 h; "
            "field.md sections 4 and 5); the floors are our own",
            Basis.HOUSE,
            {
                "min_asr": _ratio(0.10, "lowest answer-seizure ratio allowed"),
                "min_acd_seconds": _seconds(10, "lowest average answered-call duration"),
                "min_attempts": _count(100, "attempts needed before the profile counts"),
                "window_hours": _window(6),
            },
        ),
        DetectorSpec(
            "abandoned_rate",
            "abandoned calls (DialguardAbandoned) over live answers per campaign: US numbers "
            "over 30 days, UK numbers over 24 h, others over 30 days (house policy)",
            "US: 47 CFR 64.1200(a)(7), FCC DA 03-2832 [V] and TSR 16 CFR 310.4(b)(4) [S]: "
            "<= 3 % of live answers per campaign per 30 days; UK: Ofcom persistent-misuse "
            "policy, <= 3 % per 24 h [S]; elsewhere house policy",
            Basis.LAW,
            {
                "max_rate": _ratio(0.03, "abandoned share of live answers allowed"),
                "min_answered": _count(1, "live answers needed before the rate counts"),
                "us_window_days": Param(30, 1, 366, doc="window for +1 numbers, days"),
                "uk_window_hours": _window(24, "window for +44 numbers, hours"),
                "other_window_days": Param(30, 1, 366, doc="window for other numbers, days"),
            },
            unverified=True,
        ),
        DetectorSpec(
            "ring_time",
            "unanswered (NO ANSWER) calls torn down before ringing `min_ring_seconds`",
            "TSR 16 CFR 310.4(b)(4): ring >= 15 s or 4 rings (FTC safe harbor) [V]; "
            "47 CFR 64.1200(a)(7) [U]; Ofcom persistent-misuse policy: ring >= 15 s [S]",
            Basis.LAW,
            {
                "min_ring_seconds": _seconds(15, "shortest ring allowed before hanging up"),
                "window_hours": _window(24),
            },
        ),
        DetectorSpec(
            "one_ring",
            "Wangiri-like pattern: at least `min_calls` unanswered calls ringing under "
            "`max_ring_seconds`, making at least `min_share` of the unanswered calls",
            "Carrier practice: C661 carriers block calls disconnected after a short ring, "
            "typically < 10 s (regulations.md 1.3) [S]; counts and share are house policy",
            Basis.CARRIER,
            {
                "max_ring_seconds": _seconds(10, "a ring shorter than this is one ring"),
                "min_calls": _count(5, "one-ring calls needed"),
                "min_share": _ratio(0.5, "share of unanswered calls that are one-ring"),
                "window_hours": _window(1),
            },
            unverified=True,
        ),
        DetectorSpec(
            "callerid_rotation",
            "more than `max_per_callee` distinct caller IDs presented to one number in the "
            "window, per campaign (and per tenant across campaigns)",
            "House policy; carriers treat ANI rotation as an abuse signal (46 Labs, "
            "field.md sections 0 and 3.7); FCC on misleading caller ID, 47 CFR 64.1604",
            Basis.HOUSE,
            {
                "max_per_callee": _count(2, "distinct caller IDs allowed toward one number"),
                "window_hours": _window(24),
            },
        ),
        DetectorSpec(
            "callerid_pool",
            "caller IDs outside the campaign's declared pool (the tenant's inventory, or the "
            "pool named like the campaign); without an inventory, a share of distinct caller "
            "IDs over `max_unique_ratio` once there are `min_attempts` attempts",
            "Carrier practice: scammerscanner alarm at > 90 % unique ANIs per account "
            "(field.md section 4); declared pools allow-listed (field.md section 5)",
            Basis.CARRIER,
            {
                "max_outside_pool": _count(0, "caller IDs outside the pool allowed", 0),
                "max_unique_ratio": _ratio(0.9, "distinct caller IDs / attempts allowed"),
                "min_attempts": _count(20, "attempts needed before the ratio counts"),
                "window_hours": _window(24),
            },
        ),
        DetectorSpec(
            "sequential",
            "runs of at least `min_run` numerically consecutive numbers called in the window",
            "House policy: sequential (war-)dialling is a robocall signature; no figure in law",
            Basis.HOUSE,
            {
                "min_run": _count(5, "consecutive numbers that make a run", 2),
                "window_hours": _window(24),
            },
        ),
        DetectorSpec(
            "repeat_after_abandoned",
            "a UK (+44) number called again within `hold_hours` of an abandoned call to it",
            "Ofcom persistent-misuse policy: no repeat call within 72 h of an abandoned call "
            "unless a live operator is guaranteed (regulations.md 3.2) [S]",
            Basis.LAW,
            {"hold_hours": _window(72, "hours after an abandoned call")},
            unverified=True,
        ),
        DetectorSpec(
            "breach",
            "a call to a number that was on a suppression list or a do-not-call register "
            "when it was called (always flagged; suspends the campaign by default)",
            "Internal do-not-call list: 47 CFR 64.1200(d)(3), 16 CFR 310.4(b)(1)(iii)(A), "
            "PECR reg 21(1)(a); national registers: 47 CFR 64.1200(c)(2), PECR reg 21(1)(b), "
            "DNCR Act 2006 s 11",
            Basis.LAW,
            {"window_hours": _window(24, "how far back the periodic sweep re-checks, hours")},
            action=Action.SUSPEND,
        ),
        DetectorSpec(
            "unguarded",
            "a call the AMI listener saw with no allow decision from the guard (dialled "
            "around the guard); off by default",
            "House policy: every dial must pass the inline check (architecture.md)",
            Basis.HOUSE,
            {"window_hours": _window(24)},
            enabled=False,
        ),
    )
}


def default_settings(spec: DetectorSpec) -> DetectorSettings:
    return DetectorSettings(
        spec, spec.enabled, spec.action, {k: p.default for k, p in spec.params.items()}
    )


def _defaults() -> dict[str, DetectorSettings]:
    return {name: default_settings(spec) for name, spec in SPECS.items()}


@dataclass(frozen=True, slots=True)
class DetectorPolicy:
    """Every detector's settings, keyed by detector id."""

    detectors: Mapping[str, DetectorSettings] = field(default_factory=_defaults)

    def get(self, detector: str) -> DetectorSettings:
        return self.detectors[detector]

    def enabled(self) -> list[DetectorSettings]:
        return [s for s in self.detectors.values() if s.enabled]


def from_settings(raw: Mapping[str, object]) -> tuple[DetectorPolicy, list[str]]:
    """Build the policy from the `[detectors]` table of dialguard.toml.

    `[detectors.repeat_callee] max_attempts = 3, window_hours = 24, action = "flag"`;
    every detector also takes `enabled` (true/false). Returns the policy and a list of
    errors, each naming the bad key (`detectors.x.y: why`).
    """
    errors: list[str] = []
    detectors = _defaults()
    for name, table in raw.items():
        prefix = f"detectors.{name}"
        spec = SPECS.get(name)
        if spec is None:
            errors.append(f"{prefix}: unknown detector (known: {', '.join(sorted(SPECS))})")
            continue
        if not isinstance(table, Mapping):
            errors.append(f"{prefix}: must be a table")
            continue
        enabled, action = spec.enabled, spec.action
        values = dict(detectors[name].values)
        for key, value in table.items():
            where = f"{prefix}.{key}"
            if key == "enabled":
                if isinstance(value, bool):
                    enabled = value
                else:
                    errors.append(f"{where}: must be true or false")
            elif key == "action":
                if value in tuple(Action):
                    action = Action(str(value))
                else:
                    errors.append(f"{where}: must be one of flag, suspend (got {value!r})")
            elif key in spec.params:
                parsed = _param_value(spec.params[key], value)
                if isinstance(parsed, str):
                    errors.append(f"{where}: {parsed}")
                else:
                    values[key] = parsed
            else:
                known = ", ".join(["enabled", "action", *spec.params])
                errors.append(f"{where}: unknown setting (known: {known})")
        detectors[name] = DetectorSettings(spec, enabled, action, values)
    return DetectorPolicy(detectors), errors


def _param_value(param: Param, value: object) -> float | str:
    """The value, or a message saying why it is not acceptable."""
    kind = "a whole number" if param.integer else "a number"
    bounds = f"{kind} from {param.minimum:g} to {param.maximum:g}"
    if isinstance(value, bool) or not isinstance(value, int | float):
        return f"must be {bounds}"
    if param.integer and not float(value).is_integer():
        return f"must be {bounds}"
    if not param.minimum <= value <= param.maximum:
        return f"must be {bounds} (got {value!r})"
    return float(value)


# -- helpers ----------------------------------------------------------------------------


def _aware(value: datetime) -> datetime:
    return value if value.tzinfo is not None else value.replace(tzinfo=UTC)


def outcome_time(outcome: CallOutcome) -> datetime | None:
    """When the call started (or, lacking that, answered or ended), timezone-aware."""
    when = outcome.started_at or outcome.answered_at or outcome.ended_at
    return None if when is None else _aware(when)


def _ring_seconds(outcome: CallOutcome) -> float | None:
    if outcome.started_at is None:
        return None
    end = outcome.answered_at or outcome.ended_at
    if end is None:
        return None
    return (_aware(end) - _aware(outcome.started_at)).total_seconds()


def _talk_seconds(outcome: CallOutcome) -> float | None:
    if outcome.billsec is not None:
        return float(outcome.billsec)
    if outcome.answered_at is not None and outcome.ended_at is not None:
        return (_aware(outcome.ended_at) - _aware(outcome.answered_at)).total_seconds()
    return None


def tenant_of(outcome: CallOutcome) -> str:
    return outcome.tenant or "default"


def scope_subject(outcome: CallOutcome) -> str:
    """The party answerable for a call: its campaign, or its tenant when it has none."""
    return f"campaign:{outcome.campaign}" if outcome.campaign else f"tenant:{tenant_of(outcome)}"


def dedupe(outcomes: Iterable[CallOutcome]) -> list[CallOutcome]:
    """One record per call id, merged the same way whatever the input order."""
    groups: dict[str, list[CallOutcome]] = defaultdict(list)
    for outcome in outcomes:
        groups[outcome.call_id].append(outcome)
    merged: list[CallOutcome] = []
    for call_id in sorted(groups):
        records = groups[call_id]
        if len(records) > 1:
            records = sorted(records, key=repr)
        record = records[0]
        for other in records[1:]:
            record = record.merged(other)
        merged.append(record)
    return merged


def in_window(outcomes: Iterable[CallOutcome], now: datetime, span: timedelta) -> list[CallOutcome]:
    """Outcomes that started within `[now - span, now]`, one per call id."""
    end = _aware(now)
    start = end - span
    kept = []
    for o in dedupe(outcomes):
        when = outcome_time(o)
        if when is not None and start <= when <= end:
            kept.append(o)
    return kept


def _evidence(outcomes: Iterable[CallOutcome]) -> tuple[str, ...]:
    return tuple(sorted({o.call_id for o in outcomes}))[:MAX_EVIDENCE]


def _group(
    outcomes: Iterable[CallOutcome], key: Callable[[CallOutcome], str | None]
) -> dict[str, list[CallOutcome]]:
    groups: dict[str, list[CallOutcome]] = defaultdict(list)
    for o in outcomes:
        k = key(o)
        if k is not None:
            groups[k].append(o)
    return groups


def _finding(
    settings: DetectorSettings,
    subject: str,
    now: datetime,
    span: timedelta,
    measured: float,
    threshold: float,
    evidence: Iterable[CallOutcome],
    detail: str,
    callees: Iterable[str] = (),
) -> FlagFinding:
    end = _aware(now)
    return FlagFinding(
        subject=subject,
        detector=settings.id,
        window_start=end - span,
        window_end=end,
        measured=float(measured),
        threshold=float(threshold),
        evidence=_evidence(evidence),
        detail=detail,
        citation=settings.spec.citation,
        action=settings.action,
        unverified=settings.spec.unverified,
        callees=tuple(sorted(set(callees))),
    )


def _span_text(span: timedelta) -> str:
    hours = span.total_seconds() / 3600
    return f"{hours / 24:g} days" if hours >= 48 and hours % 24 == 0 else f"{hours:g} h"


Measure = Callable[[list[CallOutcome]], float]


def _per_callee(
    settings: DetectorSettings,
    outcomes: list[CallOutcome],
    now: datetime,
    span: timedelta,
    measure: Measure,
    limit: float,
    describe: Callable[[str, str, float], str],
) -> list[FlagFinding]:
    """Findings where `measure` of one callee's calls exceeds `limit`: per campaign (or tenant
    for calls without one), then per tenant for callees no single campaign explains."""
    worst_by_subject: dict[str, dict[str, tuple[float, list[CallOutcome]]]] = {}
    explained: set[tuple[str, str]] = set()
    for subject, calls in _group(outcomes, scope_subject).items():
        worst = _worst_callees(calls, measure, limit)
        if worst:
            worst_by_subject[subject] = worst
            explained |= {(tenant_of(calls[0]), number) for number in worst}
    for tenant, calls in _group(outcomes, tenant_of).items():
        spread = {
            number: value
            for number, value in _worst_callees(calls, measure, limit).items()
            if (tenant, number) not in explained
        }
        if spread:
            worst_by_subject.setdefault(f"tenant:{tenant}", {}).update(spread)
    return [
        _callee_finding(settings, subject, now, span, worst, limit, describe)
        for subject, worst in sorted(worst_by_subject.items())
    ]


def _worst_callees(
    calls: list[CallOutcome], measure: Measure, limit: float
) -> dict[str, tuple[float, list[CallOutcome]]]:
    out: dict[str, tuple[float, list[CallOutcome]]] = {}
    for number, group in _group(calls, lambda o: o.number).items():
        value = measure(group)
        if value > limit:
            out[number] = (value, group)
    return out


def _callee_finding(
    settings: DetectorSettings,
    subject: str,
    now: datetime,
    span: timedelta,
    worst: dict[str, tuple[float, list[CallOutcome]]],
    limit: float,
    describe: Callable[[str, str, float], str],
) -> FlagFinding:
    number, (value, _) = max(worst.items(), key=lambda item: (item[1][0], item[0]))
    others = len(worst) - 1
    more = f" ({others} other number{'s' if others != 1 else ''} too)" if others else ""
    evidence = [c for _, calls in worst.values() for c in calls]
    detail = describe(subject, number, value) + more
    return _finding(settings, subject, now, span, value, limit, evidence, detail, worst)


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
    return _per_callee(
        settings,
        in_window(outcomes, now, span),
        now,
        span,
        lambda calls: float(len(calls)),
        limit,
        lambda subject, number, value: (
            f"{subject} called {number} {value:g} times in {_span_text(span)}, "
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
    return _per_callee(
        settings,
        in_window(outcomes, now, span),
        now,
        span,
        lambda calls: float(len({c.caller_id for c in calls if c.caller_id})),
        limit,
        lambda subject, number, value: (
            f"{subject} presented {value:g} different caller IDs to {number} in "
            f"{_span_text(span)}, more than the {limit} allowed"
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
    findings = []
    for cid, calls in sorted(_group(in_window(outcomes, now, span), lambda o: o.caller_id).items()):
        if len(calls) < settings.count("min_attempts"):
            continue  # the small-sample guard: too few attempts to judge
        answered = [c for c in calls if c.answered]
        short = [c for c in answered if (t := _talk_seconds(c)) is not None and t < short_s]
        if not answered:
            continue
        ratio = len(short) / len(answered)
        if ratio > max_ratio:
            findings.append(
                _finding(
                    settings,
                    f"callerid:{cid}",
                    now,
                    span,
                    ratio,
                    max_ratio,
                    short,
                    f"{len(short)} of {len(answered)} answered calls from {cid} "
                    f"({ratio:.1%}) lasted under {short_s:g} s in {_span_text(span)}, "
                    f"above the {max_ratio:.0%} allowed",
                )
            )
    return findings


def answer_profile(
    outcomes: Sequence[CallOutcome],
    now: datetime,
    settings: DetectorSettings,
    context: DetectorContext,
) -> list[FlagFinding]:
    span = settings.hours("window_hours")
    min_asr = settings.value("min_asr")
    min_acd = settings.value("min_acd_seconds")
    findings = []
    for cid, calls in sorted(_group(in_window(outcomes, now, span), lambda o: o.caller_id).items()):
        if len(calls) < settings.count("min_attempts"):
            continue
        answered = [c for c in calls if c.answered]
        asr = len(answered) / len(calls)
        durations = [t for c in answered if (t := _talk_seconds(c)) is not None]
        acd = sum(durations) / len(durations) if durations else None
        subject = f"callerid:{cid}"
        if asr < min_asr:
            detail = (
                f"only {len(answered)} of {len(calls)} calls from {cid} were answered "
                f"({asr:.1%}) in {_span_text(span)}, below the {min_asr:.0%} expected"
            )
            findings.append(_finding(settings, subject, now, span, asr, min_asr, calls, detail))
        elif acd is not None and acd < min_acd:
            detail = (
                f"answered calls from {cid} lasted {acd:.1f} s on average in "
                f"{_span_text(span)}, below the {min_acd:g} s expected"
            )
            findings.append(_finding(settings, subject, now, span, acd, min_acd, answered, detail))
    return findings


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
    findings = []
    campaign_calls = [o for o in outcomes if o.campaign]  # abandonment is a dialler measure
    for subject, calls in sorted(_group(campaign_calls, scope_subject).items()):
        candidates = []
        for country, span in spans.items():
            window = [
                c
                for c in in_window(calls, now, span)
                if _callee_country(c.number) == country and (c.answered or c.abandoned)
            ]
            if len(window) < settings.count("min_answered"):
                continue
            abandoned = [c for c in window if c.abandoned]
            rate = len(abandoned) / len(window)
            if rate > max_rate:
                detail = (
                    f"{subject} abandoned {len(abandoned)} of {len(window)} live answers "
                    f"({rate:.1%}) to {country if country != 'other' else 'non-US/UK'} numbers "
                    f"in {_span_text(span)}, above the {max_rate:.0%} {rules[country]} allows"
                )
                candidates.append(
                    _finding(settings, subject, now, span, rate, max_rate, abandoned, detail)
                )
        if candidates:  # one flag per subject: the worst rate
            findings.append(max(candidates, key=lambda f: (f.measured, f.detail)))
    return findings


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
    for subject, calls in sorted(_group(window, scope_subject).items()):
        rings = [(r, c) for c in calls if _no_answer(c) and (r := _ring_seconds(c)) is not None]
        short = [(r, c) for r, c in rings if r < min_ring]
        if short:
            shortest = min(r for r, _ in short)
            detail = (
                f"{subject} hung up {len(short)} unanswered call{'s' if len(short) != 1 else ''} "
                f"before {min_ring:g} s of ringing in {_span_text(span)} (shortest {shortest:.1f} s)"
            )
            evidence = [c for _, c in short]
            findings.append(
                _finding(settings, subject, now, span, shortest, min_ring, evidence, detail)
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
    for subject, calls in sorted(_group(in_window(outcomes, now, span), scope_subject).items()):
        unanswered = [c for c in calls if _no_answer(c)]
        brief = [c for c in unanswered if (r := _ring_seconds(c)) is not None and r < max_ring]
        if len(brief) < min_calls or not unanswered:
            continue
        share = len(brief) / len(unanswered)
        if share >= min_share:
            detail = (
                f"{subject} let {len(brief)} of {len(unanswered)} unanswered calls ring under "
                f"{max_ring:g} s in {_span_text(span)}: a one-ring (Wangiri-like) pattern"
            )
            findings.append(
                _finding(settings, subject, now, span, len(brief), min_calls, brief, detail)
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
    for subject, calls in sorted(_group(in_window(outcomes, now, span), scope_subject).items()):
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
                    f"outside its declared pool in {_span_text(span)} (e.g. {outside[0]})"
                )
                findings.append(
                    _finding(settings, subject, now, span, len(outside), limit, evidence, detail)
                )
            continue
        if len(calls) < settings.count("min_attempts"):
            continue
        ratio = len(presented) / len(calls)
        max_ratio = settings.value("max_unique_ratio")
        if ratio > max_ratio:
            detail = (
                f"{subject} presented {len(presented)} distinct caller IDs over {len(calls)} calls "
                f"({ratio:.0%}) in {_span_text(span)} with no declared pool, above {max_ratio:.0%}"
            )
            findings.append(_finding(settings, subject, now, span, ratio, max_ratio, calls, detail))
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
    span = settings.hours("window_hours")
    min_run = settings.count("min_run")
    findings = []
    for subject, calls in sorted(_group(in_window(outcomes, now, span), scope_subject).items()):
        by_value = _group(calls, lambda o: None if (d := _digits(o.number)) is None else str(d))
        values = sorted(int(v) for v in by_value)
        runs: list[list[int]] = []
        for value in values:
            if runs and value == runs[-1][-1] + 1:
                runs[-1].append(value)
            else:
                runs.append([value])
        long_runs = [r for r in runs if len(r) >= min_run]
        if not long_runs:
            continue
        longest = max(long_runs, key=lambda r: (len(r), -r[0]))
        evidence = [c for run in long_runs for v in run for c in by_value[str(v)]]
        detail = (
            f"{subject} called {len(longest)} consecutive numbers +{longest[0]} to +{longest[-1]} "
            f"in {_span_text(span)} (runs of {min_run} or more are flagged)"
        )
        findings.append(
            _finding(settings, subject, now, span, len(longest), min_run, evidence, detail)
        )
    return findings


def repeat_after_abandoned(
    outcomes: Sequence[CallOutcome],
    now: datetime,
    settings: DetectorSettings,
    context: DetectorContext,
) -> list[FlagFinding]:
    hold = settings.hours("hold_hours")
    end = _aware(now)
    # An abandoned call up to `hold` before the window's start can still forbid a call in it.
    window = [o for o in in_window(outcomes, now, hold * 2) if _callee_country(o.number) == "UK"]
    offending: dict[str, list[CallOutcome]] = defaultdict(list)
    callees: dict[str, set[str]] = defaultdict(set)
    for (_tenant, number), calls in sorted(_by_tenant_and_number(window).items()):
        abandoned_at = [t for c in calls if c.abandoned and (t := outcome_time(c)) is not None]
        for later in calls:
            t_later = outcome_time(later)
            if t_later is None or t_later < end - hold:
                continue
            causes = [t for t in abandoned_at if t < t_later <= t + hold]
            if causes:
                subject = scope_subject(later)
                offending[subject].append(later)
                callees[subject].add(number)
    findings = []
    for subject, calls in sorted(offending.items()):
        count = len(callees[subject])
        detail = (
            f"{subject} called {count} UK number{'s' if count != 1 else ''} again within "
            f"{_span_text(hold)} of an abandoned call (e.g. {sorted(callees[subject])[0]})"
        )
        findings.append(
            _finding(settings, subject, now, hold, count, 0, calls, detail, callees[subject])
        )
    return findings


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
    for subject, calls in sorted(_group(hits, scope_subject).items()):
        first = min(calls, key=lambda c: c.call_id)
        why = context.breaches[first.call_id][0]
        # The count is the measured figure; the detail names one call, so that merging
        # findings over time (see `accumulate`) keeps it true.
        detail = f"{subject} called {first.number or 'a number'} while {why}"
        finding = _finding(
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
        if subject.startswith("tenant:"):
            # A person's call without a campaign: flag it, do not suspend the whole tenant.
            finding = _replace_action(finding, Action.FLAG)
        findings.append(finding)
    return findings


def _replace_action(finding: FlagFinding, action: Action) -> FlagFinding:
    return replace(finding, action=action)


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
        o
        for o in in_window(outcomes, now, span)
        if o.source == "ami" and o.disposition != "REJECTED" and o.call_id not in guarded
    ]
    findings = []
    for subject, calls in sorted(_group(loose, scope_subject).items()):
        detail = (
            f"{subject} placed {len(calls)} call{'s' if len(calls) != 1 else ''} in "
            f"{_span_text(span)} that the guard never allowed"
        )
        findings.append(_finding(settings, subject, now, span, len(calls), 0, calls, detail))
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
    """Run every enabled detector (or those named in `only`); findings sorted by subject."""
    wanted = set(only) if only is not None else None
    findings: list[FlagFinding] = []
    for settings in policy.enabled():
        if wanted is not None and settings.id not in wanted:
            continue
        findings += DETECTORS[settings.id](outcomes, now, settings, context)
    return sorted(findings, key=lambda f: (f.subject, f.detector))
