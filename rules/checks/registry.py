"""National do-not-call registers: membership, and whether the copy is there and fresh.

A register covers calls to its country's numbers for the purposes in its `RegisterSpec`.
With no copy, or a copy older than the law allows, every covered call is blocked
(`registry.missing`, `registry.stale`), unless the settings turn that off: a guard that cannot
know must not guess. Consent exemptions (EBR, express consent, ...) are applied by the
jurisdiction packs through `exemption_for`.
"""

from __future__ import annotations

from calendar import monthrange
from collections.abc import Iterable, Mapping
from datetime import UTC, date, datetime, timedelta

from rules.context import RuleContext
from rules.facts import ConsentKind, ConsentRecord
from rules.jurisdictions.applicable import consents_in_force
from rules.models import Finding, FindingVerdict
from rules.numbers import country_text
from rules.policy import RegisterSpec


def registers(ctx: RuleContext) -> Iterable[Finding]:
    if ctx.destination.e164 is None:
        return
    # The location's country: a US territory's number is on the US registry.
    specs = ctx.policy.registers_for_country(ctx.location.country)
    if not specs:
        yield Finding(
            "registry.none",
            FindingVerdict.SKIP,
            f"no do-not-call register is configured for {country_text(ctx.location.country)}",
        )
        return
    for spec in specs:
        yield _one(ctx, spec)


def _one(ctx: RuleContext, spec: RegisterSpec) -> Finding:
    purpose = ctx.attempt.purpose
    name = spec.label or spec.name
    if purpose not in spec.covers:
        return Finding(
            f"registry.{spec.name}",
            FindingVerdict.SKIP,
            f"{name} does not cover {purpose.value} calls",
            spec.citation,
            spec.unverified,
        )
    if spec.binds_until is not None and _earliest_day(ctx) > spec.binds_until:
        return Finding(
            f"registry.{spec.name}",
            FindingVerdict.SKIP,
            f"the {name} binds calls until {spec.binds_until} only",
            spec.citation,
            spec.unverified,
        )
    copy = ctx.facts.register_copies.get(spec.name)
    if copy is None:
        verdict = (
            FindingVerdict.BLOCK if ctx.policy.block_when_register_missing else FindingVerdict.ALLOW
        )
        return Finding(
            "registry.missing",
            verdict,
            f"no copy of the {name} ({spec.name}) is loaded; import one with "
            f"`dialguard registry import FILE --registry {spec.name}`",
            spec.citation,
            spec.unverified,
            {"register": spec.name},
        )
    day = _latest_day(ctx)
    if spec.max_age_days is not None:
        stale_on = copy.as_of + timedelta(days=spec.max_age_days)
        if day > stale_on:
            return Finding(
                "registry.stale",
                FindingVerdict.BLOCK,
                f"the {name} copy is from {copy.as_of}, older than the {spec.max_age_days} days "
                f"allowed (stale since {stale_on + timedelta(days=1)})",
                spec.citation,
                spec.unverified,
                {"register": spec.name, "as_of": str(copy.as_of)},
            )
    hit = ctx.facts.register_hits.get(spec.name)
    if hit is None:
        return Finding(
            f"registry.{spec.name}",
            FindingVerdict.ALLOW,
            f"not on the {name} (copy of {copy.as_of})",
            spec.citation,
            spec.unverified,
        )
    if (
        spec.effective_after_days is not None
        and hit.registered_on is not None
        # A registration dated after the copy was made is a date that cannot be right (a
        # typo, a US-style 01/12 read as 1 Dec): binding, as if it had no date. Read as it
        # stands, a year like 2099 kept the number callable for good.
        and hit.registered_on <= copy.as_of
        and day < hit.registered_on + timedelta(days=spec.effective_after_days)
    ):
        return Finding(
            f"registry.{spec.name}",
            FindingVerdict.ALLOW,
            f"registered on the {name} on {hit.registered_on}, not binding until "
            f"{spec.effective_after_days} days later",
            spec.citation,
            spec.unverified,
        )
    exemption = exemption_for(ctx, spec)
    if exemption is not None:
        return exemption
    return Finding(
        f"registry.{spec.name}",
        FindingVerdict.BLOCK,
        f"{ctx.destination.e164} is on the {name} (copy of {copy.as_of})",
        spec.citation,
        spec.unverified,
        {"register": spec.name},
    )


def exemption_for(ctx: RuleContext, spec: RegisterSpec) -> Finding | None:
    """A consent or relationship that lets this tenant call despite the register, if any.

    What each register accepts is in `REGISTER_EXEMPTIONS` (a register the operator adds
    accepts express consent). Consent must be in force at the decision time for this tenant
    (and campaign, when the record names one). EBRs last a calendar span from the purchase or
    inquiry (`relationship_end`). Purpose exemptions (AU charities, US non-profits,
    research) are not here: they are the register's `covers` (rules/policy.py).
    An internal opt-out is decided before this family, so it always wins over consent.
    """
    accepted = _exemptions_of(spec)
    at = ctx.attempt.at
    registered_by = _registered_by(ctx, spec)
    for kind, (months, citation) in accepted.items():
        consent = next(
            (
                c
                for c in consents_in_force(ctx, (kind,))
                if (months is None or at < relationship_end(c, months))
                # DPR 26/2022: registering on the RPO cancels consents given before it.
                and not (
                    spec.name == "it-rpo"
                    and kind is not ConsentKind.CONTRACT
                    and registered_by is not None
                    and c.granted_at.date() <= registered_by
                )
            ),
            None,
        )
        if consent is None:
            continue
        until = (
            f", valid until {relationship_end(consent, months):%Y-%m-%d %H:%M} UTC"
            if months is not None
            else ""
        )
        return Finding(
            f"registry.{spec.name}",
            FindingVerdict.ALLOW,
            f"on the {spec.label or spec.name} but {kind.value} for tenant {consent.tenant} "
            f"dates from {consent.granted_at:%Y-%m-%d}{until}",
            f"{spec.citation}; {citation}",
            spec.unverified or "[U]" in citation,  # an exemption the docs could not verify
            {"exemption": kind.value},
        )
    return None


def _latest_day(ctx: RuleContext) -> date:
    """The date a copy's age and a registration's delay are counted on: the later of the
    UTC date and the callee's (its latest candidate zone), so that a copy goes stale, and a
    registration binds, as soon as its day has come for either. It was the date in whatever
    offset the decision time carried: `check --at` with an offset could differ from the AGI
    route (UTC) at the same instant, and east of UTC a copy stayed in force into the
    callee's next day."""
    return max((*ctx.local.days, ctx.attempt.at.astimezone(UTC).date()))


def _earliest_day(ctx: RuleContext) -> date:
    """The earliest of the callee's dates and UTC's: a register binds while its last day has
    not ended for any of them (the mirror of `_latest_day`)."""
    return min((*ctx.local.days, ctx.attempt.at.astimezone(UTC).date()))


def _registered_by(ctx: RuleContext, spec: RegisterSpec) -> date | None:
    """The day the callee was on the register by: its registration date, or, where the
    copy gives none (the RPO's plain lists), the copy's own date. None when not on it."""
    hit = ctx.facts.register_hits.get(spec.name)
    if hit is None:
        return None
    if hit.registered_on is not None:
        return hit.registered_on
    copy = ctx.facts.register_copies.get(spec.name)
    return copy.as_of if copy is not None else None


def relationship_end(consent: ConsentRecord, months: int) -> datetime:
    """When a relationship of `months` from `consent` ends (UTC): exactly `months` calendar
    months after its time, or, dated by a day alone, when the day `months` later first
    begins (UTC+14). Counted from the day's last beginning (UTC-12), as its start is, an
    EBR of 18 months lifted the register for up to 26 hours after the earliest reading's
    end."""
    return add_months(consent.counted_from, months).astimezone(UTC)


def add_months(moment: datetime, months: int) -> datetime:
    """`moment` plus calendar months, the day clamped to the month's end (31 Aug + 6 = 28 Feb)."""
    index = moment.month - 1 + months
    year, month = moment.year + index // 12, index % 12 + 1
    return moment.replace(year=year, month=month, day=min(moment.day, monthrange(year, month)[1]))


def _exemptions_of(spec: RegisterSpec) -> Mapping[ConsentKind, tuple[int | None, str]]:
    """What lifts the register: the settings' table when they give one, else the shipped."""
    if spec.exemptions is None:
        return REGISTER_EXEMPTIONS.get(spec.name, _DEFAULT_EXEMPTIONS)
    source = f"dialguard.toml [registers.{spec.name}] exemptions"
    return {kind: (months, source) for kind, months in spec.exemptions}


_EXPRESS = "consent to the caller overrides the register"
_DEFAULT_EXEMPTIONS: dict[ConsentKind, tuple[int | None, str]] = {
    ConsentKind.EXPRESS: (None, _EXPRESS),
    ConsentKind.EXPRESS_WRITTEN: (None, _EXPRESS),
}
# Which consent kinds lift each register, with how many months a relationship lasts.
REGISTER_EXEMPTIONS: dict[str, dict[ConsentKind, tuple[int | None, str]]] = {
    "us-dnc": {
        ConsentKind.EXPRESS_WRITTEN: (
            None,
            "47 CFR 64.1200(c)(2)(ii): prior express invitation or permission",
        ),
        ConsentKind.EBR_PURCHASE: (
            18,
            "16 CFR 310.2 EBR: 18 months after the last purchase or transaction",
        ),
        ConsentKind.EBR_INQUIRY: (3, "16 CFR 310.2 EBR: 3 months after an inquiry or application"),
    },
    "au-dncr": {
        # Sch 2 also allows inferred consent; dialguard records only express consent.
        ConsentKind.EXPRESS: (
            None,
            "DNCR Act s 11(2), Sch 2: consent (express; inferred not recorded)",
        ),
        ConsentKind.EXPRESS_WRITTEN: (None, "DNCR Act s 11(2), Sch 2"),
    },
    "uk-tps": {
        ConsentKind.NON_OBJECTION: (
            None,
            "PECR reg 21(4): the subscriber does not object for the time being",
        ),
        ConsentKind.EXPRESS: (None, "PECR reg 21(4)"),
    },
    "uk-ctps": {
        ConsentKind.NON_OBJECTION: (
            None,
            "PECR reg 21(4): the subscriber does not object for the time being",
        ),
        ConsentKind.EXPRESS: (None, "PECR reg 21(4)"),
    },
    # L.223-1 names one exception, a pre-existing contract: consent does not lift Bloctel.
    "fr-bloctel": {
        ConsentKind.CONTRACT: (None, "C. consom. L.223-1: pre-existing contractual relationship"),
    },
    # The list "applies to customers and prospects, B2B and B2C" (regulations.md 3.8): a
    # contract does not lift it. Express consent to this caller is kept, unverified.
    "be-dncm": {
        ConsentKind.EXPRESS: (
            None,
            "Code of Economic Law VI.111-VI.114: consent to this caller [U]",
        ),
    },
    "es-robinson": {
        ConsentKind.EXPRESS: (
            None,
            "LOPDGDD art. 23.4: the list is consulted where there is no consent",
        ),
        ConsentKind.EXPRESS_WRITTEN: (None, "LOPDGDD art. 23.4"),
        ConsentKind.CONTRACT: (
            None,
            "Ley 11/2022 art. 66.1.b: commercial relationship (GDPR 6.1) [S]",
        ),
    },
    "it-rpo": {
        ConsentKind.CONTRACT: (
            None,
            "DPR 26/2022: registration keeps consents to operators with a contract",
        ),
        ConsentKind.EXPRESS: (None, "DPR 26/2022: a consent given after registration"),
    },
}


CHECKS = (registers,)
