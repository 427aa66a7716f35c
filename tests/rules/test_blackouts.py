"""Blackouts: an operator's period without calls of some purposes to a place."""

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
    RegisterCopy,
)
from rules.jurisdictions import from_settings
from rules.jurisdictions.model import Jurisdiction
from rules.models import CallAttempt, Finding, Purpose, Verdict
from rules.policy import Policy, TenantSettings

# Monday 30 November 2026, 16:00 UTC: 10:00 in Louisiana, 03:00 on the 1st in Sydney.
AT = datetime(2026, 11, 30, 16, tzinfo=UTC)
LOUISIANA = "+12255550123"  # area code 225, Baton Rouge
TEXAS = "+12145550123"  # area code 214, Dallas
US_CALLER = "+12025550143"
POLICY = Policy(
    tenants={"acme": TenantSettings("acme", "US"), "beta": TenantSettings("beta", "US")}
)


def _attempt(number: str = LOUISIANA, **changes: object) -> CallAttempt:
    base = CallAttempt(number, US_CALLER, AT, tenant="acme", campaign="winter")
    return replace(base, **changes)  # type: ignore[arg-type]


def _facts(*blackouts: Blackout, **fields: object) -> Facts:
    """Facts in which only a blackout can block: an owned caller ID, fresh registers."""
    copies = {
        name: RegisterCopy(name, AT.date(), 1, "x", AT - timedelta(days=1))
        for name in ("us-dnc", "au-dncr", "bloctel")
    }
    base: dict[str, object] = {
        "caller_id_records": (CallerIdRecord(US_CALLER, "acme"), CallerIdRecord(US_CALLER, "beta")),
        "tenant_has_inventory": True,
        "register_copies": copies,
        "blackouts": blackouts,
    }
    return Facts(**{**base, **fields})  # type: ignore[arg-type]


def _blackout(place: str = "US-LA", **changes: object) -> Blackout:
    base = Blackout(1, place, AT - timedelta(hours=1), None, frozenset({"telemarketing"}))
    return replace(base, **changes)  # type: ignore[arg-type]


def _decide(attempt: CallAttempt, facts: Facts, policy: Policy = POLICY) -> tuple[str | None, str]:
    decision = decide(prepare(attempt, policy), facts)
    [finding] = [f for f in decision.findings if f.rule == "holiday.blackout"]
    return decision.rule, finding.verdict.value


def test_no_blackout_declared_is_one_allowing_finding() -> None:
    assert _decide(_attempt(), _facts()) == (None, "allow")


def test_a_region_blackout_holds_callees_there_and_not_elsewhere() -> None:
    louisiana = _blackout(reason="Hurricane Zeta")
    decision = decide(prepare(_attempt(), POLICY), _facts(louisiana))
    assert decision.verdict is Verdict.BLOCK and decision.rule == "holiday.blackout"
    assert "US-LA" in decision.reason and "blackout 1" in decision.reason
    assert "Hurricane Zeta" in decision.reason and "LPSC" in decision.citation
    assert _decide(_attempt(TEXAS), _facts(louisiana)) == (None, "allow")


def test_a_callee_address_places_the_callee_and_the_area_code_stays_a_candidate() -> None:
    louisiana = _blackout()
    moved_away = _attempt(callee_region="US-TX")
    moved_in = _attempt(TEXAS, callee_region="US-LA")
    # US state rules follow the area code as well as the address (regulations.md 2.5).
    assert _decide(moved_away, _facts(louisiana))[0] == "holiday.blackout"
    assert _decide(moved_in, _facts(louisiana))[0] == "holiday.blackout"


def test_an_address_in_the_place_holds_a_number_from_another_country() -> None:
    toronto = _attempt("+14165550123", callee_region="US-LA")
    assert _decide(toronto, _facts(_blackout()))[0] == "holiday.blackout"
    assert _decide(toronto, _facts(_blackout("US")))[0] == "holiday.blackout"
    assert _decide(toronto, _facts(_blackout("US-TX")))[1] == "allow"


def test_a_callee_of_unknown_region_may_be_there_and_is_held() -> None:
    au = Policy(tenants={"acme": TenantSettings("acme", "AU")})
    queensland = _blackout("AU-QLD", starts_at=AT - timedelta(days=1))
    facts = _facts(queensland, caller_id_records=(CallerIdRecord("+61291234567", "acme"),))
    mobile = CallAttempt("+61412345678", "+61291234567", AT - timedelta(hours=14), tenant="acme")
    rule, _ = _decide(mobile, facts, au)
    assert rule == "holiday.blackout"
    reason = decide(prepare(mobile, au), facts).reason
    assert "region is not known" in reason
    assert _decide(replace(mobile, callee_region="AU-NSW"), facts, au) == (None, "allow")
    assert _decide(replace(mobile, callee_region="AU-QLD"), facts, au)[0] == "holiday.blackout"


def test_a_country_blackout_holds_every_callee_of_that_law() -> None:
    assert _decide(_attempt(TEXAS), _facts(_blackout("US")))[0] == "holiday.blackout"
    assert _decide(_attempt(TEXAS), _facts(_blackout("CA"))) == (None, "allow")


def test_reunion_is_frances_callee_in_its_department() -> None:
    fr = Policy(tenants={"acme": TenantSettings("acme", "FR")})
    caller = "+33176543210"
    call = CallAttempt("+262692123456", caller, AT - timedelta(hours=8), tenant="acme")
    owned = (CallerIdRecord(caller, "acme"),)
    for place in ("FR-974", "FR"):
        facts = _facts(_blackout(place, starts_at=AT - timedelta(days=1)), caller_id_records=owned)
        assert _decide(call, facts, fr)[1] == "block", place
    martinique = _blackout("FR-972", starts_at=AT - timedelta(days=1))
    assert _decide(call, _facts(martinique, caller_id_records=owned), fr)[1] == "allow"


def test_a_blackout_holds_a_place_under_any_code_its_pack_names_it_by() -> None:
    # FR-974, FR-RE and FR-LRE are all Réunion: a blackout declared under one missed a
    # callee named by another, and a +262 number (placed in FR-974) under FR-RE.
    fr = Policy(tenants={"acme": TenantSettings("acme", "FR")})
    caller = "+33176543210"
    owned = (CallerIdRecord(caller, "acme"),)
    call = CallAttempt("+262692123456", caller, AT - timedelta(hours=8), tenant="acme")
    paris = CallAttempt("+33142123456", caller, AT - timedelta(hours=8), tenant="acme")
    for place in ("FR-974", "FR-RE", "FR-LRE"):
        facts = _facts(_blackout(place, starts_at=AT - timedelta(days=1)), caller_id_records=owned)
        assert _decide(call, facts, fr)[1] == "block", place
        for named in ("FR-974", "FR-RE", "FR-LRE"):
            addressed = replace(paris, callee_region=named)
            assert _decide(addressed, facts, fr)[1] == "block", (place, named)
        assert _decide(replace(paris, callee_region="FR-976"), facts, fr)[1] == "allow"


def test_a_same_place_entry_that_names_no_region_is_refused() -> None:
    _, errors = from_settings({"FR": {"location": {"same_places": {"FR-RE": "FR-999"}}}})
    assert errors == [
        "jurisdictions.FR.location.same_places.FR-RE: 'FR-999' is not a listed region code"
    ]


FR = Policy(tenants={"acme": TenantSettings("acme", "FR")})
FR_CALLER = "+33176543210"
# A Paris landline: French numbers name no region, so the address alone places the callee.
FR_CALL = CallAttempt("+33142123456", FR_CALLER, AT - timedelta(hours=8), tenant="acme")


def _fr_finding(place: str, callee_region: str, policy: Policy = FR) -> Finding:
    """The blackout finding of a call to an address in `callee_region` while `place` is
    blacked out."""
    blackout = _blackout(place, starts_at=AT - timedelta(days=1))
    facts = _facts(blackout, caller_id_records=(CallerIdRecord(FR_CALLER, "acme"),))
    decision = decide(prepare(replace(FR_CALL, callee_region=callee_region), policy), facts)
    [finding] = [f for f in decision.findings if f.rule == "holiday.blackout"]
    return finding


def _fr_decide(place: str, callee_region: str, policy: Policy = FR) -> str:
    return _fr_finding(place, callee_region, policy).verdict.value


def _with_parts(country: str, parts: dict[str, object]) -> Policy:
    jurisdictions, errors = from_settings({country: {"location": {"parts": parts}}})
    assert errors == []
    return replace(FR, jurisdictions=jurisdictions)


def test_a_pack_s_parts_hold_a_blackout_both_ways() -> None:
    # An override's table replaces the pack's: here FR-PAC holds FR-13 alone.
    policy = _with_parts("FR", {"FR-PAC": ["FR-13"]})
    assert _fr_decide("FR-PAC", "FR-13", policy) == "block"
    assert _fr_decide("FR-13", "FR-PAC", policy) == "block"
    assert _fr_decide("FR-13", "FR-06", policy) == "allow"
    assert _fr_decide("FR-PAC", "FR-06", policy) == "allow"
    # Under any code of the same place (FR-RE is FR-974), and through a part's parts.
    policy = _with_parts("FR", {"FR-GES": ["FR-6AE"], "FR-6AE": ["FR-67"], "FR-OCC": ["FR-974"]})
    assert _fr_decide("FR-GES", "FR-67", policy) == "block"
    assert _fr_decide("FR-67", "FR-GES", policy) == "block"
    assert _fr_decide("FR-RE", "FR-OCC", policy) == "block"
    assert _fr_decide("FR-OCC", "FR-LRE", policy) == "block"
    assert _fr_decide("FR-6AE", "FR-OCC", policy) == "allow"


def test_a_callee_held_as_a_region_that_holds_the_place_is_told_so() -> None:
    policy = _with_parts("FR", {"FR-PAC": ["FR-13"]})
    assert _fr_finding("FR-13", "FR-PAC", policy).reason.startswith(
        "the callee may be in FR-13 (the callee's region FR-PAC holds it: customer address:"
    )
    inside = _fr_finding("FR-PAC", "FR-13", policy).reason
    assert inside.startswith("the callee may be in FR-PAC, under blackout 1")


@pytest.mark.parametrize(
    ("parts", "error"),
    [
        ({"FR-PAC": ["FR-13", "FR-999"]}, "FR-PAC: 'FR-999' is not a listed region code"),
        (
            {"FR-PAC": ["FR-998", "FR-999"]},
            "FR-PAC: 'FR-998', 'FR-999' are not listed region codes",
        ),
        ({"FR-PAC": "FR-13"}, "FR-PAC: must be a list of region codes such as FR-13"),
        (
            {"FR-OCC": ["FR-RE"]},
            "FR-OCC: 'FR-RE' names the same place as 'FR-974' (same_places): name it 'FR-974'",
        ),
        (
            {"FR-PAC": ["FR-13"], "FR-OCC": ["FR-13"]},
            "FR-OCC: 'FR-13' is already a part of 'FR-PAC'",
        ),
        (
            {"FR-PAC": ["FR-13"], "FR-13": ["FR-OCC"], "FR-OCC": ["FR-PAC"]},
            "FR-PAC: a part of itself (FR-PAC in FR-OCC in FR-13 in FR-PAC)",
        ),
        ({"FR-13": ["FR-13"]}, "FR-13: a part of itself (FR-13 in FR-13)"),
    ],
)
def test_a_bad_parts_table_is_one_error_naming_its_key(
    parts: dict[str, object], error: str
) -> None:
    _, errors = from_settings({"FR": {"location": {"parts": parts}}})
    assert errors == [f"jurisdictions.FR.location.parts.{error}"]


def test_a_pack_listing_no_regions_takes_parts_of_its_own_country_only() -> None:
    _, errors = from_settings({"DE": {"location": {"parts": {"DE-BY": ["DE-091", "AT-9"]}}}})
    assert errors == ["jurisdictions.DE.location.parts.DE-BY: 'AT-9' is not a region code of DE"]
    pack = _with_parts("DE", {"DE-BY": ["DE-091"]}).jurisdictions.for_country("DE")
    assert pack is not None and pack.within("DE-091", "DE-BY")


def test_a_region_s_blackout_holds_its_departments_and_a_department_s_its_region() -> None:
    # A blackout of FR-PAC missed an address in FR-13 (Bouches-du-Rhône, in it), and one of
    # FR-13 an address given only as FR-PAC, which may be in FR-13.
    assert _fr_decide("FR-PAC", "FR-13") == "block"
    assert _fr_decide("FR-13", "FR-PAC") == "block"
    # Not a neighbouring department, nor another region or its departments.
    assert _fr_decide("FR-13", "FR-06") == "allow"
    assert _fr_decide("FR-13", "FR-OCC") == "allow"
    assert _fr_decide("FR-PAC", "FR-34") == "allow"
    assert _fr_decide("FR-OCC", "FR-13") == "allow"


def test_places_are_held_through_a_collectivity_and_under_any_of_their_codes() -> None:
    # Alsace (FR-6AE) is in Grand Est and holds Bas-Rhin and Haut-Rhin.
    assert _fr_decide("FR-GES", "FR-67") == "block"
    assert _fr_decide("FR-67", "FR-GES") == "block"
    assert _fr_decide("FR-6AE", "FR-68") == "block"
    assert _fr_decide("FR-67", "FR-6AE") == "block"
    assert _fr_decide("FR-67", "FR-68") == "allow"
    assert _fr_decide("FR-6AE", "FR-57") == "allow"
    # Paris as FR-75 or FR-75C, Corsica as FR-COR, FR-20R or its postcode's FR-20.
    assert _fr_decide("FR-75", "FR-75C") == "block"
    assert _fr_decide("FR-20R", "FR-COR") == "block"
    assert _fr_decide("FR-IDF", "FR-75") == "block"
    assert _fr_decide("FR-75", "FR-IDF") == "block"
    assert _fr_decide("FR-COR", "FR-2A") == "block"
    assert _fr_decide("FR-2B", "FR-20") == "block"
    assert _fr_decide("FR-2B", "FR-2A") == "allow"
    # The overseas departments are regions of their own, in none of these.
    assert _fr_decide("FR-PAC", "FR-974") == "allow"


# The 96 metropolitan departments (01-95 but 20, Corsica's 2A and 2B), written apart from
# the pack, and the regions ISO 3166-2:FR puts them in (Corsica under each of its codes).
DEPARTMENTS = [f"FR-{n:02d}" for n in range(1, 96) if n != 20] + ["FR-2A", "FR-2B"]
REGIONS = {"FR-ARA", "FR-BFC", "FR-BRE", "FR-CVL", "FR-GES", "FR-HDF", "FR-IDF", "FR-NOR"}
REGIONS |= {"FR-NAQ", "FR-OCC", "FR-PDL", "FR-PAC", "FR-20R", "FR-COR", "FR-20"}


def _fr_pack() -> Jurisdiction:
    pack = FR.jurisdictions.for_country("FR")
    assert pack is not None
    return pack


def _region_of(department: str) -> str:
    """The department's region by the pack's own table (tested against ISO below)."""
    [region] = [r for r in REGIONS - {"FR-COR", "FR-20"} if _fr_pack().within(department, r)]
    return region


@given(department=st.sampled_from(DEPARTMENTS), other=st.sampled_from(sorted(REGIONS)))
def test_every_department_is_held_by_its_region_s_blackout_and_holds_it(
    department: str, other: str
) -> None:
    region = _region_of(department)
    assert _fr_decide(region, department) == "block"
    assert _fr_decide(department, region) == "block"
    same = _fr_pack().place(other) == region
    assert _fr_decide(other, department) == ("block" if same else "allow")
    assert _fr_decide(department, other) == ("block" if same else "allow")


def test_the_fr_pack_s_parts_are_iso_3166_2_s_parents() -> None:
    """Against pycountry's copy of ISO 3166-2 (Debian iso-codes): a department typed under
    the wrong region, or left out, fails here. ISO no longer lists FR-75 and FR-COR (the
    pack names them FR-75C and FR-20R)."""
    import pycountry

    iso = {
        s.code: s.parent_code
        for s in pycountry.subdivisions.get(country_code="FR")
        if s.parent_code is not None
    }
    assert dict(_fr_pack().part_of) == iso
    assert {_region_of(d) for d in DEPARTMENTS} == REGIONS - {"FR-COR", "FR-20"}


def test_only_the_purposes_and_the_tenant_it_names_are_held() -> None:
    telemarketing = _blackout()
    informational = _attempt(purpose=Purpose.INFORMATIONAL)
    assert _decide(informational, _facts(telemarketing)) == (None, "allow")
    every_purpose = _blackout(purposes=frozenset())
    assert _decide(informational, _facts(every_purpose))[0] == "holiday.blackout"
    betas = _blackout(tenant="beta")
    assert _decide(_attempt(), _facts(betas)) == (None, "allow")
    assert _decide(_attempt(tenant="beta"), _facts(betas))[0] == "holiday.blackout"


def test_it_holds_from_its_start_until_its_end() -> None:
    ends = AT + timedelta(minutes=1)
    assert _decide(_attempt(at=AT - timedelta(hours=2)), _facts(_blackout()))[1] == "allow"
    assert _decide(_attempt(at=AT - timedelta(hours=1)), _facts(_blackout()))[1] == "block"
    assert _decide(_attempt(), _facts(_blackout(ends_at=ends)))[1] == "block"
    assert _decide(_attempt(at=ends), _facts(_blackout(ends_at=ends)))[1] == "allow"


def test_consent_does_not_lift_it() -> None:
    # LPSC General Order R-29617: the EBR and consent exemptions do not apply to its bans.
    consents = tuple(
        ConsentRecord(LOUISIANA, "acme", kind, AT - timedelta(days=30))
        for kind in (ConsentKind.EXPRESS_WRITTEN, ConsentKind.OUT_OF_HOURS)
    )
    assert _decide(_attempt(), _facts(_blackout(), consents=consents))[0] == "holiday.blackout"


def test_the_blackout_that_holds_longest_is_named() -> None:
    soon = _blackout(ends_at=AT + timedelta(days=1), reason="flood")
    open_ended = _blackout("US", reason="national mourning")
    replace_id = replace(open_ended, id=2)
    reason = decide(prepare(_attempt(), POLICY), _facts(soon, replace_id)).reason
    assert "blackout 2" in reason and "national mourning" in reason
    later = replace(soon, id=3, ends_at=AT + timedelta(days=9), reason="levee")
    assert "blackout 3" in decide(prepare(_attempt(), POLICY), _facts(soon, later)).reason


def test_it_is_named_before_a_holiday_and_the_calling_hours() -> None:
    # Thanksgiving 2026, 21:30 in Louisiana: a federal holiday there and outside the hours.
    night = _attempt(at=datetime(2026, 11, 27, 3, 30, tzinfo=UTC))
    decision = decide(prepare(night, POLICY), _facts(_blackout(starts_at=AT - timedelta(days=9))))
    blocking = [f.rule for f in decision.findings if f.verdict.value == "block"]
    assert decision.rule == "holiday.blackout"
    assert any(rule.startswith("hours.") for rule in blocking)


@given(
    start=st.integers(-72, 72),
    length=st.one_of(st.none(), st.integers(1, 96)),
    offset=st.integers(-100, 100),
    purpose=st.sampled_from(list(Purpose)),
    held=st.frozensets(st.sampled_from([p.value for p in Purpose])),
    place=st.sampled_from(["US", "US-LA", "US-TX", "CA", "US-PR"]),
)
def test_a_call_is_held_exactly_inside_the_period_for_its_purposes_and_place(
    start: int,
    length: int | None,
    offset: int,
    purpose: Purpose,
    held: frozenset[str],
    place: str,
) -> None:
    starts = AT + timedelta(hours=start)
    ends = None if length is None else starts + timedelta(hours=length)
    blackout = _blackout(place, starts_at=starts, ends_at=ends, purposes=held)
    at = AT + timedelta(hours=offset)
    inside = starts <= at and (ends is None or at < ends)
    expected = inside and (not held or purpose.value in held) and place in ("US", "US-LA")
    _, verdict = _decide(_attempt(at=at, purpose=purpose), _facts(blackout))
    assert verdict == ("block" if expected else "allow")


ES = Policy(tenants={"acme": TenantSettings("acme", "ES")})
BARCELONA = "+34931234567"  # 93: placed in ES-CT, the community, not the province


def _es_decide(place: str, number: str = BARCELONA, callee_region: str | None = None) -> str:
    attempt = CallAttempt(number, "+34911234567", AT, tenant="acme")
    attempt = replace(attempt, callee_region=callee_region)
    blackout = _blackout(place, purposes=frozenset())
    facts = _facts(blackout, caller_id_records=(CallerIdRecord("+34911234567", "acme"),))
    decision = decide(prepare(attempt, ES), facts)
    [finding] = [f for f in decision.findings if f.rule == "holiday.blackout"]
    return finding.verdict.value


def test_a_spanish_province_s_blackout_holds_its_community_s_callees_and_back() -> None:
    # A blackout of ES-B (Barcelona) missed every Barcelona landline: 93 places the callee in
    # ES-CT, which may be in ES-B.
    assert _es_decide("ES-B") == "block"
    assert _es_decide("ES-CT", callee_region="ES-B") == "block"
    assert _es_decide("ES-B", callee_region="ES-CT") == "block"
    # Not another community's province, nor a province of the same community given as such.
    assert _es_decide("ES-M") == "allow"
    assert _es_decide("ES-B", callee_region="ES-GI") == "allow"
    assert _es_decide("ES-CT", callee_region="ES-M") == "allow"


def test_the_es_pack_s_parts_are_iso_3166_2_s_parents() -> None:
    """Against pycountry's copy of ISO 3166-2: a province typed under the wrong community,
    or left out, fails here."""
    import pycountry

    iso = {
        s.code: s.parent_code
        for s in pycountry.subdivisions.get(country_code="ES")
        if s.parent_code is not None
    }
    pack = ES.jurisdictions.for_country("ES")
    assert pack is not None
    assert dict(pack.part_of) == iso
