"""The decision writer's batches: a record SQLite refuses fails alone, not its neighbours."""

from __future__ import annotations

import asyncio
import sqlite3
from pathlib import Path

from dialguard.store import open_store
from dialguard.store.hotpath import HotPath

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
