"""The per-call queries, synchronous, run on the event loop (`hotpath.HotPath`).

aiosqlite moves every statement and every fetch to its worker thread and back; the ten or so
statements one check needs cost about 2.5 ms that way. These functions run together against
a plain `sqlite3.Connection`. What does not depend on the callee's number is cached between
checks (`FactsCache`), which leaves one statement per check once the cache is filled: the
generation, every per-number fact and every register lookup (`quick_facts`).
"""

from __future__ import annotations

import sqlite3
from dataclasses import dataclass, field
from datetime import date

from dialguard.jsontext import compact_json
from dialguard.store.schema import RANGE_ROW
from dialguard.store.timeconv import from_epoch, require_epoch, to_epoch
from rules.facts import (
    Blackout,
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
from rules.numbers import MAX_RANGE_KEYS, range_keys, register_key
from rules.outcomes import AMD_MACHINE
from rules.ports import FactQuery


def quick_facts(conn: sqlite3.Connection, query: FactQuery, cache: FactsCache) -> Facts | None:
    """The facts of one call in one statement and no transaction, or None when they cannot be.

    Once `cache` holds everything this call needs that does not depend on the callee's
    number, one statement reads the rest (`PER_NUMBER` with the register lookups): a single
    statement sees one snapshot of its own, so no BEGIN and COMMIT are needed (two sqlite3
    calls, some 3 % of the check's CPU). When the generation it reads is not the cache's, or
    a register table named by the cache is gone, the caller reads them all in a read
    transaction instead (`gather_facts`).
    """
    number = query.number
    copies = cache.cached_copies()
    if number is None or copies is None:
        return None
    cid_records = cache.cached_caller_id_records(query.caller_id)
    has_inventory = cache.cached_inventory(query.tenant)
    suspensions = cache.cached_suspensions(_subjects(query))
    ranges = cache.cached_has_ranges()
    blackouts = cache.cached_blackouts()
    if (
        cid_records is None
        or has_inventory is None
        or suspensions is None
        or ranges is None
        or blackouts is None
    ):
        return None
    found = NumberFacts(_lookups(query))
    per_number = PER_NUMBER_AND_RANGES if ranges else PER_NUMBER
    statement, params = _with_register_lookups(per_number, found.lookups, copies[1])
    params.update(_per_number_params(query, number, ranges=ranges))
    try:
        generation = read_number_facts(conn, statement, params, number, found)
    except sqlite3.OperationalError:
        return None  # a register table swapped away meanwhile: the generation has moved too
    if generation != cache.generation:
        return None
    return _facts(query, found, copies[0], cid_records, has_inventory, suspensions, blackouts)


def gather_facts(conn: sqlite3.Connection, query: FactQuery, cache: FactsCache) -> Facts:
    """The facts of one call, read in the caller's read transaction.

    What does not depend on the callee's number (register copies, the caller ID's inventory
    records, the tenant's inventory, suspensions, blackouts) comes from `cache` while the store's
    generation is unchanged; the per-number facts (suppressions, register hits, consents,
    prior attempts) are read every time, in two statements (`PER_NUMBER`, then the register
    lookups once the cache is validated: it names the register tables).
    """
    number = query.number
    found = NumberFacts(_lookups(query))
    if number is None:
        (generation,) = conn.execute(GENERATION).fetchone()
    else:
        params = _per_number_params(query, number)
        generation = read_number_facts(conn, PER_NUMBER, params, number, found)
    cache.accept(generation)
    copies, tables = cache.register_copies(conn)
    statement, params = _with_register_lookups("", found.lookups, tables)
    if statement:
        read_number_facts(conn, statement, params, number or "", found)
    cid_records: tuple[CallerIdRecord, ...] = ()
    if query.caller_id is not None:
        cid_records = cache.caller_id_records(conn, query.caller_id)
    if number is not None and cache.has_ranges(conn):
        read_number_facts(conn, RANGES, _range_params(number), number, found)
    return _facts(
        query,
        found,
        copies,
        cid_records,
        cache.has_inventory(conn, query.tenant),
        cache.suspensions(conn, _subjects(query)),
        cache.blackouts(conn),
    )


def _per_number_params(query: FactQuery, number: str, *, ranges: bool = False) -> dict[str, object]:
    """`PER_NUMBER`'s parameters; with `ranges`, `PER_NUMBER_AND_RANGES`'."""
    params: dict[str, object] = {
        "number": number,
        "tenant": query.tenant,
        "since": to_epoch(query.attempts_since) or 0.0,
    }
    if ranges:
        params.update(_range_params(number))
    return params


def _range_params(number: str) -> dict[str, object]:
    """The ranges' parameters (`:k0`...): `range_keys`, the unused ones NULL (which matches
    nothing)."""
    keys: list[str | None] = [*range_keys(number)]
    keys += [None] * (MAX_RANGE_KEYS - len(keys))
    return dict(zip(_RANGE_PARAMS, keys, strict=True))


_RANGE_PARAMS = tuple(f"k{i}" for i in range(MAX_RANGE_KEYS))


def _subjects(query: FactQuery) -> tuple[str, ...]:
    """The suspension subjects the call answers to, as the facts cache keys them."""
    return tuple(suspension_subjects(query.tenant, query.campaign, query.caller_id))


def _facts(
    query: FactQuery,
    found: NumberFacts,
    copies: dict[str, RegisterCopy],
    cid_records: tuple[CallerIdRecord, ...],
    has_inventory: bool,
    suspensions: tuple[Suspension, ...],
    blackouts: tuple[Blackout, ...],
) -> Facts:
    return Facts(
        suppressions=tuple(found.suppressions),
        register_copies=dict(copies),
        register_hits=found.hits,
        consents=tuple(found.consents),
        attempts=(*found.decisions, *found.outcomes),
        caller_id_records=cid_records,
        tenant_has_inventory=has_inventory,
        caller_id_register_hits=found.caller_id_hits,
        suspensions=suspensions,
        blackouts=blackouts,
    )


def _lookups(query: FactQuery) -> list[tuple[str, str, str]]:
    """The register lookups of a call: (which, register, number), `which` being "callee"
    or "caller_id"."""
    lookups: list[tuple[str, str, str]] = []
    if query.number is not None:
        lookups += (("callee", name, query.number) for name in query.registers)
    if query.caller_id is not None:
        lookups += (("caller_id", name, query.caller_id) for name in query.caller_id_registers)
    return lookups


def _with_register_lookups(
    statement: str, lookups: list[tuple[str, str, str]], tables: dict[str, str]
) -> tuple[str, dict[str, object]]:
    """`statement` followed by one primary-key lookup per register that has a copy (rows of
    kind 'r': the lookup's index, registered_on), with their parameters (:r0, :r1, ...)."""
    parts = [statement] if statement else []
    params: dict[str, object] = {}
    for index, (_, name, number) in enumerate(lookups):
        table = tables.get(name)
        if table is not None:
            parts.append(
                f"SELECT 'r', {index}, registered_on, {_REGISTER_PADDING}"
                f' FROM "{table}" WHERE number = :r{index}'
            )
            params[f"r{index}"] = register_key(number)
    return " UNION ALL ".join(parts), params


GENERATION = "SELECT n FROM facts_generation"

# A suppression row: its kind, then its columns (the number last: a range names itself).
_SUPPRESSIONS = (
    "SELECT 's', tenant, campaign, reason, source, requested_at, expires_at, number,"
    " NULL, NULL, NULL, NULL, NULL FROM suppressions"
)
# The ranges a number is in (`range_keys`, unused keys NULL): one unique-index probe each,
# some 18 us a check, so read only while the list holds a range (`FactsCache.has_ranges`).
_RANGE_KEYS = ", ".join(f":k{i}" for i in range(MAX_RANGE_KEYS))
RANGES = f"{_SUPPRESSIONS} WHERE number IN ({_RANGE_KEYS})"

# Every per-number fact but the register hits, and the generation, in one statement: one
# sqlite3 call instead of five (each costs some 5-10 us of Python and SQLite set-up even when
# it finds nothing, the usual case). Each row starts with its kind; the columns after it
# are that kind's, padded with NULL to the widest (outcomes). UNION ALL runs its parts one
# after the other, each with its own index (tests/store/test_facts_plan.py checks the plan).
PER_NUMBER = (
    "SELECT 'g', n, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL"
    " FROM facts_generation"
    " UNION ALL"
    # The number's own entries (with the ranges it is in: `PER_NUMBER_AND_RANGES`).
    f" {_SUPPRESSIONS} WHERE number = :number"
    " UNION ALL"
    " SELECT 'c', tenant, campaign, kind, granted_at, expires_at, revoked_at, granted_on,"
    " NULL, NULL, NULL, NULL, NULL"
    " FROM consents WHERE number = :number AND tenant = :tenant"
    " UNION ALL"
    " SELECT 'd', call_id, decided_at, tenant, campaign, purpose, automated,"
    " NULL, NULL, NULL, NULL, NULL, NULL"
    " FROM decisions WHERE number = :number AND decided_at >= :since AND verdict = 'allow'"
    " AND source = 'agi'"
    " UNION ALL"
    # An opt-out recorded during the call (or within 10 minutes of its end) is the callee's
    # refusal in that conversation: FR D.223-9 locks the number for 60 days even after the
    # opt-out itself expires (expired entries stay in the table).
    " SELECT 'o', o.call_id, o.started_at, o.tenant, o.campaign, d.purpose, o.source,"
    " o.disposition, o.billsec, o.abandoned,"
    " EXISTS (SELECT 1 FROM suppressions s WHERE s.number = o.number"
    # The tenant in any case of ASCII letters, as the rules fold it (rules.facts.folded).
    # As an IN with COLLATE on the left: written as an OR (`s.tenant = '' OR s.tenant =
    # ... COLLATE NOCASE`, or with its sides swapped), SQLite 3.40 turned it into an index
    # lookup that compares exactly, and missed `ACME` for `acme`.
    " AND s.tenant COLLATE NOCASE IN ('', coalesce(o.tenant, ''))"
    " AND s.requested_at >= o.started_at"
    " AND s.requested_at <= coalesce(o.ended_at, o.started_at) + 600), o.amd,"
    " max(o.automated, coalesce(d.automated, 0))"
    " FROM outcomes o LEFT JOIN decisions d ON d.call_id = o.call_id AND d.source = 'agi'"
    " WHERE o.number = :number AND o.started_at >= :since"
    # A call refused after a block never rang: no attempt for the caps (as above, where only
    # allowed decisions count).
    " AND o.disposition IS NOT 'REJECTED'"
)
PER_NUMBER_AND_RANGES = PER_NUMBER.replace(
    "WHERE number = :number UNION", f"WHERE number IN (:number, {_RANGE_KEYS}) UNION", 1
)


@dataclass(slots=True)
class NumberFacts:
    """The rows `PER_NUMBER` and the register lookups found, by kind, in the order SQLite
    returned them. `lookups` are the call's register lookups (`_lookups`), which the
    register rows name by index."""

    lookups: list[tuple[str, str, str]]
    suppressions: list[SuppressionEntry] = field(default_factory=list)
    consents: list[ConsentRecord] = field(default_factory=list)
    decisions: list[PriorAttempt] = field(default_factory=list)
    outcomes: list[PriorAttempt] = field(default_factory=list)
    hits: dict[str, RegisterHit] = field(default_factory=dict)
    caller_id_hits: dict[str, RegisterHit] = field(default_factory=dict)


# The columns of PER_NUMBER after a register row's kind, index and registered_on.
_REGISTER_PADDING = ", ".join(["NULL"] * 10)


def read_number_facts(
    conn: sqlite3.Connection,
    statement: str,
    params: dict[str, object],
    number: str,
    found: NumberFacts,
) -> int:
    """Run `statement` (`PER_NUMBER` and/or register lookups) and fill `found` with its rows;
    the generation (0 when the statement does not read it).

    On a cursor of its own, closed whatever happens: a statement left part-read by an
    exception would keep its snapshot (and outside a transaction, the next checks' reads
    with it) for as long as the exception kept the cursor alive."""
    cursor = conn.cursor()
    cursor.row_factory = None  # plain tuples: sqlite3.Row costs an object per row
    try:
        return _fill(cursor.execute(statement, params), number, found)
    finally:
        cursor.close()


def _fill(rows: sqlite3.Cursor, number: str, found: NumberFacts) -> int:
    generation = 0
    for kind, *row in rows:
        if kind == "g":
            generation = row[0]
        elif kind == "s":  # the number's own entry, or a range it is in (row[6])
            found.suppressions.append(_suppression(row[6], *row[:6]))
        elif kind == "c":
            found.consents.append(_consent(number, *row[:7]))
        elif kind == "d":
            found.decisions.append(_decision_attempt(*row[:6]))
        elif kind == "o":
            found.outcomes.append(_outcome_attempt(*row))
        else:  # "r", a register lookup that found the number
            which, name, _ = found.lookups[row[0]]
            registered_on = row[1]
            hit = RegisterHit(name, date.fromisoformat(registered_on) if registered_on else None)
            (found.hits if which == "callee" else found.caller_id_hits)[name] = hit
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
    granted_on: str | None,
) -> ConsentRecord:
    return ConsentRecord(
        number=number,
        tenant=tenant,
        kind=ConsentKind(kind),
        granted_at=require_epoch(granted_at),
        campaign=campaign or None,
        expires_at=from_epoch(expires_at),
        revoked_at=from_epoch(revoked_at),
        granted_on=date.fromisoformat(granted_on) if granted_on else None,
    )


def _decision_attempt(
    call_id: str | None,
    decided_at: float,
    tenant: str,
    campaign: str | None,
    purpose: str,
    automated: int,
) -> PriorAttempt:
    return PriorAttempt(
        require_epoch(decided_at),
        tenant,
        campaign,
        purpose,
        "decision",
        call_id,
        automated=bool(automated),
    )


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
    amd: str | None,
    automated: int,
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
        machine=amd == AMD_MACHINE,
        automated=bool(automated),
    )


class FactsCache:
    """The facts that do not depend on the callee's number, kept between checks.

    Valid for one database only, and only while `facts_generation` (bumped by triggers in the
    same transaction as any change to `register_copies`, `caller_ids`, `suspensions`,
    `blackouts` or a suppressed range, see `schema.py`) is unchanged: every check reads it inside its read transaction and hands
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
        self._has_ranges: bool | None = None
        self._blackouts: tuple[Blackout, ...] | None = None

    def accept(self, generation: int) -> None:
        """Drop what was cached unless `generation` (read in this transaction) is the same."""
        if generation != self.generation or self._size() > self.MAX_ENTRIES:
            self.generation = generation
            self._copies = None
            self._has_ranges = None
            self._blackouts = None
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

    # What is cached, without reading: None when it is not (for `quick_facts`).

    def cached_copies(self) -> tuple[dict[str, RegisterCopy], dict[str, str]] | None:
        return self._copies if self.generation is not None else None

    def cached_caller_id_records(self, caller_id: str | None) -> tuple[CallerIdRecord, ...] | None:
        return () if caller_id is None else self._caller_ids.get(caller_id)

    def cached_inventory(self, tenant: str) -> bool | None:
        return self._inventory.get(tenant)

    def cached_suspensions(self, subjects: tuple[str, ...]) -> tuple[Suspension, ...] | None:
        return self._suspensions.get(subjects)

    def cached_has_ranges(self) -> bool | None:
        return self._has_ranges

    def cached_blackouts(self) -> tuple[Blackout, ...] | None:
        return self._blackouts

    def blackouts(self, conn: sqlite3.Connection) -> tuple[Blackout, ...]:
        """Every blackout, ended ones too (`check --at` may ask of the past): a few rows."""
        if self._blackouts is None:
            self._blackouts = tuple(
                blackout_from_row(*row) for row in conn.execute(f"{SELECT_BLACKOUTS} ORDER BY id")
            )
        return self._blackouts

    def has_ranges(self, conn: sqlite3.Connection) -> bool:
        """Whether the suppression list holds a range (`+1900*`): one probe of their index."""
        if self._has_ranges is None:
            row = conn.execute(f"SELECT 1 FROM suppressions WHERE {RANGE_ROW} LIMIT 1")
            self._has_ranges = row.fetchone() is not None
        return self._has_ranges

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
                    # In any case of ASCII letters, as the rule compares them (`folded`),
                    # by the suspensions_subject_nocase index.
                    "SELECT subject, reason, created_at, flag_id FROM suspensions"
                    f" WHERE subject COLLATE NOCASE IN ({marks})",
                    subjects,
                )
            )
        return found


SELECT_BLACKOUTS = "SELECT id, place, tenant, purposes, starts_at, ends_at, reason FROM blackouts"


def blackout_from_row(
    id_: int,
    place: str,
    tenant: str,
    purposes: str,
    starts_at: float,
    ends_at: float | None,
    reason: str,
) -> Blackout:
    return Blackout(
        id=id_,
        place=place,
        starts_at=require_epoch(starts_at),
        ends_at=from_epoch(ends_at),
        purposes=frozenset(p for p in purposes.split(",") if p),
        tenant=tenant or None,
        reason=reason,
    )


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


INSERT_DECISION = (
    "INSERT INTO decisions (call_id, decided_at, source, tenant, campaign, purpose, dialled,"
    " number, caller_id, verdict, rule, reason, latency_ms, automated, decision_json)"
    " VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)"
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
        attempt.automated,
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
            "automated": attempt.automated,
            "line_type": attempt.line_type.value if attempt.line_type else None,
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


def suppression_as_dict(entry: SuppressionEntry) -> dict[str, object]:
    """An entry as the CLI prints it (`suppress list --json`, `suppress late --json`)."""
    return {
        "number": entry.number,
        "tenant": entry.tenant,
        "campaign": entry.campaign,
        "reason": entry.reason,
        "source": entry.source,
        "requested_at": entry.requested_at.isoformat(),
        "expires_at": entry.expires_at.isoformat() if entry.expires_at else None,
    }


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
        row["granted_on"],
    )
