"""Call history retention: old decisions and outcomes go, in batches; recent ones stay."""

from __future__ import annotations

import asyncio
import sqlite3
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from dialguard.store import Store, open_store
from dialguard.store.retention import (
    MAX_BATCH_ROWS,
    MIN_BATCH_ROWS,
    TARGET_S,
    PrunePostponed,
    next_batch_rows,
    prune_history,
)
from rules.models import CallAttempt, Decision, Verdict
from rules.outcomes import CallOutcome

CUT_OFF = datetime(2026, 6, 1, tzinfo=UTC)
OLD = [CUT_OFF - timedelta(days=d, seconds=1) for d in (0, 1, 2, 30, 300, 301, 302)]
RECENT = [CUT_OFF, CUT_OFF + timedelta(days=1)]


def allowed() -> Decision:
    return Decision(Verdict.ALLOW, None, "allowed", "", "+61412345678", None, "AU", None, ())


async def fill(store: Store) -> None:
    for i, at in enumerate(OLD + RECENT):
        attempt = CallAttempt("0412345678", None, at, tenant="acme", call_id=f"c{i}")
        await store.record_decision(attempt, allowed(), 1.0, "agi")
        await store.upsert_outcome(CallOutcome(f"c{i}", number="+61412345678", started_at=at))
    # An outcome that never started, last heard of before the cut-off, and one after it.
    for call_id, updated in (("never-old", OLD[0]), ("never-new", RECENT[0])):
        await store.upsert_outcome(CallOutcome(call_id, number="+61412345678"))
        await store.write(
            "UPDATE outcomes SET updated_at = ? WHERE call_id = ?", (updated.timestamp(), call_id)
        )
    await store.flush()


async def call_ids(store: Store, table: str) -> set[str]:
    return {row[0] for row in await store.fetchall(f"SELECT call_id FROM {table}")}


async def test_old_history_goes_in_batches_and_recent_history_stays(store: Store) -> None:
    await fill(store)
    pruned = await prune_history(store, CUT_OFF, batch_rows=3)
    assert (pruned.decisions, pruned.outcomes) == (len(OLD), len(OLD) + 1)
    # 7 old decisions and 7 old started outcomes in 3 batches each, 1 never-started outcome.
    assert pruned.batches == 3 + 3 + 1
    recent = {f"c{i}" for i in range(len(OLD), len(OLD) + len(RECENT))}
    assert await call_ids(store, "decisions") == recent
    assert await call_ids(store, "outcomes") == recent | {"never-new"}
    # Nothing more to do the second time.
    again = await prune_history(store, CUT_OFF, batch_rows=3)
    assert (again.decisions, again.outcomes) == (0, 0)


async def test_a_batch_exactly_the_size_of_what_is_left_ends_cleanly(store: Store) -> None:
    await fill(store)
    pruned = await prune_history(store, CUT_OFF, batch_rows=len(OLD))
    assert pruned.decisions == len(OLD)


@pytest.mark.parametrize(
    ("rows", "took_s", "expected"),
    [
        (500, 0.2, 250),  # too long: halve
        (30, 1.0, MIN_BATCH_ROWS),  # never below the floor
        (100, 0.001, 200),  # quick: double
        (400, 0.001, MAX_BATCH_ROWS),  # never above the ceiling
        (100, TARGET_S * 0.75, 100),  # about right: keep
    ],
)
def test_a_batch_shrinks_when_a_delete_holds_the_lock_too_long(
    rows: int, took_s: float, expected: int
) -> None:
    assert next_batch_rows(rows, took_s) == expected


async def test_a_locked_database_is_waited_for_then_left_to_the_next_pass(tmp_path: Path) -> None:
    # The daemon's store gives up on a lock after deadline/2; the prune waits and retries.
    store = await open_store(tmp_path / "dg.sqlite3", busy_timeout_ms=10)
    try:
        await fill(store)
        holder = sqlite3.connect(store.path)
        holder.execute("BEGIN IMMEDIATE")
        waits = (0.05, 0.05, 0.05)
        with pytest.raises(PrunePostponed, match="locked"):
            await prune_history(store, CUT_OFF, locked_waits_s=waits)
        assert len(await call_ids(store, "decisions")) == len(OLD) + len(RECENT)

        asyncio.get_running_loop().call_later(0.06, holder.rollback)  # released mid-wait
        pruned = await prune_history(store, CUT_OFF, locked_waits_s=waits)
        holder.close()
        assert pruned.decisions == len(OLD)
    finally:
        await store.close()
