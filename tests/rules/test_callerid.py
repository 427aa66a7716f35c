"""Caller-ID honesty rules, each at its boundary, through the pure engine with hand-built Facts."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from rules.callerid import CallerIdPolicy, from_settings
from rules.checks import callerid as callerid_checks
from rules.context import RuleContext
from rules.engine import decide, prepare
from rules.facts import CallerIdRecord, Facts, RegisterHit
from rules.location import local_view
from rules.models import CallAttempt, Finding, FindingVerdict, Purpose
from rules.policy import Policy, TenantSettings

AT = datetime(2026, 11, 30, 0, 30, tzinfo=UTC)
AU_CALLEE = "+61412345678"
AU_CID = "+61291234567"


def _policy(**callerid: object) -> Policy:
    tenants = {
        "acme": TenantSettings("acme", "AU"),
        "usco": TenantSettings("usco", "US"),
        "ukco": TenantSettings("ukco", "GB"),
        "frco": TenantSettings("frco", "FR"),
        "deco": TenantSettings("deco", "DE"),
        "nlco": TenantSettings("nlco", "NL"),
    }
    return Policy(tenants=tenants, callerid=CallerIdPolicy(**callerid))  # type: ignore[arg-type]


def _owned(*numbers: str, tenant: str = "acme", pool: str | None = None) -> Facts:
    return Facts(
        caller_id_records=tuple(CallerIdRecord(n, tenant, pool) for n in numbers),
        tenant_has_inventory=True,
    )


def _findings(
    destination: str = AU_CALLEE,
    caller_id: str | None = AU_CID,
    facts: Facts | None = None,
    policy: Policy | None = None,
    **changes: object,
) -> list[Finding]:
    attempt = replace(
        CallAttempt(destination, caller_id, AT, tenant="acme", campaign="spring"),
        **changes,  # type: ignore[arg-type]
    )
    # By default the tenant owns the caller ID, so only the rule under test can block.
    if facts is None:
        facts = _owned(caller_id or "", tenant=attempt.tenant)
    decision = decide(prepare(attempt, policy or _policy()), facts)
    return [f for f in decision.findings if f.rule.startswith("callerid.")]


def _blocks(findings: list[Finding]) -> list[str]:
    return [f.rule for f in findings if f.verdict is FindingVerdict.BLOCK]


def _first_block(findings: list[Finding]) -> Finding:
    return next(f for f in findings if f.verdict is FindingVerdict.BLOCK)


def test_an_owned_valid_au_caller_id_passes_every_rule() -> None:
    findings = _findings()

    assert _blocks(findings) == []
    # Every rule is consulted and recorded, whether it allowed or did not apply.
    assert {f.rule for f in findings} >= {
        "callerid.presented",
        "callerid.valid",
        "callerid.premium",
        "callerid.same_as_callee",
        "callerid.dno",
        "callerid.neighbour_spoof",
        "callerid.not_owned",
        "callerid.au_not_callable",
    }
    assert all(f.citation for f in findings if f.verdict is not FindingVerdict.SKIP)


# -- presentation -------------------------------------------------------------------------


@pytest.mark.parametrize("pres", [0, 1, 3])
def test_allowed_presentation_values_pass(pres: int) -> None:
    assert _blocks(_findings(caller_id_presentation=pres)) == []


@pytest.mark.parametrize(
    ("pres", "shown"), [(32, "restricted"), (35, "restricted"), (67, "unavailable")]
)
def test_withheld_presentation_is_blocked_in_australia(pres: int, shown: str) -> None:
    finding = _first_block(_findings(caller_id_presentation=pres))

    assert finding.rule == "callerid.withheld"
    assert f"agi_callingpres {pres}: {shown}" in finding.reason
    assert AU_CID in finding.reason


def test_withheld_is_blocked_on_german_advertising_calls() -> None:
    findings = _findings("+4930123456", "+4940123456", tenant="deco", caller_id_presentation=32)

    assert _first_block(findings).rule == "callerid.withheld"
    assert "TDDDG §15(2)" in _first_block(findings).citation


def test_withheld_is_allowed_where_no_law_requires_presentation() -> None:
    # German informational calls: §15(2) covers advertising only.
    findings = _findings(
        "+4930123456",
        "+4940123456",
        tenant="deco",
        caller_id_presentation=32,
        purpose=Purpose.INFORMATIONAL,
    )

    assert _blocks(findings) == []
    withheld = next(f for f in findings if f.rule == "callerid.withheld")
    assert withheld.verdict is FindingVerdict.ALLOW


def test_always_require_presentation_blocks_withheld_everywhere() -> None:
    findings = _findings(
        "+4930123456",
        "+4940123456",
        tenant="deco",
        caller_id_presentation=32,
        purpose=Purpose.INFORMATIONAL,
        policy=_policy(always_require_presentation=True),
    )

    assert _blocks(findings) == ["callerid.withheld"]


@pytest.mark.parametrize("cid", [None, "", "anonymous", "Unknown", " "])
def test_no_caller_id_is_blocked_as_missing(cid: str | None) -> None:
    assert _first_block(_findings(caller_id=cid, facts=_owned())).rule == "callerid.missing"


# -- numbering plan -----------------------------------------------------------------------


def test_au_caller_id_of_11_digits_is_allowed_10_or_12_blocked() -> None:
    assert _blocks(_findings(caller_id="+61291234567")) == []
    for cid in ("+6129123456", "+612912345678"):
        finding = _first_block(_findings(caller_id=cid))
        assert finding.rule == "callerid.length", cid
        assert "must have 11" in finding.reason
        assert finding.unverified


def test_au_callee_blocks_caller_ids_of_7_or_13_digits() -> None:
    # +44 20 7946 000 is 12 digits: allowed by the length rule; 7 digits is blocked.
    assert "callerid.length" not in _blocks(_findings(caller_id="+442079460000"))
    finding = _first_block(_findings(caller_id="+3531234", facts=_owned()))
    assert finding.rule == "callerid.length"
    assert "7 or fewer" in finding.reason


def test_an_unassigned_number_is_invalid_and_named() -> None:
    finding = _first_block(_findings("+12125550123", "+15555550100", tenant="usco"))

    assert finding.rule == "callerid.invalid"
    assert "+15555550100" in finding.reason
    assert "not an assigned range" in finding.reason


def test_text_that_is_no_number_is_invalid() -> None:
    finding = _first_block(_findings(caller_id="sip:alice@example.com", facts=_owned()))

    assert finding.rule == "callerid.invalid"
    assert "is not a telephone number" in finding.reason


# -- forbidden ranges ---------------------------------------------------------------------


@pytest.mark.parametrize(
    ("cid", "rule"),
    [
        ("+611300123456", "callerid.inbound_only"),
        ("+61131234", "callerid.inbound_only"),
        ("+611800123456", "callerid.inbound_only"),
        ("+611900123456", "callerid.premium"),
    ],
)
def test_au_13_1300_1800_1900_may_not_be_presented(cid: str, rule: str) -> None:
    findings = _findings(caller_id=cid)

    assert rule in _blocks(findings)
    finding = next(f for f in findings if f.rule == rule)
    assert "C661" in finding.citation
    assert cid in finding.reason


def test_au_geographic_02_is_not_a_forbidden_range() -> None:
    findings = _findings(caller_id="+61291234567")
    premium = next(f for f in findings if f.rule == "callerid.premium")

    assert premium.verdict is FindingVerdict.ALLOW


def test_uk_09_is_premium() -> None:
    findings = _findings("+442079460000", "+449012345678", tenant="ukco")

    assert _first_block(findings).rule == "callerid.premium"
    assert "09 premium-rate" in _first_block(findings).reason


def test_us_900_is_premium_and_us_geographic_is_not() -> None:
    assert _first_block(_findings("+12025550123", "+19005551234", tenant="usco")).rule == (
        "callerid.premium"
    )
    assert _blocks(_findings("+12025550123", "+12125550123", tenant="usco")) == []


def test_a_premium_type_without_a_table_entry_is_still_premium() -> None:
    # UK 087 is revenue-sharing: phonenumbers says PREMIUM_RATE, no explicit prefix needed.
    finding = _first_block(_findings("+442079460000", "+448712345678", tenant="ukco"))

    assert finding.rule == "callerid.premium"


def test_extra_forbidden_prefixes_from_settings() -> None:
    callerid, errors = from_settings({"forbidden_prefixes": ["+4420794600"]})
    policy = replace(_policy(), callerid=callerid)

    assert errors == []
    assert _first_block(
        _findings("+441212345678", "+442079460000", tenant="ukco", policy=policy)
    ).rule == ("callerid.premium")


# -- same number, neighbour spoofing ------------------------------------------------------


def test_caller_id_equal_to_callee_is_blocked_even_when_owned() -> None:
    finding = _first_block(_findings(AU_CALLEE, AU_CALLEE))

    assert finding.rule == "callerid.same_as_callee"


def test_npa_nxx_match_not_owned_is_neighbour_spoofing() -> None:
    findings = _findings(
        "+12125550123",
        "+12125550199",
        tenant="usco",
        facts=_owned("+13125550100", tenant="usco"),
    )

    finding = _first_block(findings)
    assert finding.rule == "callerid.neighbour_spoof"
    assert "NPA-NXX" in finding.reason and "+1 212555" in finding.reason


def test_npa_nxx_match_owned_is_allowed() -> None:
    findings = _findings("+12125550123", "+12125550199", tenant="usco")

    assert _blocks(findings) == []


def test_same_npa_other_nxx_is_not_neighbour_spoofing() -> None:
    findings = _findings(
        "+12125550123",
        "+12125560199",
        tenant="usco",
        facts=Facts(),
        policy=_policy(require_inventory=False),
    )

    neighbour = next(f for f in findings if f.rule == "callerid.neighbour_spoof")
    assert neighbour.verdict is FindingVerdict.ALLOW
    assert _blocks(findings) == []


def test_neighbour_spoofing_blocks_even_without_an_inventory_requirement() -> None:
    findings = _findings(
        "+12125550123",
        "+12125550199",
        tenant="usco",
        facts=Facts(),
        policy=_policy(require_inventory=False),
    )

    assert _blocks(findings) == ["callerid.neighbour_spoof"]


def test_neighbour_digits_outside_nanp_and_zero_turns_it_off() -> None:
    # AU: 6 leading national digits (2 9123 4) shared with the callee.
    facts = _owned("+61298765432")
    assert (
        _first_block(_findings("+61291234999", "+61291234567", facts=facts)).rule
        == "callerid.neighbour_spoof"
    )
    off = _findings("+61291234999", "+61291234567", facts=facts, policy=_policy(neighbour_digits=0))
    assert "callerid.neighbour_spoof" not in _blocks(off)


# -- do-not-originate ---------------------------------------------------------------------


def test_a_dno_hit_blocks_with_the_register_named() -> None:
    facts = replace(_owned(AU_CID), caller_id_register_hits={"dno": RegisterHit("dno")})
    finding = _first_block(_findings(facts=facts))

    assert finding.rule == "callerid.dno"
    assert "Do-not-originate list (dno)" in finding.reason
    assert "64.1200(o)" in finding.citation


# -- ownership ----------------------------------------------------------------------------


def test_a_caller_id_not_in_the_inventory_is_blocked() -> None:
    finding = _first_block(_findings(facts=_owned("+61298765432")))

    assert finding.rule == "callerid.not_owned"
    assert "not in tenant acme's inventory" in finding.reason


def test_a_caller_id_of_another_tenant_is_blocked_and_says_whose() -> None:
    facts = Facts(
        caller_id_records=(CallerIdRecord(AU_CID, "globex"),),
        tenant_has_inventory=True,
    )
    finding = _first_block(_findings(facts=facts))

    assert finding.rule == "callerid.not_owned"
    assert "registered to tenant globex" in finding.reason


def test_a_tenant_without_inventory_is_told_how_to_add_one() -> None:
    finding = _first_block(_findings(facts=Facts()))

    assert finding.rule == "callerid.not_owned"
    assert f"dialguard callerid add {AU_CID} --tenant acme" in finding.reason


def test_require_inventory_false_skips_tenants_without_one_only() -> None:
    policy = _policy(require_inventory=False)
    assert _blocks(_findings(facts=Facts(), policy=policy)) == []
    # Once the tenant has an inventory, it is enforced.
    assert _blocks(_findings(facts=_owned("+61298765432"), policy=policy)) == ["callerid.not_owned"]


def test_ownership_applies_to_a_person_dialling_too() -> None:
    finding = _first_block(_findings(facts=_owned("+61298765432"), campaign=None))

    assert finding.rule == "callerid.not_owned"


def test_the_pool_shows_in_the_allowing_finding() -> None:
    findings = _findings(facts=_owned(AU_CID, pool="rotation"))
    owned = next(f for f in findings if f.rule == "callerid.not_owned")

    assert owned.verdict is FindingVerdict.ALLOW
    assert "pool rotation" in owned.reason


# -- jurisdictions ------------------------------------------------------------------------


def test_fr_canvassing_from_a_06_mobile_is_blocked() -> None:
    finding = _first_block(_findings("+33142123456", "+33612345678", tenant="frco"))

    assert finding.rule == "callerid.fr_mobile"
    assert "06/07" in finding.reason


def test_fr_canvassing_from_an_arcep_range_is_allowed() -> None:
    for cid in ("+33162123456", "+33949123456", "+33947512345"):
        assert _blocks(_findings("+33142123456", cid, tenant="frco")) == [], cid


def test_fr_other_geographic_is_blocked_for_telemarketing_only() -> None:
    blocked = _findings("+33142123456", "+33145123456", tenant="frco")
    assert _first_block(blocked).rule == "callerid.fr_canvassing_range"
    assert "0162" in _first_block(blocked).reason

    informational = _findings(
        "+33142123456", "+33145123456", tenant="frco", purpose=Purpose.INFORMATIONAL
    )
    assert _blocks(informational) == []


def test_fr_canvassing_ranges_from_settings() -> None:
    callerid, errors = from_settings({"fr_canvassing_ranges": ["0145"]})
    policy = replace(_policy(), callerid=callerid)

    assert errors == []
    assert _blocks(_findings("+33142123456", "+33145123456", tenant="frco", policy=policy)) == []


def test_uk_caller_id_must_have_10_or_11_digits() -> None:
    # 0800 1111 is a valid UK number but only 8 digits: not a dialable CLI.
    finding = _first_block(_findings("+442079460000", "+448001111", tenant="ukco"))
    assert finding.rule == "callerid.uk_not_dialable"
    assert "has 8 digits" in finding.reason

    assert _blocks(_findings("+442079460000", "+441697712345", tenant="ukco")) == []


def test_de_advertising_needs_the_assigned_number_even_without_inventory_requirement() -> None:
    policy = _policy(require_inventory=False)
    findings = _findings("+4930123456", "+4940123456", tenant="deco", facts=Facts(), policy=policy)

    assert _blocks(findings) == ["callerid.de_not_assigned"]


def test_nl_commercial_calls_must_not_be_anonymous() -> None:
    findings = _findings("+31201234567", "+31101234567", tenant="nlco", caller_id_presentation=32)

    assert _first_block(findings).rule == "callerid.withheld"
    assert _first_block(findings).unverified


def test_au_rejects_a_caller_id_that_cannot_be_called_back() -> None:
    # An Irish 1850 number cannot be dialled from outside Ireland.
    findings = _findings(caller_id="+3531850123456")
    finding = next(f for f in findings if f.rule == "callerid.au_not_callable")

    assert finding.verdict is FindingVerdict.BLOCK
    assert "cannot call it back" in finding.reason


# -- settings -----------------------------------------------------------------------------


def test_from_settings_names_every_bad_key() -> None:
    _, errors = from_settings(
        {
            "require_inventory": "yes",
            "neighbour_digits": 13,
            "forbidden_prefixes": ["0900"],
            "fr_canvassing_ranges": ["abc"],
            "colour": "red",
        }
    )

    assert sorted(e.split(":")[0] for e in errors) == [
        "callerid.colour",
        "callerid.forbidden_prefixes",
        "callerid.fr_canvassing_ranges",
        "callerid.neighbour_digits",
        "callerid.require_inventory",
    ]


def test_from_settings_reads_good_values() -> None:
    callerid, errors = from_settings(
        {"require_inventory": False, "neighbour_digits": 0, "always_require_presentation": True}
    )

    assert errors == []
    assert (callerid.require_inventory, callerid.neighbour_digits) == (False, 0)
    assert callerid.always_require_presentation


# -- any input ----------------------------------------------------------------------------


@settings(max_examples=300, deadline=None)
@given(cid=st.one_of(st.text(max_size=30), st.from_regex(r"\+?[0-9 ()\-]{0,18}", fullmatch=True)))
def test_any_caller_id_is_judged_without_raising(cid: str) -> None:
    findings = _findings(caller_id=cid, facts=_owned(AU_CID))

    assert findings, "every call gets callerid findings"
    assert all(f.reason for f in findings)
    if not _blocks(findings):
        # Only the one number acme owns may pass every caller-ID rule.
        assert any(f.rule == "callerid.not_owned" and AU_CID in f.reason for f in findings)


def _context(attempt: CallAttempt, policy: Policy, facts: Facts) -> RuleContext:
    prepared = prepare(attempt, policy)
    return RuleContext(
        attempt=attempt,
        policy=policy,
        region=prepared.region,
        destination=prepared.destination,
        caller_id=prepared.caller_id,
        location=prepared.location,
        facts=facts,
        local=local_view(prepared.location.timezones, attempt.at),
    )


@pytest.mark.parametrize("cid", [AU_CID, "+12125551234", "+33612345678", None, "anonymous"])
@pytest.mark.parametrize("destination", [AU_CALLEE, AU_CID, "+12125551299", "+33142685300"])
def test_the_memoised_family_says_what_every_check_says(cid: str | None, destination: str) -> None:
    policy = _policy()
    facts_list = [
        _owned(cid or ""),
        _owned(cid or "", pool="p1"),
        _owned(cid or "", tenant="other"),
        Facts(),
        Facts(tenant_has_inventory=True),
        Facts(caller_id_register_hits={"dno": RegisterHit("dno")}),
    ]
    # Twice over the same policy: the second round is answered from the memo.
    for _ in range(2):
        for facts in facts_list:
            for pres in (0, 0x20):
                attempt = CallAttempt(
                    destination, cid, AT, "acme", "spring", caller_id_presentation=pres
                )
                ctx = _context(attempt, policy, facts)
                every = [f for check in callerid_checks.CHECKS for f in check(ctx)]
                assert list(callerid_checks.family(ctx)) == every


def test_the_memo_is_the_policys_own() -> None:
    attempt = CallAttempt(AU_CALLEE, AU_CID, AT, tenant="acme", campaign="spring")
    strict, lax = _policy(), _policy(require_inventory=False)
    assert _blocks(_findings(facts=Facts(), policy=strict)) == ["callerid.not_owned"]
    assert _blocks(_findings(facts=Facts(), policy=lax)) == []
    assert strict.memo("callerid")  # filled by the first decision
    fresh = replace(strict, deadline_ms=100)
    assert fresh.memo("callerid") == {}
    assert decide(prepare(attempt, fresh), Facts()).rule == "callerid.not_owned"
