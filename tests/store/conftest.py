"""A database made full for real, for the tests of what waits it out or keeps what it
refuses (`PatientSink`, the opt-outs' spool)."""

from __future__ import annotations

import sqlite3
from collections.abc import AsyncIterator
from datetime import UTC, datetime
from pathlib import Path

import pytest

from dialguard.store import Store, open_store
from rules.facts import SuppressionEntry


async def fill_to_the_brim(store: Store) -> int:
    """Make the database full for real (SQLITE_FULL, as a full disk gives): the file may not
    grow, and the opt-out list takes entries until its pages are used up. Returns how many."""
    (pages,) = await store.fetchone("PRAGMA page_count") or (0,)
    await store.conn.execute(f"PRAGMA max_page_count = {pages}")
    for n in range(10_000):
        entry = SuppressionEntry(
            f"+6149{n:07d}", "filler", None, "filler", "test", datetime.now(UTC)
        )
        try:
            await store.add_suppression(entry)
        except sqlite3.OperationalError as exc:
            assert "full" in str(exc)
            return n
    raise AssertionError("the database never filled up")


@pytest.fixture(name="full")
async def _full(tmp_path: Path) -> AsyncIterator[Store]:
    # A busy timeout of 20 ms, as `serve` gives up on a lock after half the AGI deadline.
    store = await open_store(tmp_path / "dialguard.sqlite3", busy_timeout_ms=20)
    await fill_to_the_brim(store)
    yield store
    await store.close()
