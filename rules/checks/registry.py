"""National do-not-call registers: membership, and whether the copy is there and fresh.

A register covers calls to its country's numbers for the purposes in its `RegisterSpec`.
With no copy, or a copy older than the law allows, every covered call is blocked
(`registry.missing`, `registry.stale`), unless the settings turn that off: a guard that cannot
know must not guess. Consent exemptions (EBR, express consent, ...) are applied by the
jurisdiction packs through `exemption_for`.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import timedelta

from rules.context import RuleContext
from rules.models import Finding, FindingVerdict
from rules.policy import RegisterSpec


def registers(ctx: RuleContext) -> Iterable[Finding]:
    if ctx.destination.e164 is None:
        return
    specs = ctx.policy.registers_for_country(ctx.destination.country)
    if not specs:
        yield Finding(
            "registry.none",
            FindingVerdict.SKIP,
            f"no do-not-call register is configured for {ctx.destination.country}",
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
    at = ctx.attempt.at
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
    if spec.max_age_days is not None:
        stale_on = copy.as_of + timedelta(days=spec.max_age_days)
        if at.date() > stale_on:
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
        and at.date() < hit.registered_on + timedelta(days=spec.effective_after_days)
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

    The jurisdiction packs (issue 3) refine this per country; the default honours express
    consent in force for the tenant (and campaign, when the consent names one).
    """
    from rules.facts import ConsentKind

    for consent in ctx.facts.consents:
        if (
            consent.kind in (ConsentKind.EXPRESS, ConsentKind.EXPRESS_WRITTEN)
            and consent.tenant == ctx.attempt.tenant
            and consent.campaign in (None, ctx.attempt.campaign)
            and consent.in_force(ctx.attempt.at)
        ):
            return Finding(
                f"registry.{spec.name}",
                FindingVerdict.ALLOW,
                f"on the {spec.label or spec.name} but {consent.kind.value} consent was given "
                f"on {consent.granted_at:%Y-%m-%d}",
                spec.citation,
                spec.unverified,
            )
    return None


CHECKS = (registers,)
