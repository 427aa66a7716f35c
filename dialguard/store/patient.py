"""The AMI listener's view of the store: its writes wait out a locked database.

The store's connection gives up on a lock after half the AGI deadline (`serve` opens it with
a busy timeout of 125 ms by default): right for the inline check, which must decide within its
budget, wrong for the listener. An opt-out raised in the IVR (`UserEvent(DialguardOptOut)`)
and a call's outcome exist nowhere else once the listener drops them, and another process
holding the write lock for a second (an import, a long `dialguard` command) would have lost
them. So each write is retried, with backoff, until it succeeds or the listener stops. While
it waits, the events that arrive queue in memory, up to the listener's `max_queue` (20,000);
past that the listener stops reading, and Asterisk disconnects a reader that stops for longer
than the manager user's `writetimeout`: the events of that gap are lost, and the gap logged
(`ami_gap`). The IVR's AGI opt-out, which answers only once its entry is on disk, is the path
that never loses one.

A database that fails (full, an I/O error, read-only, cannot be opened) is waited out the same
way, as the decision writer waits it out (`hotpath.fails_the_records`): one "disk is full"
lost the opt-out for good. But not for ever: after `MAX_FAILING_S` the write is given up, so
that the listener reads on. An opt-out given up so, or cut short by `serve` stopping, is not
lost: given `pending`, it is spooled beside the database and retried until it lands
(`spool.PendingOptOuts`), and the write raises `OptOutPending`. An outcome or an event given
up is only logged: it is a record of the past, where an opt-out lost lets calls through.
A write that is wrong itself (a constraint) is given up at once.
"""

from __future__ import annotations

import asyncio
import sqlite3
import time
from collections.abc import Awaitable, Callable
from contextlib import nullcontext
from datetime import datetime
from typing import Any, TypeVar

import structlog

from dialguard.store.core import Store
from dialguard.store.hotpath import (
    STILL_FAILING_EVERY_S,
    StoreUnavailable,
    fails_the_records,
    is_lock_error,
)
from dialguard.store.spool import PendingOptOuts
from rules.facts import SuppressionEntry
from rules.outcomes import CallOutcome
from rules.ports import DecisionSummary, OptOutPending

log = structlog.get_logger("dialguard.store")

T = TypeVar("T")

FIRST_DELAY_S = 0.05
MAX_DELAY_S = 2.0
# How long a failing database (not a lock, which passes) is waited for before a write is
# given up: some minutes to mend a full disk, well before a stopped listener's queue fills.
MAX_FAILING_S = 300.0


class PatientSink:
    """`ListenerSink` over a `Store`: a locked database is waited for, never a lost write."""

    def __init__(
        self,
        store: Store,
        *,
        first_delay_s: float = FIRST_DELAY_S,
        max_delay_s: float = MAX_DELAY_S,
        writer: str = "ami",
        max_failing_s: float = MAX_FAILING_S,
        pending: PendingOptOuts | None = None,
    ) -> None:
        self.store = store
        self.pending = pending  # keeps the opt-outs given up; None: they are only logged
        self.writer = writer  # names its log lines: `ami_write_waiting_for_lock`, `agi_...`
        self.first_delay_s = first_delay_s
        self.max_delay_s = max_delay_s
        self.max_failing_s = max_failing_s

    async def add_suppression(self, entry: SuppressionEntry) -> None:
        # Held by the checks while it waits out a lock (an IVR opt-out let the next calls
        # through until its write landed), and once kept.
        held = self.pending.writing(entry) if self.pending is not None else nullcontext()
        with held:
            await self._add_suppression(entry)

    async def _add_suppression(self, entry: SuppressionEntry) -> None:
        try:
            await self._patiently("add_suppression", lambda: self.store.add_suppression(entry))
        except asyncio.CancelledError as stop:
            # `serve` stops while the write waits: one more way it is given up. Spooled, it
            # is written at the next start. Still a cancellation (the task must end), marked
            # so that the caller says it is kept, not lost.
            if self.keep_at_stop(entry):
                raise stop from OptOutPending("dialguard stopped first")
            raise
        except (sqlite3.Error, MemoryError, StoreUnavailable) as exc:
            if self.pending is None or (
                not isinstance(exc, StoreUnavailable) and fails_the_records(exc)
            ):
                raise  # a write the database refuses is refused again: the caller logs it
            await self.pending.keep(entry, exc)
            raise OptOutPending(repr(exc)[:300]) from exc

    def keep_at_stop(self, entry: SuppressionEntry) -> bool:
        """Spool an opt-out for the next start instead of writing it (`serve` is stopping);
        False when there is no spool or it cannot be written."""
        return self.pending is not None and self.pending.keep_at_stop(entry)

    async def upsert_outcome(self, outcome: CallOutcome) -> None:
        await self._patiently("upsert_outcome", lambda: self.store.upsert_outcome(outcome))

    async def log_event(self, kind: str, detail: dict[str, Any]) -> None:
        await self._patiently("log_event", lambda: self.store.log_event(kind, detail))

    # Reads: WAL never locks a reader out.
    async def decision_summary(self, call_id: str) -> DecisionSummary | None:
        return await self.store.decision_summary(call_id)

    async def outcomes_between(self, start: datetime, end: datetime) -> list[CallOutcome]:
        return await self.store.outcomes_between(start, end)

    async def _patiently(self, write: str, work: Callable[[], Awaitable[T]]) -> T:
        delay = self.first_delay_s
        waiting_since: float | None = None
        failed_for = 0.0  # time spent on a failing database, locks left out
        failing = False  # the last error was a failure, not a lock
        failed = False  # some error was
        last = said_at = 0.0
        while True:
            try:
                result = await work()
            except (sqlite3.Error, MemoryError) as exc:
                if fails_the_records(exc):
                    raise
                now = time.monotonic()
                waiting_since = waiting_since or now
                if failing:  # the time since the last error was spent failing
                    failed_for += now - last
                failing, last = not _is_lock(exc), now
                if failing and not failed:
                    failed, said_at = True, 0.0  # a lock that turned into a failure: said
                waiting_for = "database" if failing else "lock"
                if failed_for > self.max_failing_s:
                    # Given up, so that the listener reads on (stopped, Asterisk would drop
                    # it and every event of the gap); the caller logs what to add by hand.
                    # A lock passes, and is waited for as long as it lasts.
                    log.error(f"{self.writer}_write_given_up", write=write, error=str(exc))
                    raise
                if now - said_at >= STILL_FAILING_EVERY_S:
                    # A lock is routine; a failing database needs an operator: said again
                    # every minute until it passes, as the decision writer does.
                    said_at = now
                    emit = log.warning if waiting_for == "lock" else log.error
                    emit(
                        f"{self.writer}_write_waiting_for_{waiting_for}",
                        write=write,
                        error=str(exc),
                    )
                await asyncio.sleep(delay)
                delay = min(delay * 2, self.max_delay_s)
                continue
            if waiting_since is not None:
                waited = round(time.monotonic() - waiting_since, 3)
                kind = "database" if failed else "lock"
                log.warning(f"{self.writer}_write_done_after_{kind}", write=write, waited_s=waited)
            return result


def _is_lock(exc: sqlite3.Error | MemoryError) -> bool:
    return isinstance(exc, sqlite3.Error) and is_lock_error(exc)
