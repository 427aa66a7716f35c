"""Every detector's defaults with their basis and source, and the `[detectors]` settings."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import timedelta

from rules.detectors.model import Action, Basis, DetectorSettings, DetectorSpec, Param


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
            "over 30 days, UK numbers over 24 h, others over 30 days (house policy). AMD's "
            "answering-machine verdicts (DialguardAmd) are no live answers, but "
            "`amd_false_positive_share` of them count as abandoned live answers",
            "US: 47 CFR 64.1200(a)(7), FCC DA 03-2832 [V] and TSR 16 CFR 310.4(b)(4) [S]: "
            "<= 3 % of live answers per campaign per 30 days; UK: Ofcom persistent-misuse "
            "policy, <= 3 % per 24 h, AMD false positives counted as abandoned [S]; elsewhere "
            "house policy",
            Basis.LAW,
            {
                "max_rate": _ratio(0.03, "abandoned share of live answers allowed"),
                "amd_false_positive_share": _ratio(
                    1.0,
                    "share of AMD's answering-machine verdicts taken to be people hung up on, "
                    "counted as abandoned live answers: your reasoned estimate (Ofcom names no "
                    "figure; 1 counts them all)",
                ),
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
            "repeat_after_amd",
            "a UK (+44) number called again within `hold_hours` of an answering-machine "
            "verdict of AMD (DialguardAmd) on a call to it",
            "Ofcom persistent-misuse policy: a call AMD classed as a machine, false positives "
            "included, is repeated within 24 h only with a live operator guaranteed "
            "(regulations.md 3.2) [S]",
            Basis.LAW,
            {"hold_hours": _window(24, "hours after an answering-machine verdict")},
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

    def longest_lookback(self) -> tuple[timedelta, str | None]:
        """The furthest back an enabled detector reads calls (`DetectorSettings.lookback`),
        and which detector it is."""
        longest: tuple[timedelta, str | None] = (timedelta(0), None)
        for detector in self.enabled():
            if detector.lookback > longest[0]:
                longest = (detector.lookback, detector.id)
        return longest


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
