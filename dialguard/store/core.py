"""Opening, migrating and the hot-path queries (facts for a call, recording a decision)."""

from __future__ import annotations

import json
import sqlite3
import time
from collections.abc import Iterable, Sequence
from datetime import date, datetime
from pathlib import Path
from typing import Any

import aiosqlite

from dialguard.store.schema import MIGRATIONS, SCHEMA_VERSION
from dialguard.store.timeconv import from_epoch, require_epoch, to_epoch
from rules.facts import (
    CallerIdRecord,
    ConsentKind,
    ConsentRecord,
    Facts,
    PriorAttempt,
    RegisterCopy,
    RegisterHit,
    SuppressionEntry,
    Suspension,
)
from rules.models import CallAttempt, Decision
from rules.numbers import register_key
from rules.outcomes import CallOutcome
from rules.ports import DecisionSummary, FactQuery


class StoreError(Exception):
    """The store cannot be used: the message names the file and what is wrong."""


async def open_store(path: str | Path, *, busy_timeout_ms: int = 5000) -> Store:
    """Open (creating and migrating when needed) the SQLite store at `path`."""
    db_path = Path(path).expanduser()
    try:
        db_path.parent.mkdir(parents=True, exist_ok=True)
        conn = await aiosqlite.connect(db_path, isolation_level=None)
    except (OSError, sqlite3.Error) as exc:
        raise StoreError(f"cannot open the database {db_path}: {exc}") from exc
    conn.row_factory = sqlite3.Row
    store = Store(conn, db_path)
    try:
        await store._setup(busy_timeout_ms)
    except sqlite3.Error as exc:
        await conn.close()
        raise StoreError(f"cannot use the database {db_path}: {exc}") from exc
    return store


class Store:
    """Async access to the SQLite store. Fills `FactSource`, `DecisionLog`,
    `SuppressionWriter` and `OutcomeSink`."""

    def __init__(self, conn: aiosqlite.Connection, path: Path) -> None:
        self.conn = conn
        self.path = path
        self._register_tables: dict[str, str] = {}

    async def _setup(self, busy_timeout_ms: int) -> None:
        await self.conn.execute(f"PRAGMA busy_timeout = {int(busy_timeout_ms)}")
        await self.conn.execute("PRAGMA journal_mode = WAL")
        # NORMAL is crash-safe in WAL mode (an application crash loses nothing committed);
        # opt-outs switch to FULL for their own commit, see add_suppression.
        await self.conn.execute("PRAGMA synchronous = NORMAL")
        await self.conn.execute("PRAGMA foreign_keys = ON")
        await self._migrate()

    async def _migrate(self) -> None:
        async with self.conn.execute("PRAGMA user_version") as cur:
            row = await cur.fetchone()
        version = int(row[0]) if row else 0
        if version > SCHEMA_VERSION:
            raise StoreError(
                f"the database {self.path} has schema version {version}, newer than this "
                f"dialguard understands ({SCHEMA_VERSION}); upgrade dialguard"
            )
        for number, statements in enumerate(MIGRATIONS[version:], start=version + 1):
            await self.conn.execute("BEGIN IMMEDIATE")
            try:
                for statement in statements:
                    await self.conn.execute(statement)
                await self.conn.execute(f"PRAGMA user_version = {number}")
                await self.conn.execute("COMMIT")
            except BaseException:
                await self.conn.execute("ROLLBACK")
                raise

    async def close(self) -> None:
        await self.conn.close()

    async def __aenter__(self) -> Store:
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.close()

    # -- small helpers -------------------------------------------------------------------

    async def fetchall(
        self, sql: str, params: Sequence[Any] | dict[str, Any] = ()
    ) -> list[sqlite3.Row]:
        async with self.conn.execute(sql, params) as cur:
            return list(await cur.fetchall())

    async def fetchone(
        self, sql: str, params: Sequence[Any] | dict[str, Any] = ()
    ) -> sqlite3.Row | None:
        async with self.conn.execute(sql, params) as cur:
            return await cur.fetchone()

    async def write(self, sql: str, params: Sequence[Any] | dict[str, Any] = ()) -> int:
        """Run one statement in its own transaction; returns the row count."""
        async with self.conn.execute(sql, params) as cur:
            return cur.rowcount

    async def transaction(self, statements: Iterable[tuple[str, Sequence[Any]]]) -> None:
        await self.conn.execute("BEGIN IMMEDIATE")
        try:
            for sql, params in statements:
                await self.conn.execute(sql, params)
            await self.conn.execute("COMMIT")
        except BaseException:
            await self.conn.execute("ROLLBACK")
            raise

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
        copies = await self.register_copies()
        number = query.number
        suppressions: tuple[SuppressionEntry, ...] = ()
        hits: dict[str, RegisterHit] = {}
        consents: tuple[ConsentRecord, ...] = ()
        attempts: tuple[PriorAttempt, ...] = ()
        if number is not None:
            suppressions = tuple(
                _suppression(row)
                for row in await self.fetchall(
                    "SELECT * FROM suppressions WHERE number = ?", (number,)
                )
            )
            hits = await self._register_hits(number, query.registers, copies)
            consents = tuple(
                _consent(row)
                for row in await self.fetchall(
                    "SELECT * FROM consents WHERE number = ? AND tenant = ?", (number, query.tenant)
                )
            )
            attempts = await self._attempts(number, to_epoch(query.attempts_since) or 0.0)
        cid_records: tuple[CallerIdRecord, ...] = ()
        cid_hits: dict[str, RegisterHit] = {}
        if query.caller_id is not None:
            cid_records = tuple(
                CallerIdRecord(row["number"], row["tenant"], row["pool"] or None)
                for row in await self.fetchall(
                    "SELECT number, tenant, pool FROM caller_ids WHERE number = ?",
                    (query.caller_id,),
                )
            )
            cid_hits = await self._register_hits(query.caller_id, query.caller_id_registers, copies)
        has_inventory = (
            await self.fetchone(
                "SELECT 1 FROM caller_ids WHERE tenant = ? LIMIT 1", (query.tenant,)
            )
        ) is not None
        subjects = [f"tenant:{query.tenant}"]
        if query.campaign:
            subjects.append(f"campaign:{query.campaign}")
        if query.caller_id:
            subjects.append(f"callerid:{query.caller_id}")
        marks = ",".join("?" * len(subjects))
        suspensions = tuple(
            Suspension(
                row["subject"], row["reason"], require_epoch(row["created_at"]), row["flag_id"]
            )
            for row in await self.fetchall(
                f"SELECT * FROM suspensions WHERE subject IN ({marks})", subjects
            )
        )
        return Facts(
            suppressions=suppressions,
            register_copies={c.register: c for c in copies.values()},
            register_hits=hits,
            consents=consents,
            attempts=attempts,
            caller_id_records=cid_records,
            tenant_has_inventory=has_inventory,
            caller_id_register_hits=cid_hits,
            suspensions=suspensions,
        )

    async def register_copies(self) -> dict[str, RegisterCopy]:
        rows = await self.fetchall("SELECT * FROM register_copies")
        self._register_tables = {row["register"]: row["table_name"] for row in rows}
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

    async def _register_hits(
        self, number: str, registers: Sequence[str], copies: dict[str, RegisterCopy]
    ) -> dict[str, RegisterHit]:
        hits: dict[str, RegisterHit] = {}
        key = register_key(number)
        for name in registers:
            table = self._register_tables.get(name)
            if table is None:
                continue
            row = await self.fetchone(
                f'SELECT registered_on FROM "{table}" WHERE number = ?', (key,)
            )
            if row is not None:
                registered = date.fromisoformat(row[0]) if row[0] else None
                hits[name] = RegisterHit(name, registered)
        return hits

    async def _attempts(self, number: str, since: float) -> tuple[PriorAttempt, ...]:
        out: list[PriorAttempt] = []
        for row in await self.fetchall(
            "SELECT call_id, decided_at, tenant, campaign, purpose FROM decisions "
            "WHERE number = ? AND decided_at >= ? AND verdict = 'allow' AND source = 'agi'",
            (number, since),
        ):
            out.append(
                PriorAttempt(
                    require_epoch(row["decided_at"]),
                    row["tenant"],
                    row["campaign"],
                    row["purpose"],
                    "decision",
                    row["call_id"],
                )
            )
        # An opt-out recorded during the call (or within 10 minutes of its end) is the
        # callee's refusal in that conversation: FR D.223-9 locks the number for 60 days
        # even after the opt-out itself expires (expired entries stay in the table).
        for row in await self.fetchall(
            "SELECT o.*, d.purpose, EXISTS (SELECT 1 FROM suppressions s WHERE s.number = o.number"
            " AND (s.tenant = '' OR s.tenant = coalesce(o.tenant, ''))"
            " AND s.requested_at >= o.started_at"
            " AND s.requested_at <= coalesce(o.ended_at, o.started_at) + 600) AS refused"
            " FROM outcomes o LEFT JOIN decisions d ON d.call_id = o.call_id AND d.source = 'agi'"
            " WHERE o.number = ? AND o.started_at >= ?",
            (number, since),
        ):
            out.append(
                PriorAttempt(
                    require_epoch(row["started_at"]),
                    row["tenant"] or "",
                    row["campaign"],
                    row["purpose"],
                    "history" if row["source"] == "history" else "outcome",
                    row["call_id"],
                    "ABANDONED" if row["abandoned"] else row["disposition"],
                    row["billsec"],
                    conversation=row["disposition"] == "ANSWERED"
                    and (row["billsec"] is None or row["billsec"] > 0),
                    refused=bool(row["refused"]),
                )
            )
        return tuple(out)

    # -- DecisionLog -----------------------------------------------------------------------

    async def record_decision(
        self, attempt: CallAttempt, decision: Decision, latency_ms: float, source: str
    ) -> None:
        payload = decision.as_dict()
        payload["inputs"] = {
            "destination": attempt.destination,
            "caller_id": attempt.caller_id,
            "caller_id_presentation": attempt.caller_id_presentation,
            "tenant": attempt.tenant,
            "campaign": attempt.campaign,
            "purpose": attempt.purpose.value,
            "callee_timezone": attempt.callee_timezone,
            "callee_region": attempt.callee_region,
            "at": attempt.at.isoformat(),
            "call_id": attempt.call_id,
        }
        await self.write(
            "INSERT INTO decisions (call_id, decided_at, source, tenant, campaign, purpose, dialled,"
            " number, caller_id, verdict, rule, reason, latency_ms, decision_json)"
            " VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
            (
                attempt.call_id,
                attempt.at.timestamp(),
                source,
                attempt.tenant,
                attempt.campaign,
                attempt.purpose.value,
                attempt.destination,
                decision.number,
                decision.caller_id,
                decision.verdict.value,
                decision.rule,
                decision.reason,
                latency_ms,
                json.dumps(payload, default=str),
            ),
        )

    async def decision_for_call(self, call_id: str) -> sqlite3.Row | None:
        return await self.fetchone(
            "SELECT * FROM decisions WHERE call_id = ? ORDER BY id DESC LIMIT 1", (call_id,)
        )

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

    async def add_suppression(self, entry: SuppressionEntry) -> None:
        """Insert or refresh an opt-out; returns once it is on disk (synchronous = FULL)."""
        await self.conn.execute("PRAGMA synchronous = FULL")
        try:
            await self.write(
                "INSERT INTO suppressions (number, tenant, campaign, reason, source, requested_at,"
                " expires_at, created_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?)"
                " ON CONFLICT (number, tenant, campaign) DO UPDATE SET reason = excluded.reason,"
                " source = excluded.source, requested_at = min(requested_at, excluded.requested_at),"
                " expires_at = excluded.expires_at",
                (
                    entry.number,
                    entry.tenant or "",
                    entry.campaign or "",
                    entry.reason,
                    entry.source,
                    to_epoch(entry.requested_at),
                    to_epoch(entry.expires_at),
                    time.time(),
                ),
            )
        finally:
            await self.conn.execute("PRAGMA synchronous = NORMAL")

    # -- OutcomeSink -----------------------------------------------------------------------

    async def upsert_outcome(self, outcome: CallOutcome) -> None:
        row = await self.fetchone("SELECT * FROM outcomes WHERE call_id = ?", (outcome.call_id,))
        merged = outcome_from_row(row).merged(outcome) if row is not None else outcome
        await self.write(
            "INSERT OR REPLACE INTO outcomes (call_id, linkedid, number, dialled, caller_id, tenant,"
            " campaign, started_at, answered_at, ended_at, disposition, cause, cause_txt, billsec,"
            " abandoned, source, updated_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
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
            ),
        )

    async def outcomes_between(self, start: datetime, end: datetime) -> list[CallOutcome]:
        rows = await self.fetchall(
            "SELECT * FROM outcomes WHERE started_at >= ? AND started_at < ? ORDER BY started_at",
            (to_epoch(start), to_epoch(end)),
        )
        return [outcome_from_row(row) for row in rows]


def _suppression(row: sqlite3.Row) -> SuppressionEntry:
    return SuppressionEntry(
        number=row["number"],
        tenant=row["tenant"] or None,
        campaign=row["campaign"] or None,
        reason=row["reason"],
        source=row["source"],
        requested_at=require_epoch(row["requested_at"]),
        expires_at=from_epoch(row["expires_at"]),
    )


def _consent(row: sqlite3.Row) -> ConsentRecord:
    return ConsentRecord(
        number=row["number"],
        tenant=row["tenant"],
        kind=ConsentKind(row["kind"]),
        granted_at=require_epoch(row["granted_at"]),
        campaign=row["campaign"] or None,
        expires_at=from_epoch(row["expires_at"]),
        revoked_at=from_epoch(row["revoked_at"]),
    )


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
    )
