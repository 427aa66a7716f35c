"""Tasks sharing the store's connection write one transaction at a time (`Store.exclusive`)."""

from __future__ import annotations

import asyncio
import sqlite3
from datetime import UTC, datetime

from dialguard.store import Store
from rules.facts import SuppressionEntry

NOW = datetime(2026, 11, 28, tzinfo=UTC)


async def test_opt_outs_arriving_together_are_all_stored_durably(store: Store) -> None:
    # Ten IVR opt-outs at once, as `serve` gets them from ten calls: each statement used to
    # run inside another's transaction, and nine failed ("Safety level may not be changed
    # inside a transaction") or were committed without synchronous=FULL.
    trace: list[str] = []
    await store.conn.set_trace_callback(trace.append)
    numbers = [f"+6141234567{i}" for i in range(10)]
    results = await asyncio.gather(
        *(
            store.add_suppression(SuppressionEntry(n, "acme", None, "ivr", "agi-optout", NOW))
            for n in numbers
        ),
        return_exceptions=True,
    )
    await store.conn.set_trace_callback(None)
    assert results == [True] * 10  # each stored, none failed
    with sqlite3.connect(store.path) as conn:
        stored = {row[0] for row in conn.execute("SELECT number FROM suppressions")}
    assert stored == set(numbers)
    # Every commit of an opt-out ran at synchronous=FULL: no other task's statement between.
    level = "NORMAL"
    for statement in trace:
        if statement.startswith("PRAGMA synchronous"):
            level = statement.split("=")[1].strip()
        elif statement == "COMMIT":
            assert level == "FULL"
