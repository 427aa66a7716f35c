"""Databases made by an earlier dialguard, opened by this one."""

from __future__ import annotations

import sqlite3
from pathlib import Path

from dialguard.store import open_store
from dialguard.store.schema import MIGRATIONS


def _at_version(path: Path, version: int) -> sqlite3.Connection:
    conn = sqlite3.connect(path, isolation_level=None)
    for statements in MIGRATIONS[:version]:
        for statement in statements:
            conn.execute(statement)
    conn.execute(f"PRAGMA user_version = {version}")
    return conn


async def test_history_calls_take_the_ids_the_ami_listener_uses(tmp_path: Path) -> None:
    # Version 2 stored Master.csv calls as `cdr:<uniqueid>`: importing the file again after
    # the upgrade would add them twice, and a call the listener recorded counted twice.
    path = tmp_path / "old.sqlite3"
    conn = _at_version(path, 2)
    insert = "INSERT INTO outcomes (call_id, source, updated_at) VALUES (?, ?, 0)"
    conn.executemany(
        insert,
        [
            ("cdr:1.1", "history"),
            ("1.1", "ami"),
            ("cdr:2.2", "history"),
            ("cdr:", "history"),  # every row without a uniqueid, as one
            ("history:ab", "history"),
        ],
    )
    conn.close()
    store = await open_store(path)
    try:
        rows = await store.fetchall("SELECT call_id, source FROM outcomes ORDER BY call_id")
    finally:
        await store.close()
    assert [tuple(r) for r in rows] == [
        ("1.1", "ami"),
        ("2.2", "history"),
        ("history:ab", "history"),
    ]
