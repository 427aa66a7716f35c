"""Decision records wait out a full disk, as they do a lock: the checks fail closed, and
nothing is lost once there is room again. The disk fills for real: a child process whose
file-size limit (RLIMIT_FSIZE) stops every write to the database files. A write transaction
or an import that meets a full disk (here `max_page_count`) says so, and writes nothing."""

from __future__ import annotations

import json
import os
import sqlite3
import subprocess
import sys
from datetime import UTC, datetime
from pathlib import Path

import pytest

from dialguard.store import Store, open_store
from dialguard.store.suppressions import SuppressionImport
from rules.facts import SuppressionEntry

REPO = Path(__file__).resolve().parents[2]

CHILD = r"""
import asyncio, json, resource, signal, sqlite3, sys
from datetime import UTC, datetime

from dialguard.store import open_store
from dialguard.store.hotpath import StoreUnavailable
from rules.engine import prepare
from rules.models import CallAttempt, Decision, Verdict
from rules.policy import Policy

signal.signal(signal.SIGXFSZ, signal.SIG_IGN)  # a write past the limit fails (EFBIG)


async def main(path: str) -> None:
    store = await open_store(path, max_write_lag_s=0.3)
    decision = Decision(Verdict.ALLOW, None, "allowed", "", None, None, None, None, ())

    def attempt(call_id: str) -> CallAttempt:
        return CallAttempt("+61412345678", None, datetime.now(UTC), tenant="a", call_id=call_id)

    query = prepare(attempt("q"), Policy()).query
    _, hard = resource.getrlimit(resource.RLIMIT_FSIZE)
    resource.setrlimit(resource.RLIMIT_FSIZE, (1, hard))  # the disk is full
    await store.record_decision(attempt("c1"), decision, 1.0, "agi")
    await asyncio.sleep(0.6)  # longer than the lag allowed
    seen = {}
    try:
        await store.facts_for(query)
        seen["full"] = "decided"
    except StoreUnavailable:
        seen["full"] = "unavailable"
    resource.setrlimit(resource.RLIMIT_FSIZE, (hard, hard))  # room again
    await asyncio.wait_for(store.flush(), 5)
    await store.facts_for(query)
    seen["after"] = "decided"
    await store.close()
    seen["rows"] = [r[0] for r in sqlite3.connect(path).execute("SELECT call_id FROM decisions")]
    print(json.dumps(seen))


asyncio.run(main(sys.argv[1]))
"""


@pytest.mark.skipif(sys.platform == "win32", reason="RLIMIT_FSIZE is POSIX")
def test_a_full_disk_fails_the_checks_closed_and_loses_no_record(tmp_path: Path) -> None:
    # Before, the batch failed once with "disk I/O error" and was dropped: the checks went
    # on deciding with caps that no longer counted, and the record was gone.
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    done = subprocess.run(
        [sys.executable, "-c", CHILD, str(tmp_path / "dg.sqlite3")],
        capture_output=True, text=True, timeout=60, env=env, cwd=REPO, check=False,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr[-2000:]
    seen = json.loads(done.stdout.strip().splitlines()[-1])
    assert seen == {"full": "unavailable", "after": "decided", "rows": ["c1"]}


async def _store_with_no_room(path: Path) -> Store:
    store = await open_store(path)
    async with store.conn.execute("PRAGMA page_count") as cursor:
        row = await cursor.fetchone()
    assert row is not None
    # The database may not grow: SQLite fails the write as on a full disk, and rolls the
    # transaction back itself.
    await store.conn.execute(f"PRAGMA max_page_count = {row[0]}")
    await store.conn.execute("PRAGMA temp.max_page_count = 2")
    return store


def _entries(count: int) -> list[SuppressionEntry]:
    at = datetime(2026, 11, 1, tzinfo=UTC)
    return [
        SuppressionEntry(f"+614{i:08d}", "acme", None, "r" * 200, "test", at) for i in range(count)
    ]


async def test_a_full_disk_in_a_write_transaction_is_named_and_writes_nothing(
    tmp_path: Path,
) -> None:
    store = await _store_with_no_room(tmp_path / "full.sqlite3")
    try:
        with pytest.raises(sqlite3.OperationalError, match="database or disk is full"):
            async with store.writing() as conn:  # it said "cannot rollback"
                for entry in _entries(2000):
                    await conn.execute(
                        "INSERT INTO suppressions (number, tenant, campaign, reason, source,"
                        " requested_at, created_at) VALUES (?, ?, '', ?, ?, 0, 0)",
                        (entry.number, entry.tenant, entry.reason, entry.source),
                    )
        row = await store.fetchone("SELECT count(*) FROM suppressions")
        assert row is not None and row[0] == 0
    finally:
        await store.close()


async def test_a_full_disk_while_an_import_is_staged_is_named(tmp_path: Path) -> None:
    store = await _store_with_no_room(tmp_path / "full.sqlite3")
    try:
        with pytest.raises(sqlite3.OperationalError, match="database or disk is full"):
            async with SuppressionImport(store) as staged:
                await staged.add(_entries(5000))
    finally:
        await store.close()
