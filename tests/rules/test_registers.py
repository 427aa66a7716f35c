"""Register rules by purpose, by date and by registration delay (rules/checks/registry.py)."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, date, datetime, timedelta, timezone

import pytest

from rules.engine import decide, prepare
from rules.facts import (
    CallerIdRecord,
    ConsentKind,
    ConsentRecord,
    Facts,
    RegisterCopy,
    RegisterHit,
)
from rules.models import CallAttempt, Decision, Finding, FindingVerdict, Purpose
from rules.policy import DEFAULT_REGISTERS, Policy

CID = "+61291234567"


def decide_on(
    number: str,
    at: datetime,
    register: str,
    as_of: date,
    *,
    registered_on: date | None = None,
    purpose: Purpose = Purpose.TELEMARKETING,
    consents: tuple[ConsentRecord, ...] = (),
) -> Decision:
    copy = RegisterCopy(register, as_of, 1, "x", datetime(2026, 1, 1, tzinfo=UTC))
    facts = Facts(
        register_copies={register: copy},
        register_hits={register: RegisterHit(register, registered_on)},
        caller_id_records=(CallerIdRecord(CID, "acme"),),
        tenant_has_inventory=True,
        consents=consents,
    )
    attempt = CallAttempt(number, CID, at, tenant="acme", purpose=purpose)
    return decide(prepare(attempt, Policy()), facts)


def finding(decision: Decision, family: str) -> tuple[str, FindingVerdict]:
    [found] = [f for f in decision.findings if f.rule.startswith(family)]
    return found.rule, found.verdict


@pytest.mark.parametrize("purpose", [Purpose.CHARITY, Purpose.POLITICAL])
def test_the_tps_binds_charity_and_political_calls_too(purpose: Purpose) -> None:
    # PECR's direct marketing takes them in, as reg 21(A1) does for the caller ID.
    at = datetime(2026, 11, 24, 11, tzinfo=UTC)
    decision = decide_on("+447860338653", at, "uk-tps", date(2026, 11, 20), purpose=purpose)
    assert finding(decision, "registry.uk-tps") == ("registry.uk-tps", FindingVerdict.BLOCK)


def test_a_belgian_registration_binds_after_five_days_not_seven() -> None:
    # Registered on Sunday 22 Nov 2026: five working days ran out on Friday the 27th.
    brussels = timezone(timedelta(hours=1))
    on = date(2026, 11, 22)

    def verdict(day: int) -> FindingVerdict:
        at = datetime(2026, 11, day, 11, tzinfo=brussels)
        decision = decide_on("+32470123456", at, "be-dncm", date(2026, 11, 26), registered_on=on)
        return finding(decision, "registry.be-dncm")[1]

    assert verdict(26) is FindingVerdict.ALLOW
    assert verdict(27) is FindingVerdict.BLOCK


@pytest.mark.parametrize("registered_on", [date(2026, 11, 27), date(2099, 6, 1)])
def test_a_registration_dated_after_the_copy_binds_at_once(registered_on: date) -> None:
    # A copy of the 26th cannot hold a registration of the 27th or of 2099: a wrong date (a
    # typo, a US-style 01/12 read as 1 Dec) kept the number callable until it came round.
    at = datetime(2026, 11, 28, 11, tzinfo=UTC)
    decision = decide_on(
        "+32470123456", at, "be-dncm", date(2026, 11, 26), registered_on=registered_on
    )
    assert finding(decision, "registry.be-dncm") == ("registry.be-dncm", FindingVerdict.BLOCK)


def test_a_copys_age_does_not_depend_on_the_offset_the_time_is_written_in() -> None:
    # One instant, 01:30 UTC on the 25th: the US copy of 24 Oct is 32 days old in UTC.
    instant = datetime(2026, 11, 25, 1, 30, tzinfo=UTC)
    as_written = [instant, instant.astimezone(timezone(timedelta(hours=-5)))]
    rules = {
        finding(decide_on("+12125550188", at, "us-dnc", date(2026, 10, 24)), "registry.")[0]
        for at in as_written
    }
    assert rules == {"registry.stale"}


def test_an_au_copy_goes_stale_on_the_callees_date_not_utcs() -> None:
    # 14:00 UTC on 23 Nov is 01:00 on the 24th in Sydney: a copy of 24 Oct is 31 days old
    # there, one more than the 30 allowed.
    at = datetime(2026, 11, 23, 14, tzinfo=UTC)
    decision = decide_on("+61298765432", at, "au-dncr", date(2026, 10, 24))
    assert finding(decision, "registry.")[0] == "registry.stale"


def test_an_irish_landline_is_looked_up_on_the_ndd() -> None:
    # S.I. 336/2011: marketing calls to landlines respect the National Directory Database.
    at = datetime(2026, 11, 24, 11, tzinfo=UTC)
    decision = decide_on("+35312345679", at, "ie-ndd", date(2026, 11, 20))
    assert finding(decision, "registry.") == ("registry.ie-ndd", FindingVerdict.BLOCK)
    without = decide(
        prepare(CallAttempt("+35312345679", CID, at, tenant="acme"), Policy()),
        Facts(caller_id_records=(CallerIdRecord(CID, "acme"),), tenant_has_inventory=True),
    )
    assert finding(without, "registry.") == ("registry.missing", FindingVerdict.BLOCK)


@pytest.mark.parametrize("number", ["+61891621234", "+61891641234"])
def test_a_cocos_or_christmas_island_number_on_the_dncr_is_blocked(number: str) -> None:
    # +61 numbers phonenumbers places in CC or CX: the DNCR covers them (regulations.md 1.1).
    at = datetime(2026, 11, 24, 4, tzinfo=UTC)  # 10:30 on Cocos, 11:00 on Christmas Island
    decision = decide_on(number, at, "au-dncr", date(2026, 11, 20))
    assert finding(decision, "registry.") == ("registry.au-dncr", FindingVerdict.BLOCK)
    assert decision.rule == "registry.au-dncr"


@pytest.mark.parametrize(
    ("kind", "verdict"),
    [(ConsentKind.CONTRACT, FindingVerdict.BLOCK), (ConsentKind.EXPRESS, FindingVerdict.ALLOW)],
)
def test_a_contract_does_not_lift_the_belgian_list(
    kind: ConsentKind, verdict: FindingVerdict
) -> None:
    # It "applies to customers and prospects, B2B and B2C" (regulations.md 3.8): an
    # existing contract lifted it. Express consent does, unverified, and says so.
    consent = ConsentRecord("+32470123456", "acme", kind, datetime(2026, 1, 1, tzinfo=UTC))
    at = datetime(2026, 11, 30, 10, tzinfo=UTC)  # 11:00 in Brussels, a Monday
    decision = decide_on("+32470123456", at, "be-dncm", date(2026, 11, 28), consents=(consent,))
    [found] = [f for f in decision.findings if f.rule == "registry.be-dncm"]
    assert found.verdict is verdict
    assert found.unverified is (verdict is FindingVerdict.ALLOW)


def test_exemptions_from_the_settings_replace_the_shipped_ones() -> None:
    # A contract of at most 12 months lifts the list; express consent no longer does.
    spec = replace(DEFAULT_REGISTERS["be-dncm"], exemptions=((ConsentKind.CONTRACT, 12),))
    policy = Policy(registers={**DEFAULT_REGISTERS, "be-dncm": spec})
    at = datetime(2026, 11, 30, 10, tzinfo=UTC)

    def finding_for(kind: ConsentKind, granted: datetime) -> Finding:
        consent = ConsentRecord("+32470123456", "acme", kind, granted)
        copy = RegisterCopy("be-dncm", date(2026, 11, 28), 1, "x", datetime(2026, 1, 1, tzinfo=UTC))
        facts = Facts(
            register_copies={"be-dncm": copy},
            register_hits={"be-dncm": RegisterHit("be-dncm", None)},
            caller_id_records=(CallerIdRecord(CID, "acme"),),
            tenant_has_inventory=True,
            consents=(consent,),
        )
        attempt = CallAttempt("+32470123456", CID, at, tenant="acme")
        decision = decide(prepare(attempt, policy), facts)
        return next(f for f in decision.findings if f.rule == "registry.be-dncm")

    lifted = finding_for(ConsentKind.CONTRACT, datetime(2026, 1, 1, tzinfo=UTC))
    assert lifted.verdict is FindingVerdict.ALLOW
    assert "[registers.be-dncm] exemptions" in lifted.citation and not lifted.unverified
    old = finding_for(ConsentKind.CONTRACT, datetime(2025, 11, 1, tzinfo=UTC))
    assert old.verdict is FindingVerdict.BLOCK  # past its 12 months
    assert finding_for(ConsentKind.EXPRESS, at - timedelta(days=1)).verdict is (
        FindingVerdict.BLOCK
    )


@pytest.mark.parametrize(
    ("kind", "verdict"),
    [
        (ConsentKind.CONTRACT, FindingVerdict.ALLOW),
        (ConsentKind.EXPRESS, FindingVerdict.BLOCK),
        (ConsentKind.EXPRESS_WRITTEN, FindingVerdict.BLOCK),
    ],
)
def test_only_a_contract_lifts_bloctel(kind: ConsentKind, verdict: FindingVerdict) -> None:
    # C. consom. L.223-1: banned "except where there is a pre-existing contractual
    # relationship" (regulations.md 3.3); a consent is no such relationship.
    consent = ConsentRecord("+33145678901", "acme", kind, datetime(2026, 1, 1, tzinfo=UTC))
    at = datetime(2026, 6, 10, 9, tzinfo=UTC)  # 11:00 in Paris, a Wednesday
    decision = decide_on("+33145678901", at, "fr-bloctel", date(2026, 6, 1), consents=(consent,))
    assert finding(decision, "registry.") == ("registry.fr-bloctel", verdict)


@pytest.mark.parametrize("kind", [ConsentKind.EXPRESS, ConsentKind.CONTRACT])
def test_bloctel_binds_no_call_after_the_opt_in_switch(kind: ConsentKind) -> None:
    # From 11 Aug 2026 prior consent is the basis for calling (regulations.md 3.3): the
    # opt-in regime decides, and a consented call was blocked by the list it replaced.
    consent = ConsentRecord("+33145678901", "acme", kind, datetime(2026, 1, 1, tzinfo=UTC))
    at = datetime(2026, 9, 9, 9, tzinfo=UTC)  # 11:00 in Paris, a Wednesday
    decision = decide_on("+33145678901", at, "fr-bloctel", date(2026, 6, 1), consents=(consent,))
    assert finding(decision, "registry.") == ("registry.fr-bloctel", FindingVerdict.SKIP)
    blocking = {f.rule for f in decision.findings if f.verdict is FindingVerdict.BLOCK}
    assert not {rule for rule in blocking if rule.startswith(("registry.", "consent."))}


def test_bloctel_still_binds_on_its_last_day() -> None:
    at = datetime(2026, 8, 10, 21, 30, tzinfo=UTC)  # 23:30 on the 10th in Paris
    decision = decide_on("+33145678901", at, "fr-bloctel", date(2026, 8, 1))
    assert finding(decision, "registry.") == ("registry.fr-bloctel", FindingVerdict.BLOCK)
