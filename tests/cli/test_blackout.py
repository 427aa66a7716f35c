"""`dialguard blackout add/lift/list` against a real store, seen by the next `check`."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from tests.cli.conftest import Cli

US_TENANT = (
    '[guard]\nregister_missing = "allow"\n[callerid]\nrequire_inventory = false\n'
    '[tenants.acme]\nregion = "US"\n'
)
LOUISIANA = "+12255550123"
CALLER_ID = "+12025550143"
MONDAY_10_IN_LOUISIANA = "2026-11-30T16:00:00Z"


@pytest.fixture(name="us")
def _us(tmp_path: Path) -> Cli:
    return Cli(tmp_path, US_TENANT)


def _rule(us: Cli, at: str = MONDAY_10_IN_LOUISIANA, *extra: str) -> object:
    return us.check(LOUISIANA, at, *extra, caller_id=CALLER_ID)["rule"]


def test_a_blackout_holds_the_next_check_until_it_is_lifted(us: Cli) -> None:
    assert _rule(us) is None
    added = us("blackout", "add", "us-la", "--reason", "Hurricane Zeta", "--from", "2026-11-29")
    assert added.exit_code == 0, added.output
    assert added.output.startswith("blackout 1: no telemarketing calls (every tenant's) to US-LA")
    assert _rule(us) == "holiday.blackout"
    assert _rule(us, MONDAY_10_IN_LOUISIANA, "--purpose", "informational") is None

    listed = us("blackout", "list", "--json")
    [entry] = json.loads(listed.output)
    # A date alone starts at its midnight on the place's clock: Louisiana's, 06:00 UTC.
    assert entry["place"] == "US-LA" and entry["starts_at"] == "2026-11-29T06:00:00+00:00"
    assert entry["ends_at"] is None and entry["purposes"] == ["telemarketing"]

    lifted = us("blackout", "lift", "1", "--at", "2026-11-30T15:00:00Z")
    assert lifted.exit_code == 0 and "ended 2026-11-30 15:00 UTC" in lifted.output
    assert _rule(us) is None
    assert _rule(us, "2026-11-30T14:00:00Z") == "holiday.blackout"  # `check --at` the past
    assert us("blackout", "list", "--at", MONDAY_10_IN_LOUISIANA).output == "no blackouts\n"
    assert "US-LA\t" in us("blackout", "list", "--at", "2026-11-30T14:59:00Z").output
    assert "US-LA\t" in us("blackout", "list", "--all", "--at", MONDAY_10_IN_LOUISIANA).output


def test_every_purpose_a_tenant_and_an_end_date(us: Cli) -> None:
    added = us(
        "blackout",
        "add",
        "US",
        "--reason",
        "national day of mourning",
        "--purpose",
        "all",
        "--tenant",
        "acme",
        "--from",
        "2026-11-29",
        "--until",
        "2026-12-01",
        "--json",
    )
    entry = json.loads(added.output)
    assert entry["purposes"] == [] and entry["tenant"] == "acme"
    # A date alone ends at its last midnight on the place's clocks: Pago Pago's (UTC-11).
    assert entry["ends_at"] == "2026-12-01T11:00:00+00:00"
    assert _rule(us, MONDAY_10_IN_LOUISIANA, "--purpose", "debt-collection") == "holiday.blackout"
    assert _rule(us, "2026-12-01T16:00:00Z") is None


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (("RE",), "RE numbers are FR's callees: name the place FR-974"),
        (("RE-974",), "RE numbers are FR's callees: name the place FR-974"),
        (("PR",), "PR numbers are US's callees: name the place US-PR"),
        (("GU-XX",), "GU numbers are US's callees: name the place US-GU"),
        (("US-ZZ",), "place 'US-ZZ' is not a state of US"),
        (("Louisiana",), "place 'Louisiana' is not a country code (US) or a region code"),
        (("US-LA", "--until", "2026-11-01", "--from", "2026-11-02"), "--until 2026-11-01 is not"),
        (("US-LA", "--from", "soon"), "--from: 'soon' is not an ISO-8601 date or date-time"),
    ],
)
def test_a_bad_blackout_is_one_line_and_adds_nothing(
    us: Cli, args: tuple[str, ...], message: str
) -> None:
    result = us("blackout", "add", *args, "--reason", "storm")
    assert result.exit_code == 2
    assert message in result.output and len(result.output.strip().splitlines()) == 1
    assert us("blackout", "list", "--all").output == "no blackouts\n"


def test_a_reason_on_more_than_one_line_is_refused(us: Cli) -> None:
    result = us("blackout", "add", "US-LA", "--reason", "two\tcells")
    assert result.exit_code == 2 and "--reason: give it on one line" in result.output
    assert us("blackout", "list", "--all").output == "no blackouts\n"


def test_lifting_a_blackout_that_does_not_exist_says_so(us: Cli) -> None:
    result = us("blackout", "lift", "7")
    assert result.exit_code == 2 and "there is no blackout 7" in result.output


def test_a_region_no_number_places_is_said_to_hold_every_callee(tmp_path: Path) -> None:
    gb = Cli(tmp_path, '[tenants.acme]\nregion = "GB"\n')
    result = gb("blackout", "add", "GB-SCT", "--reason", "storm")
    assert result.exit_code == 0
    assert "every GB callee is held unless the call gives a callee region" in result.output


@pytest.mark.parametrize("country", ["CA", "DE", "KY", "IN"])
def test_a_country_that_shares_a_code_with_a_us_state_is_a_country(us: Cli, country: str) -> None:
    # Canada, Germany, the Cayman Islands and India, not California, Delaware, Kentucky and
    # Indiana (a test of the code against the US states once refused them).
    result = us("blackout", "add", country, "--reason", "storm", "--json")
    assert result.exit_code == 0, result.output
    assert json.loads(result.output)["place"] == country


def test_a_huge_id_and_an_offset_time_are_read_as_an_operator_means_them(us: Cli) -> None:
    huge = us("blackout", "lift", "99999999999999999999")
    assert huge.exit_code == 2 and "Traceback" not in huge.output
    added = us("blackout", "add", "US-LA", "--reason", "storm", "--from", "2026-11-30T09:00-06:00")
    assert "from 2026-11-30 15:00 UTC" in added.output
    lifted = us("blackout", "lift", "1", "--at", "2026-11-30T10:00-05:00")
    assert "ended 2026-11-30 15:00 UTC" in lifted.output


def test_a_tenant_not_in_the_settings_is_said_to_hold_only_its_own_name(us: Cli) -> None:
    result = us("blackout", "add", "US", "--reason", "storm", "--tenant", "acmee")
    assert result.exit_code == 0
    assert "tenant 'acmee' is not in the settings' [tenants]" in result.output
    assert "note:" not in us("blackout", "add", "US", "--reason", "x", "--tenant", "acme").output


def test_a_date_alone_is_read_on_every_clock_of_the_place(us: Cli) -> None:
    # France's callees include Réunion's (UTC+4, midnight first) and Guadeloupe's (UTC-4,
    # midnight last): a country's dates cover its territories' clocks too.
    added = us(
        "blackout",
        "add",
        "FR",
        "--reason",
        "x",
        "--from",
        "2026-11-29",
        "--until",
        "2026-12-03",
        "--purpose",
        "all",
        "--json",
    )
    entry = json.loads(added.output)
    assert entry["starts_at"] == "2026-11-28T20:00:00+00:00"
    assert entry["ends_at"] == "2026-12-03T04:00:00+00:00"
    said = us("blackout", "add", "US-LA", "--reason", "storm", "--purpose", "all")
    assert said.output.startswith("blackout 2: no calls (every tenant's) to US-LA")
    # `lift --at` a date reads it as `--until` does: Louisiana's midnight, not UTC's.
    lifted = us("blackout", "lift", "2", "--at", "2026-12-03")
    assert "ended 2026-12-03 06:00 UTC" in lifted.output
