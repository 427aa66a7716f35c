"""The inline check's path to SQLite: reads on the event loop, decision writes behind it.

Measured on this project's 2-core machine: a hop to a worker thread and back costs about
0.35 ms here, and aiosqlite makes one per statement and per fetch. So the check's reads run
synchronously on the event loop, through a connection of their own: in WAL mode a reader
never waits for a writer, and the check's two statements take about 40 us of CPU together
(`facts.py`).

Decision records go to one writer thread, which commits them in batches, one multi-row
INSERT each (it waits `COALESCE_S` after the first record of a batch: a commit costs the
writer about 0.3 ms of CPU here whatever its size, and a record about 0.06 ms more); a
reader that needs the records (`flush`) cuts the wait short. The check does not wait for the
commit, so a long write elsewhere (a register import, an operator's command) never stalls
calls. Two guarantees keep that safe:

* read-your-writes: allowed decisions not yet committed are kept in memory and merged into
  the facts of the next check on the same number (frequency caps count them), and every read
  through `Store`'s own helpers first waits for the pending writes (`flush`; the decision of
  one call waits for that call's record only);
* bounded lag: when the oldest pending write is older than `max_write_lag_s` (the database is
  locked or failing), reads raise `StoreUnavailable`, which the AGI route turns into the
  declared failure policy (`guard.error`).
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import queue
import sqlite3
import threading
import time
from collections import deque
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TypeVar

from dialguard.logs import get_logger
from rules.facts import PriorAttempt

T = TypeVar("T")
log = get_logger("dialguard.store")

BATCH_LIMIT = 500
# Under closed-loop load (about 600 checks a second) the writer's CPU per check was about
# 0.19 ms with 5 ms and 0.13 ms with 20 ms; fewer checks a second make smaller batches and
# gain more. Nothing waits for this unless it asks (`flush`), and the lag stays two orders of
# magnitude below `max_write_lag_s`.
COALESCE_S = 0.020
READ_MMAP_BYTES = 2**31 - 2**16  # SQLite's own ceiling (SQLITE_MAX_MMAP_SIZE); virtual only
READ_CACHE_KIB = 32 * 1024
_STOP = object()


class StoreUnavailable(Exception):
    """Decision records cannot be written: the database is locked or failing."""


@dataclass
class _Write:
    sql: str
    params: tuple[Any, ...]
    future: asyncio.Future[None]
    queued_at: float
    seq: int
    pending: tuple[str, PriorAttempt] | None = None
    call_id: str | None = None


@dataclass
class HotPath:
    path: Path
    busy_timeout_ms: int
    max_write_lag_s: float = 2.0
    _read: sqlite3.Connection | None = None
    _queue: queue.SimpleQueue[object] = field(default_factory=queue.SimpleQueue)
    _writer: threading.Thread | None = None
    _inflight: dict[int, _Write] = field(default_factory=dict)
    _pending_attempts: dict[str, list[PriorAttempt]] = field(default_factory=dict)
    # Sequence numbers let the event loop see commits the writer made even before the loop
    # has run their callbacks: the writer only ever raises `_committed_seq`.
    _next_seq: int = 0
    _committed_seq: int = 0
    _queued: deque[tuple[int, float]] = field(default_factory=deque)
    # Set by `flush`: the writer commits what it has now instead of waiting for more.
    _hurry: threading.Event = field(default_factory=threading.Event)
    # Set by `close`: a writer waiting out a locked or failing database gives up.
    _stopping: threading.Event = field(default_factory=threading.Event)
    _overflowing: bool = False  # records refused for want of room (write_behind)
    # The file opened (device, inode), and when it was last seen still at `path`.
    _identity: tuple[int, int] | None = None
    _seen_at: float = 0.0

    async def open(self) -> None:
        self._identity = self._file_identity()
        self._seen_at = time.monotonic()
        read = sqlite3.connect(self.path, isolation_level=None, check_same_thread=False)
        read.row_factory = sqlite3.Row
        read.execute("PRAGMA query_only = ON")
        # Register lookups are random probes into a table of millions of rows: memory-mapped
        # pages save a read() system call per page (about 10 -> 7 us a lookup when warm,
        # 40 -> 10 us cold) and are shared by every worker process through the OS page cache.
        read.execute(f"PRAGMA mmap_size = {READ_MMAP_BYTES}")
        read.execute(f"PRAGMA cache_size = -{READ_CACHE_KIB}")
        self._read = read
        loop = asyncio.get_running_loop()
        self._writer = threading.Thread(
            target=self._write_forever, args=(loop,), name="dialguard-decisions", daemon=True
        )
        self._writer.start()

    # -- reads -------------------------------------------------------------------------------

    def read(self, fn: Callable[..., T], *args: object, snapshot: bool = True) -> T:
        """Run `fn(connection, *args)` now, on the event loop (reads only).

        In one read transaction, unless `snapshot` is False: for a `fn` that runs a single
        statement, which sees one snapshot of its own."""
        if self._read is None:
            raise StoreUnavailable("the store is closed")
        self._check_lag()
        self.check_file()
        if not snapshot:
            return fn(self._read, *args)
        # One read transaction: every statement sees the same snapshot, so a register copy
        # swapped by an import in between cannot point at a table already dropped.
        self._read.execute("BEGIN")
        try:
            return fn(self._read, *args)
        finally:
            self._read.execute("COMMIT")

    def check_file(self, *, now: bool = False) -> None:
        """Raise StoreUnavailable when the database file was removed or replaced since the
        store opened it (looked at once a second at most, unless `now`). The connections
        would go on with the removed file: opt-outs acknowledged into it are lost at the
        next start, which creates an empty database."""
        checked = time.monotonic()
        if not now and checked - self._seen_at < FILE_CHECK_INTERVAL_S:
            return
        identity = self._file_identity()
        if identity is None or identity != self._identity:
            raise StoreUnavailable(
                f"the database {self.path} was removed or replaced while in use: restart"
                " dialguard once the right file is in place"
            )
        self._seen_at = checked

    def _file_identity(self) -> tuple[int, int] | None:
        try:
            stat = self.path.stat()
        except OSError:
            return None
        return stat.st_dev, stat.st_ino

    def pending_attempts(self, number: str) -> list[PriorAttempt]:
        return list(self._pending_attempts.get(number, ()))

    def _check_lag(self) -> None:
        queued = self._queued
        while queued and queued[0][0] <= self._committed_seq:
            queued.popleft()
        if not queued:
            return
        lag = time.monotonic() - queued[0][1]
        if lag > self.max_write_lag_s:
            raise StoreUnavailable(
                f"decision records have not been written for {lag:.1f} s "
                f"(the database {self.path} is locked or failing)"
            )

    # -- writes ------------------------------------------------------------------------------

    def write_behind(
        self,
        insert: str,
        params: tuple[Any, ...],
        *,
        pending: tuple[str, PriorAttempt] | None = None,
        call_id: str | None = None,
    ) -> asyncio.Future[None]:
        """Queue one row for the writer thread; the future is its commit.

        `insert` is an `INSERT ... VALUES (?, ...)` statement (see `multi_row_insert`), and
        `call_id` names the call the write is about, for `flush(call_id)`."""
        if not insert.rstrip().endswith(")"):
            raise ValueError("write_behind takes an INSERT ... VALUES (?, ...) statement")
        future = asyncio.get_running_loop().create_future()
        if len(self._inflight) >= MAX_UNWRITTEN:
            # The database has failed for a long while (the checks have been failing closed
            # after max_write_lag_s): bounded memory, at the cost of these records.
            future.set_exception(StoreUnavailable(f"{MAX_UNWRITTEN} records wait already"))
            future.exception()  # logged once below, not by asyncio for every record
            if not self._overflowing:
                log.error("decisions_not_recorded_queue_full", waiting=MAX_UNWRITTEN)
            self._overflowing = True
            return future
        self._overflowing = False
        self._next_seq += 1
        write = _Write(insert, params, future, time.monotonic(), self._next_seq, pending, call_id)
        self._queued.append((write.seq, write.queued_at))
        self._inflight[id(write)] = write
        if pending is not None:
            self._pending_attempts.setdefault(pending[0], []).append(pending[1])
        self._queue.put(write)
        return future

    async def flush(self, call_id: str | None = None) -> None:
        """Wait until every write queued so far (only those about `call_id`, when given) is
        committed or has failed. The writer stops waiting for more records to batch."""
        waiting = [
            w.future for w in self._inflight.values() if call_id is None or w.call_id == call_id
        ]
        if waiting:
            self._hurry.set()
            await asyncio.gather(*waiting, return_exceptions=True)

    def _done(self, settled: list[tuple[_Write, BaseException | None]]) -> None:
        """On the event loop: settle committed (or failed) writes."""
        failed: dict[str, int] = {}
        for write, error in settled:
            self._inflight.pop(id(write), None)
            if write.pending is not None:
                number, attempt = write.pending
                left = [a for a in self._pending_attempts.get(number, ()) if a is not attempt]
                if left:
                    self._pending_attempts[number] = left
                else:
                    self._pending_attempts.pop(number, None)
            if not write.future.done():
                if error is None:
                    write.future.set_result(None)
                else:
                    write.future.set_exception(error)
                    write.future.exception()  # logged below, once: not asyncio's per record
            if error is not None:
                failed[repr(error)] = failed.get(repr(error), 0) + 1
        for error_text, count in failed.items():
            log.error("decisions_not_recorded", count=count, error=error_text)

    def _connect_writer(self) -> sqlite3.Connection:
        conn = sqlite3.connect(self.path, isolation_level=None, check_same_thread=False)
        conn.execute(f"PRAGMA busy_timeout = {int(self.busy_timeout_ms)}")
        conn.execute("PRAGMA synchronous = NORMAL")
        return conn

    def _write_forever(self, loop: asyncio.AbstractEventLoop) -> None:
        conns: list[sqlite3.Connection] = []  # the writer's connection, made by _commit
        try:
            while True:
                item = self._queue.get()
                if item is _STOP:
                    return
                # Let a few more decisions arrive: one commit for several saves CPU that the
                # checks need. A `flush` set before this wait returns it at once; one set
                # after the clear has its writes in the queue already, drained below.
                self._hurry.wait(COALESCE_S)
                self._hurry.clear()
                batch = [item]
                while len(batch) < BATCH_LIMIT:
                    try:
                        nxt = self._queue.get_nowait()
                    except queue.Empty:
                        break
                    if nxt is _STOP:
                        self._queue.put(_STOP)
                        break
                    batch.append(nxt)
                writes = [w for w in batch if isinstance(w, _Write)]
                error = self._commit(conns, writes)
                settled = [(w, error) for w in writes]
                if error is not None and len(writes) > 1 and not self._stopping.is_set():
                    # The batch failed on its own terms (a record SQLite refuses): each
                    # record alone, so that only what must be is lost.
                    settled = [(w, self._commit(conns, [w])) for w in writes]
                self._committed_seq = max(w.seq for w in writes)  # failed ones are settled too
                if loop.is_closed():
                    return
                loop.call_soon_threadsafe(self._done, settled)
        finally:
            for conn in conns:
                conn.close()

    def _commit(self, conns: list[sqlite3.Connection], batch: list[_Write]) -> BaseException | None:
        """Commit the batch, retrying while the database is locked or failing; a record it
        refuses fails the batch.

        A database that fails (read-only, full, an I/O error, cannot be opened) is waited
        out like a lock: the batch stays unwritten, so the checks see their records lag and
        fail closed (`StoreUnavailable`, the failure policy). Settling it as failed let them
        go on allowing calls with caps that no longer counted, and no audit record."""
        delay = 0.01
        warned = False
        start = since = time.monotonic()
        while True:
            try:
                if not conns:
                    conns.append(self._connect_writer())
                conn = conns[0]
                conn.execute("BEGIN IMMEDIATE")
                try:
                    bound = conn.getlimit(sqlite3.SQLITE_LIMIT_VARIABLE_NUMBER)
                    for sql, run in itertools.groupby(batch, key=lambda w: w.sql):
                        rows = [w.params for w in run]
                        for statement in multi_row_inserts(sql, rows, bound):
                            conn.execute(*statement)
                    conn.execute("COMMIT")
                except BaseException:
                    if conn.in_transaction:  # a failed COMMIT may have ended it already
                        conn.execute("ROLLBACK")
                    raise
                if warned:
                    log.warning("decisions_recorded_after_wait", count=len(batch))
                return None
            except (sqlite3.Error, MemoryError) as exc:  # MemoryError: SQLITE_NOMEM
                if fails_the_records(exc) or self._stopping.is_set():
                    return exc  # a bad record fails its batch, not the writer
                locked = isinstance(exc, sqlite3.Error) and is_lock_error(exc)
                if not warned:
                    kind = "locked" if locked else "failing"
                    log.warning(f"database_{kind}_retrying", error=str(exc))
                    warned, since = True, time.monotonic()
                elif time.monotonic() - since >= STILL_FAILING_EVERY_S:
                    # The checks have been failing closed all this while: say so, and why.
                    log.error(
                        "decisions_still_not_recorded",
                        seconds=round(time.monotonic() - start, 1),
                        waiting=len(batch),
                        error=str(exc),
                    )
                    since = time.monotonic()
                if not locked and conns:
                    # A fresh connection: this one may hold a file replaced meanwhile.
                    with contextlib.suppress(sqlite3.Error):
                        conns.pop().close()
                time.sleep(delay)
                delay = min(delay * 2, 0.5)
            except Exception as exc:
                return exc

    async def close(self, timeout_s: float = 5.0) -> None:
        try:
            await asyncio.wait_for(self.flush(), timeout_s)
        except TimeoutError:
            log.error("decisions_not_recorded_at_close", count=len(self._inflight))
        self._stopping.set()
        self._queue.put(_STOP)
        writer, self._writer = self._writer, None
        if writer is not None:
            await asyncio.get_running_loop().run_in_executor(None, writer.join, timeout_s)
        read, self._read = self._read, None
        if read is not None:
            read.close()


# SQLite's primary result codes for what is wrong with a record (a constraint, a value it
# cannot bind or store): that record fails again, so retrying cannot help. Every other code
# is the database's state, which passes or needs an operator, and is waited out: busy,
# locked, read-only, full, I/O error, corrupt, cannot open, and SQLITE_ERROR, whose "no such
# column" comes from a schema a newer dialguard migrated under this one (the inserts keep
# within the parameter bound, so "too many SQL variables" does not come).
_STATEMENT_CODES = frozenset({18, 19, 20, 25})  # TOOBIG, CONSTRAINT, MISMATCH, RANGE
_RECORD_ERRORS = (
    sqlite3.IntegrityError,
    sqlite3.DataError,
    sqlite3.InterfaceError,
    sqlite3.ProgrammingError,
)


def fails_the_records(exc: sqlite3.Error | MemoryError) -> bool:
    """The write itself is wrong (it fails again however long one waits), not the database's
    state (locked, full, failing), which passes or needs an operator."""
    if isinstance(exc, MemoryError):
        return False
    if isinstance(exc, _RECORD_ERRORS):
        return True
    code = getattr(exc, "sqlite_errorcode", None)
    if code is None:  # no code to tell by: only a lock is known to pass
        return not is_lock_error(exc)
    return (code & 0xFF) in _STATEMENT_CODES


FILE_CHECK_INTERVAL_S = 1.0
# While records wait for a failing database, an error line this often: the checks fail closed
# meanwhile, and an error that never passes (a bug in our own SQL) must not look like a lock.
STILL_FAILING_EVERY_S = 60.0
# Records kept waiting for a failing database, at most: some 100 MB (a few KB each), a few
# minutes of a busy PBX's calls, which by then are failing closed anyway.
MAX_UNWRITTEN = 20_000


def multi_row_inserts(
    insert: str, rows: list[tuple[Any, ...]], max_variables: int
) -> Iterator[tuple[str, tuple[Any, ...]]]:
    """`multi_row_insert` statements for all `rows`, each binding at most `max_variables`
    parameters: SQLite before 3.32 binds 999 by default, less than a batch of decisions."""
    per_statement = max(1, max_variables // max(1, len(rows[0]))) if rows else 1
    for start in range(0, len(rows), per_statement):
        yield multi_row_insert(insert, rows[start : start + per_statement])


def multi_row_insert(insert: str, rows: list[tuple[Any, ...]]) -> tuple[str, tuple[Any, ...]]:
    """One `INSERT ... VALUES (...), (...), ...` statement for all `rows` of `insert`.

    One statement is one sqlite3 step, so the writer thread gives the GIL back to the event
    loop once per batch instead of once per row: every hand-over costs the loop a thread
    switch, and executemany made two per row. `multi_row_inserts` keeps each statement
    within the SQLite build's bound on parameters (32,766 since 3.32, 999 before).
    """
    if len(rows) == 1:
        return insert, rows[0]
    values = insert[insert.rindex("(") :]
    return insert + f", {values}" * (len(rows) - 1), tuple(itertools.chain.from_iterable(rows))


def is_lock_error(exc: sqlite3.Error) -> bool:
    """Another connection holds the database ("database is locked", "... busy"): it will
    pass, where other errors may not."""
    return "locked" in str(exc) or "busy" in str(exc)
