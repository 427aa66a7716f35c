"""The decision writer's batches: a record SQLite refuses fails alone, not its neighbours."""

from __future__ import annotations

import asyncio
import sqlite3
from pathlib import Path

import pytest

from dialguard.store import open_store
from dialguard.store.hotpath import HotPath, StoreUnavailable

INSERT = "INSERT INTO events (at, kind, detail) VALUES (?, ?, ?)"


async def test_a_record_sqlite_refuses_fails_alone_and_the_writer_goes_on(tmp_path: Path) -> None:
    path = tmp_path / "dg.sqlite3"
    await (await open_store(path)).close()  # the schema
    hot = HotPath(path, busy_timeout_ms=1000)
    await hot.open()
    try:
        # Queued together: one batch, one statement, which the NULL makes SQLite refuse.
        writes = [
            hot.write_behind(INSERT, (1.0, "first", "{}")),
            hot.write_behind(INSERT, (2.0, None, "{}")),  # kind is NOT NULL
            hot.write_behind(INSERT, (3.0, "third", "{}")),
        ]
        results = await asyncio.gather(*writes, return_exceptions=True)
        later = await asyncio.wait_for(hot.write_behind(INSERT, (4.0, "later", "{}")), 5)
    finally:
        await hot.close()
    assert results[0] is None and results[2] is None and later is None
    assert isinstance(results[1], sqlite3.IntegrityError)
    with sqlite3.connect(path) as conn:
        kinds = [row[0] for row in conn.execute("SELECT kind FROM events ORDER BY at")]
    assert kinds == ["first", "third", "later"]


async def test_a_schema_changed_under_the_writer_is_waited_out_and_fails_the_checks_closed(
    tmp_path: Path,
) -> None:
    # SQLITE_ERROR ("no such table", "no column named ..."): a newer dialguard migrated the
    # file under this one, say; here a trigger that names a missing table. Not the record's
    # fault: the record waits, the checks see the lag, and it is written once it passes.
    path = tmp_path / "dg.sqlite3"
    await (await open_store(path)).close()
    with sqlite3.connect(path) as conn:
        conn.execute(
            "CREATE TRIGGER skew BEFORE INSERT ON events BEGIN INSERT INTO missing VALUES (1); END"
        )
    hot = HotPath(path, busy_timeout_ms=1000, max_write_lag_s=0.2)
    await hot.open()
    try:
        write = hot.write_behind(INSERT, (1.0, "kept", "{}"))
        await asyncio.sleep(0.4)
        with pytest.raises(StoreUnavailable):
            hot.read(lambda conn: None)
        with sqlite3.connect(path) as conn:
            conn.execute("DROP TRIGGER skew")
        await asyncio.wait_for(write, 5)
        hot.read(lambda conn: None)
    finally:
        await hot.close()
    with sqlite3.connect(path) as conn:
        assert [row[0] for row in conn.execute("SELECT kind FROM events")] == ["kept"]
