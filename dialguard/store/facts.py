"""The per-call queries, synchronous, run on the event loop (`hotpath.HotPath`).

aiosqlite moves every statement and every fetch to its worker thread and back; the ten or so
statements one check needs cost about 2.5 ms that way. These functions run together against
a plain `sqlite3.Connection`. What does not depend on the callee's number is cached between
checks (`FactsCache`), which leaves two statements per check: the generation with every
per-number fact but the register hits (`PER_NUMBER`), then every register lookup in one.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import date

from dialguard.jsontext import compact_json
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
    suspension_subjects,
)
from rules.models import CallAttempt, Decision, Finding
from rules.numbers import register_key
from rules.ports import FactQuery


def gather_facts(conn: sqlite3.Connection, query: FactQuery, cache: FactsCache) -> Facts:
    """The facts of one call, read in the caller's read transaction.

    What does not depend on the callee's number (register copies, the caller ID's inventory
    records, the tenant's inventory, suspensions) comes from `cache` while the store's
    generation is unchanged; the per-number facts (suppressions, register hits, consents,
    prior attempts) are read every time, in two statements (`per_number_facts`, then
    `register_hits` once the cache is validated: it names the register tables).
    """
    # Plain tuples: sqlite3.Row costs a Python object and a name lookup per column.
    cursor = conn.cursor()
    cursor.row_factory = None
    number = query.number
    found = NumberFacts()
    if number is None:
        (generation,) = cursor.execute(GENERATION).fetchone()
    else:
        since = to_epoch(query.attempts_since) or 0.0
        generation = per_number_facts(cursor, number, query.tenant, since, found)
    cache.accept(generation)
    copies, tables = cache.register_copies(conn)
    lookups: list[tuple[str, str, str]] = []  # (which, register, number)
    if number is not None:
        lookups += (("callee", name, number) for name in query.registers)
    cid_records: tuple[CallerIdRecord, ...] = ()
    if query.caller_id is not None:
        cid_records = cache.caller_id_records(conn, query.caller_id)
        lookups += (("caller_id", name, query.caller_id) for name in query.caller_id_registers)
    hits, cid_hits = register_hits(cursor, lookups, tables)
    subjects = suspension_subjects(query.tenant, query.campaign, query.caller_id)
    return Facts(
        suppressions=tuple(found.suppressions),
        register_copies=dict(copies),
        register_hits=hits,
        consents=tuple(found.consents),
        attempts=(*found.decisions, *found.outcomes),
        caller_id_records=cid_records,
        tenant_has_inventory=cache.has_inventory(conn, query.tenant),
        caller_id_register_hits=cid_hits,
        suspensions=cache.suspensions(conn, tuple(subjects)),
    )


GENERATION = "SELECT n FROM facts_generation"

# Every per-number fact but the register hits, and the generation, in one statement: one
# sqlite3 call instead of five (each costs some 5-10 us of Python and SQLite set-up even when
# it finds nothing, the usual case). Each row starts with its kind; the columns after it
# are that kind's, padded with NULL to the widest (outcomes). UNION ALL runs its parts one
# after the other, each with its own index (tests/store/test_facts_plan.py checks the plan).
PER_NUMBER = (
    "SELECT 'g', n, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL FROM facts_generation"
    " UNION ALL"
    " SELECT 's', tenant, campaign, reason, source, requested_at, expires_at,"
    " NULL, NULL, NULL, NULL FROM suppressions WHERE number = :number"
    " UNION ALL"
    " SELECT 'c', tenant, campaign, kind, granted_at, expires_at, revoked_at,"
    " NULL, NULL, NULL, NULL FROM consents WHERE number = :number AND tenant = :tenant"
    " UNION ALL"
    " SELECT 'd', call_id, decided_at, tenant, campaign, purpose, NULL, NULL, NULL, NULL, NULL"
    " FROM decisions WHERE number = :number AND decided_at >= :since AND verdict = 'allow'"
    " AND source = 'agi'"
    " UNION ALL"
    # An opt-out recorded during the call (or within 10 minutes of its end) is the callee's
    # refusal in that conversation: FR D.223-9 locks the number for 60 days even after the
    # opt-out itself expires (expired entries stay in the table).
    " SELECT 'o', o.call_id, o.started_at, o.tenant, o.campaign, d.purpose, o.source,"
    " o.disposition, o.billsec, o.abandoned,"
    " EXISTS (SELECT 1 FROM suppressions s WHERE s.number = o.number"
    " AND (s.tenant = '' OR s.tenant = coalesce(o.tenant, ''))"
    " AND s.requested_at >= o.started_at"
    " AND s.requested_at <= coalesce(o.ended_at, o.started_at) + 600)"
    " FROM outcomes o LEFT JOIN decisions d ON d.call_id = o.call_id AND d.source = 'agi'"
    " WHERE o.number = :number AND o.started_at >= :since"
    # A call refused after a block never rang: no attempt for the caps (as above, where only
    # allowed decisions count).
    " AND o.disposition IS NOT 'REJECTED'"
)


@dataclass(slots=True)
class NumberFacts:
    """The rows `PER_NUMBER` found, by kind, in the order SQLite returned them."""

    suppressions: list[SuppressionEntry] = field(default_factory=list)
    consents: list[ConsentRecord] = field(default_factory=list)
    decisions: list[PriorAttempt] = field(default_factory=list)
    outcomes: list[PriorAttempt] = field(default_factory=list)


def per_number_facts(
    cursor: sqlite3.Cursor, number: str, tenant: str, since: float, found: NumberFacts
) -> int:
    """Fill `found` with the facts about `number` (but register hits); the generation."""
    generation = 0
    params = {"number": number, "tenant": tenant, "since": since}
    for kind, *row in cursor.execute(PER_NUMBER, params):
        if kind == "g":
            generation = row[0]
        elif kind == "s":
            found.suppressions.append(_suppression(number, *row[:6]))
        elif kind == "c":
            found.consents.append(_consent(number, *row[:6]))
        elif kind == "d":
            found.decisions.append(_decision_attempt(*row[:5]))
        else:
            found.outcomes.append(_outcome_attempt(*row))
    return generation


def _suppression(
    number: str,
    tenant: str,
    campaign: str,
    reason: str,
    source: str,
    requested_at: float,
    expires_at: float | None,
) -> SuppressionEntry:
    return SuppressionEntry(
        number=number,
        tenant=tenant or None,
        campaign=campaign or None,
        reason=reason,
        source=source,
        requested_at=require_epoch(requested_at),
        expires_at=from_epoch(expires_at),
    )


def _consent(
    number: str,
    tenant: str,
    campaign: str,
    kind: str,
    granted_at: float,
    expires_at: float | None,
    revoked_at: float | None,
) -> ConsentRecord:
    return ConsentRecord(
        number=number,
        tenant=tenant,
        kind=ConsentKind(kind),
        granted_at=require_epoch(granted_at),
        campaign=campaign or None,
        expires_at=from_epoch(expires_at),
        revoked_at=from_epoch(revoked_at),
    )


def _decision_attempt(
    call_id: str | None, decided_at: float, tenant: str, campaign: str | None, purpose: str
) -> PriorAttempt:
    return PriorAttempt(require_epoch(decided_at), tenant, campaign, purpose, "decision", call_id)


def _outcome_attempt(
    call_id: str,
    started_at: float,
    tenant: str | None,
    campaign: str | None,
    purpose: str | None,
    source: str,
    disposition: str | None,
    billsec: int | None,
    abandoned: int,
    refused: int,
) -> PriorAttempt:
    return PriorAttempt(
        require_epoch(started_at),
        tenant or "",
        campaign,
        purpose,
        "history" if source == "history" else "outcome",
        call_id,
        "ABANDONED" if abandoned else disposition,
        billsec,
        conversation=disposition == "ANSWERED" and (billsec is None or billsec > 0),
        refused=bool(refused),
    )


class FactsCache:
    """The facts that do not depend on the callee's number, kept between checks.

    Valid for one database only, and only while `facts_generation` (bumped by triggers in the
    same transaction as any change to `register_copies`, `caller_ids` or `suspensions`, see
    `schema.py`) is unchanged: every check reads it inside its read transaction and hands
    it to `accept`, so a change committed before the check is always seen by it. Not
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

    def accept(self, generation: int) -> None:
        """Drop what was cached unless `generation` (read in this transaction) is the same."""
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
    cursor: sqlite3.Cursor, lookups: Sequence[tuple[str, str, str]], tables: dict[str, str]
) -> tuple[dict[str, RegisterHit], dict[str, RegisterHit]]:
    """Membership of numbers in registers, `lookups` being (which, register, number) with
    `which` "callee" or "caller_id": one statement, a primary-key lookup per register."""
    parts: list[str] = []
    params: list[object] = []
    named: list[tuple[str, str]] = []
    for which, name, number in lookups:
        table = tables.get(name)
        if table is not None:
            parts.append(f'SELECT {len(named)}, registered_on FROM "{table}" WHERE number = ?')
            params.append(register_key(number))
            named.append((which, name))
    hits: dict[str, RegisterHit] = {}
    cid_hits: dict[str, RegisterHit] = {}
    if not parts:
        return hits, cid_hits
    for index, registered_on in cursor.execute(" UNION ALL ".join(parts), params):
        which, name = named[index]
        hit = RegisterHit(name, date.fromisoformat(registered_on) if registered_on else None)
        (hits if which == "callee" else cid_hits)[name] = hit
    return hits, cid_hits


INSERT_DECISION = (
    "INSERT INTO decisions (call_id, decided_at, source, tenant, campaign, purpose, dialled,"
    " number, caller_id, verdict, rule, reason, latency_ms, decision_json)"
    " VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)"
)


def _audit_json(value: object) -> str:
    """Compact JSON of an audit record's part, built on the event loop for every check and
    stored for years (`compact_json`: what JSON has no type for, a date or a dataclass, is
    written as its str(); text is UTF-8, not \\u-escaped)."""
    return compact_json(value, str, non_str_keys=True)


def decision_row(
    attempt: CallAttempt, decision: Decision, latency_ms: float, source: str
) -> tuple[object, ...]:
    """The audit record (inputs, every finding, verdict, rule, latency) as the row to insert.

    Built by the caller, on the event loop: the writer thread then runs only SQLite, and does
    not hold the GIL through JSON encoding while the checks wait for it.
    """
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
        audit_json(attempt, decision),
    )


def audit_json(attempt: CallAttempt, decision: Decision) -> str:
    """`Decision.as_dict()` with the call's inputs, as compact JSON (findings last)."""
    payload = {
        **decision.summary_dict(),
        **decision.context,
        "inputs": {
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
        },
    }
    text = _audit_json(payload)
    if "findings" in payload:  # the context's own replaces them, as in Decision.as_dict
        return text
    findings = ",".join(
        finding_json(finding, finding.rule == decision.rule) for finding in decision.findings
    )
    # The findings are JSON already: spliced in as the last member of the object.
    return f'{text[:-1]},"findings":[{findings}]}}'


# The JSON of findings already encoded. Most findings repeat from call to call: constants
# built at import or per policy (the same object every call), or the same text for the same
# caller ID; encoding them again was most of the record's cost. Keyed by value; a `details`
# dict is not hashable, so it counts by identity (the cached finding keeps it alive: its id
# is not reused while cached; findings and their details are never changed once built).
_FINDING_JSON: dict[tuple[object, ...], tuple[Finding, str]] = {}
_FINDING_JSON_MAX = 4096  # per-call text (the callee's number) must not grow it for ever


def finding_json(finding: Finding, deciding: bool) -> str:
    """One finding as JSON. Only the deciding finding keeps its citation (it is also the
    decision's own): the others are the static text of their rule in the jurisdiction packs,
    and repeating them doubled the record (about 2 KB of some 7 KB)."""
    if deciding:
        return _audit_json(finding.as_dict())
    details = id(finding.details) if finding.details else 0
    key = (finding.rule, finding.verdict, finding.reason, finding.unverified, details)
    cached = _FINDING_JSON.get(key)
    if cached is None:
        if len(_FINDING_JSON) >= _FINDING_JSON_MAX:
            _FINDING_JSON.clear()
        payload = finding.as_dict()
        payload.pop("citation", None)
        cached = _FINDING_JSON[key] = (finding, _audit_json(payload))
    return cached[1]


def suppression_from_row(row: sqlite3.Row) -> SuppressionEntry:
    return _suppression(
        row["number"],
        row["tenant"],
        row["campaign"],
        row["reason"],
        row["source"],
        row["requested_at"],
        row["expires_at"],
    )


def consent_from_row(row: sqlite3.Row) -> ConsentRecord:
    return _consent(
        row["number"],
        row["tenant"],
        row["campaign"],
        row["kind"],
        row["granted_at"],
        row["expires_at"],
        row["revoked_at"],
    )
