"""The foundation rules and the precedence that picks the deciding rule."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, date, datetime, timedelta

import pytest

from rules.engine import PRECEDENCE, decide, failure_decision, prepare
from rules.facts import (
    CallerIdRecord,
    Facts,
    RegisterCopy,
    RegisterHit,
    SuppressionEntry,
    Suspension,
)
from rules.models import CallAttempt, FindingVerdict, Verdict
from rules.policy import Policy

AT = datetime(2026, 11, 30, 0, 30, tzinfo=UTC)  # Monday 11:30 in Sydney
NUMBER = "+61412345678"


def _attempt(**changes: object) -> CallAttempt:
    base = CallAttempt(NUMBER, "+61291234567", AT, tenant="acme", campaign="spring")
    return replace(base, **changes)  # type: ignore[arg-type]


def _fresh_register() -> dict[str, RegisterCopy]:
    return {"au-dncr": RegisterCopy("au-dncr", AT.date() - timedelta(days=1), 10, "x", AT)}


def _facts(**fields: object) -> Facts:
    """Facts in which the tenant owns the caller ID, so only the rule under test can block."""
    owned = {
        "caller_id_records": (CallerIdRecord("+61291234567", "acme"),),
        "tenant_has_inventory": True,
    }
    return Facts(**{**owned, **fields})  # type: ignore[arg-type]


def test_a_person_dialling_an_emergency_number_is_never_blocked(policy: Policy) -> None:
    suspended = _facts(suspensions=(Suspension("tenant:acme", "abuse", AT - timedelta(days=1)),))
    decision = decide(prepare(_attempt(destination="000", campaign=None), policy), suspended)

    assert decision.verdict is Verdict.ALLOW
    assert [f.rule for f in decision.findings] == ["emergency.person"]


def test_campaign_traffic_to_an_emergency_number_is_blocked(policy: Policy) -> None:
    decision = decide(prepare(_attempt(destination="000"), policy), _facts())

    assert decision.verdict is Verdict.BLOCK
    assert decision.rule == "emergency.campaign"


def test_an_unparseable_destination_blocks_as_number_invalid(policy: Policy) -> None:
    decision = decide(prepare(_attempt(destination="spring"), policy), _facts())

    assert decision.rule == "number.invalid"
    assert decision.number is None
    assert "spring" in decision.reason


def test_a_huge_destination_is_quoted_short_in_the_reason(policy: Policy) -> None:
    # The reason goes to the channel, the log line and the audit record: 100,000 digits
    # were repeated in each.
    decision = decide(prepare(_attempt(destination="4" * 100_000), policy), _facts())
    assert decision.rule == "number.invalid"
    assert "'" + "4" * 37 + "...'" in decision.reason and len(decision.reason) < 200


def test_an_unassigned_range_is_named_without_a_country_in_every_finding(
    policy: Policy,
) -> None:
    # +61 479 is not assigned: the number has no country, and the skipped families' reasons
    # (kept in the audit record) read "calls to None" and "this None unknown number".
    decision = decide(prepare(_attempt(destination="+61479542916"), policy), _facts())

    assert decision.rule == "number.invalid"
    skipped = {f.rule: f.reason for f in decision.findings if f.verdict is FindingVerdict.SKIP}
    assert {"registry.none", "consent.none", "hours.none"} <= skipped.keys()
    assert all("None" not in reason for reason in skipped.values()), skipped
    assert "numbers of no known country" in skipped["hours.none"]


@pytest.mark.parametrize(
    ("tenant", "campaign", "rule"),
    [
        (None, None, "suppression.global"),
        ("acme", None, "suppression.tenant"),
        ("acme", "spring", "suppression.campaign"),
    ],
)
def test_suppression_scopes(
    policy: Policy, tenant: str | None, campaign: str | None, rule: str
) -> None:
    entry = SuppressionEntry(NUMBER, tenant, campaign, "asked", "cli", AT - timedelta(hours=1))
    facts = _facts(suppressions=(entry,), register_copies=_fresh_register())

    decision = decide(prepare(_attempt(), policy), facts)

    assert decision.rule == rule


def test_a_campaign_opt_out_does_not_cover_another_campaign(policy: Policy) -> None:
    entry = SuppressionEntry(NUMBER, "acme", "autumn", "asked", "cli", AT - timedelta(hours=1))
    facts = _facts(suppressions=(entry,), register_copies=_fresh_register())

    decision = decide(prepare(_attempt(), policy), facts)

    assert not decision.rule or not decision.rule.startswith("suppression")


def test_suppression_expiry_is_honoured_at_the_decision_time(policy: Policy) -> None:
    expires = AT + timedelta(minutes=1)
    entry = SuppressionEntry(
        NUMBER, None, None, "this week", "cli", AT - timedelta(days=3), expires
    )
    facts = _facts(suppressions=(entry,), register_copies=_fresh_register())

    before = decide(prepare(_attempt(), policy), facts)
    at_expiry = decide(prepare(_attempt(at=expires), policy), facts)

    assert before.rule == "suppression.global"
    assert at_expiry.rule != "suppression.global"


def test_a_suppressed_range_blocks_every_number_it_begins(policy: Policy) -> None:
    entry = SuppressionEntry("+614123*", "acme", None, "a hospital's lines", "cli", AT)
    facts = _facts(suppressions=(entry,), register_copies=_fresh_register())

    inside = decide(prepare(_attempt(), policy), facts)
    outside = decide(prepare(_attempt(destination="+61412445678"), policy), facts)

    assert inside.rule == "suppression.tenant"
    assert "is in the range +614123*" in inside.reason
    assert outside.rule is None or not outside.rule.startswith("suppression")


def test_the_record_names_the_entry_that_blocks_longest(policy: Policy) -> None:
    # A permanent block is the record's reason, not an entry that lapses this month; among
    # permanent ones, the callee's own request before a range, then the wider scope.
    earlier = AT - timedelta(days=1)
    lapsing = AT + timedelta(days=30)
    own = SuppressionEntry(NUMBER, "acme", None, "asked", "ivr", earlier)
    own_lapsing = SuppressionEntry(NUMBER, "acme", "spring", "this month", "ivr", earlier, lapsing)
    wide_lapsing = SuppressionEntry("+61*", None, None, "no AU calls", "cli", earlier, lapsing)
    wide = SuppressionEntry("+614*", None, None, "no AU mobiles", "cli", earlier)
    narrower = SuppressionEntry("+61*", "acme", "spring", "", "cli", earlier)
    cases = [
        ((own, wide_lapsing, narrower), "suppression.tenant", f"{NUMBER} opted out"),
        ((own_lapsing, wide), "suppression.global", f"{NUMBER} is in the range +614*"),
        ((narrower, wide), "suppression.global", f"{NUMBER} is in the range +614*"),
    ]
    for entries, rule, reason in cases:
        for order in (entries, entries[::-1]):
            facts = _facts(suppressions=order, register_copies=_fresh_register())
            decision = decide(prepare(_attempt(), policy), facts)
            assert (decision.rule, decision.reason.startswith(reason)) == (rule, True)
            assert "until" not in decision.reason


def test_register_membership_blocks(policy: Policy) -> None:
    facts = _facts(
        register_copies=_fresh_register(), register_hits={"au-dncr": RegisterHit("au-dncr")}
    )

    decision = decide(prepare(_attempt(), policy), facts)

    assert decision.rule == "registry.au-dncr"


def test_a_missing_register_blocks_unless_configured_not_to(policy: Policy) -> None:
    blocked = decide(prepare(_attempt(), policy), _facts())
    relaxed = decide(
        prepare(_attempt(), replace(policy, block_when_register_missing=False)), _facts()
    )

    assert blocked.rule == "registry.missing"
    assert all(
        f.rule != "registry.missing" or f.verdict is FindingVerdict.ALLOW for f in relaxed.findings
    )


def test_a_register_copy_goes_stale_the_day_after_its_allowed_age(policy: Policy) -> None:
    as_of = date(2026, 10, 31)  # au-dncr: 30 days
    copies = {"au-dncr": RegisterCopy("au-dncr", as_of, 10, "x", AT)}
    last_good = datetime(2026, 11, 30, 12, tzinfo=UTC)
    first_stale = datetime(2026, 12, 1, 0, 0, tzinfo=UTC)

    good = decide(prepare(_attempt(at=last_good), policy), _facts(register_copies=copies))
    stale = decide(prepare(_attempt(at=first_stale), policy), _facts(register_copies=copies))

    assert not any(f.rule == "registry.stale" for f in good.findings)
    assert any(
        f.rule == "registry.stale" and f.verdict is FindingVerdict.BLOCK for f in stale.findings
    )


def test_suspension_outranks_every_other_block(policy: Policy) -> None:
    facts = _facts(
        suspensions=(Suspension("campaign:spring", "breach", AT - timedelta(minutes=1)),),
        suppressions=(SuppressionEntry(NUMBER, None, None, "", "cli", AT - timedelta(days=1)),),
    )

    decision = decide(prepare(_attempt(), policy), facts)

    assert decision.rule == "suspension.campaign"
    assert {f.rule for f in decision.findings} >= {
        "suspension.campaign",
        "suppression.global",
        "registry.missing",
    }


def test_every_finding_family_has_a_place_in_the_precedence(policy: Policy) -> None:
    decision = decide(prepare(_attempt(), policy), _facts(register_copies=_fresh_register()))

    assert all(f.rule.split(".")[0] in PRECEDENCE for f in decision.findings)


def test_the_failure_policy_blocks_by_default_and_can_allow(policy: Policy) -> None:
    blocked = failure_decision(_attempt(), policy, "guard.timeout", "took too long")
    allowed = failure_decision(
        _attempt(), replace(policy, on_failure=Verdict.ALLOW), "guard.timeout", "slow"
    )

    assert (blocked.verdict, blocked.rule) == (Verdict.BLOCK, "guard.timeout")
    assert allowed.verdict is Verdict.ALLOW
    assert allowed.findings[0].rule == "guard.timeout"


@pytest.mark.parametrize(
    ("destination", "number"),
    [("0412 345 678", "+61412345678"), ("+61412345678", "+61412345678"), ("spring", None)],
)
def test_a_failure_decision_names_the_number_when_it_reads(
    policy: Policy, destination: str, number: str | None
) -> None:
    # With no number, its record was found by `log --number` only under the dial string as
    # given, and a call the failure policy allowed did not count toward the caps.
    attempt = _attempt(destination=destination)
    assert failure_decision(attempt, policy, "guard.timeout", "slow").number == number


def test_a_naive_decision_clock_is_refused() -> None:
    with pytest.raises(ValueError, match="timezone-aware"):
        CallAttempt(NUMBER, None, datetime(2026, 1, 1))


def test_a_us_territory_number_is_looked_up_on_the_us_registry(policy: Policy) -> None:
    # phonenumbers calls +1 787 "PR"; the National Do Not Call Registry and the TCPA apply.
    at = datetime(2026, 11, 30, 16, 0, tzinfo=UTC)  # Monday 12:00 in San Juan
    prepared = prepare(_attempt(destination="+17875550123", at=at), policy)
    assert (prepared.location.country, prepared.location.regions) == ("US", ("US-PR",))
    assert prepared.location.timezones == ("America/Puerto_Rico",)
    assert "us-dnc" in prepared.query.registers
    copy = RegisterCopy("us-dnc", at.date() - timedelta(days=1), 10, "x", at)
    decision = decide(
        prepared,
        _facts(register_copies={"us-dnc": copy}, register_hits={"us-dnc": RegisterHit("us-dnc")}),
    )
    [finding] = [f for f in decision.findings if f.rule == "registry.us-dnc"]
    assert finding.verdict is FindingVerdict.BLOCK
    night = prepare(_attempt(destination="+17875550123", at=at.replace(hour=7)), policy)
    assert "hours.us-solicitation" in {  # 03:00 in San Juan
        f.rule for f in decide(night, _facts()).findings if f.verdict is FindingVerdict.BLOCK
    }
