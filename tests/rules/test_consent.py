"""Consent and relationships: opt-in regimes, EBR windows, register exemptions, and the
internal opt-out that always beats them."""

from __future__ import annotations

from calendar import monthrange
from datetime import UTC, date, datetime, time, timedelta, timezone
from zoneinfo import ZoneInfo

from hypothesis import given
from hypothesis import strategies as st

from rules.checks.registry import add_months
from rules.engine import decide, prepare
from rules.facts import (
    LAST_MIDNIGHT,
    CallerIdRecord,
    ConsentKind,
    ConsentRecord,
    Facts,
    PriorAttempt,
    RegisterCopy,
    RegisterHit,
    SuppressionEntry,
)
from rules.models import CallAttempt, Decision, FindingVerdict, LineType, Purpose, Verdict
from rules.policy import Policy

CID = "+61291234567"


def decide_with(
    number: str,
    at: datetime,
    consents: tuple[ConsentRecord, ...] = (),
    *,
    purpose: Purpose = Purpose.TELEMARKETING,
    register: str | None = None,
    suppressions: tuple[SuppressionEntry, ...] = (),
    tz: str | None = None,
    registered_on: date | None = date(2020, 1, 1),
) -> Decision:
    copies = (
        {register: RegisterCopy(register, at.date() - timedelta(days=1), 1, "x", at)}
        if register
        else {}
    )
    hits = {register: RegisterHit(register, registered_on)} if register else {}
    facts = Facts(
        consents=consents,
        register_copies=copies,
        register_hits=hits,
        suppressions=suppressions,
        caller_id_records=(CallerIdRecord(CID, "acme"),),
        tenant_has_inventory=True,
    )
    attempt = CallAttempt(number, CID, at, tenant="acme", purpose=purpose, callee_timezone=tz)
    return decide(prepare(attempt, Policy(block_when_register_missing=False)), facts)


def consent(
    number: str, kind: ConsentKind, granted: datetime, tenant: str = "acme"
) -> ConsentRecord:
    return ConsentRecord(number, tenant, kind, granted)


def verdict(decision: Decision, rule: str) -> FindingVerdict:
    return next(f.verdict for f in decision.findings if f.rule == rule)


BERLIN = ZoneInfo("Europe/Berlin")
DE = "+493012345678"


def test_germany_blocks_marketing_without_express_consent_and_allows_it_with() -> None:
    at = datetime(2026, 6, 10, 11, 0, tzinfo=BERLIN)
    without = decide_with(DE, at)
    assert without.verdict is Verdict.BLOCK and without.rule == "consent.de-opt-in"
    with_consent = decide_with(DE, at, (consent(DE, ConsentKind.EXPRESS, at - timedelta(days=3)),))
    assert with_consent.verdict is Verdict.ALLOW


def test_germany_does_not_accept_an_ebr_as_consent() -> None:
    at = datetime(2026, 6, 10, 11, 0, tzinfo=BERLIN)
    ebr = decide_with(DE, at, (consent(DE, ConsentKind.EBR_PURCHASE, at - timedelta(days=3)),))
    assert ebr.rule == "consent.de-opt-in"


PARIS = ZoneInfo("Europe/Paris")
FR = "+33145678901"


def test_france_switches_to_opt_in_on_11_august_2026() -> None:
    before = decide_with(FR, datetime(2026, 8, 10, 11, 0, tzinfo=PARIS))
    after = decide_with(FR, datetime(2026, 8, 11, 11, 0, tzinfo=PARIS))
    assert verdict(before, "consent.none") is FindingVerdict.SKIP
    assert verdict(after, "consent.fr-opt-in-2026") is FindingVerdict.BLOCK
    contract = consent(FR, ConsentKind.CONTRACT, datetime(2025, 1, 1, tzinfo=UTC))
    assert (
        verdict(
            decide_with(FR, datetime(2026, 8, 11, 11, 0, tzinfo=PARIS), (contract,)),
            "consent.fr-opt-in-2026",
        )
        is FindingVerdict.ALLOW
    )


def test_ireland_mobile_needs_consent_but_a_landline_does_not() -> None:
    at = datetime(2026, 6, 10, 11, 0, tzinfo=ZoneInfo("Europe/Dublin"))
    assert decide_with("+353851234567", at).rule == "consent.ie-mobile-opt-in"
    assert verdict(decide_with("+35312345678", at), "consent.none") is FindingVerdict.SKIP


def test_spain_opt_in_since_29_june_2023() -> None:
    madrid = ZoneInfo("Europe/Madrid")
    assert (
        verdict(
            decide_with("+34912345678", datetime(2023, 6, 28, 11, tzinfo=madrid)), "consent.none"
        )
        is FindingVerdict.SKIP
    )
    assert (
        verdict(
            decide_with("+34912345678", datetime(2023, 6, 29, 11, tzinfo=madrid)),
            "consent.es-opt-in-2023",
        )
        is FindingVerdict.BLOCK
    )


def test_a_spanish_consent_lapses_two_years_after_it_was_given() -> None:
    # Consent must be renewed every two years (regulations.md 3.5): one from 2020 allowed
    # calls in 2026. A newer consent counts again; a contract is not aged.
    madrid = ZoneInfo("Europe/Madrid")
    given = datetime(2024, 9, 16, 10, tzinfo=madrid)
    at = given + timedelta(days=730)
    number = "+34912345678"
    express = consent(number, ConsentKind.EXPRESS, given)
    just_before = decide_with(number, at - timedelta(seconds=1), (express,))
    assert verdict(just_before, "consent.es-opt-in-2023") is FindingVerdict.ALLOW
    lapsed = decide_with(number, at, (express,))
    [finding] = [f for f in lapsed.findings if f.rule == "consent.es-opt-in-2023"]
    assert finding.verdict is FindingVerdict.BLOCK
    assert "recorded on 2024-09-16 is more than 730 days old" in finding.reason
    renewed = consent(number, ConsentKind.EXPRESS, at - timedelta(days=1))
    again = decide_with(number, at, (express, renewed))
    assert verdict(again, "consent.es-opt-in-2023") is FindingVerdict.ALLOW
    contract = consent(number, ConsentKind.CONTRACT, given - timedelta(days=2000))
    assert verdict(decide_with(number, at, (contract,)), "consent.es-opt-in-2023") is (
        FindingVerdict.ALLOW
    )


def test_a_consent_regime_s_maximum_ages_are_checked() -> None:
    from rules.jurisdictions import from_settings

    for bad, problem in (
        ({"express": 0}, "max_age_days.express: must be a whole number"),
        ({"express": "730"}, "max_age_days.express: must be a whole number"),
        ({"nonsense": 1}, "max_age_days.nonsense: not a consent kind"),
        ({"ebr-purchase": 30}, "max_age_days.ebr-purchase: not a kind this regime accepts"),
        (730, "max_age_days: must be a table"),
    ):
        override = {"ES": {"consent": [{"name": "opt-in-2023", "max_age_days": bad}]}}
        _, errors = from_settings(override)
        assert any(problem in e for e in errors), (bad, errors)
    # An override that stops accepting a kind the pack ages is not refused for it.
    narrower = {"ES": {"consent": [{"name": "opt-in-2023", "accepts": ["express", "contract"]}]}}
    packs, errors = from_settings(narrower)
    assert errors == []
    [regime] = [r for r in packs.for_country("ES").consent if r.name == "opt-in-2023"]  # type: ignore[union-attr]
    assert regime.max_age_days == ((ConsentKind.EXPRESS, 730),)


def test_netherlands_opt_in_covers_charity_but_not_informational_calls() -> None:
    at = datetime(2026, 6, 10, 11, 0, tzinfo=ZoneInfo("Europe/Amsterdam"))
    assert decide_with("+31201234567", at, purpose=Purpose.CHARITY).rule == "consent.nl-opt-in"
    assert (
        verdict(decide_with("+31201234567", at, purpose=Purpose.INFORMATIONAL), "consent.none")
        is FindingVerdict.SKIP
    )


EASTERN = ZoneInfo("America/New_York")
NY = "+12125550100"


def test_us_ebr_after_a_purchase_lasts_18_calendar_months_to_the_instant() -> None:
    purchase = datetime(2025, 1, 15, tzinfo=UTC)
    ebr = (consent(NY, ConsentKind.EBR_PURCHASE, purchase),)
    last_day = datetime(2026, 7, 14, 23, 59, tzinfo=UTC)
    ended = datetime(2026, 7, 15, 0, 0, tzinfo=UTC)
    assert verdict(decide_with(NY, last_day, ebr, register="us-dnc"), "registry.us-dnc") is (
        FindingVerdict.ALLOW
    )
    assert verdict(decide_with(NY, ended, ebr, register="us-dnc"), "registry.us-dnc") is (
        FindingVerdict.BLOCK
    )


def test_the_ebr_that_ended_yesterday_no_longer_lifts_the_register() -> None:
    today = datetime(2026, 6, 10, 15, 0, tzinfo=UTC)
    ended_yesterday = consent(
        NY, ConsentKind.EBR_PURCHASE, add_months(today - timedelta(days=1), -18)
    )
    ends_tomorrow = consent(
        NY, ConsentKind.EBR_PURCHASE, add_months(today + timedelta(days=1), -18)
    )
    assert decide_with(NY, today, (ended_yesterday,), register="us-dnc").rule == "registry.us-dnc"
    assert (
        verdict(decide_with(NY, today, (ends_tomorrow,), register="us-dnc"), "registry.us-dnc")
        is FindingVerdict.ALLOW
    )


def test_us_inquiry_ebr_lasts_three_months() -> None:
    inquiry = (consent(NY, ConsentKind.EBR_INQUIRY, datetime(2026, 1, 10, tzinfo=UTC)),)
    assert (
        verdict(
            decide_with(NY, datetime(2026, 4, 9, 15, tzinfo=UTC), inquiry, register="us-dnc"),
            "registry.us-dnc",
        )
        is FindingVerdict.ALLOW
    )
    assert (
        verdict(
            decide_with(NY, datetime(2026, 4, 10, 15, tzinfo=UTC), inquiry, register="us-dnc"),
            "registry.us-dnc",
        )
        is FindingVerdict.BLOCK
    )


def _dated(kind: ConsentKind, day: date, number: str = NY) -> ConsentRecord:
    """A consent given on `day` alone, as `consent add --date DAY` records it."""
    start = datetime.combine(day, time(), LAST_MIDNIGHT).astimezone(UTC)
    return ConsentRecord(number, "acme", kind, start, granted_on=day)


def test_an_ebr_dated_by_a_day_alone_ends_as_its_last_day_first_begins() -> None:
    # Counted from the purchase day's last beginning (12:00 UTC on the 15th, the consent's
    # strict start), the 18 months ended at 12:00 UTC on 15 Jul 2026: 26 hours after the
    # 15th had begun at UTC+14, where the relationship is over.
    ebr = (_dated(ConsentKind.EBR_PURCHASE, date(2025, 1, 15)),)
    start = datetime(2025, 1, 15, 12, tzinfo=UTC)
    end = datetime(2026, 7, 14, 10, tzinfo=UTC)
    second = timedelta(seconds=1)
    verdicts = [
        verdict(decide_with(NY, at, ebr, register="us-dnc"), "registry.us-dnc")
        for at in (start - second, start, end - second, end, end + timedelta(hours=25))
    ]
    assert verdicts == [
        FindingVerdict.BLOCK,
        FindingVerdict.ALLOW,
        FindingVerdict.ALLOW,
        FindingVerdict.BLOCK,
        FindingVerdict.BLOCK,
    ]
    allowed = decide_with(NY, end - second, ebr, register="us-dnc")
    [finding] = [f for f in allowed.findings if f.rule == "registry.us-dnc"]
    assert "valid until 2026-07-14 10:00 UTC" in finding.reason


@given(
    day=st.dates(date(2021, 1, 1), date(2080, 12, 31)),
    kind=st.sampled_from([ConsentKind.EBR_PURCHASE, ConsentKind.EBR_INQUIRY]),
    days_from_end=st.integers(-2, 1),
    time_of_day=st.times(),
)
def test_an_ebr_dated_by_a_day_alone_holds_until_the_earliest_reading_of_its_end(
    day: date, kind: ConsentKind, days_from_end: int, time_of_day: time
) -> None:
    # 16 CFR 310.2: 18 months after a purchase, 3 after an inquiry, the day clamped to the
    # month's end. Whatever the offset the days are read at (UTC-12 to UTC+14), the
    # relationship is over once the last day has begun at any of them.
    months = 18 if kind is ConsentKind.EBR_PURCHASE else 3
    year, month = divmod(day.month - 1 + months, 12)
    last_day = date(day.year + year, month + 1, 1)
    last_day = last_day.replace(day=min(day.day, monthrange(last_day.year, last_day.month)[1]))
    end = min(
        datetime.combine(last_day, time(), timezone(timedelta(hours=hours)))
        for hours in range(-12, 15)
    )
    at = datetime.combine(last_day + timedelta(days=days_from_end), time_of_day, UTC)
    decision = decide_with(NY, at, (_dated(kind, day),), register="us-dnc")
    expected = FindingVerdict.ALLOW if at < end else FindingVerdict.BLOCK
    assert verdict(decision, "registry.us-dnc") is expected


def test_a_spanish_consent_dated_by_a_day_alone_lapses_as_its_last_day_first_begins() -> None:
    # 730 days from 16 Sep 2024 at its last beginning ran to 12:00 UTC on 16 Sep 2026, 26
    # hours after the 16th had begun at UTC+14.
    number = "+34912345678"
    express = (_dated(ConsentKind.EXPRESS, date(2024, 9, 16), number),)
    end = datetime(2026, 9, 15, 10, tzinfo=UTC)
    rule = "consent.es-opt-in-2023"
    assert verdict(decide_with(number, end - timedelta(seconds=1), express), rule) is (
        FindingVerdict.ALLOW
    )
    assert verdict(decide_with(number, end, express), rule) is FindingVerdict.BLOCK


def test_add_months_clamps_to_the_end_of_the_month() -> None:
    assert add_months(datetime(2024, 8, 31, tzinfo=UTC), 18) == datetime(2026, 2, 28, tzinfo=UTC)
    assert add_months(datetime(2025, 11, 30, tzinfo=UTC), 3) == datetime(2026, 2, 28, tzinfo=UTC)


def test_uk_non_objection_lifts_tps() -> None:
    at = datetime(2026, 6, 10, 11, 0, tzinfo=UTC)
    uk = "+442079460000"
    assert decide_with(uk, at, register="uk-tps").rule == "registry.uk-tps"
    ok = decide_with(
        uk, at, (consent(uk, ConsentKind.NON_OBJECTION, at - timedelta(days=1)),), register="uk-tps"
    )
    assert verdict(ok, "registry.uk-tps") is FindingVerdict.ALLOW


def test_an_internal_opt_out_beats_consent_and_ebr() -> None:
    at = datetime(2026, 6, 10, 11, 0, tzinfo=BERLIN)
    optout = SuppressionEntry(DE, "acme", None, "asked", "agi", at - timedelta(hours=1))
    given = (consent(DE, ConsentKind.EXPRESS, at - timedelta(days=30)),)
    decision = decide_with(DE, at, given, suppressions=(optout,))
    assert decision.verdict is Verdict.BLOCK
    assert decision.rule == "suppression.tenant"


def test_au_charity_skips_the_dncr_but_not_the_hours() -> None:
    au = "+61298765432"
    sydney = ZoneInfo("Australia/Sydney")
    weekday = decide_with(
        au, datetime(2026, 6, 10, 11, tzinfo=sydney), purpose=Purpose.CHARITY, register="au-dncr"
    )
    assert verdict(weekday, "registry.au-dncr") is FindingVerdict.SKIP
    assert weekday.verdict is Verdict.ALLOW
    sunday = decide_with(
        au, datetime(2026, 6, 14, 11, tzinfo=sydney), purpose=Purpose.CHARITY, register="au-dncr"
    )
    assert sunday.rule == "hours.au-telemarketing"


def test_au_telemarketing_to_a_dncr_number_needs_express_consent() -> None:
    au = "+61298765432"
    at = datetime(2026, 6, 10, 11, tzinfo=ZoneInfo("Australia/Sydney"))
    assert decide_with(au, at, register="au-dncr").rule == "registry.au-dncr"
    given = (consent(au, ConsentKind.EXPRESS, at - timedelta(days=2)),)
    assert decide_with(au, at, given, register="au-dncr").verdict is Verdict.ALLOW


def test_italian_consent_given_before_rpo_registration_is_cancelled() -> None:
    it = "+390612345678"
    at = datetime(2026, 6, 10, 11, tzinfo=ZoneInfo("Europe/Rome"))
    old = (consent(it, ConsentKind.EXPRESS, datetime(2019, 1, 1, tzinfo=UTC)),)
    new = (consent(it, ConsentKind.EXPRESS, datetime(2021, 1, 1, tzinfo=UTC)),)
    assert decide_with(it, at, old, register="it-rpo").rule == "registry.it-rpo"
    assert decide_with(it, at, new, register="it-rpo").verdict is Verdict.ALLOW


def test_an_old_ebr_record_does_not_hide_a_new_one() -> None:
    # Each purchase is a relationship of its own: in either order, the one of October 2026
    # lifts the registry (the one of January 2023 ended in July 2024).
    at = datetime(2026, 11, 24, 15, tzinfo=UTC)
    old = consent(NY, ConsentKind.EBR_PURCHASE, datetime(2023, 1, 15, tzinfo=UTC))
    new = consent(NY, ConsentKind.EBR_PURCHASE, datetime(2026, 10, 1, tzinfo=UTC))
    for records in ((old, new), (new, old)):
        decision = decide_with(NY, at, records, register="us-dnc")
        assert verdict(decision, "registry.us-dnc") is FindingVerdict.ALLOW


def test_plain_express_consent_does_not_lift_the_us_registry_but_written_consent_does() -> None:
    # 47 CFR 64.1200(c)(2)(ii): a signed, written agreement.
    at = datetime(2026, 11, 24, 15, tzinfo=UTC)
    granted = datetime(2026, 1, 1, tzinfo=UTC)
    express = (consent(NY, ConsentKind.EXPRESS, granted),)
    written = (consent(NY, ConsentKind.EXPRESS_WRITTEN, granted),)
    assert verdict(decide_with(NY, at, express, register="us-dnc"), "registry.us-dnc") is (
        FindingVerdict.BLOCK
    )
    assert verdict(decide_with(NY, at, written, register="us-dnc"), "registry.us-dnc") is (
        FindingVerdict.ALLOW
    )


def test_without_a_registration_date_only_consent_after_the_rpo_copy_counts() -> None:
    # A plain RPO list gives no dates: the number was registered by the copy's date (the day
    # before `at` here), so consent given earlier may have been cancelled by it.
    it = "+390612345678"
    at = datetime(2026, 6, 10, 11, tzinfo=ZoneInfo("Europe/Rome"))
    old = (consent(it, ConsentKind.EXPRESS, datetime(2019, 1, 1, tzinfo=UTC)),)
    new = (consent(it, ConsentKind.EXPRESS, datetime(2026, 6, 10, 8, tzinfo=UTC)),)
    assert decide_with(it, at, old, register="it-rpo", registered_on=None).rule == (
        "registry.it-rpo"
    )
    assert decide_with(it, at, new, register="it-rpo", registered_on=None).verdict is (
        Verdict.ALLOW
    )


# -- automated calls (prerecorded or artificial voice) ----------------------------------------


def automated_call(
    number: str, at: datetime, consents: tuple[ConsentRecord, ...] = (), **kw: object
) -> Decision:
    facts = Facts(consents=consents, caller_id_records=(CallerIdRecord(CID, "acme"),),
                  tenant_has_inventory=True)  # fmt: skip
    attempt = CallAttempt(number, CID, at, tenant="acme", automated=True, **kw)  # type: ignore[arg-type]
    return decide(prepare(attempt, Policy(block_when_register_missing=False)), facts)


def finding(decision: Decision, rule: str) -> FindingVerdict:
    return next(f.verdict for f in decision.findings if f.rule == rule)


def test_a_us_prerecorded_telemarketing_call_needs_written_consent() -> None:
    # 47 CFR 64.1200(a)(2)-(3): a robocall had no consent rule at all.
    number, at = "+12125550123", datetime(2026, 6, 10, 16, 0, tzinfo=UTC)  # 12:00 in New York
    rule = "consent.us-tcpa-prerecorded"
    blocked = automated_call(number, at)
    assert blocked.verdict is Verdict.BLOCK and blocked.rule == rule
    assert "express-written" in blocked.reason
    spoken = consent(number, ConsentKind.EXPRESS, at - timedelta(days=3))
    assert finding(automated_call(number, at, (spoken,)), rule) is FindingVerdict.BLOCK
    written = consent(number, ConsentKind.EXPRESS_WRITTEN, at - timedelta(days=3))
    assert finding(automated_call(number, at, (written,)), rule) is FindingVerdict.ALLOW
    # A live call is not held by it; an informational robocall neither (its purpose).
    live = decide_with(number, at)
    assert all(f.rule != rule for f in live.findings)
    informational = automated_call(number, at, purpose=Purpose.INFORMATIONAL)
    assert all(f.rule != rule for f in informational.findings)
    # Florida's own rule for automated sales calls, on a Florida number.
    florida = automated_call("+13055550100", at)
    assert finding(florida, "consent.us-fl-ftsa-automated") is FindingVerdict.BLOCK


def test_an_automated_call_is_machine_traffic_even_without_a_campaign() -> None:
    # "No campaign" read as a person dialling: a robocall to 911 was allowed as a person's
    # emergency call (47 CFR 64.1200(a)(1)(i) bans them), the Ofcom locks took it for a
    # call with a live operator, and a French 06/07 caller ID passed on it.
    at = datetime(2026, 6, 10, 16, 0, tzinfo=UTC)
    emergency = automated_call("911", at)
    assert (emergency.verdict, emergency.rule) == (Verdict.BLOCK, "emergency.automated")
    person = decide_with("911", at)  # a person's, still allowed
    assert (person.verdict, person.findings[0].rule) == (Verdict.ALLOW, "emergency.person")
    machine = PriorAttempt(at - timedelta(hours=2), "acme", "x", None, "outcome", "m",
                           "ANSWERED", machine=True)  # fmt: skip
    attempt = CallAttempt("+442079460000", CID, at, tenant="acme", automated=True)
    locked = decide(prepare(attempt, Policy()), Facts(attempts=(machine,)))
    assert finding(locked, "frequency.gb-ofcom-after-amd") is FindingVerdict.BLOCK
    french = CallAttempt("+33142685300", "+33612345678", at, tenant="acme", automated=True,
                         purpose=Purpose.INFORMATIONAL)  # fmt: skip
    fr = decide(prepare(french, Policy()), Facts())
    assert finding(fr, "callerid.fr_mobile") is FindingVerdict.BLOCK
    assert fr.context["automated"] is True


def test_uk_and_eu_automated_marketing_calls_need_prior_consent() -> None:
    at = datetime(2026, 6, 10, 10, 0, tzinfo=UTC)
    uk = automated_call("+442079460000", at, purpose=Purpose.CHARITY)
    assert finding(uk, "consent.gb-reg-19-automated") is FindingVerdict.BLOCK
    given = consent("+442079460000", ConsentKind.EXPRESS, at - timedelta(days=1))
    uk_ok = automated_call("+442079460000", at, (given,), purpose=Purpose.CHARITY)
    assert finding(uk_ok, "consent.gb-reg-19-automated") is FindingVerdict.ALLOW
    # Spain: a contract lifts the live-call opt-in, not the automated one (art. 66.1.a).
    contract = consent("+34612345678", ConsentKind.CONTRACT, at - timedelta(days=30))
    es = automated_call("+34612345678", at, (contract,))
    assert finding(es, "consent.es-opt-in-2023") is FindingVerdict.ALLOW
    assert finding(es, "consent.es-art-66-1a-automated") is FindingVerdict.BLOCK


def test_dutch_automated_charity_and_political_calls_need_consent_not_a_contract() -> None:
    at = datetime(2026, 6, 10, 9, 0, tzinfo=UTC)
    contract = consent("+31201234567", ConsentKind.CONTRACT, at - timedelta(days=30))
    for purpose in (Purpose.CHARITY, Purpose.POLITICAL):
        nl = automated_call("+31201234567", at, (contract,), purpose=purpose)
        assert finding(nl, "consent.nl-eprivacy-automated") is FindingVerdict.BLOCK, purpose


# -- automated calls to mobiles (TCPA) and the dialler's line type -----------------------------

WIRELESS = "consent.us-tcpa-wireless"
NEW_YORK = "+12125550123"  # a US number: phonenumbers cannot tell a mobile from a landline


def test_a_us_automated_call_for_any_purpose_needs_express_consent_to_a_mobile() -> None:
    # 47 U.S.C. 227(b)(1)(A)(iii): an informational robocall to a cell phone was allowed up
    # to TRACED's 3 in 30 days, which only residential lines may take without consent.
    at = datetime(2026, 6, 10, 16, 0, tzinfo=UTC)
    for purpose in (Purpose.INFORMATIONAL, Purpose.DEBT_COLLECTION, Purpose.RESEARCH,
                    Purpose.CHARITY, Purpose.POLITICAL):  # fmt: skip
        unknown = automated_call(NEW_YORK, at, purpose=purpose)
        assert (unknown.verdict, unknown.rule) == (Verdict.BLOCK, WIRELESS), purpose
        assert f"for automated {purpose.value} calls to mobile, pager" in unknown.reason
        assert "say so with DIALGUARD_LINE_TYPE=landline (`--line-type landline`" in unknown.reason
        assert unknown.reason.endswith("US numbers do not tell)")
        mobile = automated_call(NEW_YORK, at, purpose=purpose, line_type=LineType.MOBILE)
        assert mobile.rule == WIRELESS
        assert "DIALGUARD_LINE_TYPE" not in mobile.reason  # the line is known: no hint
        landline = automated_call(NEW_YORK, at, purpose=purpose, line_type=LineType.LANDLINE)
        assert landline.verdict is Verdict.ALLOW, purpose
        # Allowed on the call's word alone: the record says the rule was skipped for it.
        [skipped] = [f for f in landline.findings if f.rule == WIRELESS]
        assert skipped.verdict is FindingVerdict.SKIP
        assert "the call says the line is a landline" in skipped.reason


def test_personal_and_toll_free_numbers_are_held_whatever_the_call_says() -> None:
    # The statute's other services: paging, and any the called party is charged for (a
    # toll-free number's subscriber pays; the strictest reading). The number tells these.
    at = datetime(2026, 6, 10, 16, 0, tzinfo=UTC)
    for number in ("+15335551234", "+18005550100"):  # a 5XX personal number, a toll-free one
        for line_type in (None, LineType.LANDLINE):
            held = automated_call(number, at, purpose=Purpose.INFORMATIONAL, line_type=line_type)
            assert held.rule == WIRELESS, (number, line_type)
            assert "DIALGUARD_LINE_TYPE" not in held.reason  # no word of the call lifts it
            # A call that said landline is told why that did not help.
            said = "number whatever the line type says" in held.reason
            assert said is (line_type is not None), (number, line_type)
    assert (
        "to mobile, pager, personal (5XX) or toll-free numbers"
        in automated_call(NEW_YORK, at, purpose=Purpose.INFORMATIONAL).reason
    )


def test_express_consent_lifts_the_mobile_rule_and_an_ebr_does_not() -> None:
    at = datetime(2026, 6, 10, 16, 0, tzinfo=UTC)
    for kind in (ConsentKind.EXPRESS, ConsentKind.EXPRESS_WRITTEN):
        given = consent(NEW_YORK, kind, at - timedelta(days=3))
        allowed = automated_call(NEW_YORK, at, (given,), purpose=Purpose.DEBT_COLLECTION)
        assert finding(allowed, WIRELESS) is FindingVerdict.ALLOW, kind
        assert allowed.verdict is Verdict.ALLOW, kind
    ebr = consent(NEW_YORK, ConsentKind.EBR_PURCHASE, at - timedelta(days=3))
    held = automated_call(NEW_YORK, at, (ebr,), purpose=Purpose.DEBT_COLLECTION)
    assert finding(held, WIRELESS) is FindingVerdict.BLOCK
    other_tenant = consent(NEW_YORK, ConsentKind.EXPRESS, at - timedelta(days=3), "globex")
    held = automated_call(NEW_YORK, at, (other_tenant,), purpose=Purpose.DEBT_COLLECTION)
    assert finding(held, WIRELESS) is FindingVerdict.BLOCK


def test_the_mobile_rule_leaves_live_calls_and_telemarketing_to_their_own_rules() -> None:
    at = datetime(2026, 6, 10, 16, 0, tzinfo=UTC)
    live = decide_with(NEW_YORK, at, purpose=Purpose.INFORMATIONAL)
    assert all(f.rule != WIRELESS for f in live.findings)
    # Telemarketing robocalls need written consent on every line (tcpa-prerecorded), which
    # says more than this rule: it does not apply to them, and a landline changes nothing.
    for line_type in (None, LineType.LANDLINE, LineType.MOBILE):
        sales = automated_call(NEW_YORK, at, line_type=line_type)
        assert sales.rule == "consent.us-tcpa-prerecorded"
        assert all(f.rule != WIRELESS for f in sales.findings)


def test_a_dialler_s_line_type_adds_a_mobile_but_never_takes_one_away() -> None:
    at = datetime(2026, 6, 10, 11, 0, tzinfo=ZoneInfo("Europe/Dublin"))
    irish_mobile, irish_landline = "+353851234567", "+35312345678"

    def irish(number: str, line_type: LineType | None) -> Decision:
        facts = Facts(caller_id_records=(CallerIdRecord(CID, "acme"),), tenant_has_inventory=True)
        attempt = CallAttempt(number, CID, at, tenant="acme", line_type=line_type)
        return decide(prepare(attempt, Policy(block_when_register_missing=False)), facts)

    # Ireland's mobile opt-in: a mobile number said to be a landline is still a mobile...
    assert irish(irish_mobile, LineType.LANDLINE).rule == "consent.ie-mobile-opt-in"
    # ...and a landline number the dialler knows is now a mobile (ported) is held as one.
    assert irish(irish_landline, LineType.MOBILE).rule == "consent.ie-mobile-opt-in"
    assert verdict(irish(irish_landline, None), "consent.none") is FindingVerdict.SKIP
    assert verdict(irish(irish_landline, LineType.LANDLINE), "consent.none") is (
        FindingVerdict.SKIP
    )


def test_the_mobile_rule_holds_the_us_territories_numbers_too() -> None:
    # Puerto Rico, Guam: the US pack's callees, whose numbers tell no line type either.
    at = datetime(2026, 6, 10, 16, 0, tzinfo=UTC)
    for number in ("+17875550123", "+16715550123"):
        held = automated_call(number, at, purpose=Purpose.INFORMATIONAL)
        assert held.rule == WIRELESS, number
        landline = automated_call(
            number, at, purpose=Purpose.INFORMATIONAL, line_type=LineType.LANDLINE
        )
        assert landline.verdict is Verdict.ALLOW, number
