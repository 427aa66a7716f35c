"""`dialguard status`: the guard's state on one screen, from the store alone."""

from __future__ import annotations

import json
import sqlite3
from datetime import UTC, datetime
from pathlib import Path

from dialguard.store.spool import OptOutSpool, spool_path
from rules.facts import SuppressionEntry
from tests.cli.conftest import Cli

AT = "2026-11-30T12:00:00Z"
IN_THE_HOUR = 1796040000.0 - 600  # 11:50 UTC that day
BEFORE_IT = 1796040000.0 - 7200


def _seed(run: Cli, tmp_path: Path) -> None:
    wash = tmp_path / "wash.txt"
    wash.write_text("0412 345 678\n", encoding="utf-8")
    imported = run(
        "registry", "import", str(wash), "--registry", "au-dncr", "--as-of", "2026-10-01"
    )
    assert imported.exit_code == 0, imported.output
    assert run("suppress", "add", "+61412345679").exit_code == 0
    assert run("suppress", "add", "+61 2 9876 5*").exit_code == 0
    assert run("suspend", "tenant:beta", "--reason", "complaints").exit_code == 0
    held = run("blackout", "add", "AU-QLD", "--reason", "cyclone", "--from", "2026-11-29")
    assert held.exit_code == 0
    with sqlite3.connect(run.db) as conn:
        decisions = [
            ("a", IN_THE_HOUR, "allow", None),
            ("b", IN_THE_HOUR, "block", "hours.au-telemarketing"),
            ("c", IN_THE_HOUR + 1, "block", "hours.au-telemarketing"),
            ("d", IN_THE_HOUR + 2, "block", "suppression.global"),
            ("e", BEFORE_IT, "block", "registry.au-dncr"),  # over an hour before
        ]
        conn.executemany(
            "INSERT INTO decisions (call_id, decided_at, source, tenant, purpose, dialled,"
            " verdict, rule, reason, latency_ms, decision_json)"
            " VALUES (?, ?, 'agi', 'acme', 'telemarketing', '0412', ?, ?, '', 1, '{}')",
            decisions,
        )
        conn.execute(
            "INSERT INTO outcomes (call_id, number, tenant, started_at, disposition, updated_at)"
            " VALUES ('a', '+61412345670', 'acme', ?, 'ANSWERED', ?)",
            (IN_THE_HOUR, IN_THE_HOUR),
        )
        conn.execute(
            "INSERT INTO events (at, kind, detail) VALUES (?, 'ami_gap', '{\"seconds\": 12.5}')",
            (BEFORE_IT,),
        )
        conn.execute(
            "INSERT INTO outcomes (call_id, number, tenant, started_at, disposition, updated_at,"
            " source) VALUES ('h', '+61412345671', 'acme', ?, 'ANSWERED', ?, 'history')",
            (IN_THE_HOUR, IN_THE_HOUR),
        )
        conn.execute(  # lapsed before the hour: not in force
            "INSERT INTO suppressions (number, tenant, campaign, reason, source, requested_at,"
            " expires_at, created_at) VALUES ('+61412345672', '', '', '', 'cli', 0, 1, 0)"
        )


def test_status_says_what_the_guard_did_and_what_holds_calls(tmp_path: Path) -> None:
    run = Cli(tmp_path)
    _seed(run, tmp_path)
    state = json.loads(run("status", "--at", AT, "--json").output)

    checks = state["checks_last_hour"]
    assert (checks["allowed"], checks["blocked"]) == (1, 3)
    assert checks["blocked_by_top"] == {"hours.au-telemarketing": 2, "suppression.global": 1}
    assert state["ami_calls_last_hour"] == 1  # the imported history's calls are not the AMI's
    assert state["last_ami_gap"] == {"back_at": "2026-11-30T10:00:00+00:00", "seconds": 12.5}
    assert state["suppressions_in_force"] == {"entries": 2, "ranges": 1}
    assert state["suspensions"] == ["tenant:beta"]
    assert state["blackouts_in_force"] == ["1 AU-QLD"]
    [au] = [r for r in state["registers"] if r["register"] == "au-dncr"]
    assert au["stale"] is True and au["count"] == 1
    assert state["database"]["schema"] >= 9

    text = run("status", "--at", AT).output
    assert "1 allowed, 3 blocked (most by hours.au-telemarketing 2, suppression.global 1)" in text
    assert "last AMI gap: 12.5 s, back at 2026-11-30 10:00:00 UTC" in text
    assert "warning: au-dncr is stale since" in text
    assert (
        "warning: no copy of" in text
        and "us-dnc" in text
        and "dno" not in text.split("warning: no copy of")[1]
    )


def test_status_of_an_empty_store(run: Cli) -> None:
    result = run("status", "--at", AT)
    assert result.exit_code == 0
    assert "last hour: 0 allowed, 0 blocked; last at never" in result.output


def test_only_registers_that_block_calls_are_warned_of(tmp_path: Path) -> None:
    # dno lists caller IDs: missing or old, it blocks nothing. Bloctel binds no more after
    # 10 August 2026. au-dncr goes stale on the callee's date, which is ahead of UTC's.
    settings = "[callerid]\nrequire_inventory = false\n[registers.dno]\nmax_age_days = 30\n"
    run = Cli(tmp_path, '[tenants.acme]\nregion = "AU"\n' + settings)
    for name in ("dno", "au-dncr"):
        wash = tmp_path / f"{name}.txt"
        wash.write_text("+61412345678\n", encoding="utf-8")
        imported = run("registry", "import", str(wash), "--registry", name, "--as-of", "2026-09-01")
        assert imported.exit_code == 0, imported.output
    at = "2026-10-01T15:00:00Z"  # 1 October already in Sydney
    warnings = [line for line in run("status", "--at", at).output.splitlines() if "warning" in line]
    decision = run.check("+61412345670", at)
    assert decision["rule"] == "registry.stale"
    assert any(line.startswith("warning: au-dncr is stale") for line in warnings), warnings
    assert not any("dno" in line or "fr-bloctel" in line for line in warnings), warnings


def test_status_says_how_many_optouts_wait_in_serve_s_spool(run: Cli) -> None:
    # Opt-outs kept for want of a database are not on the list yet: an operator must know.
    spool = OptOutSpool(spool_path(run.db))
    for number in ("+61412345670", "+61412345671"):
        entry = SuppressionEntry(number, "acme", None, "IVR", "agi-optout", datetime.now(UTC))
        spool.append(entry, "database or disk is full")
    with spool.path.open("ab") as file:
        file.write(b"not json\n")
    text = run("status", "--at", AT).output
    assert (
        f"pending    2 opt-outs kept in {spool.path} (and 1 unreadable line): serve holds"
        " them in its checks until it writes them" in text
    )
    state = json.loads(run("status", "--at", AT, "--json").output)
    assert state["pending_optouts"] == {
        "spool": str(spool.path),
        "entries": 2,
        "unreadable": 1,
        "error": None,
    }
    spool.path.unlink()
    assert "pending" not in run("status", "--at", AT).output


def test_check_holds_an_optout_kept_in_serve_s_spool(run: Cli) -> None:
    # serve's checks hold a kept opt-out; the dry run allowed the number all the same.
    kept = SuppressionEntry("+61412345670", "acme", None, "IVR", "agi-optout", datetime.now(UTC))
    OptOutSpool(spool_path(run.db)).append(kept, "database or disk is full")
    decision = run.check("+61412345670", "2026-11-30T01:00:00Z")
    assert decision["rule"] == "suppression.tenant"
    assert run.check("+61412345671", "2026-11-30T01:00:00Z")["rule"] != "suppression.tenant"
