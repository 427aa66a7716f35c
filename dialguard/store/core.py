"""Opening, migrating and the hot-path queries (facts for a call, recording a decision)."""

from __future__ import annotations

import asyncio
import contextlib
import json
import sqlite3
import time
from collections.abc import AsyncIterator, Iterable, Sequence
from dataclasses import replace
from datetime import date, datetime
from pathlib import Path
from typing import Any

import aiosqlite

from dialguard.store.facts import (
    INSERT_DECISION,
    FactsCache,
    decision_row,
    gather_facts,
    quick_facts,
    suppression_as_dict,
)
from dialguard.store.hotpath import HotPath, is_lock_error
from dialguard.store.schema import MIGRATIONS, SCHEMA_VERSION, actor_trigger
from dialguard.store.timeconv import from_epoch, require_epoch, to_epoch
from rules.facts import (
    Facts,
    PriorAttempt,
    RegisterCopy,
    SuppressionEntry,
)
from rules.models import CallAttempt, Decision
from rules.outcomes import CallOutcome, outranks
from rules.ports import DecisionSummary, FactQuery


class StoreError(Exception):
    """The store cannot be used: the message names the file and what is wrong."""


async def open_store(
    path: str | Path,
    *,
    busy_timeout_ms: int = 5000,
    max_write_lag_s: float = 2.0,
    actor: str = "dialguard",
) -> Store:
    """Open (creating and migrating when needed) the SQLite store at `path`. `actor` is who
    the changes made through it are from, as the events table records them (`cli:alice`,
    `serve`)."""
    db_path = Path(path).expanduser()
    connecting: aiosqlite.Connection | None = None
    try:
        db_path.parent.mkdir(parents=True, exist_ok=True)
        connecting = aiosqlite.connect(db_path, isolation_level=None)
        conn = await connecting
    except (OSError, sqlite3.Error) as exc:
        # aiosqlite stops its worker thread behind the failure, and the thread then posts to
        # the event loop: once `asyncio.run` had closed it, that printed a traceback under the
        # one-line error. Joined here first (aiosqlite has no public way to wait for it).
        thread = getattr(connecting, "_thread", None)
        if thread is not None and thread.is_alive():
            thread.join(1.0)
        raise StoreError(f"cannot open the database {db_path}: {exc}") from exc
    conn.row_factory = sqlite3.Row
    store = Store(conn, db_path, HotPath(db_path, busy_timeout_ms, max_write_lag_s), actor)
    try:
        await store._setup(busy_timeout_ms)
        await store._hot.open()
    except sqlite3.Error as exc:
        await store.close()
        raise StoreError(f"cannot use the database {db_path}: {exc}") from exc
    except BaseException:
        await store.close()  # its connection's thread would keep the process alive
        raise
    return store


async def _roll_back(conn: aiosqlite.Connection) -> None:
    """ROLLBACK, unless SQLite has rolled the transaction back itself: it does on a full disk
    or an I/O error, and a ROLLBACK then raised "no transaction is active" in place of the
    error that said what had happened."""
    if conn.in_transaction:
        await conn.execute("ROLLBACK")


# Add an opt-out, or refresh the one for the same number and scope: the earliest request,
# the longer expiry (a later import never shortens an opt-out, nor puts an end to a permanent
# one such as the callee's own IVR request; to shorten one, remove it and add it again), and
# the reason and source of the request that expiry comes from, so that the record still says
# who asked for what it does. An entry that had ended before the new request was made is
# replaced by it: merged, it would date the new request back across the time nothing was in
# force, and calls placed then would count as calls to an opted-out number (the `breach`
# detector). `rows`: VALUES or a SELECT of the eight columns.
_LAPSED = "(expires_at IS NOT NULL AND expires_at <= excluded.requested_at)"
# The mirror case: the new request had ended before the stored one was made (an old line of
# a list imported after the callee's IVR opt-out). It changes nothing.
_ENDED_BEFORE = "(excluded.expires_at IS NOT NULL AND excluded.expires_at <= requested_at)"
_NEW_EXPIRY_WINS = (
    f"({_LAPSED} OR excluded.expires_at IS NULL OR (expires_at IS NOT NULL"
    " AND excluded.expires_at >= expires_at))"
)
SUPPRESSION_UPSERT = (
    "INSERT INTO suppressions (number, tenant, campaign, reason, source, requested_at,"
    " expires_at, created_at) {rows}"
    " ON CONFLICT (number, tenant, campaign) DO UPDATE SET"
    f" reason = CASE WHEN {_NEW_EXPIRY_WINS} THEN excluded.reason ELSE reason END,"
    f" source = CASE WHEN {_NEW_EXPIRY_WINS} THEN excluded.source ELSE source END,"
    f" requested_at = CASE WHEN {_LAPSED} THEN excluded.requested_at"
    " ELSE min(requested_at, excluded.requested_at) END,"
    f" expires_at = CASE WHEN {_LAPSED} THEN excluded.expires_at"
    " WHEN expires_at IS NULL OR excluded.expires_at IS NULL THEN NULL"
    " ELSE max(expires_at, excluded.expires_at) END,"
    f" created_at = CASE WHEN {_LAPSED} THEN excluded.created_at ELSE created_at END"
    f" WHERE NOT {_ENDED_BEFORE}"
)


async def insert_event(
    conn: aiosqlite.Connection, at: float, kind: str, detail: dict[str, Any]
) -> None:
    """An event written in the caller's transaction, so that it stands or falls with the
    change it records (`Store.log_event` writes one in a transaction of its own)."""
    await conn.execute(
        "INSERT INTO events (at, kind, detail) VALUES (?, ?, ?)", (at, kind, json.dumps(detail))
    )


class Store:
    """Async access to the SQLite store. Fills `FactSource`, `DecisionLog`,
    `SuppressionWriter` and `OutcomeSink`."""

    def __init__(
        self, conn: aiosqlite.Connection, path: Path, hot: HotPath, actor: str = "dialguard"
    ) -> None:
        self.conn = conn
        self.path = path
        self.actor = actor
        self._hot = hot
        self._facts_cache = FactsCache()
        # One transaction at a time on the shared connection. `serve` writes through it from
        # several tasks (IVR opt-outs, AMI outcomes, flags); their statements interleaved,
        # so one ran inside another's transaction: two opt-outs at once failed ("Safety
        # level may not be changed inside a transaction"), or one was acknowledged after a
        # commit at synchronous=NORMAL, not yet on disk.
        self._serial = asyncio.Lock()

    @contextlib.asynccontextmanager
    async def exclusive(self) -> AsyncIterator[aiosqlite.Connection]:
        """The shared connection, to this task alone: hold it for a whole transaction
        (`writing` opens one in it)."""
        self._hot.check_file()  # not into a removed file: outcomes, flags, events lost too
        async with self._serial:
            yield self.conn

    async def _setup(self, busy_timeout_ms: int) -> None:
        await self.conn.execute(f"PRAGMA busy_timeout = {int(busy_timeout_ms)}")
        await self._refuse_a_foreign_database()
        await self._enter_wal(busy_timeout_ms)
        # NORMAL is crash-safe in WAL mode (an application crash loses nothing committed);
        # opt-outs switch to FULL for their own commit, see add_suppression.
        await self.conn.execute("PRAGMA synchronous = NORMAL")
        await self.conn.execute("PRAGMA foreign_keys = ON")
        await self._migrate()
        await self.conn.execute(actor_trigger(self.actor))

    async def _enter_wal(self, busy_timeout_ms: int) -> None:
        """Switch the file to WAL mode (it stays so). On a new file, processes opening it
        together race for the exclusive lock the switch needs, and SQLite reports the loser
        at once as "database is locked", without waiting in its busy handler: so wait here,
        within the same busy timeout."""
        deadline = time.monotonic() + busy_timeout_ms / 1000
        delay = 0.005
        while True:
            try:
                await self.conn.execute("PRAGMA journal_mode = WAL")
                return
            except sqlite3.OperationalError as exc:
                if "locked" not in str(exc) or time.monotonic() + delay > deadline:
                    raise
            await asyncio.sleep(delay)
            delay = min(delay * 2, 0.1)

    async def _refuse_a_foreign_database(self) -> None:
        """Before anything is changed: a `--db` that names another application's SQLite file
        (Asterisk's astdb, say) was switched to WAL mode and given dialguard's tables. A
        dialguard database is empty, or has a schema version and its `suppressions` table
        from its first migration on.

        One statement, so one snapshot: read apart, another process's first migration
        committed in between showed version 0 with tables, a dialguard file refused."""
        async with self.conn.execute(
            "SELECT user_version,"
            " (SELECT count(*) FROM sqlite_master WHERE name NOT LIKE 'sqlite!_%' ESCAPE '!'),"
            " (SELECT count(*) FROM sqlite_master WHERE type = 'table' AND name = 'suppressions')"
            " FROM pragma_user_version"
        ) as cur:
            row = await cur.fetchone()
        version, tables, ours = (int(v) for v in row) if row is not None else (0, 0, 0)
        if version < 0 or (version == 0 and tables) or (version > 0 and not ours):
            raise StoreError(
                f"{self.path} is not a dialguard database (it holds another application's"
                f" tables, schema version {version}): give dialguard a file of its own"
            )

    async def _migrate(self) -> None:
        version = await self._user_version()
        if version > SCHEMA_VERSION:
            raise StoreError(
                f"the database {self.path} has schema version {version}, newer than this "
                f"dialguard understands ({SCHEMA_VERSION}); upgrade dialguard"
            )
        for number, statements in enumerate(MIGRATIONS[version:], start=version + 1):
            await self.conn.execute("BEGIN IMMEDIATE")
            try:
                # Another process (the daemon, a CLI command) may have migrated meanwhile.
                if await self._user_version() < number:
                    for step in statements:
                        if isinstance(step, str):
                            await self.conn.execute(step)
                        else:
                            await step(self.conn)
                    await self.conn.execute(f"PRAGMA user_version = {number}")
                await self.conn.execute("COMMIT")
            except BaseException:
                await _roll_back(self.conn)
                raise

    async def cannot_write(self) -> str | None:
        """Why the database cannot be written (a read-only file, folder or mount), or None.

        Opening, reading and even `BEGIN IMMEDIATE` all succeed on a read-only file: only a
        write fails. So one is tried, changing nothing (the schema version set to itself),
        and rolled back. A lock held elsewhere (an import) is not a reason: writes wait it
        out. So the probe does not wait for one: `serve` waited the whole busy timeout at
        start while an import held the database, to conclude nothing."""
        version = await self._user_version()
        async with self.conn.execute("PRAGMA busy_timeout") as cur:
            row = await cur.fetchone()
        await self.conn.execute("PRAGMA busy_timeout = 0")
        try:
            await self.conn.execute("BEGIN IMMEDIATE")
            try:
                await self.conn.execute(f"PRAGMA user_version = {version}")
            finally:
                await _roll_back(self.conn)
        except sqlite3.OperationalError as exc:
            if is_lock_error(exc):
                return None
            return str(exc)
        finally:
            await self.conn.execute(f"PRAGMA busy_timeout = {int(row[0]) if row else 0}")
        return None

    async def _user_version(self) -> int:
        async with self.conn.execute("PRAGMA user_version") as cur:
            row = await cur.fetchone()
        return int(row[0]) if row else 0

    async def close(self) -> None:
        await self._hot.close()
        await self.conn.close()

    async def __aenter__(self) -> Store:
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.close()

    # -- small helpers -------------------------------------------------------------------

    async def fetchall(
        self, sql: str, params: Sequence[Any] | dict[str, Any] = ()
    ) -> list[sqlite3.Row]:
        await self._hot.flush()
        async with self.conn.execute(sql, params) as cur:
            return list(await cur.fetchall())

    async def fetchone(
        self, sql: str, params: Sequence[Any] | dict[str, Any] = ()
    ) -> sqlite3.Row | None:
        await self._hot.flush()
        async with self.conn.execute(sql, params) as cur:
            return await cur.fetchone()

    async def write(self, sql: str, params: Sequence[Any] | dict[str, Any] = ()) -> int:
        """Run one statement in its own transaction; returns the row count."""
        async with self.exclusive() as conn, conn.execute(sql, params) as cur:
            return cur.rowcount

    @contextlib.asynccontextmanager
    async def writing(self, *, durable: bool = False) -> AsyncIterator[aiosqlite.Connection]:
        """One write transaction on the shared connection, to this task alone: BEGIN
        IMMEDIATE, COMMIT when the block ends, ROLLBACK when it raises. `durable`: committed
        with synchronous=FULL, on disk before the block is left (an opt-out is acknowledged
        only then)."""
        async with self.exclusive() as conn:
            if durable:
                await conn.execute("PRAGMA synchronous = FULL")
            try:
                await conn.execute("BEGIN IMMEDIATE")
                try:
                    yield conn
                    await conn.execute("COMMIT")
                except BaseException:
                    await _roll_back(conn)
                    raise
            finally:
                if durable:
                    await conn.execute("PRAGMA synchronous = NORMAL")

    async def transaction(
        self, statements: Iterable[tuple[str, Sequence[Any]]], *, durable: bool = False
    ) -> int:
        """Run the statements in one transaction; the rows they changed, together."""
        changed = 0
        async with self.writing(durable=durable) as conn:
            for sql, params in statements:
                cursor = await conn.execute(sql, params)
                changed += max(cursor.rowcount, 0)
        return changed

    async def durable_transaction(self, statements: Iterable[tuple[str, Sequence[Any]]]) -> int:
        """`transaction`, committed with synchronous=FULL (`writing`)."""
        return await self.transaction(statements, durable=True)

    async def log_event(
        self, kind: str, detail: dict[str, Any], at: datetime | None = None
    ) -> None:
        when = to_epoch(at) if at is not None else time.time()
        await self.write(
            "INSERT INTO events (at, kind, detail) VALUES (?, ?, ?)",
            (when, kind, json.dumps(detail, default=str)),
        )

    # -- FactSource ----------------------------------------------------------------------

    async def facts_for(self, query: FactQuery) -> Facts:
        """Everything the rules need for one call (see `hotpath.py` and `facts.py`)."""
        cache = self._facts_cache
        facts = self._hot.read(quick_facts, query, cache, snapshot=False)
        if facts is None:
            facts = self._hot.read(gather_facts, query, cache)
        pending = self._hot.pending_attempts(query.number) if query.number else []
        if pending:
            facts = replace(facts, attempts=(*facts.attempts, *pending))
        return facts

    @property
    def max_write_lag_s(self) -> float:
        return self._hot.max_write_lag_s

    async def flush(self) -> None:
        """Wait until every decision record accepted so far is committed."""
        await self._hot.flush()

    async def register_copies(self) -> dict[str, RegisterCopy]:
        rows = await self.fetchall("SELECT * FROM register_copies")
        return {
            row["register"]: RegisterCopy(
                row["register"],
                date.fromisoformat(row["as_of"]),
                row["count"],
                row["checksum"],
                require_epoch(row["imported_at"]),
            )
            for row in rows
        }

    # -- DecisionLog -----------------------------------------------------------------------

    async def record_decision(
        self, attempt: CallAttempt, decision: Decision, latency_ms: float, source: str
    ) -> None:
        """Queue the audit record (see `hotpath.py`): an allowed call counts for the next
        check at once, and the record is committed within milliseconds."""
        pending = None
        if decision.allowed and source == "agi" and decision.number:
            pending = (
                decision.number,
                PriorAttempt(
                    attempt.at,
                    attempt.tenant,
                    attempt.campaign,
                    attempt.purpose.value,
                    "decision",
                    attempt.call_id,
                    automated=attempt.automated,
                ),
            )
        row = decision_row(attempt, decision, latency_ms, source)
        self._hot.write_behind(INSERT_DECISION, row, pending=pending, call_id=attempt.call_id)

    async def decision_for_call(self, call_id: str) -> sqlite3.Row | None:
        # Waits for this call's record only: the AMI listener asks once per call, and waiting
        # for every pending record would cut short the writer's batches each time.
        await self._hot.flush(call_id)
        async with self.conn.execute(
            "SELECT * FROM decisions WHERE call_id = ? ORDER BY id DESC LIMIT 1", (call_id,)
        ) as cur:
            return await cur.fetchone()

    async def tenants_that_reached(
        self, numbers: Sequence[str], since: datetime
    ) -> list[tuple[str, str]]:
        """(tenant, number) of the calls allowed to any of `numbers` since `since`, the
        latest first (the decisions' number index)."""
        if not numbers:
            return []
        marks = ", ".join("?" * len(numbers))
        rows = await self.fetchall(
            f"SELECT tenant, number, max(decided_at) AS last FROM decisions WHERE number IN"
            f" ({marks}) AND decided_at >= ? AND verdict = 'allow' GROUP BY tenant, number"
            " ORDER BY last DESC",
            (*numbers, since.timestamp()),
        )
        return [(row[0], row[1]) for row in rows]

    async def decision_summary(self, call_id: str) -> DecisionSummary | None:
        """The latest decision for `call_id`, as the AMI listener needs it (ListenerSink)."""
        row = await self.decision_for_call(call_id)
        if row is None:
            return None
        return DecisionSummary(
            call_id=row["call_id"],
            tenant=row["tenant"],
            campaign=row["campaign"] or None,
            number=row["number"] or None,
            verdict=row["verdict"],
        )

    # -- SuppressionWriter ---------------------------------------------------------------

    async def add_suppression(self, entry: SuppressionEntry) -> bool:
        """Insert or refresh an opt-out, and its event, in one transaction; returns once it
        is on disk (synchronous = FULL). Every route (an operator's command, the IVR's
        opt-out, the AMI listener's) leaves the same trail.

        False when nothing changed: the entry of that scope began after this request had
        lapsed (SUPPRESSION_UPSERT), so it stands as it was, and no event is written."""
        self._hot.check_file(now=True)  # not into a removed file: it would be lost
        now = time.time()
        async with self.writing(durable=True) as conn:
            cursor = await conn.execute(
                SUPPRESSION_UPSERT.format(rows="VALUES (?, ?, ?, ?, ?, ?, ?, ?)"),
                (
                    entry.number,
                    entry.tenant or "",
                    entry.campaign or "",
                    entry.reason,
                    entry.source,
                    to_epoch(entry.requested_at),
                    to_epoch(entry.expires_at),
                    now,
                ),
            )
            changed = cursor.rowcount > 0
            if changed:
                await insert_event(conn, now, "suppression.add", suppression_as_dict(entry))
        return changed

    # -- OutcomeSink -----------------------------------------------------------------------

    async def upsert_outcome(self, outcome: CallOutcome) -> None:
        row = await self.fetchone("SELECT * FROM outcomes WHERE call_id = ?", (outcome.call_id,))
        merged = outcome_from_row(row).merged(outcome) if row is not None else outcome
        if outranks(outcome.disposition, merged.disposition):
            # Known values are kept, unless the new disposition outranks the stored one.
            merged = replace(merged, disposition=outcome.disposition, billsec=outcome.billsec)
        await self.write(
            "INSERT OR REPLACE INTO outcomes (call_id, linkedid, number, dialled, caller_id, tenant,"
            " campaign, started_at, answered_at, ended_at, disposition, cause, cause_txt, billsec,"
            " abandoned, source, updated_at, amd, automated)"
            " VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
            (
                merged.call_id,
                merged.linkedid,
                merged.number,
                merged.dialled,
                merged.caller_id,
                merged.tenant,
                merged.campaign,
                to_epoch(merged.started_at),
                to_epoch(merged.answered_at),
                to_epoch(merged.ended_at),
                merged.disposition,
                merged.cause,
                merged.cause_txt,
                merged.billsec,
                int(merged.abandoned),
                merged.source,
                time.time(),
                merged.amd,
                int(merged.automated),
            ),
        )

    async def outcomes_between(self, start: datetime, end: datetime) -> list[CallOutcome]:
        rows = await self.fetchall(
            "SELECT * FROM outcomes WHERE started_at >= ? AND started_at < ? ORDER BY started_at",
            (to_epoch(start), to_epoch(end)),
        )
        return [outcome_from_row(row) for row in rows]


def outcome_from_row(row: sqlite3.Row) -> CallOutcome:
    return CallOutcome(
        call_id=row["call_id"],
        linkedid=row["linkedid"],
        number=row["number"],
        dialled=row["dialled"],
        caller_id=row["caller_id"],
        tenant=row["tenant"],
        campaign=row["campaign"],
        started_at=from_epoch(row["started_at"]),
        answered_at=from_epoch(row["answered_at"]),
        ended_at=from_epoch(row["ended_at"]),
        disposition=row["disposition"],
        cause=row["cause"],
        cause_txt=row["cause_txt"],
        billsec=row["billsec"],
        abandoned=bool(row["abandoned"]),
        source=row["source"],
        amd=row["amd"],
        automated=bool(row["automated"]),
    )
