"""A callee address that disagrees with the number: the number's clocks are held beside the
address's for the state rules its area code applies. Florida, Oklahoma and Maryland presume
a callee with their area code is in the state (regulations.md 2.5)."""

from __future__ import annotations

from datetime import UTC, datetime
from zoneinfo import ZoneInfo

import pytest

from rules.engine import decide, prepare
from rules.facts import Facts
from rules.models import CallAttempt, Decision, Finding, FindingVerdict, Purpose
from rules.policy import Policy

NY = ZoneInfo("America/New_York")
MIAMI = "+13055550100"  # 305: Florida, America/New_York
LOS_ANGELES = "+12135550100"  # 213: California, America/Los_Angeles
NEW_YORK = "+12125550100"  # 212: New York, America/New_York
BY_AREA_CODE = "the number's clock, held for the state rules its area code applies"


def decide_at(
    number: str,
    at: datetime,
    *,
    tz: str | None = None,
    region: str | None = None,
    purpose: Purpose = Purpose.TELEMARKETING,
) -> Decision:
    attempt = CallAttempt(
        number,
        "+61291234567",
        at,
        tenant="acme",
        campaign="spring",
        purpose=purpose,
        callee_timezone=tz,
        callee_region=region,
    )
    return decide(prepare(attempt, Policy()), Facts())


def rule(decision: Decision, rule_id: str) -> Finding:
    [found] = [f for f in decision.findings if f.rule == rule_id]
    return found


def blocked(decision: Decision) -> list[str]:
    """The hours and holiday findings that block (the packs' rules: no blackout here)."""
    return [
        f.rule
        for f in decision.findings
        if f.rule.split(".")[0] in ("hours", "holiday") and f.verdict is FindingVerdict.BLOCK
    ]


@pytest.mark.parametrize(
    ("tz", "region"), [(None, "US-CA"), ("America/Los_Angeles", None)], ids=["region", "zone"]
)
def test_a_florida_number_said_to_be_in_los_angeles_is_held_to_florida_s_window_on_its_clock(
    tz: str | None, region: str | None
) -> None:
    """Wed 14 Jan 2026, 20:30 in Miami, 17:30 in Los Angeles: Florida's 08:00-20:00 has
    closed on the number's clock. It was read on Los Angeles's alone, and allowed."""
    decision = decide_at(MIAMI, datetime(2026, 1, 14, 20, 30, tzinfo=NY), tz=tz, region=region)

    florida = rule(decision, "hours.us-fl-solicitation")
    assert florida.verdict is FindingVerdict.BLOCK
    assert f"Wed 20:30:00 for the callee (America/New_York: {BY_AREA_CODE})" in florida.reason
    assert "the number's clocks held too (America/New_York)" in str(florida.details["location"])
    # The federal window is the address's: it tells the callee's zone.
    federal = rule(decision, "hours.us-solicitation")
    assert federal.verdict is FindingVerdict.ALLOW
    assert federal.reason.startswith("Wed 17:30:00 (America/Los_Angeles) is inside")
    assert decision.context["timezones"] == ["America/Los_Angeles", "America/New_York"]
    assert decision.local_time is not None and decision.local_time.hour == 17  # the address's


def test_a_florida_number_said_to_be_in_los_angeles_is_callable_inside_both_clocks() -> None:
    """Noon in Miami, 09:00 in Los Angeles. (At 10:00 in Miami it is 07:00 in Los Angeles,
    before the federal window on the address's clock, as it was before.)"""
    decision = decide_at(MIAMI, datetime(2026, 1, 14, 12, 0, tzinfo=NY), region="US-CA")

    assert blocked(decision) == []
    florida = rule(decision, "hours.us-fl-solicitation")
    assert florida.reason.startswith(
        "Wed 09:00:00 (America/Los_Angeles), Wed 12:00:00 (America/New_York) is inside"
    )


def test_a_state_rule_the_address_alone_applies_keeps_the_address_s_clock() -> None:
    """A Los Angeles number said to be in Florida, at 10:30 in Miami (07:30 in Los
    Angeles): Florida's window and the federal one are read on Florida's clocks, where both
    are open. The number's clock is held only for rules its area code applies (California
    has no table)."""
    decision = decide_at(LOS_ANGELES, datetime(2026, 1, 14, 10, 30, tzinfo=NY), region="US-FL")

    assert blocked(decision) == []
    for rule_id in ("hours.us-fl-solicitation", "hours.us-solicitation"):
        reason = rule(decision, rule_id).reason
        assert "America/Los_Angeles" not in reason and "(America/New_York)" in reason


@pytest.mark.parametrize(
    ("number", "tz", "region", "zones"),
    [
        ("+18505550100", "America/Chicago", None, ["America/Chicago"]),  # one of 850's
        (NEW_YORK, None, "US-FL", ["America/New_York", "America/Chicago"]),  # NY's is FL's
        (MIAMI, None, "US-FL", ["America/New_York", "America/Chicago"]),
        ("+61291234567", None, "AU-WA", ["Australia/Perth"]),  # no state tables in AU
        ("+61291234567", "Australia/Perth", None, ["Australia/Perth"]),
        ("+61412345678", None, "AU-WA", ["Australia/Perth"]),
        ("+33123456789", None, "FR-974", ["Indian/Reunion"]),  # France's, overseas
    ],
)
def test_an_address_that_agrees_with_the_number_holds_no_more_clocks(
    number: str, tz: str | None, region: str | None, zones: list[str]
) -> None:
    decision = decide_at(number, datetime(2026, 1, 14, 15, 0, tzinfo=UTC), tz=tz, region=region)

    assert decision.context["timezones"] == zones
    assert "held" not in str(decision.findings)
