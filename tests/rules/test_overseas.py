"""Territories with country codes of their own whose numbers another country's law covers
(France's overseas departments and collectivities), and addresses on clocks far from the
number's (French overseas regions, the Canary Islands' provinces, Lord Howe Island)."""

from __future__ import annotations

from datetime import datetime
from zoneinfo import ZoneInfo

import pytest

from rules.engine import decide, prepare
from rules.facts import Facts
from rules.location import locate
from rules.models import CallAttempt, Decision, Finding
from rules.numbers import parse_number
from rules.policy import Policy

REUNION = ZoneInfo("Indian/Reunion")
PARIS = ZoneInfo("Europe/Paris")


def decide_at(number: str, at: datetime, *, region: str | None = None) -> Decision:
    attempt = CallAttempt(
        number, "+33162000000", at, tenant="acme", campaign="spring", callee_region=region
    )
    return decide(prepare(attempt, Policy()), Facts())


def finding(decision: Decision, family: str) -> Finding:
    """The family's one finding from the packs' rules (no blackout is declared here)."""
    found = [f for f in decision.findings if f.rule.startswith(family + ".")]
    [pack_rule] = [f for f in found if f.rule != "holiday.blackout"]
    return pack_rule


@pytest.mark.parametrize(
    ("number", "regions", "zone"),
    [
        ("+590690001234", ("FR-971", "FR-BL", "FR-MF"), "America/Guadeloupe"),
        ("+596696201234", ("FR-972",), "America/Martinique"),
        ("+594694201234", ("FR-973",), "America/Cayenne"),
        ("+262692123456", ("FR-974",), "Indian/Reunion"),
        ("+262639012345", ("FR-976",), "Indian/Mayotte"),
        ("+508551234", ("FR-PM",), "America/Miquelon"),
    ],
)
def test_a_french_overseas_number_is_a_french_callee_on_its_own_clock(
    number: str, regions: tuple[str, ...], zone: str
) -> None:
    # They met no French rule at all: no hours, holidays, caps, Bloctel or opt-in.
    attempt = CallAttempt(number, None, datetime(2026, 9, 14, tzinfo=PARIS))
    location = locate(attempt, parse_number(number, None), Policy())
    assert (location.country, location.regions, location.timezones) == ("FR", regions, (zone,))


def test_a_reunion_sunday_night_call_is_outside_the_french_window() -> None:
    decision = decide_at("+262692123456", datetime(2026, 9, 13, 3, 0, tzinfo=REUNION))
    hours = finding(decision, "hours")
    assert (hours.rule, hours.verdict.value) == ("hours.fr-prospection", "block")
    assert "(Indian/Reunion)" in hours.reason
    assert {"consent.fr-opt-in-2026", "frequency.fr-four-in-30-days"} <= {
        f.rule for f in decision.findings
    }
    # Said "no a refusal by tenant acme" before.
    [lock] = [f.reason for f in decision.findings if f.rule == "frequency.fr-refusal-lock"]
    assert lock == "no refusal by tenant acme in the last 60 days (FR refusal-lock)"


def test_a_reunion_weekday_morning_is_read_on_reunion_time_not_paris_time() -> None:
    # 11:00 in Réunion is 09:00 in Paris, before the window opens there.
    decision = decide_at("+262692123456", datetime(2026, 9, 14, 11, 0, tzinfo=REUNION))
    assert finding(decision, "hours").verdict.value == "allow"


def test_reunion_s_own_holiday_is_kept() -> None:
    # 20 December, the abolition of slavery, is a public holiday in Réunion only.
    decision = decide_at("+262692123456", datetime(2027, 12, 20, 11, 0, tzinfo=REUNION))
    holiday = finding(decision, "holiday")
    assert holiday.verdict.value == "block" and "Abolition of Slavery" in holiday.reason
    metropolitan = decide_at("+33612345678", datetime(2027, 12, 20, 11, 0, tzinfo=PARIS))
    assert finding(metropolitan, "holiday").verdict.value == "allow"


@pytest.mark.parametrize(
    ("number", "region", "day", "zone"),
    [
        # +590 mobiles are named GP by phonenumbers wherever they are: Saint-Martin's day.
        ("+590690001234", None, datetime(2027, 5, 28, 11), "America/Guadeloupe"),
        # Addresses given by the other codes the pack accepts for each territory.
        ("+33612345678", "FR-RE", datetime(2027, 12, 20, 11), "Indian/Reunion"),
        ("+33612345678", "FR-LRE", datetime(2027, 12, 20, 11), "Indian/Reunion"),
        ("+33612345678", "FR-GP", datetime(2027, 5, 27, 11), "America/Guadeloupe"),
        ("+33612345678", "FR-GF", datetime(2027, 6, 10, 11), "America/Cayenne"),
        ("+33612345678", "FR-MAY", datetime(2027, 4, 27, 11), "Indian/Mayotte"),
        ("+33612345678", "FR-977", datetime(2027, 10, 9, 11), "America/St_Barthelemy"),
        ("+33612345678", "FR-978", datetime(2027, 5, 28, 11), "America/Marigot"),
        ("+33612345678", "FR-988", datetime(2026, 9, 24, 11), "Pacific/Noumea"),
        ("+33612345678", "FR-987", datetime(2026, 3, 5, 11), "Pacific/Tahiti"),
        ("+33612345678", "FR-986", datetime(2026, 4, 28, 11), "Pacific/Wallis"),
    ],
)
def test_every_code_of_an_overseas_territory_keeps_its_holidays(
    number: str, region: str | None, day: datetime, zone: str
) -> None:
    # They had the territory's clock and missed its holidays: only the numeric codes
    # (FR-974) named the holidays library's subdivision.
    at = day.replace(tzinfo=ZoneInfo(zone))
    holiday = finding(decide_at(number, at, region=region), "holiday")
    assert holiday.verdict.value == "block" and f"({zone})" in holiday.reason


@pytest.mark.parametrize(
    ("number", "region", "at", "zone"),
    [
        # A metropolitan mobile of a customer living in Réunion: 21:30 there.
        ("+33612345679", "FR-974", datetime(2026, 9, 14, 19, 30, tzinfo=PARIS), "Indian/Reunion"),
        (
            "+33612345679",
            "FR-971",
            datetime(2026, 9, 14, 10, 30, tzinfo=PARIS),
            "America/Guadeloupe",
        ),
        # Santa Cruz de Tenerife, an hour behind Madrid: 08:30 there.
        (
            "+34912345678",
            "ES-TF",
            datetime(2026, 9, 14, 9, 30, tzinfo=ZoneInfo("Europe/Madrid")),
            "Atlantic/Canary",
        ),
        (
            "+34912345678",
            "ES-GC",
            datetime(2026, 9, 14, 9, 30, tzinfo=ZoneInfo("Europe/Madrid")),
            "Atlantic/Canary",
        ),
    ],
)
def test_an_address_overseas_is_read_on_its_own_clock(
    number: str, region: str, at: datetime, zone: str
) -> None:
    # The region was accepted, and the window read on the number's clock (Paris, Madrid).
    hours = finding(decide_at(number, at, region=region), "hours")
    assert hours.verdict.value == "block" and f"({zone})" in hours.reason


@pytest.mark.parametrize("region", [None, "AU-NSW"])
def test_lord_howe_island_is_one_of_an_australian_mobile_s_clocks(region: str | None) -> None:
    # 19:45 in Sydney in winter is 20:15 on Lord Howe Island, after the window.
    at = datetime(2026, 6, 10, 19, 45, tzinfo=ZoneInfo("Australia/Sydney"))
    attempt = CallAttempt(
        "+61412345678", "+61291234567", at, tenant="acme", campaign="spring", callee_region=region
    )
    hours = finding(decide(prepare(attempt, Policy()), Facts()), "hours")
    assert hours.verdict.value == "block" and "(Australia/Lord_Howe)" in hours.reason


@pytest.mark.parametrize(
    ("caller_id", "verdict"),
    [
        ("+262947812345", "allow"),  # Réunion's 0947 8x xx xx, an overseas canvassing range
        ("+590947512345", "allow"),
        ("+33162000000", "allow"),
        ("+262262123456", "block"),  # a Réunion landline: not a canvassing range
    ],
)
def test_an_overseas_caller_id_in_the_canvassing_ranges_passes(
    caller_id: str, verdict: str
) -> None:
    # Only +33 numbers were read in France's plan: the overseas ranges (09475-09479), which
    # are dialled under the departments' codes, were blocked as outside every range.
    at = datetime(2026, 7, 15, 10, 0, tzinfo=REUNION)  # a Wednesday
    attempt = CallAttempt("+262692123456", caller_id, at, tenant="acme", campaign="spring")
    decision = decide(prepare(attempt, Policy()), Facts())
    found = next(f for f in decision.findings if f.rule == "callerid.fr_canvassing_range")
    assert found.verdict.value == verdict, found.reason
