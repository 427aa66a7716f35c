"""`dialguard consent` against a real SQLite file, and `check` deciding with those records."""

from __future__ import annotations

import asyncio
import json
from datetime import UTC, date, datetime, timedelta, timezone
from pathlib import Path

import pytest

import dialguard.cli  # noqa: F401  (registers the commands)
from dialguard.store import open_store
from dialguard.store.consents import add_consent
from rules.facts import ConsentKind, ConsentRecord
from tests.cli.conftest import AU_TENANT, Cli

CID = "+61291234567"


@pytest.fixture(name="run")
def _run(tmp_path: Path) -> Cli:
    run = Cli(tmp_path, '[guard]\nregister_missing = "allow"\n\n' + AU_TENANT)
    assert run("callerid", "add", CID, "--tenant", "acme").exit_code == 0
    return run


def test_german_call_blocked_until_consent_is_added_and_again_after_revocation(run: Cli) -> None:
    at = "2026-06-10T09:00:00Z"
    assert run.check("+493012345678", at)["rule"] == "consent.de-opt-in"

    added = run(
        "consent",
        "add",
        "+493012345678",
        "--tenant",
        "acme",
        "--kind",
        "express",
        "--date",
        "2026-06-01",
    )
    assert added.exit_code == 0, added.output
    assert run.check("+493012345678", at)["verdict"] == "allow"

    revoked = run("consent", "revoke", "+493012345678", "--tenant", "acme", "--date", "2026-06-09")
    assert revoked.exit_code == 0, revoked.output
    assert run.check("+493012345678", at)["rule"] == "consent.de-opt-in"
    # A decision before the revocation still sees the consent (the record is kept, dated).
    assert run.check("+493012345678", "2026-06-08T09:00:00Z")["verdict"] == "allow"


def _add_express(run: Cli, day: str) -> None:
    """Tenant acme's express consent for the Berlin number, given on `day`."""
    added = run(
        "consent", "add", "+493012345678", "--tenant", "acme", "--kind", "express",
        "--date", day,
    )  # fmt: skip
    assert added.exit_code == 0, added.output


def test_a_revocation_scheduled_for_later_can_be_brought_forward(run: Cli) -> None:
    # A consent revoked at a later date was no longer "not revoked": withdrawing it now
    # matched nothing, and the callee went on being called under it until that date.
    _add_express(run, "2026-06-01")
    later = run("consent", "revoke", "+493012345678", "--tenant", "acme", "--date", "2026-09-01")
    assert later.exit_code == 0, later.output
    sooner = run("consent", "revoke", "+493012345678", "--tenant", "acme", "--date", "2026-06-09")
    assert sooner.exit_code == 0, sooner.output
    assert run.check("+493012345678", "2026-06-10T09:00:00Z")["rule"] == "consent.de-opt-in"
    # A later date never puts a revocation off.
    again = run("consent", "revoke", "+493012345678", "--tenant", "acme", "--date", "2026-12-01")
    assert again.exit_code == 2
    assert run.check("+493012345678", "2026-06-10T09:00:00Z")["rule"] == "consent.de-opt-in"


def test_a_revocation_dated_before_a_consent_leaves_it_in_force(run: Cli) -> None:
    # A withdrawal in 2020 revoked the consent given in 2026: it was never in force after.
    _add_express(run, "2026-06-01")
    early = run("consent", "revoke", "+493012345678", "--tenant", "acme", "--date", "2020-01-01")
    assert early.exit_code == 2 and "was given and left unrevoked" in early.output
    consent = run.findings("+493012345678", "2026-06-10T09:00:00Z", "consent")
    assert [f["verdict"] for f in consent] == ["allow"]


@pytest.mark.parametrize("when", [["--date", "2026-06-01"], []])
def test_a_consent_withdrawn_the_day_it_was_given_is_revoked(run: Cli, when: list[str]) -> None:
    # Dated by day, the consent is taken from the 1st at UTC-12 and the revocation from the
    # 1st at UTC+14: 26 hours earlier. Matching only consents given before it revoked none.
    # Without --date the revocation is now, which may be before noon UTC of that day too.
    _add_express(run, "2026-06-01" if when else date.today().isoformat())
    revoked = run("consent", "revoke", "+493012345678", "--tenant", "acme", *when)
    assert revoked.exit_code == 0, revoked.output
    at = "2026-06-10T09:00:00Z" if when else f"{date.today() + timedelta(days=3)}T09:00:00Z"
    assert run.check("+493012345678", at)["rule"] == "consent.de-opt-in"


def test_a_consent_given_by_date_alone_counts_only_while_that_day_holds_everywhere(
    run: Cli,
) -> None:
    # Zones run from UTC+14 to UTC-12: the 1st has begun everywhere at 12:00 UTC, and the
    # 10th has begun somewhere at 10:00 UTC on the 9th. Read the other way, a consent would
    # be used on days the callee had not given it yet, or no longer.
    added = run(
        "consent", "add", "+493012345678", "--tenant", "acme", "--kind", "express",
        "--date", "2026-06-01", "--expires", "2026-06-10",
    )  # fmt: skip
    assert added.exit_code == 0, added.output
    verdicts = [
        run.check("+493012345678", at)["verdict"]
        for at in (
            "2026-06-01T11:59:59Z",
            "2026-06-01T12:00:00Z",
            "2026-06-09T09:59:59Z",
            "2026-06-09T10:00:00Z",
        )
    ]
    assert verdicts == ["block", "allow", "allow", "block"]


def test_an_ebr_dated_by_a_day_alone_ends_as_its_last_day_first_begins(
    run: Cli, tmp_path: Path
) -> None:
    # 18 months from 15 Jan 2025 end on 15 Jul 2026, which begins at 10:00 UTC on the 14th
    # (UTC+14). Counted from the purchase day's last beginning (12:00 UTC), the EBR lifted
    # the register until 12:00 UTC on the 15th, 26 hours more. One given at a time of day
    # ends at that time.
    by_day, by_time = "+12125550100", "+12125550101"
    copy = tmp_path / "dnc.txt"
    copy.write_text("2125550100\n2125550101\n", encoding="utf-8")
    imported = run("registry", "import", str(copy), "--registry", "us-dnc", "--as-of", "2026-07-01")
    assert imported.exit_code == 0, imported.output
    for number, date_text in ((by_day, "2025-01-15"), (by_time, "2025-01-15T08:30:00Z")):
        added = run(
            "consent", "add", number, "--tenant", "acme", "--kind", "ebr-purchase",
            "--date", date_text,
        )  # fmt: skip
        assert added.exit_code == 0, added.output
    listed = json.loads(run("consent", "list", "--tenant", "acme", "--json").output)
    assert [(r["number"], r["granted_on"]) for r in listed] == [
        (by_day, "2025-01-15"),
        (by_time, None),
    ]

    def register(number: str, at: str) -> object:
        return run.findings(number, at, "registry")[0]["verdict"]

    assert [register(by_day, at) for at in ("2026-07-14T09:59:59Z", "2026-07-14T10:00:00Z")] == [
        "allow",
        "block",
    ]
    assert [register(by_time, at) for at in ("2026-07-15T08:29:59Z", "2026-07-15T08:30:00Z")] == [
        "allow",
        "block",
    ]


def test_out_of_hours_consent_lifts_the_au_sunday(run: Cli) -> None:
    sunday = "2026-06-14T01:00:00Z"  # 11:00 Sunday in Sydney
    decision = run.check("+61298765432", sunday)
    assert decision["rule"] == "hours.au-telemarketing"
    assert decision["local_time"] == "2026-06-14T11:00:00+10:00"
    assert (
        run(
            "consent",
            "add",
            "0298765432",
            "--tenant",
            "acme",
            "--kind",
            "out-of-hours",
            "--date",
            "2026-06-01",
        ).exit_code
        == 0
    )
    assert run.check("+61298765432", sunday)["verdict"] == "allow"


def test_list_shows_the_records_as_json(run: Cli) -> None:
    run(
        "consent",
        "add",
        "0298765432",
        "--tenant",
        "acme",
        "--kind",
        "ebr-purchase",
        "--date",
        "2025-01-15",
        "--campaign",
        "spring",
        "--note",
        "invoice 17",
    )
    result = run("consent", "list", "--tenant", "acme", "--json")
    assert result.exit_code == 0, result.output
    rows = json.loads(result.output)
    assert [(r["number"], r["kind"], r["campaign"], r["note"]) for r in rows] == [
        ("+61298765432", "ebr-purchase", "spring", "invoice 17")
    ]


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (
            [
                "consent",
                "add",
                "12ab",
                "--tenant",
                "acme",
                "--kind",
                "express",
                "--date",
                "2026-01-01",
            ],
            "'12ab'",
        ),
        (
            [
                "consent",
                "add",
                "0298765432",
                "--tenant",
                "acme",
                "--kind",
                "express",
                "--date",
                "yesterday",
            ],
            "--date",
        ),
        (
            [
                "consent",
                "add",
                "0298765432",
                "--tenant",
                "acme",
                "--kind",
                "express",
                "--date",
                "2026-01-01",
                "--expires",
                "2025-01-01",
            ],
            "--expires",
        ),
        (["consent", "revoke", "0298765432", "--tenant", "acme"], "no consent"),
    ],
)
def test_bad_input_is_one_line_and_exit_2(run: Cli, args: list[str], message: str) -> None:
    result = run(*args)
    assert result.exit_code == 2
    assert message in result.output
    assert "Traceback" not in result.output


def test_a_consent_dated_in_the_future_is_refused(run: Cli) -> None:
    # Recorded ahead, it could not be revoked before its date (a revocation now matched
    # nothing), and then lifted the register over the withdrawal.
    ahead = (date.today() + timedelta(days=3)).isoformat()
    added = run(
        "consent", "add", "+493012345678", "--tenant", "acme", "--kind", "express",
        "--date", ahead,
    )  # fmt: skip
    assert added.exit_code == 2 and "is in the future" in added.output
    revoked = run("consent", "revoke", "+493012345678", "--tenant", "acme", "--date", ahead)
    assert revoked.exit_code == 2 and "is in the future" in revoked.output


def test_a_revocation_now_revokes_a_consent_dated_ahead(run: Cli) -> None:
    # One recorded before `consent add` refused future dates (written here to the store).
    ahead = datetime.now(UTC) + timedelta(days=5)

    async def record() -> None:
        store = await open_store(run.db)
        try:
            kind = ConsentKind.EXPRESS
            await add_consent(store, ConsentRecord("+493012345678", "acme", kind, ahead), "")
        finally:
            await store.close()

    asyncio.run(record())
    revoked = run("consent", "revoke", "+493012345678", "--tenant", "acme")
    assert revoked.exit_code == 0, revoked.output
    later = (ahead + timedelta(days=2)).strftime("%Y-%m-%dT10:00:00Z")
    assert run.check("+493012345678", later)["rule"] == "consent.de-opt-in"


def test_a_consent_dated_today_somewhere_is_taken(run: Cli) -> None:
    # Read at noon UTC, today's date at UTC+13 or +14 was refused as in the future.
    today_east = datetime.now(timezone(timedelta(hours=14))).date()
    for day, status in ((today_east, 0), (today_east + timedelta(days=1), 2)):
        added = run(
            "consent", "add", "+493012345678", "--tenant", "acme", "--kind", "express",
            "--date", day.isoformat(),
        )  # fmt: skip
        assert added.exit_code == status, added.output


@pytest.mark.parametrize(
    ("date_text", "ahead"),
    [
        ("2026-11-30", False),  # 01:00 on the 30th at UTC+14
        ("2026-12-01", True),
        ("2026-11-29T23:00:00-12:00", True),  # a date-time is read as it says
        ("2026-11-29T10:59:00Z", False),
    ],
)
def test_a_consent_date_is_in_the_future_only_while_it_has_begun_nowhere(
    date_text: str, ahead: bool
) -> None:
    # At 11:00 UTC on the 29th, the old reading (a date at UTC-12, a day's slack) refused
    # the 30th, already today at UTC+13 and +14.
    from dialguard.cli.consent import not_begun

    assert not_begun(date_text, datetime(2026, 11, 29, 11, 0, tzinfo=UTC)) is ahead
