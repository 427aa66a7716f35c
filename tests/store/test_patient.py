"""PatientSink: the AMI listener's and the IVR opt-out's writes wait out a locked or failing
database, on a real SQLite file made full for real (SQLITE_FULL)."""

from __future__ import annotations

import asyncio
import contextlib
import sqlite3
from datetime import UTC, datetime

import pytest
from structlog.testing import capture_logs

from dialguard.store import Store
from dialguard.store.patient import PatientSink
from rules.facts import SuppressionEntry


def opt_out(n: int = 1) -> SuppressionEntry:
    return SuppressionEntry(f"+6140000000{n}", "acme", None, "test", "test", datetime.now(UTC))


async def test_a_lock_that_turns_into_a_failing_database_is_said_as_an_error(
    full: Store,
) -> None:
    # The kind of wait was fixed at the first error: a full disk behind a lock went on being
    # logged as a routine lock, at warning level.
    holder = sqlite3.connect(full.path, isolation_level=None)
    holder.execute("BEGIN IMMEDIATE")
    with capture_logs() as logs:
        sink = PatientSink(full, first_delay_s=0.01, max_delay_s=0.02)
        write = asyncio.create_task(sink.add_suppression(opt_out()))
        await asyncio.sleep(0.2)
        holder.execute("COMMIT")
        holder.close()
        await asyncio.sleep(0.2)
        await full.conn.execute("PRAGMA max_page_count = 1073741823")
        await write
    said = [(e["event"], e["log_level"]) for e in logs if e["event"].startswith("ami_write")]
    assert said == [
        ("ami_write_waiting_for_lock", "warning"),
        ("ami_write_waiting_for_database", "error"),
        ("ami_write_done_after_database", "warning"),
    ]
    assert await full.fetchone("SELECT 1 FROM suppressions WHERE tenant = 'acme'")


async def test_a_database_that_goes_on_failing_is_given_up_after_a_while(full: Store) -> None:
    # Not for ever: a stopped listener would be dropped by Asterisk, and every event of the
    # gap lost; given up, the opt-out is logged for adding by hand and the listener reads on.
    sink = PatientSink(full, first_delay_s=0.01, max_delay_s=0.02, max_failing_s=0.1)
    with capture_logs() as logs, pytest.raises(sqlite3.OperationalError, match="full"):
        await sink.add_suppression(opt_out())
    assert [e["event"] for e in logs if e["log_level"] == "error"] == [
        "ami_write_waiting_for_database",
        "ami_write_given_up",
    ]


async def test_a_lock_after_a_failure_is_waited_for_as_long_as_it_lasts(full: Store) -> None:
    # The give-up counted from the first failure, so a lock that followed a full disk was
    # given up like a failure.
    holder = sqlite3.connect(full.path, isolation_level=None)
    sink = PatientSink(full, first_delay_s=0.01, max_delay_s=0.02, max_failing_s=0.15)
    with capture_logs() as logs:
        write = asyncio.create_task(sink.add_suppression(opt_out()))
        await asyncio.sleep(0.05)  # full
        await full.conn.execute("PRAGMA max_page_count = 1073741823")
        holder.execute("BEGIN IMMEDIATE")  # then locked, longer than max_failing_s
        await asyncio.sleep(0.4)
        holder.execute("COMMIT")
        holder.close()
        await write
    assert not [e for e in logs if e["event"] == "ami_write_given_up"]
    assert await full.fetchone("SELECT 1 FROM suppressions WHERE tenant = 'acme'")


async def test_a_failure_that_alternates_with_locks_is_still_given_up(full: Store) -> None:
    # Each lock started the failure's clock again, so a full disk under a busy writer was
    # never given up, and the listener stalled until Asterisk dropped it.
    holder = sqlite3.connect(full.path, isolation_level=None)

    async def contend() -> None:  # locked longer than the store's busy timeout, then free
        while True:
            holder.execute("BEGIN IMMEDIATE")
            await asyncio.sleep(0.06)
            holder.execute("COMMIT")
            await asyncio.sleep(0.02)

    busy = asyncio.create_task(contend())
    sink = PatientSink(full, first_delay_s=0.005, max_delay_s=0.01, max_failing_s=0.1)
    try:
        with capture_logs() as logs, pytest.raises(sqlite3.OperationalError):
            async with asyncio.timeout(5):
                await sink.add_suppression(opt_out())
    finally:
        busy.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await busy
        if holder.in_transaction:
            holder.execute("COMMIT")
        holder.close()
    assert any(e["event"] == "ami_write_given_up" for e in logs)
    waiting = [e for e in logs if e["event"] == "ami_write_waiting_for_database"]
    assert len(waiting) == 1  # said once, not at every lock in between
