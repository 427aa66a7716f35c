"""A callee address that disagrees with the number: the number's clocks are held beside the
address's for the rules the number applies. Florida, Oklahoma and Maryland presume a callee
with their area code is in the state (regulations.md 2.5); and a callee may be travelling,
or the address be wrong, so an address abroad keeps the number's country's clocks too."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from rules.checks.blackouts import RULE
from rules.engine import decide, prepare
from rules.facts import Blackout, Facts
from rules.models import CallAttempt, Decision, Finding, FindingVerdict, Purpose
from rules.policy import Policy
from tests.rules.test_hours import decide_at, rule

NY = ZoneInfo("America/New_York")
SYDNEY = ZoneInfo("Australia/Sydney")
MIAMI = "+13055550100"  # 305: Florida, America/New_York
LOS_ANGELES = "+12135550100"  # 213: California, America/Los_Angeles
NEW_YORK = "+12125550100"  # 212: New York, America/New_York
AU_MOBILE = "+61412345678"  # no location: every Australian zone
TOLL_FREE = "+18005550123"  # no location: every US zone, every state's table
BY_AREA_CODE = "the number's clock, held for the state rules its area code applies"


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


def test_a_state_holiday_the_area_code_applies_is_read_on_the_number_s_date_too() -> None:
    """A Salt Lake City number said to be in Los Angeles, Fri 24 Jul 2026 at 06:30 UTC:
    00:30 on Pioneer Day in Utah, still Thursday in Los Angeles."""
    at = datetime(2026, 7, 24, 6, 30, tzinfo=UTC)
    decision = decide_at("+18015550100", at, region="US-CA")

    utah = rule(decision, "holiday.us-ut-state-holidays")
    assert utah.verdict is FindingVerdict.BLOCK
    assert (
        f"Fri 2026-07-24 is Pioneer Day in US-UT for the callee (America/Denver: {BY_AREA_CODE})"
        in (utah.reason)
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


def test_an_australian_mobile_said_to_be_in_florida_keeps_australia_s_clocks() -> None:
    """Thu 15 Jan 2026, 02:00 in Sydney, Wed 10:00 in Miami: the Australian window was read
    on Florida's clocks alone, and the call allowed. The number's law is Australia's; the
    address's country's rules do not apply to it."""
    decision = decide_at(AU_MOBILE, datetime(2026, 1, 15, 2, 0, tzinfo=SYDNEY), region="US-FL")

    australia = rule(decision, "hours.au-telemarketing")
    assert australia.verdict is FindingVerdict.BLOCK
    assert (
        "Thu 02:00:00 for the callee (Australia/Sydney: the number's clock, held as the "
        "address is outside AU, the number's country)"
    ) in australia.reason
    assert decision.jurisdiction == "AU"
    assert not [f for f in decision.findings if f.rule.startswith(("hours.us", "holiday.us"))]


@pytest.mark.parametrize(
    ("tz", "region"), [(None, "AU-NSW"), ("Australia/Sydney", None)], ids=["region", "zone"]
)
def test_a_new_york_number_said_to_be_in_sydney_keeps_new_york_s_clock(
    tz: str | None, region: str | None
) -> None:
    """Thu 15 Jan 2026, 02:00 in New York, 18:00 in Sydney: the federal window was read on
    Sydney's clock alone."""
    decision = decide_at(NEW_YORK, datetime(2026, 1, 15, 2, 0, tzinfo=NY), tz=tz, region=region)

    federal = rule(decision, "hours.us-solicitation")
    assert federal.verdict is FindingVerdict.BLOCK
    assert (
        "Thu 02:00:00 for the callee (America/New_York: the number's clock, held as the "
        "address is outside US, the number's country)"
    ) in federal.reason


def test_a_call_inside_the_window_on_both_countries_clocks_is_allowed() -> None:
    """A Sydney number said to be in Florida: Wed 18:00 in Miami (17:00 in the panhandle)
    is Thu 10:00 in Sydney (09:30 in Broken Hill): the Australian window allows on every
    clock. (An Australian mobile has Perth's clock too, 07:00: with Florida's, no hour of
    the Australian window is left.)"""
    sydney = "+61291234567"
    decision = decide_at(sydney, datetime(2026, 1, 14, 18, 0, tzinfo=NY), region="US-FL")

    assert blocked(decision) == []
    assert "Thu 10:00:00 (Australia/Sydney)" in rule(decision, "hours.au-telemarketing").reason


def test_a_toll_free_number_said_to_be_abroad_keeps_every_state_s_window_on_its_own_clocks() -> (
    None
):
    """Tue 8 Dec 2026, 18:30 in New York (Wed 10:30 in Sydney): Rhode Island's 09:00-18:00
    has closed. An address abroad names no state, and every state's table was dropped; but
    a state's window is not read on Sydney's clock, nor Guam's, as the federal one is: at
    17:30 in New York every window is open."""
    late = decide_at(TOLL_FREE, datetime(2026, 12, 8, 23, 30, tzinfo=UTC), region="AU-NSW")
    open_ = decide_at(TOLL_FREE, datetime(2026, 12, 8, 22, 30, tzinfo=UTC), region="AU-NSW")

    assert rule(late, "hours.us-ri-solicitation").verdict is FindingVerdict.BLOCK
    assert blocked(open_) == []
    federal = rule(open_, "hours.us-solicitation").reason
    assert "(Australia/Sydney)" in federal and "(Pacific/Guam)" in federal


@pytest.mark.parametrize(
    ("number", "at", "region"),
    [
        ("+61291234567", datetime(2026, 1, 14, 2, 0, tzinfo=SYDNEY), "AU-NSW"),
        (NEW_YORK, datetime(2026, 1, 14, 6, 0, tzinfo=NY), "US-NY"),
    ],
)
def test_a_zone_abroad_given_with_a_home_region_keeps_the_number_s_clock(
    number: str, at: datetime, region: str
) -> None:
    # The region at home and the zone abroad: read on London's clock alone, a call at 02:00
    # in Sydney (06:00 in New York) was allowed.
    assert blocked(decide_at(number, at, tz="Europe/London"))
    assert blocked(decide_at(number, at, tz="Europe/London", region=region))


@pytest.mark.parametrize(
    ("number", "region", "zone", "same", "at"),
    [
        (TOLL_FREE, "US-NY", "US/Eastern", "America/New_York", datetime(2026, 1, 14, 8, 30, tzinfo=NY)),
        (NEW_YORK, "US-CA", "US/Pacific", "America/Los_Angeles", datetime(2026, 1, 14, 18, 30, tzinfo=ZoneInfo("America/Los_Angeles"))),
        (AU_MOBILE, "AU-NSW", "Australia/NSW", "Australia/Sydney", datetime(2026, 1, 14, 10, 0, tzinfo=SYDNEY)),
        ("+15025550123", "US-KY", "America/Kentucky/Louisville", "America/New_York", datetime(2026, 1, 14, 10, 30, tzinfo=NY)),
        ("+17015550123", "US-ND", "America/North_Dakota/Center", "America/Chicago", datetime(2026, 1, 14, 8, 30, tzinfo=ZoneInfo("America/Chicago"))),
        ("+19075550123", "US-AK", "America/Juneau", "America/Anchorage", datetime(2026, 1, 14, 8, 30, tzinfo=ZoneInfo("America/Juneau"))),
        ("+34612345678", "ES-CE", "Africa/Ceuta", "Europe/Madrid", datetime(2026, 1, 14, 9, 30, tzinfo=ZoneInfo("Europe/Madrid"))),
    ],
)  # fmt: skip
def test_a_zone_of_the_region_s_clock_under_another_name_agrees_with_it(
    number: str, region: str, zone: str, same: str, at: datetime
) -> None:
    # Compared by name, a link (US/Eastern) or a zone the pack does not list (Juneau) was
    # "abroad", or "not the region's": every clock of the number, or the region's other
    # clocks, were held, and these calls blocked.
    named = decide_at(number, at, tz=zone, region=region)
    assert blocked(named) == blocked(decide_at(number, at, tz=same, region=region)) == []
    assert "outside" not in str(named.context.get("location"))


def test_a_zone_that_disagrees_with_its_region_adds_its_states_where_no_table_picks_them() -> None:
    # A Brisbane landline said to be in AU-QLD on Perth's clock: Perth's clock was read but
    # not Western Australia's holidays (ANZAC Day observed there on Monday 27 April 2026).
    at = datetime(2026, 4, 27, 10, 0, tzinfo=ZoneInfo("Australia/Perth"))
    alone = decide_at("+61731234567", at, tz="Australia/Perth")
    both = decide_at("+61731234567", at, tz="Australia/Perth", region="AU-QLD")
    assert "holiday.au-state-substitute" in blocked(alone)
    assert "holiday.au-state-substitute" in blocked(both)


def test_a_zone_and_a_region_that_disagree_are_both_read() -> None:
    # A Los Angeles number given US-FL and America/Denver: 20:30 in Miami is 18:30 in
    # Denver; the callee is in one or the other, and Florida's 08:00-20:00 holds both.
    at = datetime(2026, 1, 14, 20, 30, tzinfo=NY)
    decision = decide_at(LOS_ANGELES, at, tz="America/Denver", region="US-FL")
    assert rule(decision, "hours.us-fl-solicitation").verdict is FindingVerdict.BLOCK


def test_a_toll_free_number_given_a_region_abroad_without_clocks_keeps_states_on_their_own() -> (
    None
):
    # GB-LND has no clocks in the packs, so the number's are read; but a region abroad
    # placed the callee, and every state's table was read on every US clock (Kentucky's on
    # Guam's: 09:00 there at 23:00 UTC).
    at = datetime(2026, 12, 9, 23, 0, tzinfo=UTC)
    assert blocked(decide_at(TOLL_FREE, at, region="GB-LND")) == blocked(decide_at(TOLL_FREE, at))


@pytest.mark.parametrize(
    ("number", "tz", "region", "zones"),
    [
        ("+18505550100", "America/Chicago", None, ["America/Chicago"]),  # one of 850's
        (NEW_YORK, None, "US-FL", ["America/New_York", "America/Chicago"]),  # NY's is FL's
        (MIAMI, None, "US-FL", ["America/New_York", "America/Chicago"]),
        ("+61291234567", None, "AU-WA", ["Australia/Perth"]),  # no state tables in AU
        ("+61291234567", "Australia/Perth", None, ["Australia/Perth"]),
        (AU_MOBILE, None, "AU-WA", ["Australia/Perth"]),
        ("+33123456789", None, "FR-974", ["Indian/Reunion"]),  # France's, overseas
    ],
)
def test_an_address_that_agrees_with_the_number_holds_no_more_clocks(
    number: str, tz: str | None, region: str | None, zones: list[str]
) -> None:
    decision = decide_at(number, datetime(2026, 1, 14, 15, 0, tzinfo=UTC), tz=tz, region=region)

    assert decision.context["timezones"] == zones
    assert "held" not in str(decision.findings)


NUMBERS = (
    MIAMI,
    "+18505550100",  # Florida, on two clocks
    NEW_YORK,
    LOS_ANGELES,
    "+16015550100",  # Mississippi: CST, and no Sunday calls
    "+14015550100",  # Rhode Island: 09:00-18:00, holidays
    "+18015550100",  # Utah: holidays
    "+18085550100",  # Hawaii
    TOLL_FREE,
    AU_MOBILE,
    "+61291234567",  # New South Wales
    "+61891234567",  # WA, SA or NT
    "+33123456789",  # France
    "+34912345678",  # Spain
)
# Addresses, each with the country whose law covers its callees.
ADDRESSES = (
    ("US", None, "US-FL"),
    ("US", None, "US-CA"),
    ("US", None, "US-HI"),
    ("US", "America/Los_Angeles", None),
    ("US", "Pacific/Guam", None),
    ("AU", None, "AU-NSW"),
    ("AU", None, "AU-WA"),
    ("AU", "Australia/Perth", None),
    ("FR", None, "FR-974"),
    ("FR", "Europe/Paris", None),
    ("ES", None, "ES-TF"),
    ("GB", "Europe/London", None),
    ("JP", "Asia/Tokyo", None),
    ("NZ", "Pacific/Auckland", None),
    ("CA", None, "CA-ON"),
)
COUNTRY = {
    MIAMI: "US",
    "+18505550100": "US",
    NEW_YORK: "US",
    LOS_ANGELES: "US",
    "+16015550100": "US",
    "+14015550100": "US",
    "+18015550100": "US",
    "+18085550100": "US",
    TOLL_FREE: "US",
    AU_MOBILE: "AU",
    "+61291234567": "AU",
    "+61891234567": "AU",
    "+33123456789": "FR",
    "+34912345678": "ES",
}


def _abroad(number: str) -> st.SearchStrategy[tuple[str, str | None, str | None]]:
    return st.sampled_from([a for a in ADDRESSES if a[0] != COUNTRY[number]])


@settings(max_examples=400, deadline=None)
@given(
    call=st.sampled_from(NUMBERS).flatmap(lambda n: st.tuples(st.just(n), _abroad(n))),
    instant=st.datetimes(
        min_value=datetime(2025, 1, 1), max_value=datetime(2028, 12, 31), timezones=st.just(UTC)
    ),
    purpose=st.sampled_from([Purpose.TELEMARKETING, Purpose.RESEARCH, Purpose.DEBT_COLLECTION]),
)
def test_an_address_abroad_never_lets_through_a_call_the_hours_block(
    call: tuple[str, tuple[str, str | None, str | None]], instant: datetime, purpose: Purpose
) -> None:
    number, (_, tz, region) = call
    alone = decide_at(number, instant, purpose=purpose)
    abroad = decide_at(number, instant, tz=tz, region=region, purpose=purpose)

    if blocked(alone):
        assert blocked(abroad), (alone.findings, abroad.findings)


# -- blackouts: the number's place is held too ---------------------------------------------

AU_BLACKOUT_AT = datetime(2026, 11, 30, 1, tzinfo=UTC)  # Monday noon in Sydney


def _blackout_finding(number: str, place: str, *, tz: str | None, region: str | None) -> Finding:
    attempt = CallAttempt(
        number, "+61291234567", AU_BLACKOUT_AT, tenant="acme", callee_timezone=tz,
        callee_region=region,
    )  # fmt: skip
    blackout = Blackout(1, place, AU_BLACKOUT_AT - timedelta(hours=1), purposes=frozenset())
    return rule(decide(prepare(attempt, Policy()), Facts(blackouts=(blackout,))), RULE)


@pytest.mark.parametrize(
    ("number", "place", "tz", "region"),
    [
        (AU_MOBILE, "AU-NSW", None, "US-FL"),
        (AU_MOBILE, "AU-NSW", "America/New_York", None),
        ("+61291234567", "AU-NSW", None, "GB-LND"),  # a Sydney landline
        (NEW_YORK, "US-NY", None, "AU-NSW"),
    ],
)
def test_a_blackout_of_the_number_s_place_holds_a_callee_said_to_be_abroad(
    number: str, place: str, tz: str | None, region: str | None
) -> None:
    # An Australian mobile given US-FL escaped a blackout of AU-NSW that held it without the
    # address, though its Australian clocks are held.
    finding = _blackout_finding(number, place, tz=tz, region=region)
    assert finding.verdict is FindingVerdict.BLOCK
    if number != NEW_YORK and region is not None:  # held by the number alone: said
        assert "by the number, as the address is outside" in finding.reason


def test_an_address_in_the_number_s_country_still_narrows_a_blackout() -> None:
    # An Australian mobile said to be in Victoria is not held by a blackout of NSW.
    finding = _blackout_finding(AU_MOBILE, "AU-NSW", tz=None, region="AU-VIC")
    assert finding.verdict is FindingVerdict.ALLOW


@settings(max_examples=200, deadline=None)
@given(call=st.sampled_from(NUMBERS).flatmap(lambda n: st.tuples(st.just(n), _abroad(n))))
def test_an_address_abroad_never_lifts_a_blackout_of_the_number_s_place(
    call: tuple[str, tuple[str, str | None, str | None]],
) -> None:
    number, (_, tz, region) = call
    alone = prepare(CallAttempt(number, "+61291234567", AU_BLACKOUT_AT), Policy()).location
    places = [*alone.regions, alone.country or ""] if alone.regions else [alone.country or ""]
    for place in places:
        assert _blackout_finding(number, place, tz=None, region=None).verdict is (
            FindingVerdict.BLOCK
        )
        abroad = _blackout_finding(number, place, tz=tz, region=region)
        assert abroad.verdict is FindingVerdict.BLOCK, (place, abroad.reason)
