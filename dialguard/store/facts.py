"""The per-call queries, synchronous, run on the event loop (`hotpath.HotPath`).

aiosqlite moves every statement and every fetch to its worker thread and back; the ten or so
statements one check needs cost about 2.5 ms that way. These functions run together against
a plain `sqlite3.Connection`. What does not depend on the callee's number is cached between
checks (`FactsCache`), which leaves six statements per check: the generation, suppressions,
one register lookup per register, consents, and prior decisions and outcomes.
"""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Sequence
from datetime import date
from typing import cast

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


def gather_facts(
    conn: sqlite3.Connection, query: FactQuery, cache: FactsCache | None = None
) -> Facts:
    """The facts of one call, read in the caller's read transaction.

    What does not depend on the callee's number (register copies, the caller ID's inventory
    records, the tenant's inventory, suspensions) comes from `cache` while the store's
    generation is unchanged; the per-number facts (suppressions, register hits, consents,
    prior attempts) are read every time.
    """
    if cache is None:
        cache = FactsCache()
    cache.validate(conn)
    copies, tables = cache.register_copies(conn)
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
        cid_records = cache.caller_id_records(conn, query.caller_id)
        cid_hits = register_hits(conn, query.caller_id, query.caller_id_registers, tables)
    subjects = [f"tenant:{query.tenant}"]
    if query.campaign:
        subjects.append(f"campaign:{query.campaign}")
    if query.caller_id:
        subjects.append(f"callerid:{query.caller_id}")
    return Facts(
        suppressions=suppressions,
        register_copies=dict(copies),
        register_hits=hits,
        consents=consents,
        attempts=attempts,
        caller_id_records=cid_records,
        tenant_has_inventory=cache.has_inventory(conn, query.tenant),
        caller_id_register_hits=cid_hits,
        suspensions=cache.suspensions(conn, tuple(subjects)),
    )


class FactsCache:
    """The facts that do not depend on the callee's number, kept between checks.

    Valid for one database only, and only while `facts_generation` (bumped by triggers in the
    same transaction as any change to `register_copies`, `caller_ids` or `suspensions`, see
    `schema.py`) is unchanged: `validate` reads it on every check, inside the check's read
    transaction, so a change committed before the check is always seen by it. Not
    `PRAGMA data_version`: our own decision writer commits every few milliseconds.
    """

    # Caller IDs and subjects come from the calls: bound what an odd dialler can make us keep.
    MAX_ENTRIES = 4096

    def __init__(self) -> None:
        self.generation: int | None = None
        self._copies: tuple[dict[str, RegisterCopy], dict[str, str]] | None = None
        self._caller_ids: dict[str, tuple[CallerIdRecord, ...]] = {}
        self._inventory: dict[str, bool] = {}
        self._suspensions: dict[tuple[str, ...], tuple[Suspension, ...]] = {}

    def validate(self, conn: sqlite3.Connection) -> None:
        (generation,) = conn.execute("SELECT n FROM facts_generation").fetchone()
        if generation != self.generation or self._size() > self.MAX_ENTRIES:
            self.generation = generation
            self._copies = None
            self._caller_ids.clear()
            self._inventory.clear()
            self._suspensions.clear()

    def _size(self) -> int:
        return len(self._caller_ids) + len(self._inventory) + len(self._suspensions)

    def register_copies(
        self, conn: sqlite3.Connection
    ) -> tuple[dict[str, RegisterCopy], dict[str, str]]:
        """The copy in force of each register, and the table holding its numbers."""
        if self._copies is None:
            self._copies = register_copies(conn)
        return self._copies

    def caller_id_records(
        self, conn: sqlite3.Connection, caller_id: str
    ) -> tuple[CallerIdRecord, ...]:
        records = self._caller_ids.get(caller_id)
        if records is None:
            records = self._caller_ids[caller_id] = tuple(
                CallerIdRecord(number, tenant, pool or None)
                for number, tenant, pool in conn.execute(
                    "SELECT number, tenant, pool FROM caller_ids WHERE number = ?", (caller_id,)
                )
            )
        return records

    def has_inventory(self, conn: sqlite3.Connection, tenant: str) -> bool:
        """Whether the tenant has a caller-ID inventory at all."""
        found = self._inventory.get(tenant)
        if found is None:
            row = conn.execute("SELECT 1 FROM caller_ids WHERE tenant = ? LIMIT 1", (tenant,))
            found = self._inventory[tenant] = row.fetchone() is not None
        return found

    def suspensions(
        self, conn: sqlite3.Connection, subjects: tuple[str, ...]
    ) -> tuple[Suspension, ...]:
        found = self._suspensions.get(subjects)
        if found is None:
            marks = ",".join("?" * len(subjects))
            found = self._suspensions[subjects] = tuple(
                Suspension(subject, reason, require_epoch(created_at), flag_id)
                for subject, reason, created_at, flag_id in conn.execute(
                    "SELECT subject, reason, created_at, flag_id FROM suspensions"
                    f" WHERE subject IN ({marks})",
                    subjects,
                )
            )
        return found


def register_copies(conn: sqlite3.Connection) -> tuple[dict[str, RegisterCopy], dict[str, str]]:
    """The copy in force of each register, and the table holding its numbers."""
    copies: dict[str, RegisterCopy] = {}
    tables: dict[str, str] = {}
    for register, table, as_of, count, checksum, imported_at in conn.execute(
        "SELECT register, table_name, as_of, count, checksum, imported_at FROM register_copies"
    ):
        copies[register] = RegisterCopy(
            register, date.fromisoformat(as_of), count, checksum, require_epoch(imported_at)
        )
        tables[register] = table
    return copies, tables


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


# Compact: the record is built on the event loop for every check and stored for years.
_AUDIT_JSON = json.JSONEncoder(default=str, separators=(",", ":"))


def decision_row(
    attempt: CallAttempt, decision: Decision, latency_ms: float, source: str
) -> tuple[object, ...]:
    """The audit record (inputs, every finding, verdict, rule, latency) as the row to insert.

    Built by the caller, on the event loop: the writer thread then runs only SQLite, and does
    not hold the GIL through JSON encoding while the checks wait for it.

    Only the deciding finding keeps its citation (it is also the decision's own): the others
    are the static text of their rule in the jurisdiction packs, and repeating them doubled
    the record (about 2 KB of some 7 KB).
    """
    payload = decision.as_dict()
    for finding in cast(list[dict[str, object]], payload["findings"]):
        if finding["rule"] != decision.rule:
            finding.pop("citation", None)
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
        _AUDIT_JSON.encode(payload),
    )


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
