"""`dialguard log`: decisions joined with their outcomes, filters, newest first."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path

import pytest
from click.testing import CliRunner

from dialguard.cli import cli
from dialguard.guard import Guard
from dialguard.store import open_store
from rules.engine import failure_decision
from rules.models import CallAttempt, Decision, Verdict
from rules.outcomes import CallOutcome
from rules.policy import Policy, TenantSettings


@pytest.fixture(name="db")
async def _db(tmp_path: Path) -> Path:
    """Two recorded decisions (one with an outcome) and one outcome without a decision."""
    path = tmp_path / "dg.sqlite3"
    store = await open_store(path)
    for n, (verdict, rule, call_id) in enumerate(
        [(Verdict.ALLOW, None, "c1"), (Verdict.BLOCK, "suppression.list", "c2")]
    ):
        at = datetime(2026, 3, 2, 1, n, tzinfo=UTC)
        attempt = CallAttempt(
            destination="0412345678",
            caller_id="+61291234567",
            at=at,
            tenant="acme",
            call_id=call_id,
        )
        decision = Decision(
            verdict, rule, f"reason {n}", "", "+61412345678", "+61291234567", "AU", None, ()
        )
        await store.record_decision(attempt, decision, 1.0, "agi")
    await store.upsert_outcome(
        CallOutcome(
            "c1",
            number="+61412345678",
            tenant="acme",
            started_at=datetime(2026, 3, 2, 1, 0, 5, tzinfo=UTC),
            disposition="ANSWERED",
            billsec=42,
            amd="HUMAN",
        )
    )
    await store.upsert_outcome(
        CallOutcome("c9", number="+61412345699", tenant="acme", started_at=datetime(2026, 3, 2, 2, 0, tzinfo=UTC), disposition="BUSY", billsec=0)
    )  # fmt: skip
    await store.close()
    return path


def run(db: Path, *args: str) -> list[dict]:  # type: ignore[type-arg]
    result = CliRunner().invoke(cli, ["--db", str(db), *args, "--json"])
    assert result.exit_code == 0, result.output
    return json.loads(result.output)  # type: ignore[no-any-return]


def test_merged_newest_first_with_outcome_beside_decision(db: Path) -> None:
    entries = run(db, "log")
    assert [(e["kind"], e["call_id"]) for e in entries] == [
        ("outcome", "c9"),
        ("decision", "c2"),
        ("decision", "c1"),
    ]
    assert (entries[2]["disposition"], entries[2]["billsec"]) == ("ANSWERED", 42)
    assert (entries[2]["amd"], entries[0]["amd"]) == ("HUMAN", None)
    text = CliRunner().invoke(cli, ["--db", str(db), "log"]).output.splitlines()
    assert text[2].endswith("-> ANSWERED 42s amd=HUMAN") and "amd=" not in text[0]


def test_filters(db: Path) -> None:
    assert [e["call_id"] for e in run(db, "log", "--verdict", "block")] == ["c2"]
    assert [e["call_id"] for e in run(db, "log", "--rule", "suppression.list")] == ["c2"]
    # A family takes every rule of it (it matched nothing), and no other family sharing
    # its first letters.
    assert [e["call_id"] for e in run(db, "log", "--rule", "suppression")] == ["c2"]
    assert run(db, "log", "--rule", "suppress") == []
    assert [e["call_id"] for e in run(db, "log", "--decisions")] == ["c2", "c1"]
    assert [e["call_id"] for e in run(db, "log", "--outcomes")] == ["c9", "c1"]
    assert [e["call_id"] for e in run(db, "log", "--number", "+61412345699")] == ["c9"]
    assert [e["call_id"] for e in run(db, "log", "--since", "2026-03-02T01:00:30Z")] == ["c9", "c2"]
    assert len(run(db, "log", "--limit", "1")) == 1


@pytest.fixture(name="emergency_db")
async def _emergency_db(tmp_path: Path) -> Path:
    """Calls to 000, a mobile and 112, decided and recorded by the guard."""
    path = tmp_path / "dg.sqlite3"
    store = await open_store(path)
    policy = Policy(tenants={"acme": TenantSettings("acme", "AU")})
    at = datetime(2026, 3, 2, 1, 0, tzinfo=UTC)
    for destination, call_id in [("000", "e1"), ("0412345678", "c1"), ("112", "e2")]:
        attempt = CallAttempt(destination, "+61291234567", at, tenant="acme", call_id=call_id)
        await Guard(store, policy).check(attempt)
    # A check that ran out of time: the failure policy's decision names no number.
    late = CallAttempt("0412345678", "+61291234567", at, tenant="acme", call_id="t1")
    timeout = failure_decision(late, policy, "guard.timeout", "too slow")
    await store.record_decision(late, timeout, 250.0, "agi")
    await store.close()
    return path


def test_an_emergency_call_is_found_by_the_number_as_dialled(
    emergency_db: Path, tmp_path: Path
) -> None:
    """Its decision names no E.164 number, only the dial string: `--number 000` was refused
    as a number that could not be read."""
    settings = tmp_path / "dialguard.toml"
    settings.write_text('[tenants.acme]\nregion = "AU"\n', encoding="utf-8")
    db = ["--config", str(settings)]

    found = run(emergency_db, *db, "log", "--number", "000", "--tenant", "acme")

    assert [(e["call_id"], e["number"], e["verdict"]) for e in found] == [("e1", "000", "allow")]
    # The number, and the failure policy's decision on the same dial string.
    mobile = run(emergency_db, *db, "log", "--number", "0412 345 678", "--tenant", "acme")
    assert sorted(e["call_id"] for e in mobile) == ["c1", "t1"]
    for wrong, problem in [
        ("hello", "not a telephone number"),
        # Not a short code: a national number no region reads (no --tenant) is a mistake.
        ("0412345678", "no region is configured"),
    ]:
        result = CliRunner().invoke(cli, ["--db", str(emergency_db), *db, "log", "--number", wrong])
        assert result.exit_code == 2 and problem in result.output, result.output
    # 112 is a number in Germany (+49112): the AU call to 112 is found all the same.
    settings.write_text('[guard]\nregion = "DE"\n[tenants.acme]\nregion = "AU"\n', "utf-8")
    assert [e["call_id"] for e in run(emergency_db, *db, "log", "--number", "112")] == ["e2"]
