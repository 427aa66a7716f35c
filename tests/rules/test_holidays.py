"""Holiday bans: the observed holiday, the substitute Monday, the state that bans holidays."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime
from zoneinfo import ZoneInfo

import pytest

from rules.engine import decide, prepare
from rules.facts import ConsentKind, ConsentRecord, Facts
from rules.models import CallAttempt, Decision, FindingVerdict, Purpose
from rules.policy import Policy

SYDNEY = ZoneInfo("Australia/Sydney")
PARIS = ZoneInfo("Europe/Paris")
EASTERN = ZoneInfo("America/New_York")


def decide_at(
    number: str,
    at: datetime,
    *,
    region: str | None = None,
    purpose: Purpose = Purpose.TELEMARKETING,
    facts: Facts | None = None,
) -> Decision:
    attempt = CallAttempt(
        number, "+61291234567", at, tenant="acme", purpose=purpose, callee_region=region
    )
    return decide(prepare(attempt, Policy()), facts or Facts())


def holiday_blocks(decision: Decision) -> dict[str, str]:
    return {
        f.rule: f.reason
        for f in decision.findings
        if f.rule.startswith("holiday.") and f.verdict is FindingVerdict.BLOCK
    }


def test_au_boxing_day_2026_on_a_saturday_is_a_national_holiday() -> None:
    blocks = holiday_blocks(decide_at("+61298765432", datetime(2026, 12, 26, 10, 0, tzinfo=SYDNEY)))
    assert "holiday.au-national" in blocks
    assert "Boxing Day" in blocks["holiday.au-national"]
    # Named after the day, not as "a AU national day".
    assert blocks["holiday.au-national"].endswith("a day without calls (AU national)")


def test_a_day_that_is_no_holiday_names_the_calendar_it_was_looked_up_in() -> None:
    decision = decide_at("+61298765432", datetime(2026, 12, 1, 10, 0, tzinfo=SYDNEY))
    [reason] = [f.reason for f in decision.findings if f.rule == "holiday.au-national"]
    assert reason == "2026-12-01 is not a holiday for the callee (AU national)"


def test_au_substitute_monday_28_dec_2026_is_blocked_conservatively_and_says_so() -> None:
    decision = decide_at("+61298765432", datetime(2026, 12, 28, 10, 0, tzinfo=SYDNEY))
    blocks = holiday_blocks(decision)
    assert set(blocks) == {"holiday.au-state-substitute"}
    assert "conservative" in blocks["holiday.au-state-substitute"]
    finding = next(f for f in decision.findings if f.rule == "holiday.au-state-substitute")
    assert finding.unverified


@pytest.mark.parametrize(
    ("number", "region", "day"),
    [
        ("+61412345678", None, datetime(2030, 1, 28, 13, 0)),  # Australia Day's Monday, everywhere
        ("+61732345678", None, datetime(2027, 4, 26, 11, 0)),  # Queensland's Anzac Day Monday
        ("+61362345678", "AU-TAS", datetime(2026, 12, 28, 11, 0)),  # Tasmania's Boxing Day
        ("+61298765432", None, datetime(2028, 1, 3, 11, 0)),  # New Year's Day (observed)
    ],
)
def test_au_substitute_days_the_library_names_plainly_are_blocked(
    number: str, region: str | None, day: datetime
) -> None:
    # The library names some substitutes "(observed)" and moves others under their own
    # name; matching "(observed)" alone missed the second kind.
    at = day.replace(tzinfo=SYDNEY)
    assert "holiday.au-state-substitute" in holiday_blocks(decide_at(number, at, region=region))


def test_a_state_day_whose_name_contains_a_national_ones_is_not_a_national_holiday() -> None:
    # Western Australia Day (1 Jun 2026) is a WA public holiday, not Australia Day.
    perth = ZoneInfo("Australia/Perth")
    decision = decide_at("+61892345678", datetime(2026, 6, 1, 11, 0, tzinfo=perth))
    assert holiday_blocks(decision) == {}


def test_au_national_holidays_bind_research_too_but_an_ordinary_monday_does_not() -> None:
    anzac = datetime(2026, 4, 25, 10, 0, tzinfo=SYDNEY)
    assert "holiday.au-national" in holiday_blocks(
        decide_at("+61298765432", anzac, purpose=Purpose.RESEARCH)
    )
    assert not holiday_blocks(decide_at("+61298765432", datetime(2026, 11, 30, 10, tzinfo=SYDNEY)))


def test_au_state_only_holidays_are_not_national() -> None:
    # Melbourne Cup day (VIC, first Tuesday of November) is not a national public holiday.
    assert not holiday_blocks(
        decide_at("+61398765432", datetime(2026, 11, 3, 10, tzinfo=ZoneInfo("Australia/Melbourne")))
    )


def test_rhode_island_bans_calls_on_federal_and_state_holidays() -> None:
    thanksgiving = datetime(2026, 11, 26, 11, 0, tzinfo=EASTERN)
    blocks = holiday_blocks(decide_at("+14015550100", thanksgiving))
    assert set(blocks) == {"holiday.us-ri-state-holidays"}
    # New York has no holiday ban.
    assert not holiday_blocks(decide_at("+12125550100", thanksgiving))


def test_alabama_observed_independence_day_falls_on_friday_3_july_2026() -> None:
    central = ZoneInfo("America/Chicago")
    blocks = holiday_blocks(decide_at("+12055550100", datetime(2026, 7, 3, 11, 0, tzinfo=central)))
    assert "Independence Day (observed)" in blocks["holiday.us-al-state-holidays"]


def test_pennsylvania_bans_christmas_only_and_utah_pioneer_day() -> None:
    assert holiday_blocks(decide_at("+12155550100", datetime(2026, 12, 25, 11, tzinfo=EASTERN)))
    assert not holiday_blocks(decide_at("+12155550100", datetime(2026, 11, 26, 11, tzinfo=EASTERN)))
    mountain = ZoneInfo("America/Denver")
    blocks = holiday_blocks(decide_at("+18015550100", datetime(2026, 7, 24, 11, tzinfo=mountain)))
    assert "Pioneer Day" in blocks["holiday.us-ut-state-holidays"]


def test_france_14_july_is_a_jour_ferie() -> None:
    blocks = holiday_blocks(decide_at("+33145678901", datetime(2026, 7, 14, 11, 0, tzinfo=PARIS)))
    assert "holiday.fr-jours-feries" in blocks


def test_alsace_moselle_good_friday_blocks_in_67_and_when_unknown_but_not_in_paris() -> None:
    good_friday = datetime(2026, 4, 3, 11, 0, tzinfo=PARIS)
    assert holiday_blocks(decide_at("+33388123456", good_friday, region="FR-67"))
    assert holiday_blocks(decide_at("+33612345678", good_friday))  # mobile: department unknown
    assert not holiday_blocks(decide_at("+33145678901", good_friday, region="FR-75"))


def test_french_holiday_lifted_by_express_prior_consent() -> None:
    consent = ConsentRecord(
        "+33145678901", "acme", ConsentKind.OUT_OF_HOURS, datetime(2026, 1, 1, tzinfo=UTC)
    )
    decision = decide_at(
        "+33145678901", datetime(2026, 7, 14, 11, 0, tzinfo=PARIS), facts=Facts(consents=(consent,))
    )
    assert not holiday_blocks(decision)


def test_spain_regional_holiday_applies_in_its_region_and_when_the_region_is_unknown() -> None:
    madrid = ZoneInfo("Europe/Madrid")
    diada = datetime(2026, 9, 11, 11, 0, tzinfo=madrid)  # Catalonia's national day, a Friday
    assert holiday_blocks(decide_at("+34931234567", diada))  # 93: Barcelona
    assert not holiday_blocks(decide_at("+34912345678", diada))  # 91: Madrid
    assert holiday_blocks(decide_at("+34612345678", diada))  # mobile: every comunidad


@pytest.mark.parametrize(
    ("number", "at", "region"),
    [
        # A province (ISO 3166-2:ES names them too) is read as its comunidad: ES-B was no
        # known subdivision, so La Diada went unblocked in Barcelona.
        ("+34931234567", datetime(2026, 9, 11, 11, 0, tzinfo=ZoneInfo("Europe/Madrid")), "ES-B"),
        ("+34931234567", datetime(2026, 9, 11, 11, 0, tzinfo=ZoneInfo("Europe/Madrid")), "ES-GI"),
        # The Grand Est region holds the Alsace-Moselle departments.
        ("+33388123456", datetime(2026, 4, 3, 11, 0, tzinfo=PARIS), "FR-GES"),
    ],
)
def test_a_region_code_that_holds_a_holiday_subdivision_keeps_its_holidays(
    number: str, at: datetime, region: str
) -> None:
    assert holiday_blocks(decide_at(number, at, region=region))


def test_a_province_of_a_comunidad_without_the_day_is_not_blocked() -> None:
    diada = datetime(2026, 9, 11, 11, 0, tzinfo=ZoneInfo("Europe/Madrid"))
    assert not holiday_blocks(decide_at("+34931234567", diada, region="ES-M"))  # Madrid


def test_kept_holiday_findings_follow_the_date_and_the_consent() -> None:
    # One policy throughout, so later calls may be answered from its memo.
    policy = Policy()
    consent = Facts(
        consents=(
            ConsentRecord(
                "+61298765432",
                "acme",
                ConsentKind.OUT_OF_HOURS,
                datetime(2026, 1, 1, tzinfo=UTC),
            ),
        )
    )

    def holiday(at: datetime, facts: Facts) -> tuple[FindingVerdict, str]:
        attempt = CallAttempt("+61298765432", "+61291234567", at, tenant="acme")
        found = decide(prepare(attempt, policy), facts).findings
        finding = next(f for f in found if f.rule == "holiday.au-national")
        return finding.verdict, finding.reason

    boxing = datetime(2026, 12, 26, 10, 0, tzinfo=SYDNEY)
    ordinary = datetime(2026, 11, 30, 10, 0, tzinfo=SYDNEY)
    for _ in range(2):
        assert holiday(ordinary, Facts())[0] is FindingVerdict.ALLOW
        assert holiday(boxing, Facts())[0] is FindingVerdict.BLOCK
        lifted = holiday(boxing, consent)
        assert lifted[0] is FindingVerdict.ALLOW and "consent" in lifted[1]
        assert holiday(boxing.replace(minute=30), Facts())[0] is FindingVerdict.BLOCK
        assert holiday(ordinary.replace(hour=11), consent)[1].startswith("2026-11-30")


CENTRAL = ZoneInfo("America/Chicago")


@pytest.mark.parametrize(
    ("number", "day", "rule", "name"),
    [
        # Days the library's calendars lack (regulations.md 2.6): the pack's own dates.
        ("+15045550123", datetime(2026, 1, 8, 11), "holiday.us-la-state-holidays", "Battle"),
        ("+15045550123", datetime(2027, 1, 19, 11), "holiday.us-la-state-holidays", "Lee"),
        # Mardi Gras in Mobile and Baldwin counties, taken for all of Alabama.
        ("+12515550123", datetime(2026, 2, 17, 11), "holiday.us-al-mardi-gras", "Mardi Gras"),
    ],
)
def test_louisiana_and_alabama_days_missing_from_the_library_are_blocked(
    number: str, day: datetime, rule: str, name: str
) -> None:
    blocks = holiday_blocks(decide_at(number, day.replace(tzinfo=CENTRAL)))
    assert name in blocks[rule]


def test_the_day_after_mardi_gras_is_an_ordinary_day_in_alabama() -> None:
    wednesday = datetime(2026, 2, 18, 11, tzinfo=CENTRAL)
    assert holiday_blocks(decide_at("+12515550123", wednesday)) == {}


def test_an_operator_adds_a_governors_day_in_the_settings() -> None:
    from rules.jurisdictions import from_settings

    raw = {"US": {"states": {"LA": {"holidays": [
        {"name": "state-holidays", "dates": {"2026-03-02": "governor's proclamation"}},
    ]}}}}  # fmt: skip
    jurisdictions, errors = from_settings(raw)
    assert errors == []
    attempt = CallAttempt(
        "+15045550123", "+61291234567", datetime(2026, 3, 2, 11, tzinfo=CENTRAL), tenant="acme"
    )
    decision = decide(prepare(attempt, Policy(jurisdictions=jurisdictions)), Facts())
    assert "governor" in holiday_blocks(decision)["holiday.us-la-state-holidays"]
    # Added to the pack's days, not in their place: 8 January is still blocked.
    january = replace(attempt, at=datetime(2027, 1, 8, 11, tzinfo=CENTRAL))
    decision = decide(prepare(january, Policy(jurisdictions=jurisdictions)), Facts())
    assert "Battle" in holiday_blocks(decision)["holiday.us-la-state-holidays"]
    _, bad = from_settings(
        {
            "US": {
                "states": {
                    "LA": {"holidays": [{"name": "state-holidays", "dates": {"03-32": "no"}}]}
                }
            }
        }
    )
    assert any("dates.03-32" in error for error in bad), bad


@pytest.mark.parametrize(
    ("number", "zone", "regions"),
    [
        # A QLD landline whose callee is on Perth's clock kept QLD's days alone, and was
        # called on WA's (and only WA's) ANZAC Day substitute.
        ("+61731234567", "Australia/Perth", ["AU-QLD", "AU-WA"]),
        # A mobile is placed in no state: every state's days still count (strictest).
        ("+61412345678", "Australia/Sydney", []),
    ],
)
def test_a_zone_alone_adds_the_states_on_its_clock_but_never_narrows(
    number: str, zone: str, regions: list[str]
) -> None:
    at = datetime(2026, 4, 27, 10, 0, tzinfo=ZoneInfo("Australia/Perth"))  # WA's substitute
    attempt = CallAttempt(number, "+61291234567", at, tenant="acme", callee_timezone=zone)
    decision = decide(prepare(attempt, Policy()), Facts())
    assert decision.context["regions"] == regions
    assert "holiday.au-state-substitute" in holiday_blocks(decision)


def test_a_holiday_named_in_one_decision_is_not_in_the_next_decisions_details() -> None:
    # Findings of one location share their details (the audit record encodes them once):
    # naming the holiday must not write it into the shared part.
    holiday = decide_at("+61298765432", datetime(2026, 12, 26, 10, 0, tzinfo=SYDNEY))
    workday = decide_at("+61298765432", datetime(2026, 12, 2, 10, 0, tzinfo=SYDNEY))

    named = next(f for f in holiday.findings if f.rule == "holiday.au-national")
    assert named.details["holiday"] == "Boxing Day"
    assert all("holiday" not in f.details for f in workday.findings)
    shown = [f.as_dict().get("details") for f in workday.findings]
    assert all(isinstance(d, dict) and "holiday" not in d for d in shown if d is not None)
    for details in shown:  # a reader changing what it was shown changes no finding
        if isinstance(details, dict):
            details["holiday"] = "changed by a reader"
            assert not isinstance(details.get("regions"), list)  # nor the regions they share
    assert all("holiday" not in f.details for f in workday.findings)
