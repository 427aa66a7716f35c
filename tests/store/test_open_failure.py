"""A database that cannot be opened is one error, with nothing printed behind it."""

from __future__ import annotations

import asyncio
import sqlite3
import threading
import time
from pathlib import Path

import pytest

from dialguard.store import StoreError, open_store


def test_a_database_that_cannot_be_opened_leaves_no_thread_behind(tmp_path: Path) -> None:
    # aiosqlite stops its worker thread after the failure; the thread then posted to a loop
    # `asyncio.run` had closed, and a traceback followed the CLI's one-line error (about one
    # run in five here).
    unopenable = tmp_path / "a-folder.sqlite3"
    unopenable.mkdir()  # a directory where the file should be: sqlite cannot open it
    failures: list[threading.ExceptHookArgs] = []
    previous = threading.excepthook
    threading.excepthook = failures.append
    try:
        for _ in range(25):
            with pytest.raises(StoreError, match="cannot open the database"):
                asyncio.run(open_store(unopenable))
    finally:
        threading.excepthook = previous
    assert [repr(f.exc_value) for f in failures] == []


async def test_the_write_probe_does_not_wait_out_a_lock_held_elsewhere(tmp_path: Path) -> None:
    # `serve` asks at start whether it can write; an import holding the database then made
    # it wait the whole busy timeout, only to conclude that a lock is no refusal.
    path = tmp_path / "d.sqlite3"
    store = await open_store(path, busy_timeout_ms=3000)
    holder = sqlite3.connect(path, isolation_level=None)
    try:
        holder.execute("BEGIN IMMEDIATE")
        started = time.monotonic()
        assert await store.cannot_write() is None
        assert time.monotonic() - started < 1.0
        async with store.conn.execute("PRAGMA busy_timeout") as cur:
            assert tuple(await cur.fetchone()) == (3000,)  # the store's own writes still wait
    finally:
        holder.close()
        await store.close()
