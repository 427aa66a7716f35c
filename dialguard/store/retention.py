"""Call history retention: delete decisions and outcomes older than `[database]
keep_history_days` (off by default: nothing is deleted unless the operator says so).

A check's audit record is about 4.7 KB with its indexes, so a store kept for ever grows by
gigabytes a day at a few hundred calls a minute. The rows go in small batches, each its own
short transaction, so that the decision writer and the AMI listener, which wait for the write
lock, are never held up for long; SQLite reuses the freed pages, so the file stops growing
rather than shrinking.

Nothing the rules still read may go: frequency caps count attempts `ATTEMPT_LOOKBACK` back
(rules/jurisdictions/model.py) and each detector reads calls over its windows, so the
settings refuse a retention shorter than the longest of them (`dialguard/settings.py`).
"""

from __future__ import annotations

import asyncio
import sqlite3
import time
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime

from dialguard.store.core import Store
from dialguard.store.hotpath import is_lock_error

# A batch holds the write lock, which the decision writer waits for (it warns after 125 ms
# and the checks block after 2 s). Measured on a store of 200,000 decisions (940 MB, in the
# page cache): 500 rows held it 41 ms (p50, 61 ms at most), 2,000 rows 160-250 ms. On a
# store larger than memory a batch reads from the disk and takes longer, so the batch
# shrinks while a delete takes over TARGET_S and grows back while it takes under half.
MAX_BATCH_ROWS = 500
MIN_BATCH_ROWS = 20
TARGET_S = 0.05
PAUSE_S = 0.02  # between batches: the writers waiting for the lock go first
# Another writer holding the database (an import, a register swap) outlasts the daemon's
# short busy timeout: wait and try the same batch again, then leave it to the next pass.
LOCKED_WAITS_S = (1.0, 2.0, 4.0, 8.0, 16.0)

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


class PrunePostponed(Exception):
    """The database stayed locked by another writer; the rest waits for the next pass."""


@dataclass(frozen=True, slots=True)
class Pruned:
    decisions: int = 0
    outcomes: int = 0
    batches: int = 0


def next_batch_rows(rows: int, took_s: float, most: int = MAX_BATCH_ROWS) -> int:
    """The next batch's size after one of `rows` rows took `took_s` seconds."""
    if took_s > TARGET_S:
        return max(MIN_BATCH_ROWS, rows // 2)
    if took_s < TARGET_S / 2:
        return min(most, rows * 2)
    return rows


async def prune_history(
    store: Store,
    before: datetime,
    batch_rows: int = MAX_BATCH_ROWS,
    locked_waits_s: Sequence[float] = LOCKED_WAITS_S,
) -> Pruned:
    """Delete the decisions and call outcomes from before `before`; return how many.

    Raises PrunePostponed when the database stays locked; what was deleted stays deleted."""
    cut_off = before.timestamp()
    deleted = {"decisions": 0, "outcomes": 0}
    batches = 0
    rows = batch_rows
    for table, old_rows in _OLD_ROWS:
        while True:
            count, took_s = await _delete(
                store,
                f"DELETE FROM {table} WHERE rowid IN ({old_rows})",
                (cut_off, rows),
                locked_waits_s,
            )
            deleted[table] += count
            batches += 1
            if count < rows:
                break
            rows = next_batch_rows(rows, took_s, batch_rows)
            await asyncio.sleep(PAUSE_S)
    return Pruned(deleted["decisions"], deleted["outcomes"], batches)


async def _delete(
    store: Store, sql: str, params: tuple[float, int], locked_waits_s: Sequence[float]
) -> tuple[int, float]:
    """The rows deleted, and how long the delete that did it took (waits for a lock aside)."""
    waits = iter(locked_waits_s)
    while True:
        started = time.monotonic()
        try:
            return await store.write(sql, params), time.monotonic() - started
        except sqlite3.OperationalError as exc:
            if not is_lock_error(exc):
                raise
            wait_s = next(waits, None)
            if wait_s is None:
                raise PrunePostponed(f"the database stayed locked ({exc})") from None
            await asyncio.sleep(wait_s)
