"""The per-call queries, synchronous, so that one check costs one thread hop.

aiosqlite moves every statement and every fetch to its worker thread and back; the ten or so
statements one check needs cost about 2.5 ms that way. These functions run together on the
hot-path thread (`hotpath.HotPath`) against a plain `sqlite3.Connection`.
"""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Sequence
from datetime import date

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
from rules.ports import FactQuery


def gather_facts(conn: sqlite3.Connection, query: FactQuery) -> Facts:
    copies, tables = register_copies(conn)
    number = query.number
    suppressions: tuple[SuppressionEntry, ...] = ()
    hits: dict[str, RegisterHit] = {}
    consents: tuple[ConsentRecord, ...] = ()
    attempts: tuple[PriorAttempt, ...] = ()
    if number is not None:
        suppressions = tuple(
            suppression_from_row(row)
            for row in conn.execute("SELECT * FROM suppressions WHERE number = ?", (number,))
        )
        hits = register_hits(conn, number, query.registers, tables)
        consents = tuple(
            consent_from_row(row)
            for row in conn.execute(
                "SELECT * FROM consents WHERE number = ? AND tenant = ?", (number, query.tenant)
            )
        )
        attempts = prior_attempts(conn, number, to_epoch(query.attempts_since) or 0.0)
    cid_records: tuple[CallerIdRecord, ...] = ()
    cid_hits: dict[str, RegisterHit] = {}
    if query.caller_id is not None:
        cid_records = tuple(
            CallerIdRecord(row["number"], row["tenant"], row["pool"] or None)
            for row in conn.execute(
                "SELECT number, tenant, pool FROM caller_ids WHERE number = ?", (query.caller_id,)
            )
        )
        cid_hits = register_hits(conn, query.caller_id, query.caller_id_registers, tables)
    has_inventory = (
        conn.execute(
            "SELECT 1 FROM caller_ids WHERE tenant = ? LIMIT 1", (query.tenant,)
        ).fetchone()
        is not None
    )
    subjects = [f"tenant:{query.tenant}"]
    if query.campaign:
        subjects.append(f"campaign:{query.campaign}")
    if query.caller_id:
        subjects.append(f"callerid:{query.caller_id}")
    marks = ",".join("?" * len(subjects))
    suspensions = tuple(
        Suspension(row["subject"], row["reason"], require_epoch(row["created_at"]), row["flag_id"])
        for row in conn.execute(f"SELECT * FROM suspensions WHERE subject IN ({marks})", subjects)
    )
    return Facts(
        suppressions=suppressions,
        register_copies=copies,
        register_hits=hits,
        consents=consents,
        attempts=attempts,
        caller_id_records=cid_records,
        tenant_has_inventory=has_inventory,
        caller_id_register_hits=cid_hits,
        suspensions=suspensions,
    )


def register_copies(conn: sqlite3.Connection) -> tuple[dict[str, RegisterCopy], dict[str, str]]:
    """The copy in force of each register, and the table holding its numbers.

    Read on every check (a few microseconds), so a swapped copy is seen at once; only turning
    the rows into records is skipped while they are unchanged.
    """
    rows = tuple(
        tuple(row)
        for row in conn.execute(
            "SELECT register, table_name, as_of, count, checksum, imported_at FROM register_copies"
        )
    )
    cached = _copies_cache.get(rows)
    if cached is None:
        copies: dict[str, RegisterCopy] = {}
        tables: dict[str, str] = {}
        for register, table, as_of, count, checksum, imported_at in rows:
            copies[register] = RegisterCopy(
                register, date.fromisoformat(as_of), count, checksum, require_epoch(imported_at)
            )
            tables[register] = table
        _copies_cache.clear()  # only the copies in force are worth keeping
        _copies_cache[rows] = cached = (copies, tables)
    copies, tables = cached
    return dict(copies), dict(tables)


_copies_cache: dict[tuple[tuple[object, ...], ...], tuple[dict[str, RegisterCopy], dict[str, str]]]
_copies_cache = {}


def register_hits(
    conn: sqlite3.Connection, number: str, registers: Sequence[str], tables: dict[str, str]
) -> dict[str, RegisterHit]:
    """Membership of `number` in each register: one primary-key lookup per register."""
    hits: dict[str, RegisterHit] = {}
    key = register_key(number)
    for name in registers:
        table = tables.get(name)
        if table is None:
            continue
        row = conn.execute(
            f'SELECT registered_on FROM "{table}" WHERE number = ?', (key,)
        ).fetchone()
        if row is not None:
            hits[name] = RegisterHit(name, date.fromisoformat(row[0]) if row[0] else None)
    return hits


def prior_attempts(conn: sqlite3.Connection, number: str, since: float) -> tuple[PriorAttempt, ...]:
    out: list[PriorAttempt] = []
    for row in conn.execute(
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
    # An opt-out recorded during the call (or within 10 minutes of its end) is the callee's
    # refusal in that conversation: FR D.223-9 locks the number for 60 days even after the
    # opt-out itself expires (expired entries stay in the table).
    for row in conn.execute(
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


INSERT_DECISION = (
    "INSERT INTO decisions (call_id, decided_at, source, tenant, campaign, purpose, dialled,"
    " number, caller_id, verdict, rule, reason, latency_ms, decision_json)"
    " VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)"
)


def decision_row(
    attempt: CallAttempt, decision: Decision, latency_ms: float, source: str
) -> tuple[object, ...]:
    """The audit record (inputs, every finding, verdict, rule, latency) as the row to insert.

    Built by the caller, on the event loop: the writer thread then runs only SQLite, and does
    not hold the GIL through JSON encoding while the checks wait for it.
    """
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
    return (
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
    )


def insert_decision(conn: sqlite3.Connection, row: tuple[object, ...]) -> None:
    conn.execute(INSERT_DECISION, row)


def suppression_from_row(row: sqlite3.Row) -> SuppressionEntry:
    return SuppressionEntry(
        number=row["number"],
        tenant=row["tenant"] or None,
        campaign=row["campaign"] or None,
        reason=row["reason"],
        source=row["source"],
        requested_at=require_epoch(row["requested_at"]),
        expires_at=from_epoch(row["expires_at"]),
    )


def consent_from_row(row: sqlite3.Row) -> ConsentRecord:
    return ConsentRecord(
        number=row["number"],
        tenant=row["tenant"],
        kind=ConsentKind(row["kind"]),
        granted_at=require_epoch(row["granted_at"]),
        campaign=row["campaign"] or None,
        expires_at=from_epoch(row["expires_at"]),
        revoked_at=from_epoch(row["revoked_at"]),
    )
