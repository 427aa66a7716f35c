"""`dialguard flags`, `suspend`, `unsuspend`, `suspensions`, `detect` against a real store."""

from __future__ import annotations

import asyncio
import json
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from click.testing import CliRunner, Result

from dialguard.cli import cli
from dialguard.store import open_store
from rules.outcomes import CallOutcome

NOW = datetime.now(UTC)


@pytest.fixture(name="db")
def _db(tmp_path: Path) -> Path:
    return tmp_path / "dialguard.sqlite3"


@pytest.fixture(name="config")
def _config(tmp_path: Path) -> Path:
    path = tmp_path / "dialguard.toml"
    # No register copies in these tests: let registry.missing allow, so that only the
    # suspension decides.
    path.write_text('[guard]\nregister_missing = "allow"\n[tenants.acme]\nregion = "AU"\n')
    return path


def run(db: Path, config: Path, *args: str) -> Result:
    return CliRunner().invoke(cli, ["--db", str(db), "--config", str(config), *args])


def seed_burst(db: Path) -> None:
    """Five calls to one number from five caller IDs, an hour ago."""

    async def body() -> None:
        store = await open_store(db)
        try:
            for i in range(5):
                begun = NOW - timedelta(hours=1, seconds=-i)
                await store.upsert_outcome(
                    CallOutcome(
                        call_id=f"burst{i}",
                        number="+61400000005",
                        caller_id=f"+6129123456{i}",
                        tenant="acme",
                        campaign="winter",
                        started_at=begun,
                        answered_at=begun,
                        ended_at=begun + timedelta(seconds=1),
                        disposition="ANSWERED",
                        billsec=1,
                    )
                )
        finally:
            await store.close()

    asyncio.run(body())


def check(db: Path, config: Path, caller_id: str = "+61291234567") -> dict[str, object]:
    result = run(
        db, config, "check", "0412345678", "--caller-id", caller_id, "--tenant", "acme",
        "--campaign", "winter", "--purpose", "informational", "--json",
    )  # fmt: skip
    assert result.exit_code in (0, 1), result.output
    value: dict[str, object] = json.loads(result.stdout)
    return value


def blocking_suspensions(decision: dict[str, object]) -> list[str]:
    findings = decision["findings"]
    assert isinstance(findings, list)
    return [
        f["rule"]
        for f in findings
        if f["rule"].startswith("suspension.") and f["verdict"] == "block"
    ]


def test_detect_then_list_ack_and_dismiss_flags(db: Path, config: Path) -> None:
    seed_burst(db)
    result = run(db, config, "detect", "--json")
    assert result.exit_code == 0, result.output
    assert {r["detector"] for r in json.loads(result.stdout)} == {
        "repeat_callee",
        "callerid_rotation",
    }

    listed = json.loads(run(db, config, "flags", "--json").stdout)
    assert {f["detector"] for f in listed} == {"repeat_callee", "callerid_rotation"}
    by_detector = {f["detector"]: f for f in listed}
    repeat = by_detector["repeat_callee"]
    assert repeat["subject"] == "campaign:acme/winter" and repeat["measured"] == 5
    assert repeat["evidence"] == [f"burst{i}" for i in range(5)] and repeat["citation"]

    result = run(db, config, "flags", "ack", str(repeat["id"]), "--note", "customer asked for it")
    assert result.exit_code == 0 and "acknowledged" in result.output
    rotation_id = str(by_detector["callerid_rotation"]["id"])
    assert run(db, config, "flags", "dismiss", rotation_id, "--note", "test pool").exit_code == 0

    assert json.loads(run(db, config, "flags", "--json").stdout) == []
    closed = json.loads(run(db, config, "flags", "--status", "all", "--json").stdout)
    assert {(f["status"], f["note"]) for f in closed} == {
        ("acknowledged", "customer asked for it"),
        ("dismissed", "test pool"),
    }
    by_callee = run(
        db, config, "flags", "--status", "all", "--subject", "callee:0400000005", "--tenant", "acme",
        "--json",
    )  # fmt: skip
    assert len(json.loads(by_callee.stdout)) == 2
    # A second detect over the same calls does not reopen what was reviewed.
    run(db, config, "detect")
    assert json.loads(run(db, config, "flags", "--json").stdout) == []


def test_closing_a_flag_twice_or_a_missing_flag_is_one_line_exit_2(db: Path, config: Path) -> None:
    seed_burst(db)
    run(db, config, "detect")
    result = run(db, config, "flags", "dismiss", "1", "--note", "fine")
    assert result.exit_code == 0
    again = run(db, config, "flags", "ack", "1", "--note", "fine")
    assert again.exit_code == 2 and "already dismissed" in again.output
    missing = run(db, config, "flags", "ack", "99", "--note", "x")
    assert missing.exit_code == 2 and "no flag 99" in missing.output
    assert len(missing.output.strip().splitlines()) == 1


def test_suspend_blocks_the_next_check_and_unsuspend_lifts_it(db: Path, config: Path) -> None:
    assert blocking_suspensions(check(db, config)) == []
    result = run(db, config, "suspend", "campaign:winter", "--reason", "complaint from a callee")
    assert result.exit_code == 0, result.output
    decision = check(db, config)
    assert decision["verdict"] == "block" and decision["rule"] == "suspension.campaign"
    assert "complaint from a callee" in str(decision["reason"])

    listed = json.loads(run(db, config, "suspensions", "--json").stdout)
    assert [s["subject"] for s in listed] == ["campaign:winter"]

    assert run(db, config, "unsuspend", "campaign:winter", "--reason", "resolved").exit_code == 0
    assert blocking_suspensions(check(db, config)) == []
    assert json.loads(run(db, config, "suspensions", "--json").stdout) == []


def test_a_suspension_named_in_another_case_holds_the_channel_s_name(
    db: Path, config: Path
) -> None:
    # `campaign:Winter` did not hold the channel's `winter`, and nothing said so.
    assert run(db, config, "suspend", "campaign:Winter", "--reason", "complaint").exit_code == 0
    assert blocking_suspensions(check(db, config)) == ["suspension.campaign"]
    wrong = run(db, config, "unsuspend", "campaign:winter")
    assert wrong.exit_code == 2
    assert wrong.output.strip() == (
        "dialguard: campaign:winter is not suspended; campaign:Winter is, and holds its calls"
    )
    assert run(db, config, "unsuspend", "campaign:Winter").exit_code == 0
    assert blocking_suspensions(check(db, config)) == []


def test_suspend_and_unsuspend_warn_of_a_suspension_in_another_case(db: Path, config: Path) -> None:
    # Lifting campaign:winter said "unsuspended" while campaign:Winter went on blocking.
    assert run(db, config, "suspend", "campaign:Winter", "--reason", "complaint").exit_code == 0
    second = run(db, config, "suspend", "campaign:winter", "--reason", "complaint")
    assert second.exit_code == 0
    assert "warning: campaign:Winter already holds its calls" in second.stderr
    lifted = run(db, config, "unsuspend", "campaign:winter")
    assert lifted.exit_code == 0
    assert "warning: campaign:Winter still holds its calls: unsuspend it too" in lifted.stderr
    assert blocking_suspensions(check(db, config)) == ["suspension.campaign"]


def test_unsuspend_of_a_tenant_s_campaign_warns_of_a_wider_suspension(
    db: Path, config: Path
) -> None:
    # campaign:WINTER (every tenant's) holds acme's winter: lifting campaign:acme/winter said
    # "unsuspended" and nothing more.
    assert run(db, config, "suspend", "campaign:WINTER", "--reason", "complaint").exit_code == 0
    args = ("campaign:winter", "--tenant", "acme")
    assert run(db, config, "suspend", *args, "--reason", "acme only").exit_code == 0
    lifted = run(db, config, "unsuspend", *args)
    assert lifted.exit_code == 0
    assert "warning: campaign:WINTER still holds its calls" in lifted.stderr
    assert blocking_suspensions(check(db, config)) == ["suspension.campaign"]


def test_a_caller_id_subject_is_normalised_with_the_tenant_region(db: Path, config: Path) -> None:
    result = run(
        db, config, "suspend", "callerid:02 9123 4567", "--tenant", "acme", "--reason", "spoofed"
    )
    assert result.exit_code == 0 and "callerid:+61291234567" in result.output
    assert blocking_suspensions(check(db, config)) == ["suspension.callerid"]
    assert blocking_suspensions(check(db, config, caller_id="+61291234568")) == []


@pytest.mark.parametrize(
    "subject",
    ["winter", "campaign:", "callee:+61400000005", "user:bob", "callerid:hello", "tenant: "],
)
def test_a_bad_subject_is_one_line_exit_2(db: Path, config: Path, subject: str) -> None:
    result = run(db, config, "suspend", subject, "--reason", "x")
    assert result.exit_code == 2
    assert result.output.startswith("dialguard: ") and len(result.output.strip().splitlines()) == 1


def test_a_name_with_a_space_can_be_suspended_and_lifted(db: Path, config: Path) -> None:
    # The check route takes DIALGUARD_CAMPAIGN="spring sale" and the detectors suspend
    # `campaign:spring sale`; the CLI refused the subject, so no operator could lift it.
    assert run(db, config, "suspend", "campaign:spring sale", "--reason", "x").exit_code == 0
    listed = json.loads(run(db, config, "suspensions", "--json").stdout)
    assert [s["subject"] for s in listed] == ["campaign:spring sale"]
    assert run(db, config, "unsuspend", "campaign:spring sale", "--reason", "ok").exit_code == 0
    assert json.loads(run(db, config, "suspensions", "--json").stdout) == []


def test_a_flag_number_beyond_sqlite_is_a_usage_error(db: Path, config: Path) -> None:
    result = run(db, config, "flags", "ack", "99999999999999999999999", "--note", "x")
    assert result.exit_code == 2 and "Traceback" not in result.output


def test_unsuspending_what_is_not_suspended_is_an_input_error(db: Path, config: Path) -> None:
    result = run(db, config, "unsuspend", "tenant:acme")
    assert result.exit_code == 2 and "not suspended" in result.output


def test_a_campaign_subject_with_a_tenant_is_that_tenants_campaign(db: Path, config: Path) -> None:
    result = run(db, config, "suspend", "campaign:winter", "--tenant", "acme", "--reason", "x")
    assert result.exit_code == 0 and "campaign:acme/winter suspended" in result.output
    assert blocking_suspensions(check(db, config)) == ["suspension.campaign"]
    assert run(db, config, "unsuspend", "campaign:acme/winter").exit_code == 0
    assert blocking_suspensions(check(db, config)) == []
