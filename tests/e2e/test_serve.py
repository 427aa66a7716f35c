"""The daemon end to end over loopback: Asterisk's FastAGI requests in, decisions recorded."""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import signal
import socket
import sqlite3
import subprocess
import sys
import time
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
import structlog

from dialguard.daemon import Daemon, start_daemon
from dialguard.eventloop import resolve
from dialguard.settings import Settings
from dialguard.store import open_store
from dialguard.store.spool import OptOutSpool, spool_path
from rules.facts import SuppressionEntry
from rules.models import CallAttempt, Decision, Verdict
from rules.outcomes import CallOutcome
from rules.policy import Policy, TenantSettings
from tests.agi.fake_asterisk import FakeAsterisk, env_lines, load_transcript, with_env
from tests.serving import free_port, start_serve, wait_for_lines

CALLER_ID = "+61291234567"


@pytest.fixture(name="daemon")
async def _daemon(tmp_path: Path) -> AsyncIterator[Daemon]:
    policy = Policy(
        tenants={"acme": TenantSettings("acme", "AU")}, block_when_register_missing=False
    )
    settings = Settings(db_path=tmp_path / "dg.sqlite3", agi_port=0, policy=policy)
    daemon = await start_daemon(settings, ami=None)
    await daemon.store.write(
        "INSERT INTO caller_ids (number, tenant, created_at) VALUES (?, 'acme', 0)", (CALLER_ID,)
    )
    try:
        yield daemon
    finally:
        await daemon.stop()


def _env(fixtures_dir: Path, scenario: str, **overrides: str | None) -> list[str]:
    transcript = next((fixtures_dir / scenario).glob("agi-*.jsonl"))
    return with_env(env_lines(load_transcript(transcript)), **overrides)


async def _call(daemon: Daemon, env: list[str], **variables: str) -> FakeAsterisk:
    channel = FakeAsterisk(env, variables={"DIALGUARD_TENANT": "acme", **variables})
    await channel.run(daemon.agi.port)
    return channel


async def test_a_recorded_call_is_decided_and_recorded(daemon: Daemon, fixtures_dir: Path) -> None:
    channel = await _call(daemon, _env(fixtures_dir, "allow-answered"), DIALGUARD_CAMPAIGN="spring")

    row = await daemon.store.fetchone("SELECT * FROM decisions WHERE call_id = '1795859878.63'")
    assert channel.closed_by_server
    assert row is not None
    assert channel.set_variables["DIALGUARD_VERDICT"] == row["verdict"].upper()
    assert (row["number"], row["tenant"], row["campaign"]) == ("+61400000001", "acme", "spring")


async def test_an_ivr_opt_out_blocks_the_very_next_call(daemon: Daemon, fixtures_dir: Path) -> None:
    env = _env(fixtures_dir, "allow-answered", agi_network_script="optout", agi_arg_1="61400000001")
    optout = await _call(daemon, env)
    next_call = await _call(daemon, _env(fixtures_dir, "allow-answered", agi_uniqueid="9.1"))

    assert optout.set_variables.get("DIALGUARD_OPTOUT") == "OK"
    assert next_call.set_variables["DIALGUARD_VERDICT"] == "BLOCK"
    assert next_call.set_variables["DIALGUARD_RULE"] == "suppression.tenant"
    # The audit trail says who made the change: the daemon, not an operator.
    event = await daemon.store.fetchone("SELECT * FROM events WHERE kind = 'suppression.add'")
    assert event is not None and event["actor"] == "serve"


async def test_a_blackout_an_operator_declares_holds_the_next_call(
    daemon: Daemon, fixtures_dir: Path
) -> None:
    from dialguard.store import blackouts

    operator = await open_store(daemon.store.path, actor="cli:alice")  # another process's
    try:
        declared = await blackouts.declare(
            operator,
            "AU",
            datetime.now(UTC) - timedelta(minutes=1),
            None,
            frozenset(),
            None,
            "national day of mourning",
        )
        held = await _call(daemon, _env(fixtures_dir, "allow-answered", agi_uniqueid="9.7"))
        await blackouts.lift(operator, declared.id, datetime.now(UTC))
    finally:
        await operator.close()
    after = await _call(daemon, _env(fixtures_dir, "allow-answered", agi_uniqueid="9.8"))

    assert held.set_variables["DIALGUARD_VERDICT"] == "BLOCK"
    assert held.set_variables["DIALGUARD_RULE"] == "holiday.blackout"
    assert "national day of mourning" in held.set_variables["DIALGUARD_REASON"]
    # Decided by the rules again (the hour may block it), not by the blackout or a failure.
    assert after.set_variables["DIALGUARD_VERDICT"] in ("ALLOW", "BLOCK")
    assert after.set_variables["DIALGUARD_RULE"] != "holiday.blackout"
    assert not after.set_variables["DIALGUARD_RULE"].startswith("guard.")


async def test_a_database_locked_for_long_blocks_with_guard_error_then_recovers(
    daemon: Daemon, fixtures_dir: Path
) -> None:
    """Decisions are written behind the check; a lock that keeps them from the disk for
    longer than the allowed lag turns into the failure policy, and the guard recovers once
    the lock is gone."""
    locker = sqlite3.connect(daemon.store.path, timeout=0.1)
    locker.execute("BEGIN EXCLUSIVE")
    try:
        first = await _call(daemon, _env(fixtures_dir, "allow-answered", agi_uniqueid="9.2"))
        await asyncio.sleep(daemon.store.max_write_lag_s + 0.2)
        started = time.perf_counter()
        stuck = await _call(daemon, _env(fixtures_dir, "allow-answered", agi_uniqueid="9.3"))
        elapsed = time.perf_counter() - started
    finally:
        locker.rollback()
        locker.close()
    await daemon.store.flush()
    after = await _call(daemon, _env(fixtures_dir, "allow-answered", agi_uniqueid="9.4"))
    recorded = await daemon.store.fetchall("SELECT call_id FROM decisions ORDER BY call_id")

    assert not first.set_variables["DIALGUARD_RULE"].startswith("guard.")
    assert (stuck.set_variables["DIALGUARD_VERDICT"], stuck.set_variables["DIALGUARD_RULE"]) == (
        "BLOCK",
        "guard.error",
    )
    assert elapsed < 1.0
    assert not after.set_variables["DIALGUARD_RULE"].startswith("guard.")
    assert [r["call_id"] for r in recorded] == ["9.2", "9.3", "9.4"]


async def test_a_database_removed_while_serving_blocks_and_refuses_opt_outs(
    daemon: Daemon, fixtures_dir: Path
) -> None:
    """The connections would go on with the removed file: checks allowed as if nothing
    happened, and an opt-out answered OK was lost at the next start (an empty database)."""
    for suffix in ("", "-wal", "-shm"):
        Path(f"{daemon.store.path}{suffix}").unlink(missing_ok=True)
    await asyncio.sleep(1.1)  # the file is looked at once a second
    check = await _call(daemon, _env(fixtures_dir, "allow-answered", agi_uniqueid="6.1"))
    optout_env = _env(
        fixtures_dir, "allow-answered", agi_network_script="optout", agi_arg_1="61400000001"
    )
    optout = await _call(daemon, optout_env)

    rule = check.set_variables["DIALGUARD_VERDICT"], check.set_variables["DIALGUARD_RULE"]
    assert rule == ("BLOCK", "guard.error")
    assert optout.set_variables.get("DIALGUARD_OPTOUT") == "FAILED"


async def test_an_emergency_call_is_decided_by_its_rule_even_when_the_guard_cannot_work(
    daemon: Daemon, fixtures_dir: Path
) -> None:
    """A person's emergency call is never blocked (regulations.md 6.7), and campaign traffic
    to one always is: neither needs the store, so neither waits for it or fails with it."""

    def emergency(uniqueid: str) -> list[str]:
        return _env(fixtures_dir, "allow-answered", agi_arg_1="000", agi_uniqueid=uniqueid)

    locker = sqlite3.connect(daemon.store.path, timeout=0.1)
    locker.execute("BEGIN EXCLUSIVE")
    try:
        await _call(daemon, _env(fixtures_dir, "allow-answered", agi_uniqueid="8.1"))
        await asyncio.sleep(daemon.store.max_write_lag_s + 0.2)  # records now overdue
        ordinary = await _call(daemon, _env(fixtures_dir, "allow-answered", agi_uniqueid="8.2"))
        person = await _call(daemon, emergency("8.3"))
        campaign = await _call(daemon, emergency("8.4"), DIALGUARD_CAMPAIGN="spring")
    finally:
        locker.rollback()
        locker.close()
    mistyped = await _call(daemon, emergency("8.5"), DIALGUARD_PURPOSE="sales")
    mistyped_campaign = await _call(
        daemon, emergency("8.6"), DIALGUARD_PURPOSE="sales", DIALGUARD_CAMPAIGN="spring"
    )
    unreadable = await _call(daemon, _env(fixtures_dir, "allow-answered", agi_uniqueid="8.7"),
                             DIALGUARD_PURPOSE="sales")  # fmt: skip
    # So does an address that cannot be read (which blocks any other call as bad input).
    no_such_zone = await _call(daemon, emergency("8.8"), DIALGUARD_CALLEE_TZ="Nowhere/City")
    no_such_zone_campaign = await _call(
        daemon, emergency("8.9"), DIALGUARD_CALLEE_REGION="US-XX", DIALGUARD_CAMPAIGN="spring"
    )

    def verdict(channel: FakeAsterisk) -> tuple[str, str]:
        return channel.set_variables["DIALGUARD_VERDICT"], channel.set_variables["DIALGUARD_RULE"]

    assert verdict(ordinary) == ("BLOCK", "guard.error")  # the failure policy, as before
    assert verdict(person) == ("ALLOW", "")
    assert verdict(campaign) == ("BLOCK", "emergency.campaign")
    assert verdict(mistyped) == ("ALLOW", "")  # a bad DIALGUARD_PURPOSE changes nothing
    assert verdict(mistyped_campaign) == ("BLOCK", "emergency.campaign")
    assert verdict(unreadable) == ("BLOCK", "guard.error")  # bad input still blocks
    assert verdict(no_such_zone) == ("ALLOW", "")
    assert verdict(no_such_zone_campaign) == ("BLOCK", "emergency.campaign")


async def test_serve_writes_the_optouts_a_previous_run_kept_before_the_first_check(
    tmp_path: Path, fixtures_dir: Path
) -> None:
    # The previous run gave the opt-out up on a full disk and stopped before the database
    # took it (and was cut short writing a second one): it is in force from the first call.
    db = tmp_path / "dg.sqlite3"
    store = await open_store(db)
    await store.write(
        "INSERT INTO caller_ids (number, tenant, created_at) VALUES (?, 'acme', 0)", (CALLER_ID,)
    )
    await store.close()
    spool = OptOutSpool(spool_path(db))
    kept = SuppressionEntry(
        "+61400000001", "acme", None, "IVR opt-out keypress", "agi-optout", datetime.now(UTC)
    )
    spool.append(kept, "database or disk is full")
    with spool.path.open("ab") as file:
        file.write(b'{"number": "+614')
    policy = Policy(
        tenants={"acme": TenantSettings("acme", "AU")}, block_when_register_missing=False
    )
    with structlog.testing.capture_logs() as logs:
        daemon = await start_daemon(Settings(db_path=db, agi_port=0, policy=policy), ami=None)
    try:
        channel = await _call(daemon, _env(fixtures_dir, "allow-answered"))
    finally:
        await daemon.stop()
    verdict = channel.set_variables["DIALGUARD_VERDICT"], channel.set_variables["DIALGUARD_RULE"]
    assert verdict == ("BLOCK", "suppression.tenant")
    assert not spool.path.exists()
    assert [e["event"] for e in logs if e["event"].startswith("optout")] == [
        "optout_spool_torn_line",
        "optouts_replayed",
    ]


async def test_with_a_retention_the_daemon_deletes_old_history_at_start(tmp_path: Path) -> None:
    db = tmp_path / "dg.sqlite3"
    store = await open_store(db)
    now = datetime.now(UTC)
    for call_id, age_days in (("old", 63), ("kept", 61)):
        at = now - timedelta(days=age_days)
        attempt = CallAttempt("+61412345678", None, at, tenant="acme", call_id=call_id)
        decision = Decision(Verdict.ALLOW, None, "allowed", "", None, None, None, None, ())
        await store.record_decision(attempt, decision, 1.0, "agi")
        await store.upsert_outcome(CallOutcome(call_id, started_at=at))
    await store.close()

    with structlog.testing.capture_logs() as logs:
        daemon = await start_daemon(
            Settings(db_path=db, agi_port=0, keep_history_days=62), ami=None
        )
        try:
            for _ in range(100):  # the first pass runs in the background at start
                if any(e["event"] == "history_pruned" for e in logs):
                    break
                await asyncio.sleep(0.02)
            decisions = await daemon.store.fetchall("SELECT call_id FROM decisions")
            outcomes = await daemon.store.fetchall("SELECT call_id FROM outcomes")
        finally:
            await daemon.stop()

    assert [r["call_id"] for r in decisions] == ["kept"]
    assert [r["call_id"] for r in outcomes] == ["kept"]
    [pruned] = [e for e in logs if e["event"] == "history_pruned"]
    assert (pruned["decisions"], pruned["outcomes"]) == (1, 1)
    [serving] = [e for e in logs if e["event"] == "serving"]
    assert serving["keep_history_days"] == 62


@pytest.mark.parametrize("event_loop", ["auto", "asyncio"])
def test_dialguard_serve_runs_declares_its_failure_policy_and_stops_on_sigterm(
    tmp_path: Path, event_loop: str
) -> None:
    port = free_port()
    config = tmp_path / "dialguard.toml"
    config.write_text(f'[agi]\nevent_loop = "{event_loop}"\n')
    env = {**os.environ, "DIALGUARD_DB": str(tmp_path / "dg.sqlite3")}
    serve = ["serve", "--agi", f"127.0.0.1:{port}", "--no-ami"]
    proc = subprocess.Popen(
        [sys.executable, "-m", "dialguard.cli", "--config", str(config), *serve],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        deadline = time.monotonic() + 15
        while time.monotonic() < deadline:
            try:
                socket.create_connection(("127.0.0.1", port), timeout=0.2).close()
                break
            except OSError:
                time.sleep(0.05)
        else:
            pytest.fail("dialguard serve did not start listening")
        proc.send_signal(signal.SIGTERM)
        _, stderr = proc.communicate(timeout=10)
    finally:
        proc.kill()

    lines = [json.loads(line) for line in stderr.splitlines() if line.startswith("{")]
    serving = next(line for line in lines if line["event"] == "serving")
    assert proc.returncode == 0
    assert serving["failure_policy"] == "block"
    assert serving["deadline_ms"] == 250
    assert serving["event_loop"] == resolve(event_loop)  # uvloop for auto, where it loads
    assert any(line["event"] == "stopped" for line in lines)


async def _calls(port: int, env: list[str], count: int) -> list[FakeAsterisk]:
    channels = [
        FakeAsterisk(
            with_env(env, agi_uniqueid=f"w.{port}.{i}.{time.monotonic_ns()}"),
            variables={"DIALGUARD_TENANT": "acme"},
        )
        for i in range(count)
    ]
    await asyncio.gather(*(channel.run(port) for channel in channels))
    return channels


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    return True


def _wait_for_count(db: Path, count: int, timeout_s: float = 5.0) -> None:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        with contextlib.closing(sqlite3.connect(db)) as conn:
            if conn.execute("SELECT count(*) FROM decisions").fetchone()[0] >= count:
                return
        time.sleep(0.02)
    pytest.fail(f"fewer than {count} decisions were committed within {timeout_s} s")


def test_dialguard_serve_with_two_workers_serves_restarts_a_dead_worker_and_stops_on_sigterm(
    tmp_path: Path, fixtures_dir: Path
) -> None:
    port = free_port()
    call_env = _env(fixtures_dir, "allow-answered")
    proc, log = start_serve(tmp_path, port, "--workers", "2")
    try:
        first_worker = wait_for_lines(log, "worker_serving", 1)[0]["pid"]
        before = asyncio.run(_calls(port, call_env, 40))
        # Decision records are written behind the check (store/hotpath.py): a process killed
        # outright loses the few milliseconds not yet committed, so let them land first.
        _wait_for_count(tmp_path / "dg.sqlite3", 40)
        os.kill(first_worker, signal.SIGKILL)
        died = wait_for_lines(log, "worker_died", 1)[0]
        restarted = wait_for_lines(log, "worker_serving", 2)[1]["pid"]
        after = asyncio.run(_calls(port, call_env, 40))
        proc.send_signal(signal.SIGTERM)
        proc.wait(timeout=15)
    finally:
        proc.kill()

    lines = [json.loads(line) for line in log.read_text().splitlines() if line.startswith("{")]
    serving = next(line for line in lines if line["event"] == "serving")
    decided_by = {line["worker"] for line in lines if line["event"] == "decision"}
    assert proc.returncode == 0
    assert (serving["failure_policy"], serving["deadline_ms"], serving["workers"]) == (
        "block",
        250,
        2,
    )
    assert all(
        c.closed_by_server and "DIALGUARD_VERDICT" in c.set_variables for c in before + after
    )
    assert decided_by == {0, 1}  # the kernel spread the calls over both processes
    assert (died["pid"], died["exit_code"]) == (first_worker, -signal.SIGKILL)
    assert restarted != first_worker
    assert any(line["event"] == "worker_stopped" and line["pid"] == restarted for line in lines)
    assert any(line["event"] == "stopped" for line in lines)
    assert not _alive(restarted)
    rows = sqlite3.connect(tmp_path / "dg.sqlite3").execute("SELECT count(*) FROM decisions")
    assert rows.fetchone()[0] == 80


def _serve_two_workers(tmp_path: Path, port: int) -> tuple[subprocess.Popen[bytes], Path]:
    """`dialguard serve --workers 2`, once the first process serves (its workers do too)."""
    proc, log = start_serve(tmp_path, port, "--workers", "2")
    wait_for_lines(log, "serving", 1)
    return proc, log


def _end(proc: subprocess.Popen[bytes], *pids: int | None) -> None:
    """Kill what a failed test left: the primary and any worker it may not reap."""
    proc.kill()
    proc.wait()
    for pid in pids:
        if pid is not None:
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGKILL)


def test_a_worker_whose_loop_stalls_is_killed_and_started_again(
    tmp_path: Path, fixtures_dir: Path
) -> None:
    """A worker stopped dead (SIGSTOP: its port still takes connections from the kernel,
    but nothing answers) falls silent; the primary kills it after WORKER_STALL_S and starts
    another, which serves."""
    port = free_port()
    proc, log = _serve_two_workers(tmp_path, port)
    stalled_pid = None
    try:
        stalled_pid = wait_for_lines(log, "worker_serving", 1)[0]["pid"]
        os.kill(stalled_pid, signal.SIGSTOP)
        stalled = wait_for_lines(log, "worker_stalled", 1, timeout_s=20)[0]
        died = wait_for_lines(log, "worker_died", 1)[0]
        restarted = wait_for_lines(log, "worker_serving", 2)[1]["pid"]
        after = asyncio.run(_calls(port, _env(fixtures_dir, "allow-answered"), 20))
        proc.send_signal(signal.SIGTERM)
        proc.wait(timeout=15)
    finally:
        _end(proc, stalled_pid)

    lines = [json.loads(line) for line in log.read_text().splitlines() if line.startswith("{")]
    assert proc.returncode == 0
    assert (stalled["pid"], stalled["worker"]) == (stalled_pid, 1)
    assert (died["pid"], died["exit_code"]) == (stalled_pid, -signal.SIGKILL)
    assert restarted != stalled_pid and not _alive(stalled_pid)
    assert all(c.closed_by_server and "DIALGUARD_VERDICT" in c.set_variables for c in after)
    assert {line["worker"] for line in lines if line["event"] == "decision"} <= {0, 1}


def test_a_stalled_first_process_does_not_kill_its_healthy_workers(tmp_path: Path) -> None:
    """The first process stopped for longer than WORKER_STALL_S: when it resumes, the
    timeout and the heartbeats queued meanwhile are due together. The workers live on."""
    proc, log = _serve_two_workers(tmp_path, free_port())
    try:
        worker = wait_for_lines(log, "worker_serving", 1)[0]["pid"]
        proc.send_signal(signal.SIGSTOP)
        time.sleep(6.5)
        proc.send_signal(signal.SIGCONT)
        time.sleep(2.5)  # past a second look at the heartbeats (WORKER_HEARTBEAT_S)
        alive = _alive(worker)
        proc.send_signal(signal.SIGTERM)
        proc.wait(timeout=15)
    finally:
        _end(proc)

    events = [json.loads(line)["event"] for line in log.read_text().splitlines() if line[:1] == "{"]
    assert alive and "worker_stalled" not in events and "worker_died" not in events


def test_a_worker_stopping_behind_a_locked_database_is_not_taken_for_stalled(
    tmp_path: Path, fixtures_dir: Path
) -> None:
    """A worker told to stop alone waits for its decision records while an import holds the
    write lock (4.5 s, within the store's 5 s at close); it must finish them and stop, not
    be killed as silent and lose them. (With the second look at its heartbeats, 6 s of
    silence, this passes whether or not the worker beats while it closes its store: that
    order is kept for stops longer than these 4.5 s, and has no test of its own.)"""
    port = free_port()
    proc, log = _serve_two_workers(tmp_path, port)
    db = tmp_path / "dg.sqlite3"
    try:
        worker = wait_for_lines(log, "worker_serving", 1)[0]["pid"]
        with contextlib.closing(sqlite3.connect(db, isolation_level=None)) as lock:
            lock.execute("BEGIN IMMEDIATE")  # as an import holds it
            calls = asyncio.run(_calls(port, _env(fixtures_dir, "allow-answered"), 40))
            os.kill(worker, signal.SIGTERM)
            time.sleep(4.5)
            lock.execute("COMMIT")
        died = wait_for_lines(log, "worker_died", 1)[0]
        _wait_for_count(db, 40, timeout_s=15)
        proc.send_signal(signal.SIGTERM)
        proc.wait(timeout=15)
    finally:
        _end(proc)

    events = [json.loads(line)["event"] for line in log.read_text().splitlines() if line[:1] == "{"]
    assert all("DIALGUARD_VERDICT" in c.set_variables for c in calls)
    assert "worker_stalled" not in events
    assert (died["pid"], died["exit_code"]) == (worker, 0)


def test_workers_import_the_same_dialguard_as_the_first_process(tmp_path: Path) -> None:
    """The first process found dialguard on its own sys.path (as bench/agi_bench.py does),
    not through an install or PYTHONPATH: its workers must find the same one. They died at
    their first import, over and over, and the first process served alone."""
    repo = str(Path(__file__).resolve().parents[2])
    port = free_port()
    log = tmp_path / "serve.log"
    env = {k: v for k, v in os.environ.items() if k != "PYTHONPATH"}
    env["DIALGUARD_DB"] = str(tmp_path / "dg.sqlite3")
    start = f"import sys; sys.path.insert(0, {repo!r}); from dialguard.cli import main; main()"
    serve = ["serve", "--agi", f"127.0.0.1:{port}", "--no-ami", "--workers", "2"]
    with log.open("w") as stderr:
        proc = subprocess.Popen(
            [sys.executable, "-c", start, *serve],
            cwd=tmp_path,  # not the checkout: the current folder gives no dialguard
            env=env,
            stdout=subprocess.DEVNULL,
            stderr=stderr,
        )
    try:
        worker = wait_for_lines(log, "worker_serving", 1)[0]
        proc.send_signal(signal.SIGTERM)
        proc.wait(timeout=15)
    finally:
        _end(proc)

    events = [json.loads(line)["event"] for line in log.read_text().splitlines() if line[:1] == "{"]
    assert worker["worker"] == 1 and "worker_died" not in events
