"""Where the callee is: area codes, AU prefixes, mobiles, and the customer's own address."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

import phonenumbers
import pytest
from hypothesis import example, given, settings
from hypothesis import strategies as st
from phonenumbers import timezone as pn_timezone

from rules.jurisdictions.loader import nanp_table
from rules.location import CalleeLocation, LocalView, locate, parse_region
from rules.models import CallAttempt
from rules.numbers import parse_number
from rules.policy import Policy

AT = datetime(2026, 6, 10, 12, 0, tzinfo=UTC)


def where(number: str, tz: str | None = None, region: str | None = None) -> CalleeLocation:
    attempt = CallAttempt(number, None, AT, callee_timezone=tz, callee_region=region)
    return locate(attempt, parse_number(number, None), Policy())


@pytest.mark.parametrize(
    ("npa", "zones"),
    [
        ("850", {"America/New_York", "America/Chicago"}),
        ("208", {"America/Boise", "America/Los_Angeles"}),
        ("541", {"America/Los_Angeles", "America/Boise"}),
        ("605", {"America/Chicago", "America/Denver"}),
        ("812", {"America/Indiana/Indianapolis", "America/Chicago"}),
        ("907", {"America/Anchorage", "America/Adak"}),
        ("928", {"America/Phoenix", "America/Denver"}),
        ("602", {"America/Phoenix"}),
        ("334", {"America/Chicago", "America/New_York"}),  # Phenix City keeps Eastern
        ("580", {"America/Chicago", "America/Denver"}),  # Kenton keeps Mountain
    ],
)
def test_area_codes_spanning_two_zones_and_arizona_are_corrected(npa: str, zones: set[str]) -> None:
    assert set(where(f"+1{npa}5550100").timezones) == zones


@pytest.mark.parametrize(
    ("number", "zone"),
    [
        ("+12198825555", "America/Chicago"),  # Gary, IN (the area code's own entry: Eastern)
        ("+12704425555", "America/Chicago"),  # Paducah, KY
        ("+14237565555", "America/New_York"),  # Chattanooga, TN (its entry: Central)
        ("+17756645555", "America/Denver"),  # West Wendover, NV (its entry: Pacific)
        ("+16893005555", "America/New_York"),  # Orlando overlay of 407 (phonenumbers: Central)
        ("+14482005555", "America/Chicago"),  # Pensacola overlay of 850
        ("+13642005555", "America/Chicago"),  # overlay of 270
    ],
)
def test_an_area_code_takes_the_zones_of_all_its_exchanges(number: str, zone: str) -> None:
    assert zone in where(number).timezones


def _wall_clock(zone: str) -> tuple[object, ...]:
    """A zone's UTC offsets through a year: zones that agree show the same wall clock."""
    from zoneinfo import ZoneInfo

    tz = ZoneInfo(zone)
    return tuple(datetime(2026, month, 15, 12, tzinfo=UTC).astimezone(tz).utcoffset()
                 for month in range(1, 13))  # fmt: skip


# Where the table overrides phonenumbers' zone on purpose (tools/build_nanp_table.py).
PHONENUMBERS_WRONG = {
    "907": "one Alaska exchange is filed under Honolulu; the table has Adak",
    "689": "Orlando's overlay is filed under Chicago; it takes 407's Eastern",
    "474": "Saskatchewan's overlay is filed under Winnipeg (DST); it takes 306's Regina",
}


def test_no_exchange_of_an_area_code_is_in_a_zone_the_table_leaves_out() -> None:
    # phonenumbers' per-exchange zones, up to wall-clock equivalence (Boise is Denver's
    # clock), are all candidates of the area code; a missing one allows calls at hours the
    # callee's clock forbids. Where the table knows better (its corrections), it says why.
    from phonenumbers.tzdata import TIMEZONE_DATA

    table = nanp_table()
    missing = []
    for npa, (_, _, zones) in table.items():
        if npa in PHONENUMBERS_WRONG:
            continue
        clocks = {_wall_clock(z) for z in zones}
        for key, exchange_zones in TIMEZONE_DATA.items():
            if key.startswith(f"1{npa}"):
                missing += [(key, z) for z in exchange_zones if _wall_clock(z) not in clocks]
    assert missing == []


def test_phonenumbers_alone_gets_850_wrong_which_is_why_the_table_is_corrected() -> None:
    number = phonenumbers.parse("+18505550100")
    assert set(pn_timezone.time_zones_for_number(number)) != {"America/New_York", "America/Chicago"}


def test_every_nanp_row_names_a_state_and_real_zones() -> None:
    from zoneinfo import ZoneInfo

    table = nanp_table()
    assert len(table) > 300
    for country, regions, zones in table.values():
        assert country in ("US", "CA") and regions and zones
        for zone in zones:
            ZoneInfo(zone)


def test_every_geographic_nanp_area_code_has_a_row() -> None:
    """An area code left out of the table is read as placed nowhere, like a toll-free number:
    phonenumbers names Washington's 206, 360, 425, 509 and 564 "Washington State", which the
    table's builder did not know, so their numbers were checked on every US clock."""
    from phonenumbers import geocoder

    table = nanp_table()
    missing = []
    for npa in range(200, 1000):
        number = phonenumbers.parse(f"+1{npa}2000000")
        region = phonenumbers.region_code_for_number(number)
        if region not in ("US", "CA", "PR", "VI", "GU", "AS", "MP"):
            continue  # another NANP country (Bermuda, Jamaica...): no pack of ours
        description = geocoder.description_for_valid_number(number, "en")
        zones = [z for z in pn_timezone.time_zones_for_geographical_number(number) if "/" in z]
        # As tools/build_nanp_table.py tells them (NON_GEOGRAPHIC_ZONES = 20).
        if description in ("Canada", "United States") or (not description and len(zones) >= 20):
            continue  # non-geographic (toll-free, personal, premium): every NANP zone
        if str(npa) not in table:
            missing.append(f"{npa} {description}")
    assert missing == []


@pytest.mark.parametrize("npa", ["206", "360", "425", "509", "564"])
def test_washington_numbers_are_placed_in_washington(npa: str) -> None:
    location = where(f"+1{npa}5550100")
    assert (location.regions, location.timezones) == (("US-WA",), ("America/Los_Angeles",))


def test_us_state_comes_from_the_area_code() -> None:
    location = where("+13055550100")
    assert location.regions == ("US-FL",)
    assert location.source == "number"
    assert "area code 305" in location.basis


@pytest.mark.parametrize(
    ("number", "regions", "zones"),
    [
        ("+61298765432", {"AU-NSW", "AU-ACT"}, {"Australia/Sydney", "Australia/Broken_Hill"}),
        ("+61398765432", {"AU-VIC", "AU-TAS"}, {"Australia/Melbourne", "Australia/Hobart"}),
        ("+61733334444", {"AU-QLD"}, {"Australia/Brisbane"}),
        (
            "+61892345678",
            {"AU-WA", "AU-SA", "AU-NT", "AU-NSW"},
            {"Australia/Perth", "Australia/Adelaide", "Australia/Darwin", "Australia/Broken_Hill"},
        ),
    ],
)
def test_au_geographic_prefixes(number: str, regions: set[str], zones: set[str]) -> None:
    location = where(number)
    assert set(location.regions) == regions
    assert set(location.timezones) == zones


@pytest.mark.parametrize(
    ("number", "zones"),
    [
        ("+61755361234", {"Australia/Sydney", "Australia/Brisbane"}),  # Tweed Heads, NSW
        ("+61755381234", {"Australia/Brisbane"}),  # Southport, QLD
        ("+61265632000", {"Australia/Lord_Howe"}),  # Lord Howe Island
    ],
)
def test_an_exchange_prefix_places_the_callee_better_than_the_area_code(
    number: str, zones: set[str]
) -> None:
    assert set(where(number).timezones) == zones


def test_an_au_mobile_carries_no_location() -> None:
    location = where("+61412345678")
    assert location.regions == ()
    assert {"Australia/Perth", "Australia/Sydney", "Australia/Darwin"} <= set(location.timezones)


def test_a_spanish_mobile_may_be_in_the_canaries() -> None:
    assert set(where("+34612345678").timezones) == {"Europe/Madrid", "Atlantic/Canary"}


def test_the_customer_address_overrides_the_inference() -> None:
    location = where("+61412345678", tz="Australia/Perth", region="au-wa")
    assert location.source == "customer"
    assert location.timezones == ("Australia/Perth",)
    assert location.regions == ("AU-WA",)


def test_a_customer_region_alone_gives_that_regions_zones() -> None:
    assert where("+18505550100", region="US-FL").timezones == (
        "America/New_York",
        "America/Chicago",
    )
    assert where("+61412345678", region="AU-QLD").timezones == ("Australia/Brisbane",)


@pytest.mark.parametrize("zone", ["Australia", "America", "Europe", "x" * 300, "Not/AZone"])
def test_a_customer_zone_that_is_not_one_is_ignored_and_reported(zone: str) -> None:
    # `Australia` is a directory of the zone database, and 300 characters no file name can
    # be: zoneinfo raised OSError there, which the guard took for its own failure (and the
    # failure policy, `allow` perhaps, decided the call).
    location = where("+61412345678", tz=zone)
    assert location.source == "number"
    assert len(location.timezones) > 1
    assert location.problems


def test_an_unreadable_customer_region_is_ignored_and_reported() -> None:
    location = where("+61412345678", region="Western Australia")
    assert location.source == "number"
    assert len(location.timezones) > 1
    assert location.problems


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("US-FL", "US-FL"),
        ("au-nsw", "AU-NSW"),
        ("FR-67", "FR-67"),
        ("ES-CT", "ES-CT"),
        ("FL", None),
        ("XX-1", None),
        ("", None),
    ],
)
def test_parse_region(text: str, expected: str | None) -> None:
    assert parse_region(text) == expected


def test_local_times_follow_dst() -> None:
    location = where("+12125550100")
    winter = location.local_times(datetime(2026, 1, 10, 12, tzinfo=UTC))[0]
    summer = location.local_times(datetime(2026, 7, 10, 12, tzinfo=UTC))[0]
    assert (winter.hour, summer.hour) == (7, 8)


@pytest.mark.parametrize(
    ("number", "zone"),
    [("+61891621234", "Indian/Cocos"), ("+61891641234", "Indian/Christmas")],
)
def test_australian_external_territories_are_australia_on_their_own_clock(
    number: str, zone: str
) -> None:
    # phonenumbers names them CC and CX: no Australian pack, register or caller-ID rule
    # applied, and a number on the DNCR was callable on Christmas night.
    location = where(number)
    assert (location.country, location.timezones) == ("AU", (zone,))


def test_the_two_readings_of_a_fall_back_hour_get_their_own_local_times() -> None:
    # 01:30 on 25 Oct 2026 happens twice in London; the cache took the second for the first.
    from zoneinfo import ZoneInfo

    from rules.location import local_view

    first = datetime(2026, 10, 25, 1, 30, tzinfo=ZoneInfo("Europe/London"))
    second = first.replace(fold=1)
    perth = ("Australia/Perth",)
    assert local_view(perth, second).moments[0].hour == 9
    assert local_view(perth, first).moments[0].hour == 8


@pytest.mark.parametrize(
    "at", [datetime(1, 1, 1, tzinfo=UTC), datetime(9999, 12, 31, 20, tzinfo=UTC)]
)
def test_an_instant_at_datetimes_edges_is_refused_as_bad_input(at: datetime) -> None:
    # It raised OverflowError out of the rules (the lookback, the zones' local times).
    with pytest.raises(ValueError, match="years 1970-9998"):
        CallAttempt("+61291234567", None, at)


@pytest.mark.parametrize(
    ("region", "problem"),
    [
        ("FR-75", None),
        ("FR-2A", None),
        ("FR-6AE", None),
        ("FR-GES", None),
        ("FR-ZZ", "'FR-ZZ' is not a region of FR"),
        ("FR-GUA", None),  # the 2016 ISO code of Guadeloupe
        ("FR-20", None),  # Corsica's postcode prefix
        ("FR-96", "'FR-96' is not a region of FR"),
        ("AU-NSW", None),
        ("AU-XX", "'AU-XX' is not a region of AU"),
        ("ES-B", None),
        ("ES-CT", None),
        ("ES-ZZ", "'ES-ZZ' is not a region of ES"),
        ("US-XX", "'US-XX' is not a state of US"),
        ("DE-ZZ", None),  # the DE pack lists no regions: any well-formed code is taken
    ],
)
def test_a_made_up_region_is_refused_where_the_pack_lists_its_regions(
    region: str, problem: str | None
) -> None:
    """A made-up region (FR-ZZ) was taken as the callee's, with the national holidays only:
    a French number lost the Alsace-Moselle days an unknown department gets."""
    from rules.location import address_problems

    problems = address_problems(None, region, Policy())
    assert problems == ([f"callee region {problem}"] if problem else [])


def test_every_region_a_pack_names_is_one_it_lists() -> None:
    """The packs' own prefixes, regional zones and holiday aliases use codes the pack's
    `region_codes` accept (else an address naming them would be refused)."""
    from rules.jurisdictions import default_packs

    for code, pack in default_packs().items():
        if not pack.region_codes:
            continue
        named = {r for regions, _ in pack.prefixes.values() for r in regions}
        named |= set(pack.region_timezones)
        named |= {alias for rule in pack.holidays for alias in rule.aliases}
        assert named <= pack.region_codes, (code, sorted(named - pack.region_codes))
        assert len(pack.region_codes) > 7


def test_an_override_s_region_codes_are_checked() -> None:
    from rules.jurisdictions import default_packs, from_settings

    fr = default_packs()["FR"]
    # The pack's own, kept: its regions' zones, its codes of one place, its places' parts.
    own = {*fr.region_timezones, *fr.same_places, *fr.same_places.values()}
    own |= {*fr.part_of, *fr.part_of.values()}
    codes = ["FR-75", "FR-57", "FR-67", "FR-68", "FR-GES", *sorted(own), "DE-BY", "FR-TOOLONG"]
    _, errors = from_settings({"FR": {"location": {"region_codes": codes}}})
    assert [e.split(": ", 1)[1] for e in errors] == [
        "'DE-BY' is not a region code of FR (FR-SUB)",
        "'FR-TOOLONG' is not a region code of FR (FR-SUB)",
    ]


def test_an_override_s_region_codes_replace_the_list_and_must_hold_the_pack_s_own() -> None:
    from rules.jurisdictions import from_settings
    from rules.location import address_problems

    _, errors = from_settings({"FR": {"location": {"region_codes": ["FR-GUA"]}}})
    assert (
        "jurisdictions.FR.location.region_codes: 'FR-67' is used by the pack but not listed"
        in errors
    )
    jurisdictions, errors = from_settings({"FR": {"location": {"region_codes": []}}})
    assert errors == []
    assert address_problems(None, "FR-ZZ", Policy(jurisdictions=jurisdictions)) == []


# Zones with summer time, half-hour and 45-minute offsets, a 30-minute summer shift (Lord
# Howe) and a transition in the middle of a minute (Monrovia, 1972-01-07 00:44:30 UTC).
VIEW_ZONES = (
    "Australia/Sydney",
    "Australia/Lord_Howe",
    "Australia/Eucla",
    "America/St_Johns",
    "America/New_York",
    "Europe/London",
    "Asia/Kathmandu",
    "Africa/Monrovia",
    "UTC",
)


@settings(max_examples=300, deadline=None)
@given(
    zones=st.lists(st.sampled_from(VIEW_ZONES), min_size=1, max_size=5, unique=True),
    at=st.one_of(
        st.datetimes(
            min_value=datetime(1900, 1, 1),
            max_value=datetime(9999, 12, 30),
            timezones=st.sampled_from([UTC, *map(ZoneInfo, VIEW_ZONES)]),
        ),
        # Around the transitions themselves, where a minute's offsets may not hold.
        st.sampled_from(
            [
                datetime(1972, 1, 7, 0, 44, 30, tzinfo=UTC),
                datetime(2026, 4, 4, 15, 0, tzinfo=UTC),  # Lord Howe and Sydney end DST
                datetime(2026, 3, 8, 7, 0, tzinfo=UTC),  # New York starts DST
                datetime(2026, 10, 25, 1, 0, tzinfo=UTC),  # London ends DST
            ]
        ).flatmap(
            lambda t: st.integers(-120_000_000, 120_000_000).map(
                lambda us: t + timedelta(microseconds=us)
            )
        ),
    ),
)
# A float timestamp rounds :59.999999 up to the next minute this far out.
@example(zones=["UTC"], at=datetime(9000, 1, 1, 0, 0, 59, 999_999, tzinfo=UTC))
# Seconds and their fraction summed in another order came out one bit off.
@example(zones=["UTC"], at=datetime(2026, 1, 1, 0, 1, 1, 577_859, tzinfo=UTC))
# A time in New York's spring-forward gap, on New York's own clock, stays as it is.
@example(
    zones=["America/New_York", "UTC"],
    at=datetime(2026, 3, 8, 2, 30, tzinfo=ZoneInfo("America/New_York")),
)
def test_a_local_view_shows_each_zones_clock_as_zoneinfo_does(
    zones: list[str], at: datetime
) -> None:
    # The view reads a minute's offsets once (tzdata changes them at whole minutes, the
    # view checks it): every zone's text, weekday, time of day and date must be zoneinfo's.
    view = LocalView(tuple(zones), at)
    moments = [at.astimezone(ZoneInfo(zone)) for zone in zones]
    assert view.iso == {zone: t.isoformat() for zone, t in zip(zones, moments, strict=True)}
    assert view.clock == tuple(
        (t.weekday(), t.hour * 3600 + t.minute * 60 + t.second + t.microsecond / 1e6)
        for t in moments
    )
    assert view.dates == tuple(t.date() for t in moments)
    assert view.offsets == tuple(t.utcoffset() for t in moments)
    assert view.moments == tuple(moments)
    assert [view.moment(i) for i in range(len(zones))] == moments


@pytest.mark.parametrize(
    "zone",
    [
        *("UTC", "Etc/UTC", "GMT", "Etc/GMT", "Etc/GMT-0", "Universal", "Zulu", "Factory", "UCT"),
        # The same zones in the system tzdata's folders, which available_timezones() omits.
        *("posix/UTC", "right/UTC", "posix/Etc/UTC", "right/GMT", "posix/Factory"),
    ],
)
def test_a_callee_zone_that_names_no_place_is_refused(zone: str) -> None:
    """UTC is a CRM's default and Factory tzdata's "unknown": read as the callee's clock,
    either replaced the number's own, and a New York call at 07:30 local was allowed."""
    from rules.location import address_problems, is_zone

    [problem] = address_problems(zone, None, Policy())
    # Without the system's tzdata (the tzdata package alone) posix/ and right/ do not open.
    refusal = "names no place" if is_zone(zone) else "is not an IANA zone"
    assert problem.startswith(f"callee time zone {zone!r} {refusal}")


@pytest.mark.parametrize(
    "zone", ["Europe/London", "Africa/Accra", "Atlantic/Reykjavik", "Etc/GMT+5", "EST"]
)
def test_a_place_on_utc_or_an_explicit_offset_is_a_callee_zone(zone: str) -> None:
    from rules.location import address_problems

    assert address_problems(zone, None, Policy()) == []


def test_every_utc_name_the_zone_database_has_is_refused() -> None:
    """Every key of the zone database in use whose clock is UTC all year and that names no
    place (`localtime` is this machine's own zone, UTC here): the list kept up with tzdata."""
    from zoneinfo import ZoneInfo, available_timezones

    from rules.location import names_no_place

    january, july = datetime(2026, 1, 15, tzinfo=UTC), datetime(2026, 7, 15, tzinfo=UTC)
    utc_all_year = {
        key
        for key in available_timezones()
        if all(
            ZoneInfo(key).utcoffset(at.replace(tzinfo=None)) == timedelta(0)
            for at in (january, july)
        )
    }
    places = {key for key in utc_all_year if "/" in key and not key.startswith("Etc/")}
    places.add("Iceland")  # a country's old name for Atlantic/Reykjavik
    assert {key for key in utc_all_year - places if not names_no_place(key)} == set()
