"""Call history retention: old decisions and outcomes go, in batches; recent ones stay."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from dialguard.store import Store
from dialguard.store.retention import prune_history
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
    pruned = await prune_history(store, CUT_OFF, batch_rows=3)  # 7 old rows: 3 batches
    assert (pruned.decisions, pruned.outcomes) == (len(OLD), len(OLD) + 1)
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
