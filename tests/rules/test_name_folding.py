"""Tenant and campaign names in another case of ASCII letters: the lists that block (opt-outs,
suspensions, blackouts, caps) hold them; what lifts a rule (a consent) matches exactly."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime, timedelta

import pytest
from hypothesis import given
from hypothesis import strategies as st

from rules.engine import decide, prepare
from rules.facts import (
    Blackout,
    CallerIdRecord,
    ConsentKind,
    ConsentRecord,
    Facts,
    PriorAttempt,
    RegisterCopy,
    RegisterHit,
    SuppressionEntry,
    Suspension,
    same_name,
)
from rules.models import CallAttempt, Decision, Purpose
from rules.policy import Policy, TenantSettings

AT = datetime(2026, 6, 10, 16, 0, tzinfo=UTC)  # Wednesday, noon in Florida
FLORIDA = "+13055550100"
CALLER = "+13055550199"
POLICY = Policy(tenants={"acme": TenantSettings("acme", "US")})


def _attempt(tenant: str = "acme", campaign: str | None = "spring") -> CallAttempt:
    return CallAttempt(FLORIDA, CALLER, AT, tenant=tenant, campaign=campaign)


def _facts(**fields: object) -> Facts:
    """Facts in which only the list under test can block: an owned caller ID, a fresh
    register copy that does not hold the number."""
    base: dict[str, object] = {
        "caller_id_records": (CallerIdRecord(CALLER, "acme"), CallerIdRecord(CALLER, "ACME")),
        "tenant_has_inventory": True,
        "register_copies": {"us-dnc": RegisterCopy("us-dnc", AT.date(), 1, "x", AT)},
    }
    return Facts(**{**base, **fields})  # type: ignore[arg-type]


def _decide(facts: Facts, attempt: CallAttempt | None = None) -> Decision:
    return decide(prepare(attempt or _attempt(), POLICY), facts)


def _optout(tenant: str | None, campaign: str | None) -> SuppressionEntry:
    return SuppressionEntry(FLORIDA, tenant, campaign, "asked", "ivr", AT - timedelta(days=1))


@pytest.mark.parametrize(
    ("tenant", "campaign", "rule"),
    [
        ("ACME", None, "suppression.tenant"),
        ("Acme", "SPRING", "suppression.campaign"),
        ("acme", "Spring", "suppression.campaign"),
    ],
)
def test_an_optout_holds_the_tenant_and_campaign_named_in_another_case(
    tenant: str, campaign: str | None, rule: str
) -> None:
    # `suppress add ... --tenant ACME` for the channel's `acme` added an opt-out no call met.
    decision = _decide(_facts(suppressions=(_optout(tenant, campaign),)))
    assert decision.rule == rule


def test_an_optout_of_another_tenant_or_campaign_still_does_not_hold() -> None:
    assert _decide(_facts(suppressions=(_optout("acmes", None),))).rule is None
    assert _decide(_facts(suppressions=(_optout("acme", "summer"),))).rule is None


@pytest.mark.parametrize(
    ("subject", "rule"),
    [
        ("campaign:Spring", "suspension.campaign"),  # the operator's form
        ("campaign:ACME/Spring", "suspension.campaign"),  # a tenant's campaign
        ("tenant:Acme", "suspension.tenant"),
    ],
)
def test_a_suspension_holds_its_subject_named_in_another_case(subject: str, rule: str) -> None:
    # `suspend` of `campaign:Spring` did not hold the channel's `spring`.
    suspended = _facts(suspensions=(Suspension(subject, "abuse", AT - timedelta(hours=1)),))
    assert _decide(suspended).rule == rule


def test_a_blackout_of_a_tenant_holds_it_named_in_another_case() -> None:
    blackout = Blackout(1, "US-FL", AT - timedelta(hours=1), tenant="ACME")
    decision = _decide(_facts(blackouts=(blackout,)))
    assert decision.rule == "holiday.blackout"
    other = replace(blackout, tenant="beta")
    assert _decide(_facts(blackouts=(other,))).rule is None


def test_a_cap_counts_calls_of_the_tenant_and_campaign_in_another_case_together() -> None:
    # Florida: 3 solicitation calls in 24 hours on one subject (the campaign).
    earlier = tuple(
        PriorAttempt(AT - timedelta(hours=h), tenant, campaign, None, "decision", f"c{h}")
        for h, tenant, campaign in ((1, "ACME", "spring"), (2, "acme", "Spring"), (3, "Acme", "SPRING"))
    )  # fmt: skip
    decision = _decide(_facts(attempts=earlier), replace(_attempt(), purpose=Purpose.TELEMARKETING))
    assert decision.rule == "frequency.us-fl-same-subject"


def test_a_consent_lifts_only_for_the_tenant_named_exactly() -> None:
    # Lifting is not widened: a consent recorded for ACME does not lift acme's register hit.
    hit = {"us-dnc": RegisterHit("us-dnc")}
    consent = ConsentRecord(FLORIDA, "ACME", ConsentKind.EXPRESS_WRITTEN, AT - timedelta(days=9))
    decision = _decide(_facts(register_hits=hit, consents=(consent,)))
    assert decision.rule == "registry.us-dnc"
    exact = replace(consent, tenant="acme")
    assert _decide(_facts(register_hits=hit, consents=(exact,))).rule is None


_NAMES = st.text(st.sampled_from("abcXYZ/-é1"), min_size=1, max_size=8)


@given(_NAMES, st.data())
def test_names_differing_only_in_the_case_of_ascii_letters_are_one(
    name: str, data: st.DataObject
) -> None:
    flips = data.draw(st.lists(st.booleans(), min_size=len(name), max_size=len(name)))
    variant = "".join(
        c.swapcase() if flip and c.isascii() else c for c, flip in zip(name, flips, strict=True)
    )
    assert same_name(name, variant) and same_name(variant, name)
    assert not same_name(name, variant + data.draw(_NAMES))  # anything more is another name
    assert not same_name(name, None)
    # Only ASCII letters fold, as SQLite's NOCASE (the store's suspension lookup) does.
    assert not same_name("é" + name, "É" + name)
