"""Call history retention: delete decisions and outcomes older than `[database]
keep_history_days` (off by default: nothing is deleted unless the operator says so).

A check's audit record is about 4.7 KB with its indexes, so a store kept for ever grows by
gigabytes a day at a few hundred calls a minute. The rows go in small batches, each its own
short transaction, so that the decision writer and the AMI listener, which wait for the write
lock, are never held up for long; SQLite reuses the freed pages, so the file stops growing
rather than shrinking.

Nothing the rules still read may go: frequency caps count attempts up to
`ATTEMPT_LOOKBACK` back (rules/jurisdictions/model.py), so the settings refuse a shorter
retention (`minimum_keep_days`).
"""

from __future__ import annotations

import asyncio
import math
from dataclasses import dataclass
from datetime import datetime, timedelta

from dialguard.store.core import Store

# Measured on a store of 200,000 decisions (940 MB): a batch of 500 held the write lock
# 41 ms (p50, 61 ms at most) and the prune went at 8,000 decisions a second; 2,000 held it
# 160-250 ms.
BATCH_ROWS = 500
PAUSE_S = 0.02  # between batches: the writers waiting for the lock go first

# (table, the rows to delete) with `?` the cut-off in epoch seconds; each selects by an index
# on the time column. An outcome without a start (a call that never got that far) goes by
# the time it was last updated.
_OLD_ROWS = (
    ("decisions", "SELECT rowid FROM decisions WHERE decided_at < ? LIMIT ?"),
    ("outcomes", "SELECT rowid FROM outcomes WHERE started_at < ? LIMIT ?"),
    (
        "outcomes",
        "SELECT rowid FROM outcomes WHERE started_at IS NULL AND updated_at < ? LIMIT ?",
    ),
)


@dataclass(frozen=True, slots=True)
class Pruned:
    decisions: int = 0
    outcomes: int = 0


def minimum_keep_days(attempt_lookback: timedelta) -> int:
    """The shortest retention that keeps every attempt a frequency cap may count."""
    return math.ceil(attempt_lookback / timedelta(days=1)) + 1  # a day's margin


async def prune_history(store: Store, before: datetime, batch_rows: int = BATCH_ROWS) -> Pruned:
    """Delete the decisions and call outcomes from before `before`; return how many."""
    cut_off = before.timestamp()
    deleted = {"decisions": 0, "outcomes": 0}
    for table, old_rows in _OLD_ROWS:
        while True:
            count = await store.write(
                f"DELETE FROM {table} WHERE rowid IN ({old_rows})", (cut_off, batch_rows)
            )
            deleted[table] += count
            if count < batch_rows:
                break
            await asyncio.sleep(PAUSE_S)
    return Pruned(**deleted)
