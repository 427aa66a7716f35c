"""Calling windows in the callee's local time, read like the law: the boundary second, the DST
morning, the area code spanning two zones, the Sunday in a state that bans Sundays."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone
from zoneinfo import ZoneInfo

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from rules.engine import decide, prepare
from rules.facts import ConsentKind, ConsentRecord, Facts
from rules.jurisdictions import default_packs, from_settings
from rules.models import CallAttempt, Decision, Finding, FindingVerdict, Purpose
from rules.policy import Policy

NY = ZoneInfo("America/New_York")
NEW_YORK = "+12125550123"  # area code 212: America/New_York
SYDNEY = ZoneInfo("Australia/Sydney")


def decide_at(
    number: str,
    at: datetime,
    *,
    purpose: Purpose = Purpose.TELEMARKETING,
    facts: Facts | None = None,
    tz: str | None = None,
    region: str | None = None,
    automated: bool = False,
    policy: Policy | None = None,
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
        automated=automated,
    )
    return decide(prepare(attempt, policy or Policy()), facts or Facts())


def rule(decision: Decision, rule_id: str) -> Finding:
    matches = [f for f in decision.findings if f.rule == rule_id]
    assert matches, f"{rule_id} not among {[f.rule for f in decision.findings]}"
    return matches[0]


def blocked(decision: Decision, family: str) -> list[str]:
    return [
        f.rule
        for f in decision.findings
        if f.rule.startswith(family + ".") and f.verdict is FindingVerdict.BLOCK
    ]


NY_NUMBER = "+12125550100"  # area code 212: New York, America/New_York


def test_new_york_20_59_59_is_allowed_and_21_00_00_is_blocked() -> None:
    before = decide_at(NY_NUMBER, datetime(2026, 6, 10, 20, 59, 59, tzinfo=NY))
    at_end = decide_at(NY_NUMBER, datetime(2026, 6, 10, 21, 0, 0, tzinfo=NY))

    assert rule(before, "hours.us-solicitation").verdict is FindingVerdict.ALLOW
    finding = rule(at_end, "hours.us-solicitation")
    assert finding.verdict is FindingVerdict.BLOCK
    assert "21:00:00" in finding.reason and "America/New_York" in finding.reason
    assert finding.citation.startswith("47 CFR 64.1200(c)(1)")


def test_08_00_local_is_allowed_on_the_us_dst_spring_forward_and_fall_back_mornings() -> None:
    for day in (datetime(2026, 3, 8, 8, 0, tzinfo=NY), datetime(2026, 11, 1, 8, 0, tzinfo=NY)):
        assert rule(decide_at(NY_NUMBER, day), "hours.us-solicitation").verdict is (
            FindingVerdict.ALLOW
        )
        just_before = day - timedelta(seconds=1)
        assert rule(decide_at(NY_NUMBER, just_before), "hours.us-solicitation").verdict is (
            FindingVerdict.BLOCK
        )
    # 12:00 UTC is 08:00 EDT after spring-forward, but would be 07:00 with a fixed EST offset.
    assert (
        rule(
            decide_at(NY_NUMBER, datetime(2026, 3, 8, 12, 0, tzinfo=UTC)), "hours.us-solicitation"
        ).verdict
        is FindingVerdict.ALLOW
    )
    # After fall-back 12:00 UTC is 07:00 EST: blocked.
    assert (
        rule(
            decide_at(NY_NUMBER, datetime(2026, 11, 1, 12, 0, tzinfo=UTC)), "hours.us-solicitation"
        ).verdict
        is FindingVerdict.BLOCK
    )


def test_area_code_850_at_a_time_allowed_in_eastern_but_not_central_is_blocked() -> None:
    # 08:30 Eastern is 07:30 Central: the panhandle's Central candidate is still closed.
    decision = decide_at("+18505550100", datetime(2026, 6, 10, 8, 30, tzinfo=NY))

    finding = rule(decision, "hours.us-solicitation")
    assert finding.verdict is FindingVerdict.BLOCK
    assert "America/Chicago" in finding.reason
    assert decision.context["timezones"] == ["America/New_York", "America/Chicago"]
    local_times = decision.as_dict()["local_times"]
    assert local_times == {
        "America/New_York": "2026-06-10T08:30:00-04:00",
        "America/Chicago": "2026-06-10T07:30:00-05:00",
    }
    assert "local_times" not in finding.details  # once per decision, not per finding


def test_a_known_customer_time_zone_overrides_the_area_code() -> None:
    decision = decide_at(
        "+18505550100", datetime(2026, 6, 10, 8, 30, tzinfo=NY), tz="America/New_York"
    )
    assert rule(decision, "hours.us-solicitation").verdict is FindingVerdict.ALLOW
    assert decision.context["location_source"] == "customer"


@pytest.mark.parametrize("tz", ["EST", "Etc/GMT+5"])
def test_a_callee_zone_without_summer_time_is_read_beside_the_number_s_clocks(tz: str) -> None:
    # A system writes EST for New York all year: read as written, a call at 21:30 EDT was
    # allowed as 20:30 EST.
    late = decide_at(NEW_YORK, datetime(2026, 7, 15, 21, 30, tzinfo=NY), tz=tz)
    assert rule(late, "hours.us-solicitation").verdict is FindingVerdict.BLOCK
    # EST may be EDT, so its summer clock is read in winter too: 19:59 EST is allowed, and
    # 20:30 (21:30 on the summer clock) held, the strictest reading.
    winter = decide_at(NEW_YORK, datetime(2026, 1, 14, 19, 59, tzinfo=NY), tz=tz)
    assert rule(winter, "hours.us-solicitation").verdict is FindingVerdict.ALLOW
    later = decide_at(NEW_YORK, datetime(2026, 1, 14, 20, 30, tzinfo=NY), tz=tz)
    assert rule(later, "hours.us-solicitation").verdict is FindingVerdict.BLOCK
    assert winter.context["location_source"] == "customer"


@pytest.mark.parametrize("region", [None, "US-NY"])
def test_a_fixed_offset_for_a_number_of_another_zone_keeps_its_summer_clock(
    region: str | None,
) -> None:
    # A San Francisco number given EST (and New York as its state): the number's clock is
    # Pacific, so only EST's summer clock and the state's catch 21:30 EDT.
    at = datetime(2026, 7, 15, 21, 30, tzinfo=NY)
    decision = decide_at("+14155550123", at, tz="EST", region=region)
    assert rule(decision, "hours.us-solicitation").verdict is FindingVerdict.BLOCK


@pytest.mark.parametrize(
    ("zone", "summer"),
    [
        ("EST", ("Etc/GMT+4",)),
        ("HST", ("Etc/GMT+9",)),
        ("Etc/GMT+1", ("Etc/GMT",)),
        ("Etc/GMT-10", ("Etc/GMT-11",)),
        ("Etc/GMT-13", ("Etc/GMT-14",)),
        ("Etc/GMT-14", ()),  # no clock is later
    ],
)
def test_a_fixed_offset_s_summer_clock(zone: str, summer: tuple[str, ...]) -> None:
    from rules.location import summer_of

    at = datetime(2026, 1, 1, tzinfo=UTC)
    assert summer_of(zone, at) == summer
    for name in summer:  # an hour later than the given zone
        later = ZoneInfo(name).utcoffset(at.replace(tzinfo=None))
        given = ZoneInfo(zone).utcoffset(at.replace(tzinfo=None))
        assert later is not None and given is not None and later - given == timedelta(hours=1)


@pytest.mark.parametrize(
    ("zone", "fixed"),
    [
        *((zone, True) for zone in ("EST", "HST", "Etc/GMT+1", "Etc/GMT-14", "right/MST")),
        # Places, with summer time or without, are read as they are.
        *((zone, False) for zone in ("America/Phoenix", "America/New_York", "EST5EDT")),
    ],
)
def test_a_fixed_offset_is_told_from_a_place(zone: str, fixed: bool) -> None:
    from rules.location import is_fixed_offset

    assert is_fixed_offset(zone) is fixed


def test_an_override_of_an_area_code_s_zones_is_read() -> None:
    # The two-zone area codes are [U] (regulations.md 6.1): an override of one was accepted,
    # shown by `jurisdiction show`, and never read; the table's zones were used.
    override = {
        "US": {
            "location": {
                "prefixes": {
                    "212": {
                        "regions": ["US-NY"],
                        "timezones": ["America/New_York", "America/Los_Angeles"],
                    }
                }
            }
        }
    }
    packs, errors = from_settings(override)
    assert errors == []
    at = datetime(2026, 11, 16, 9, 0, tzinfo=NY)  # 06:00 in Los Angeles
    attempt = CallAttempt(NY_NUMBER, "+61291234567", at, tenant="acme", campaign="spring")
    shipped = decide(prepare(attempt, Policy()), Facts())
    assert blocked(shipped, "hours") == []
    overridden = decide(prepare(attempt, Policy(jurisdictions=packs)), Facts())
    assert blocked(overridden, "hours") == ["hours.us-solicitation"]
    assert "America/Los_Angeles" in overridden.context["timezones"]


def test_area_code_928_takes_navajo_dst_into_account() -> None:
    # In summer Phoenix is UTC-7 all year, the Navajo Nation (America/Denver) UTC-6.
    # 14:30 UTC: 07:30 Phoenix (closed) -> blocked; 15:30 UTC: 08:30 Phoenix, 09:30 Navajo -> ok.
    assert blocked(decide_at("+19285550100", datetime(2026, 7, 1, 14, 30, tzinfo=UTC)), "hours")
    # 02:30 UTC: 19:30 Phoenix but 20:30 Denver: FL-style limits don't apply; 21:00 does.
    late = decide_at("+19285550100", datetime(2026, 7, 2, 3, 30, tzinfo=UTC))
    assert "America/Denver" in rule(late, "hours.us-solicitation").reason  # 21:30 Navajo
    assert not blocked(decide_at("+16025550100", datetime(2026, 7, 2, 3, 30, tzinfo=UTC)), "hours")


def test_sydney_open_while_perth_is_not_yet() -> None:
    at = datetime(2026, 6, 10, 0, 30, tzinfo=UTC)  # Wed 10:30 Sydney, 08:30 Perth
    assert not blocked(decide_at("+61298765432", at), "hours")
    perth = decide_at("+61892345678", at, region="AU-WA")
    assert rule(perth, "hours.au-telemarketing").verdict is FindingVerdict.BLOCK
    assert "Australia/Perth" in rule(perth, "hours.au-telemarketing").reason


def test_au_saturday_17_00_is_the_end_of_the_window() -> None:
    sat = datetime(2026, 6, 13, 16, 59, 59, tzinfo=SYDNEY)
    assert not blocked(decide_at("+61298765432", sat, tz="Australia/Sydney"), "hours")
    assert blocked(
        decide_at("+61298765432", sat + timedelta(seconds=1), tz="Australia/Sydney"), "hours"
    ) == ["hours.au-telemarketing"]


def test_au_sunday_blocks_telemarketing_but_allows_research() -> None:
    sunday = datetime(2026, 6, 14, 11, 0, tzinfo=SYDNEY)
    tm = decide_at("+61298765432", sunday, tz="Australia/Sydney")
    research = decide_at("+61298765432", sunday, tz="Australia/Sydney", purpose=Purpose.RESEARCH)

    assert blocked(tm, "hours") == ["hours.au-telemarketing"]
    assert rule(research, "hours.au-research").verdict is FindingVerdict.ALLOW


def test_au_mobile_must_be_inside_the_window_in_every_australian_zone() -> None:
    # 09:30 in Sydney is 07:30 in Perth: a mobile may be in Perth.
    at = datetime(2026, 6, 10, 9, 30, tzinfo=SYDNEY)
    assert blocked(decide_at("+61412345678", at), "hours") == ["hours.au-telemarketing"]


def test_au_charity_is_still_held_to_the_hours() -> None:
    sunday = datetime(2026, 6, 14, 11, 0, tzinfo=SYDNEY)
    charity = decide_at("+61298765432", sunday, tz="Australia/Sydney", purpose=Purpose.CHARITY)
    assert blocked(charity, "hours") == ["hours.au-telemarketing"]


def test_out_of_hours_consent_lifts_the_au_window_but_not_a_louisiana_sunday() -> None:
    consent = ConsentRecord(
        "+61298765432", "acme", ConsentKind.OUT_OF_HOURS, datetime(2026, 1, 1, tzinfo=UTC)
    )
    sunday = datetime(2026, 6, 14, 11, 0, tzinfo=SYDNEY)
    au = decide_at("+61298765432", sunday, tz="Australia/Sydney", facts=Facts(consents=(consent,)))
    assert not blocked(au, "hours")
    assert "out-of-hours consent" in rule(au, "hours.au-telemarketing").reason

    la_consent = ConsentRecord(
        "+15045550100", "acme", ConsentKind.OUT_OF_HOURS, datetime(2026, 1, 1, tzinfo=UTC)
    )
    la_sunday = datetime(2026, 6, 14, 12, 0, tzinfo=ZoneInfo("America/Chicago"))
    la = decide_at("+15045550100", la_sunday, facts=Facts(consents=(la_consent,)))
    assert blocked(la, "hours") == ["hours.us-la-solicitation"]


def test_consent_for_another_tenant_does_not_lift_the_window() -> None:
    other = ConsentRecord(
        "+61298765432", "globex", ConsentKind.OUT_OF_HOURS, datetime(2026, 1, 1, tzinfo=UTC)
    )
    sunday = datetime(2026, 6, 14, 11, 0, tzinfo=SYDNEY)
    assert blocked(
        decide_at("+61298765432", sunday, tz="Australia/Sydney", facts=Facts(consents=(other,))),
        "hours",
    )


def test_florida_call_at_20_00_is_blocked_by_the_state_not_the_federal_window() -> None:
    decision = decide_at("+13055550100", datetime(2026, 6, 10, 20, 0, tzinfo=NY))
    assert blocked(decision, "hours") == ["hours.us-fl-solicitation"]
    assert rule(decision, "hours.us-solicitation").verdict is FindingVerdict.ALLOW


@pytest.mark.parametrize("region", ["US-NY", "us-zz", "CA-ON", "GB-LND"])
def test_a_florida_area_code_keeps_the_florida_window_whatever_address_is_given(
    region: str,
) -> None:
    # Florida presumes a callee with its area code is in Florida: its rule applies by area
    # code and by known address (regulations.md 2.5). An address in New York adds New York,
    # one in Ontario or London Florida all the same; an unknown state is reported and
    # ignored, where it used to drop every state rule.
    decision = decide_at("+13055550100", datetime(2026, 1, 14, 20, 30, tzinfo=NY), region=region)
    assert blocked(decision, "hours") == ["hours.us-fl-solicitation"]
    assert "US-FL" in decision.context["regions"]
    if region == "us-zz":
        assert decision.context["regions"] == ["US-FL"]


def test_sunday_is_banned_in_mississippi_alabama_and_louisiana() -> None:
    central = ZoneInfo("America/Chicago")
    sunday_noon = datetime(2026, 6, 14, 12, 0, tzinfo=central)
    for number, state in (
        ("+16015550100", "ms"),
        ("+12055550100", "al"),
        ("+15045550100", "la"),
    ):
        assert blocked(decide_at(number, sunday_noon), "hours") == [
            f"hours.us-{state}-solicitation"
        ]
        monday = decide_at(number, sunday_noon + timedelta(days=1))
        assert not blocked(monday, "hours")


MISSISSIPPI = "+16015550100"  # area code 601: Jackson, America/Chicago
CHICAGO = ZoneInfo("America/Chicago")
CST = timezone(timedelta(hours=-6), "CST")


def test_a_mississippi_summer_morning_opens_at_08_00_central_standard_time() -> None:
    # 08:30 CDT is 07:30 CST: inside the federal window, outside the statute's.
    early = decide_at(MISSISSIPPI, datetime(2026, 7, 14, 8, 30, tzinfo=CHICAGO))
    opened = decide_at(MISSISSIPPI, datetime(2026, 7, 14, 9, 0, tzinfo=CHICAGO))

    assert blocked(early, "hours") == ["hours.us-ms-solicitation"]
    reason = rule(early, "hours.us-ms-solicitation").reason
    assert "Tue 07:30:00 at UTC-06:00, the standard time the law names" in reason
    assert "Tue 08:30:00 (America/Chicago)" in reason
    finding = rule(opened, "hours.us-ms-solicitation")
    assert finding.verdict is FindingVerdict.ALLOW
    assert "and so is Tue 08:00:00 at UTC-06:00" in finding.reason


def test_a_mississippi_winter_morning_and_summer_evening_keep_the_wall_clock_window() -> None:
    winter = decide_at(MISSISSIPPI, datetime(2026, 1, 13, 8, 0, tzinfo=CHICAGO))
    summer_evening = decide_at(MISSISSIPPI, datetime(2026, 7, 14, 19, 59, 59, tzinfo=CHICAGO))
    summer_late = decide_at(MISSISSIPPI, datetime(2026, 7, 14, 20, 0, tzinfo=CHICAGO))

    assert rule(winter, "hours.us-ms-solicitation").verdict is FindingVerdict.ALLOW
    assert rule(summer_evening, "hours.us-ms-solicitation").verdict is FindingVerdict.ALLOW
    # 20:00 CDT is 19:00 CST: the wall clock is the stricter reading in the evening.
    assert rule(summer_late, "hours.us-ms-solicitation").verdict is FindingVerdict.BLOCK


ON_CST = "at UTC-06:00, the standard time the law names"
# A zone off the region's clock: the region's Chicago clock is read too (the callee is on
# one or the other), which in winter is CST itself.
ON_THE_REGION_S = "for the callee (America/Chicago), outside"


@pytest.mark.parametrize(
    ("at", "tz", "region", "reason"),
    [
        # 07:30 CST, summer and winter, for a callee said to be on Eastern time.
        (datetime(2026, 7, 14, 13, 30, tzinfo=UTC), "EST", None, ON_CST),
        (datetime(2026, 1, 14, 13, 30, tzinfo=UTC), "America/Detroit", "US-MS", ON_THE_REGION_S),
        (datetime(2026, 7, 14, 13, 30, tzinfo=UTC), "America/Detroit", "US-MS", ON_CST),
        (datetime(2026, 7, 14, 13, 30, tzinfo=UTC), "America/New_York", "US-MS", ON_CST),
        # Tue 20:30 CST, 19:30 on a Mountain clock.
        (datetime(2026, 1, 14, 2, 30, tzinfo=UTC), "America/Denver", "US-MS", ON_THE_REGION_S),
    ],
)
def test_mississippi_s_window_is_read_on_cst_whatever_zone_the_callee_is_said_to_be_on(
    at: datetime, tz: str, region: str | None, reason: str
) -> None:
    decision = decide_at(MISSISSIPPI, at, tz=tz, region=region)
    finding = rule(decision, "hours.us-ms-solicitation")
    assert finding.verdict is FindingVerdict.BLOCK
    assert reason in finding.reason


def test_a_toll_free_callee_on_eastern_standard_time_is_held_to_cst_in_mississippi() -> None:
    # EST's UTC-5 is Chicago's summer clock, so Mississippi's table applies: 08:30 CDT.
    decision = decide_at(TOLL_FREE, datetime(2026, 7, 14, 13, 30, tzinfo=UTC), tz="EST")
    assert rule(decision, "hours.us-ms-solicitation").verdict is FindingVerdict.BLOCK


def test_a_state_without_a_standard_time_law_keeps_its_summer_morning() -> None:
    alabama = decide_at("+12055550100", datetime(2026, 7, 14, 8, 30, tzinfo=CHICAGO))
    assert not blocked(alabama, "hours")


def _with(override: dict[str, object]) -> Policy:
    jurisdictions, errors = from_settings({"US": {"states": override}})
    assert errors == []
    return Policy(jurisdictions=jurisdictions)


def _ms_at(at: datetime, policy: Policy, number: str = MISSISSIPPI) -> Decision:
    attempt = CallAttempt(number, "+61291234567", at, tenant="acme", campaign="spring")
    return decide(prepare(attempt, policy), Facts())


def test_an_override_turns_the_standard_time_reading_off_or_on() -> None:
    summer_0830 = datetime(2026, 7, 14, 8, 30, tzinfo=CHICAGO)
    off = _with({"MS": {"hours": [{"name": "solicitation", "standard_time": False}]}})
    assert rule(_ms_at(summer_0830, off), "hours.us-ms-solicitation").verdict is (
        FindingVerdict.ALLOW
    )
    alabama_on = _with({"AL": {"hours": [{"name": "solicitation", "standard_time": "-06:00"}]}})
    alabama = _ms_at(summer_0830, alabama_on, "+12055550100")
    assert rule(alabama, "hours.us-al-solicitation").verdict is FindingVerdict.BLOCK


@pytest.mark.parametrize("value", ["yes", True, 6, "-6", "-06:60", "+15:00", "06:00"])
def test_standard_time_must_be_a_utc_offset(value: object) -> None:
    _, errors = from_settings(
        {"US": {"states": {"MS": {"hours": [{"name": "solicitation", "standard_time": value}]}}}}
    )
    assert errors == [
        "jurisdictions.US.states.MS.hours.solicitation.standard_time: must be a UTC offset"
        ' such as "-06:00", or false'
    ]


@settings(max_examples=200, deadline=None)
@given(
    instant=st.datetimes(
        min_value=datetime(2024, 1, 1), max_value=datetime(2030, 12, 31), timezones=st.just(UTC)
    ),
    tz=st.sampled_from([None, "America/Chicago", "EST", "America/Denver", "Etc/GMT+6"]),
)
def test_mississippi_allows_exactly_inside_08_to_20_on_both_clocks(
    instant: datetime, tz: str | None
) -> None:
    decision = decide_at(MISSISSIPPI, instant, tz=tz, region="US-MS" if tz else None)
    inside = True
    clocks = [ZoneInfo(tz or "America/Chicago"), CST]
    if tz in ("EST", "Etc/GMT+6"):  # a fixed offset: its summer clock and the number's too
        summer = {"EST": "Etc/GMT+4", "Etc/GMT+6": "Etc/GMT+5"}[tz]
        clocks += [ZoneInfo(summer), ZoneInfo("America/Chicago")]
    if tz == "America/Denver":  # off the area code's clock: the number's is held too
        clocks.append(ZoneInfo("America/Chicago"))
    for local in (instant.astimezone(clock) for clock in clocks):
        seconds = local.hour * 3600 + local.minute * 60 + local.second + local.microsecond / 1e6
        inside &= local.weekday() != 6 and 8 * 3600 <= seconds < 20 * 3600
    expected = FindingVerdict.ALLOW if inside else FindingVerdict.BLOCK
    assert rule(decision, "hours.us-ms-solicitation").verdict is expected


def test_texas_sunday_calls_start_at_noon() -> None:
    central = ZoneInfo("America/Chicago")
    assert blocked(
        decide_at("+12145550100", datetime(2026, 6, 14, 11, 59, tzinfo=central)), "hours"
    )
    noon = decide_at("+12145550100", datetime(2026, 6, 14, 12, 0, tzinfo=central))
    assert not blocked(noon, "hours")
    assert rule(noon, "hours.us-tx-solicitation").unverified


def test_france_lunch_break_and_saturday() -> None:
    paris = ZoneInfo("Europe/Paris")
    assert blocked(decide_at("+33145678901", datetime(2026, 6, 10, 13, 30, tzinfo=paris)), "hours")
    assert not blocked(
        decide_at("+33145678901", datetime(2026, 6, 10, 14, 0, tzinfo=paris)), "hours"
    )
    assert blocked(decide_at("+33145678901", datetime(2026, 6, 13, 11, 0, tzinfo=paris)), "hours")


def test_spain_sunday_is_blocked_and_a_weekday_evening_is_allowed() -> None:
    madrid = ZoneInfo("Europe/Madrid")
    assert blocked(decide_at("+34912345678", datetime(2026, 6, 14, 11, 0, tzinfo=madrid)), "hours")
    assert not blocked(
        decide_at("+34912345678", datetime(2026, 6, 10, 20, 59, tzinfo=madrid)), "hours"
    )


def test_a_country_without_statutory_hours_says_so() -> None:
    decision = decide_at("+442079460000", datetime(2026, 6, 14, 23, 0, tzinfo=UTC))
    assert rule(decision, "hours.none").verdict is FindingVerdict.SKIP


def test_informational_calls_have_no_window_in_the_us() -> None:
    late = datetime(2026, 6, 10, 23, 0, tzinfo=NY)
    decision = decide_at(NY_NUMBER, late, purpose=Purpose.INFORMATIONAL)
    assert not blocked(decision, "hours")


def test_the_decision_reports_the_callee_local_time() -> None:
    decision = decide_at("+61892345678", datetime(2026, 6, 10, 2, 0, tzinfo=UTC), region="AU-WA")
    assert decision.local_time is not None
    assert decision.local_time.isoformat() == "2026-06-10T10:00:00+08:00"
    assert decision.context["regions"] == ["AU-WA"]


@settings(max_examples=200, deadline=None)
@given(
    instant=st.datetimes(
        min_value=datetime(2020, 1, 1), max_value=datetime(2035, 12, 31), timezones=st.just(UTC)
    ),
    zone=st.sampled_from(
        [
            "America/New_York",
            "America/Chicago",
            "America/Phoenix",
            "Australia/Perth",
            "Australia/Sydney",
            "Europe/Paris",
            "Pacific/Honolulu",
        ]
    ),
)
def test_every_window_is_half_open_in_every_zone(instant: datetime, zone: str) -> None:
    local = instant.astimezone(ZoneInfo(zone))
    seconds = local.hour * 3600 + local.minute * 60 + local.second + local.microsecond / 1e6
    for pack in default_packs().values():
        tables = [pack, *pack.states.values()]
        for table in tables:
            for hours_rule in table.hours:
                spans = hours_rule.days.get(
                    ("mon", "tue", "wed", "thu", "fri", "sat", "sun")[local.weekday()], ()
                )
                expected = any(start <= seconds < end for start, end in spans)
                assert hours_rule.allows(local.weekday(), seconds) is expected
                for start, end in spans:
                    assert hours_rule.allows(local.weekday(), start)
                    assert not hours_rule.allows(local.weekday(), end) or any(
                        s <= end < e for s, e in spans
                    )


@settings(max_examples=150, deadline=None)
@given(
    instant=st.datetimes(
        min_value=datetime(2024, 1, 1), max_value=datetime(2030, 12, 31), timezones=st.just(UTC)
    ),
    zone=st.sampled_from(["America/New_York", "America/Los_Angeles", "America/Anchorage"]),
)
def test_the_engine_applies_the_federal_window_half_open_and_never_raises(
    instant: datetime, zone: str
) -> None:
    decision = decide_at(NY_NUMBER, instant, tz=zone)
    local = instant.astimezone(ZoneInfo(zone))
    inside = 8 * 3600 <= local.hour * 3600 + local.minute * 60 + local.second < 21 * 3600
    expected = FindingVerdict.ALLOW if inside else FindingVerdict.BLOCK
    assert rule(decision, "hours.us-solicitation").verdict is expected


TOLL_FREE = "+18005550123"  # no area-code location: every state's table, every US zone
US_ZONES = default_packs()["US"].timezones


def test_a_toll_free_number_reads_each_state_s_window_on_that_state_s_clocks() -> None:
    """Tue 8 Dec 2026 19:00 UTC: 14:00 in New York, 09:00 on Adak, Wed 05:00 on Guam.
    Kentucky's window (from 10:00) was read on Adak's clock; the federal window is read on
    every US clock, the territories' included."""
    decision = decide_at(TOLL_FREE, datetime(2026, 12, 8, 19, 0, tzinfo=UTC))

    kentucky = rule(decision, "hours.us-ky-solicitation")
    assert kentucky.verdict is FindingVerdict.ALLOW
    assert "America/Adak" not in kentucky.reason and "America/New_York" in kentucky.reason
    federal = rule(decision, "hours.us-solicitation")
    assert federal.verdict is FindingVerdict.BLOCK
    assert "Wed 05:00:00" in federal.reason and "Pacific/Guam" in federal.reason


def test_a_toll_free_number_is_callable_when_every_clock_allows_it() -> None:
    """17:30 in New York on a Tuesday: 08:30 on Guam, 12:30 in Pago Pago, inside Rhode
    Island's 09:00-18:00 on its own clock. Before, the territories were not candidates, and
    once they were (a fix tried and reverted), the state windows read on Guam's clock left
    no hour of any day callable."""
    decision = decide_at(TOLL_FREE, datetime(2026, 12, 8, 22, 30, tzinfo=UTC))

    assert blocked(decision, "hours") == []
    assert {"Pacific/Guam", "Pacific/Pago_Pago", "America/Puerto_Rico"} <= set(
        decision.context["timezones"]  # type: ignore[arg-type]
    )


def test_a_toll_free_number_keeps_a_state_s_holiday_on_the_state_s_own_date() -> None:
    """Utah's Pioneer Day, Fri 24 Jul 2026: at 00:30 UTC it is still Thursday in Utah (and
    the 24th on Guam). On the 24th in Utah the day is banned."""
    eve = decide_at(TOLL_FREE, datetime(2026, 7, 24, 0, 30, tzinfo=UTC))
    day = decide_at(TOLL_FREE, datetime(2026, 7, 24, 18, 0, tzinfo=UTC))

    assert rule(eve, "holiday.us-ut-state-holidays").verdict is FindingVerdict.ALLOW
    assert "2026-07-23" in rule(eve, "holiday.us-ut-state-holidays").reason
    on_the_day = rule(day, "holiday.us-ut-state-holidays")
    assert on_the_day.verdict is FindingVerdict.BLOCK and "Pioneer Day" in on_the_day.reason


@settings(max_examples=60, deadline=None)
@given(
    instant=st.datetimes(
        min_value=datetime(2024, 1, 1), max_value=datetime(2030, 12, 31), timezones=st.just(UTC)
    )
)
def test_a_toll_free_number_s_windows_are_each_read_on_their_own_clocks(instant: datetime) -> None:
    """The federal window on every US zone; each state's on the zones of its area codes."""
    from rules.location import region_zones

    decision = decide_at(TOLL_FREE, instant)
    pack = default_packs()["US"]
    tables = {"US": (pack, US_ZONES)} | {
        f"US-{code}": (table, region_zones(f"US-{code}", Policy()))
        for code, table in pack.states.items()
    }
    for label, (table, zones) in tables.items():
        for hours_rule in table.hours:
            if Purpose.TELEMARKETING not in hours_rule.purposes or hours_rule.automated:
                continue  # the call is a live one
            allowed = True
            for zone in zones:
                local = instant.astimezone(ZoneInfo(zone))
                readings = [local.replace(tzinfo=None)]
                if hours_rule.standard_time is not None:  # Mississippi's: on CST too
                    law = timezone(hours_rule.standard_time)
                    readings.append(instant.astimezone(law).replace(tzinfo=None))
                for clock in readings:
                    seconds = clock.hour * 3600 + clock.minute * 60 + clock.second
                    allowed &= hours_rule.allows(clock.weekday(), seconds + clock.microsecond / 1e6)
            found = rule(decision, f"hours.{label.lower()}-{hours_rule.name}")
            assert (found.verdict is FindingVerdict.ALLOW) is allowed, (label, found.reason)


def test_a_state_s_clocks_are_told_by_the_time_they_show_not_their_names() -> None:
    """An operator's zone list may spell New York's clock `US/Eastern`: Florida's window is
    still read on it. 20:30 in New York on a Monday, outside Florida's 08:00-20:00."""
    from rules.jurisdictions import from_settings

    zones = ["US/Eastern", "America/Chicago", "America/Denver", "America/Los_Angeles"]
    jurisdictions, errors = from_settings({"US": {"location": {"timezones": zones}}})
    assert errors == []
    attempt = CallAttempt(TOLL_FREE, "+61291234567", datetime(2026, 12, 8, 1, 30, tzinfo=UTC))
    decision = decide(prepare(attempt, Policy(jurisdictions=jurisdictions)), Facts())

    florida = rule(decision, "hours.us-fl-solicitation")
    assert florida.verdict is FindingVerdict.BLOCK and "(US/Eastern)" in florida.reason


def test_a_toll_free_callee_placed_on_one_clock_is_held_to_the_states_on_it() -> None:
    """A customer address naming Chicago's zone (no region): 18:30 there on a Tuesday.
    Rhode Island (Eastern only) is not where the callee is, so its 09:00-18:00 window was
    wrongly read on Chicago's clock; Texas, on Central time, still applies."""
    decision = decide_at(TOLL_FREE, datetime(2026, 12, 9, 0, 30, tzinfo=UTC), tz="America/Chicago")

    rhode_island = rule(decision, "hours.us-ri-solicitation")
    assert rhode_island.verdict is FindingVerdict.SKIP
    assert "none of US-RI's clocks" in rhode_island.reason
    assert rule(decision, "hours.us-tx-solicitation").verdict is FindingVerdict.ALLOW
    assert rule(decision, "holiday.us-ri-state-holidays").verdict is FindingVerdict.SKIP
    assert blocked(decision, "hours") == []


def test_a_number_placed_by_area_code_keeps_every_table_on_its_clock() -> None:
    """The narrowing is for callees placed nowhere: a Florida number given a Chicago address
    (Florida presumes its area codes' callees resident) keeps Florida's window on it."""
    decision = decide_at(
        "+13055550100", datetime(2026, 12, 9, 2, 30, tzinfo=UTC), tz="America/Chicago"
    )

    assert rule(decision, "hours.us-fl-solicitation").verdict is FindingVerdict.BLOCK


@pytest.mark.parametrize(
    ("zone", "at", "finding"),
    [
        # EST all year, as CRMs write New York: in July it shows Chicago's clock.
        ("EST", datetime(2026, 7, 14, 23, 30, tzinfo=UTC), "hours.us-ri-solicitation"),
        ("EST", datetime(2026, 8, 10, 18, 0, tzinfo=UTC), "holiday.us-ri-state-holidays"),
        ("MST", datetime(2026, 7, 24, 20, 0, tzinfo=UTC), "holiday.us-ut-state-holidays"),
        # New York's summer clock kept all year: in January it shows Halifax's.
        ("Etc/GMT+4", datetime(2026, 1, 13, 23, 30, tzinfo=UTC), "hours.us-ri-solicitation"),
    ],
)
def test_a_zone_without_summer_time_keeps_the_states_on_one_of_its_clocks(
    zone: str, at: datetime, finding: str
) -> None:
    """19:30 New York time in July (RI closes at 18:00), Victory Day in Rhode Island,
    Pioneer Day in Utah: a callee address on `EST` or `MST` is held to those states."""
    decision = decide_at(TOLL_FREE, at, tz=zone)

    assert rule(decision, finding).verdict is FindingVerdict.BLOCK


# -- Nebraska: automated calls on Sundays and holidays only 13:00-21:00 -------------------------

OMAHA = "+14025550100"  # 402: Nebraska, Chicago's clock
NE_RULE = "hours.us-ne-prerecorded"


def _automated_at(number: str, at: datetime, policy: Policy | None = None) -> Decision:
    return decide_at(number, at, purpose=Purpose.INFORMATIONAL, automated=True, policy=policy)


def test_nebraska_holds_automated_calls_to_the_afternoon_on_sundays_and_holidays() -> None:
    sunday_10 = datetime(2026, 11, 29, 10, 0, tzinfo=CHICAGO)
    assert rule(_automated_at(OMAHA, sunday_10), NE_RULE).verdict is FindingVerdict.BLOCK
    assert rule(_automated_at(OMAHA, sunday_10.replace(hour=13)), NE_RULE).verdict is (
        FindingVerdict.ALLOW
    )
    assert rule(_automated_at(OMAHA, sunday_10.replace(hour=21)), NE_RULE).verdict is (
        FindingVerdict.BLOCK
    )
    thanksgiving = _automated_at(OMAHA, datetime(2026, 11, 26, 10, 0, tzinfo=CHICAGO))
    assert rule(thanksgiving, NE_RULE).verdict is FindingVerdict.BLOCK
    assert "Thanksgiving Day, a holiday: 13:00-21:00" in rule(thanksgiving, NE_RULE).reason
    # The day after Thanksgiving is a Nebraska holiday the library's calendar lacks.
    day_after = _automated_at(OMAHA, datetime(2026, 11, 27, 10, 0, tzinfo=CHICAGO))
    assert rule(day_after, NE_RULE).verdict is FindingVerdict.BLOCK
    assert "the day after Thanksgiving Day, a holiday" in rule(day_after, NE_RULE).reason
    friday = _automated_at(OMAHA, datetime(2026, 11, 20, 10, 0, tzinfo=CHICAGO))
    assert rule(friday, NE_RULE).verdict is FindingVerdict.ALLOW


def test_nebraska_reads_its_own_holidays_arbor_day() -> None:
    # Arbor Day (last Friday of April) is a Nebraska holiday, not a federal one.
    arbor_day = datetime(2026, 4, 24, 10, 0, tzinfo=CHICAGO)
    assert rule(_automated_at(OMAHA, arbor_day), NE_RULE).verdict is FindingVerdict.BLOCK


def test_nebraska_s_rule_holds_neither_live_calls_nor_other_states_callees() -> None:
    sunday_10 = datetime(2026, 11, 29, 10, 0, tzinfo=CHICAGO)
    live = decide_at(OMAHA, sunday_10, purpose=Purpose.INFORMATIONAL)
    assert all(f.rule != NE_RULE for f in live.findings)
    iowa = _automated_at("+15155550100", sunday_10)
    assert all(f.rule != NE_RULE for f in iowa.findings)
    # A toll-free number could be anywhere: Nebraska's rule is read on Nebraska's clocks.
    toll_free = _automated_at("+18005550100", sunday_10)
    assert rule(toll_free, NE_RULE).verdict is FindingVerdict.BLOCK


@settings(max_examples=300, deadline=None)
@given(
    local=st.datetimes(min_value=datetime(2024, 1, 1), max_value=datetime(2030, 12, 31)),
)
def test_nebraska_allows_exactly_outside_sundays_and_holidays_or_inside_the_afternoon(
    local: datetime,
) -> None:
    import holidays

    at = local.replace(tzinfo=CHICAGO)
    if at != at.astimezone(UTC).astimezone(CHICAGO):
        return  # a wall time the spring change skips
    day = at.astimezone(UTC).astimezone(CHICAGO)
    nebraska = holidays.country_holidays("US", subdiv="NE", years=day.year)
    day_after_thanksgiving = "Thanksgiving Day" in nebraska.get(day.date() - timedelta(days=1), "")
    closed_day = day.weekday() == 6 or day.date() in nebraska or day_after_thanksgiving
    expected = not closed_day or 13 <= day.hour < 21
    allowed = rule(_automated_at(OMAHA, at), NE_RULE).verdict is FindingVerdict.ALLOW
    assert allowed is expected


@pytest.mark.parametrize(
    ("setting", "error"),
    [
        (
            {"holiday_calendar": "US", "holiday_subdivision": "NE"},
            "holiday_hours: required with holiday_calendar",
        ),
        ({"holiday_calendar": "XX", "holiday_hours": []}, "holiday_calendar: must be a country"),
        (
            {"holiday_calendar": "US", "holiday_subdivision": "ZZ", "holiday_hours": []},
            "holiday_subdivision: 'ZZ' is not a US subdivision",
        ),
        (
            {"holiday_calendar": "US", "holiday_hours": [["21:00", "13:00"]]},
            "holiday_hours: each interval is",
        ),
        (
            {"holiday_calendar": "US", "holiday_hours": [], "standard_time": "-06:00"},
            "holiday_calendar: not with standard_time",
        ),
        ({"automated": "yes"}, "automated: must be true or false"),
        ({"holiday_days_after": ["Thanksgiving Day"]}, "holiday_days_after: a list of holiday"),
        (
            {"holiday_calendar": "US", "holiday_hours": [], "holiday_days_after": "Thanksgiving"},
            "holiday_days_after: a list of holiday",
        ),
    ],
)
def test_holiday_hours_settings_are_checked(setting: dict[str, object], error: str) -> None:
    new_rule = {
        "name": "x",
        "purposes": ["informational"],
        "citation": "a source",
        "days": {"mon": [["09:00", "17:00"]]},
    }
    _, errors = from_settings({"US": {"states": {"NE": {"hours": [{**new_rule, **setting}]}}}})
    assert len(errors) == 1 and error in errors[0], errors


def test_empty_holiday_hours_close_the_holidays() -> None:
    policy = _with({"NE": {"hours": [{"name": "prerecorded", "holiday_hours": []}]}})
    thanksgiving_15 = datetime(2026, 11, 26, 15, 0, tzinfo=CHICAGO)
    finding = rule(_automated_at(OMAHA, thanksgiving_15, policy), NE_RULE)
    assert finding.verdict is FindingVerdict.BLOCK
    assert "a holiday: no calls" in finding.reason
