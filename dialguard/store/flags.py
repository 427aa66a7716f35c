"""Flags, suspensions and the outcome queries the abuse detectors need.

All SQL for issue 5 lives here, over the shared `Store` connection. A flag row keeps the
finding's figures; `evidence` is a JSON object with the call ids and the finding's basis
(`call_ids`, `citation`, `action`, `unverified`, `callees`).
"""

from __future__ import annotations

import asyncio
import json
import sqlite3
import time
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from typing import Any

import aiosqlite

from dialguard.gcdefer import release_in_steps
from dialguard.store.core import Store, outcome_from_row
from dialguard.store.timeconv import from_epoch, require_epoch, to_epoch
from rules.detectors import FlagFinding
from rules.location import law_country
from rules.models import Purpose
from rules.numbers import RANGE_MARK, parse_number, range_keys, register_key
from rules.outcomes import CallOutcome
from rules.policy import Policy

FLAG_STATUSES = ("open", "acknowledged", "dismissed")
_CHUNK = 500  # parameters per IN (...) query, under SQLite's limit


@dataclass(frozen=True, slots=True)
class FlagRecord:
    id: int
    subject: str
    detector: str
    status: str
    window_start: datetime
    window_end: datetime
    measured: float
    threshold: float
    call_ids: tuple[str, ...]
    detail: str
    citation: str
    action: str
    unverified: bool
    callees: tuple[str, ...]
    opened_at: datetime
    updated_at: datetime
    closed_at: datetime | None
    note: str

    def as_dict(self) -> dict[str, object]:
        return {
            "id": self.id,
            "subject": self.subject,
            "detector": self.detector,
            "status": self.status,
            "window_start": self.window_start.isoformat(),
            "window_end": self.window_end.isoformat(),
            "measured": self.measured,
            "threshold": self.threshold,
            "evidence": list(self.call_ids),
            "callees": list(self.callees),
            "detail": self.detail,
            "citation": self.citation,
            "action": self.action,
            "unverified": self.unverified,
            "opened_at": self.opened_at.isoformat(),
            "updated_at": self.updated_at.isoformat(),
            "closed_at": self.closed_at.isoformat() if self.closed_at else None,
            "note": self.note,
        }


@dataclass(frozen=True, slots=True)
class UpsertResult:
    """What storing a finding did: the flag's id, whether it is new, and new evidence."""

    flag_id: int | None  # None: the finding repeats a flag an operator already closed
    created: bool
    new_evidence: bool


@dataclass(frozen=True, slots=True)
class SuspensionRecord:
    subject: str
    reason: str
    created_at: datetime
    flag_id: int | None

    def as_dict(self) -> dict[str, object]:
        return {
            "subject": self.subject,
            "reason": self.reason,
            "created_at": self.created_at.isoformat(),
            "flag_id": self.flag_id,
        }


_DECIDED = "FROM decisions d WHERE d.call_id = outcomes.call_id AND d.source = 'agi'"
# FlagStore.complete_outcomes, for the decisions after a row id (those committed since the
# last run, however late: ids are given as rows are written, not when calls were decided).
# `+tenant`: no index on these two, or SQLite walks every outcome without a tenant
# (tests/store/test_facts_plan.py holds the plan).
COMPLETE_OUTCOMES = (
    "UPDATE outcomes SET"
    f" tenant = coalesce(tenant, (SELECT d.tenant {_DECIDED})),"
    f" campaign = coalesce(campaign, (SELECT d.campaign {_DECIDED})),"
    f" number = coalesce(number, (SELECT d.number {_DECIDED}))"
    " WHERE call_id IN (SELECT call_id FROM decisions WHERE id > ?"
    " AND source = 'agi') AND (+tenant IS NULL OR +number IS NULL)"
)


class FlagStore:
    """Issue-5 queries over the shared store connection."""

    def __init__(self, store: Store) -> None:
        self.store = store

    # -- outcomes ------------------------------------------------------------------------

    async def outcomes_for_tenant(
        self, tenant: str | None, start: datetime, end: datetime
    ) -> list[CallOutcome]:
        """A tenant's outcomes in `[start, end]` (index outcomes_campaign on its prefix)."""
        where = "tenant IS NULL" if tenant is None else "tenant = ?"
        params: list[Any] = [] if tenant is None else [tenant]
        rows = await self.store.fetchall(
            f"SELECT * FROM outcomes WHERE {where} AND started_at >= ? AND started_at <= ?"
            " ORDER BY call_id",  # sorted by SQLite, off the GIL: see `dedupe`
            [*params, to_epoch(start), to_epoch(end)],
        )
        return await outcomes_from_rows(rows)

    async def outcomes_for_campaign(
        self, tenant: str | None, campaign: str | None, start: datetime, end: datetime
    ) -> list[CallOutcome]:
        """A campaign's outcomes, or (`campaign` None) the tenant's calls without one."""
        where = "tenant IS NULL" if tenant is None else "tenant = ?"
        params: list[Any] = [] if tenant is None else [tenant]
        if campaign is None:
            where += " AND campaign IS NULL"
        else:
            where += " AND campaign = ?"
            params.append(campaign)
        rows = await self.store.fetchall(
            f"SELECT * FROM outcomes WHERE {where} AND started_at >= ?"
            " AND started_at <= ? ORDER BY call_id",
            [*params, to_epoch(start), to_epoch(end)],
        )
        return await outcomes_from_rows(rows)

    async def outcomes_in(self, start: datetime, end: datetime) -> list[CallOutcome]:
        rows = await self.store.fetchall(
            "SELECT * FROM outcomes WHERE started_at >= ? AND started_at <= ? ORDER BY call_id",
            (to_epoch(start), to_epoch(end)),
        )
        return await outcomes_from_rows(rows)

    async def decisions_written(self) -> int:
        """The last decision row's id (0 with none): where `complete_outcomes` resumes."""
        row = await self.store.fetchone("SELECT coalesce(max(id), 0) FROM decisions")
        return int(row[0]) if row is not None else 0

    async def first_decision_since(self, since: datetime) -> int:
        """The id before the first decision made at `since` or later."""
        row = await self.store.fetchone(
            "SELECT coalesce(min(id), (SELECT coalesce(max(id), 0) + 1 FROM decisions)) - 1"
            " FROM decisions WHERE decided_at >= ?",
            (to_epoch(since),),
        )
        return int(row[0]) if row is not None else 0

    async def complete_outcomes(self, after_id: int) -> int:
        """Fill in the tenant, campaign and number of outcomes recorded before the guard's
        decision for their call was committed, for the decision rows after `after_id`;
        returns how many were completed.

        The listener looks the decision up when the call ends, but a `serve --workers`
        worker commits its decisions some milliseconds after answering, and a blocked call
        ends at once: such an outcome was stored without its tenant for good. Driven by the
        decision rows written since (a range of row ids), not by the outcomes without a
        tenant, of which calls the guard never saw leave many."""
        return await self.store.write(COMPLETE_OUTCOMES, (after_id,))

    async def campaigns_rated(
        self, start: datetime, end: datetime
    ) -> list[tuple[str | None, str | None]]:
        """The (tenant, campaign) with an abandoned call or an answering-machine verdict in
        the span (what an abandoned-call rate can rise by); campaign None for a tenant's
        calls without one."""
        rows = await self.store.fetchall(
            "SELECT DISTINCT tenant, campaign FROM outcomes WHERE started_at >= ?"
            " AND started_at <= ? AND (abandoned = 1 OR amd = 'MACHINE')",
            (to_epoch(start), to_epoch(end)),
        )
        return [(row["tenant"], row["campaign"]) for row in rows]

    # -- facts the detectors get as values -----------------------------------------------

    async def caller_id_pools(self, tenants: Iterable[str]) -> dict[str, dict[str, frozenset[str]]]:
        pools: dict[str, dict[str, set[str]]] = {}
        for chunk in _chunks(unique(tenants)):
            marks = ",".join("?" * len(chunk))
            for row in await self.store.fetchall(
                f"SELECT number, tenant, pool FROM caller_ids WHERE tenant IN ({marks})", chunk
            ):
                pools.setdefault(row["tenant"], {}).setdefault(row["pool"] or "", set()).add(
                    row["number"]
                )
        return {t: {p: frozenset(n) for p, n in by_pool.items()} for t, by_pool in pools.items()}

    async def guarded_call_ids(self, call_ids: Iterable[str]) -> frozenset[str]:
        """The call ids among `call_ids` that the guard allowed on the AGI route."""
        found: set[str] = set()
        for chunk in _chunks(unique(call_ids)):
            marks = ",".join("?" * len(chunk))
            rows = await self.store.fetchall(
                f"SELECT DISTINCT call_id FROM decisions WHERE call_id IN ({marks})"
                " AND verdict = 'allow'",
                chunk,
            )
            found |= {row["call_id"] for row in rows}
        return frozenset(found)

    async def breach_reasons(
        self, outcomes: Sequence[CallOutcome], policy: Policy
    ) -> dict[str, tuple[str, ...]]:
        """Why each call went to a number suppressed or registered at the time it was made.

        Suppression: an entry covering the call's tenant and campaign that was in force and
        already stored when the call started (an entry back-dated later does not make old
        calls breaches). Register: the number is on the copy in force, the copy predates the
        call (and the registration's grace period had passed, where the file dates it), the
        register covers the call's purpose, and the guard did not allow the call itself (an
        allow means consent or an exemption the guard checked).
        """
        # A call refused after the guard blocked it reached nobody: no breach.
        calls = [o for o in outcomes if o.placed and o.number and o.started_at is not None]
        if not calls:
            return {}
        reasons: dict[str, list[str]] = {}
        # Each number's own entries and the ranges it is in, as the check reads them.
        covered: dict[str, list[str]] = {}  # an entry's number -> the called numbers it covers
        for number in {o.number for o in calls if o.number}:
            for key in (number, *range_keys(number)):
                covered.setdefault(key, []).append(number)
        by_number: dict[str, list[sqlite3.Row]] = {}
        for chunk in _chunks(sorted(covered)):
            marks = ",".join("?" * len(chunk))
            rows = await self.store.fetchall(
                f"SELECT * FROM suppressions WHERE number IN ({marks})", chunk
            )
            for row in rows:
                for number in covered[row["number"]]:
                    by_number.setdefault(number, []).append(row)
        for o in calls:
            for row in by_number.get(o.number or "", []):
                why = _suppression_breach(row, o)
                if why:
                    reasons.setdefault(o.call_id, []).append(why)
        decisions = await self._decisions(o.call_id for o in calls)
        copies = await self.store.register_copies()
        tables = await self._register_tables()
        for o in calls:
            verdict, purpose = decisions.get(o.call_id, (None, None))
            if verdict == "allow":
                continue
            # The check's country (a Cocos Island number is on the DNCR, a Guam one on the
            # US registry), not phonenumbers' region.
            country = law_country(parse_number(o.number or "", None))
            for spec in policy.registers_for_country(country):
                copy = copies.get(spec.name)
                table = tables.get(spec.name)
                if copy is None or table is None:
                    continue
                if Purpose(purpose or Purpose.TELEMARKETING.value) not in spec.covers:
                    continue
                started = o.started_at.date() if o.started_at else None
                if started is None or copy.as_of > started:
                    continue  # the copy we hold was taken after the call
                if spec.binds_until is not None and started > spec.binds_until:
                    continue  # the register no longer bound calls then
                listed = await self.store.fetchone(
                    f'SELECT registered_on FROM "{table}" WHERE number = ?',
                    (register_key(o.number or "+0"),),
                )
                if listed is None:
                    continue
                registered = date.fromisoformat(listed[0]) if listed[0] else None
                grace = timedelta(days=spec.effective_after_days or 0)
                if registered is not None and registered + grace > started:
                    continue
                label = spec.label or spec.name
                reasons.setdefault(o.call_id, []).append(
                    f"it was on the {label} (copy of {copy.as_of.isoformat()})"
                )
        return {call_id: tuple(why) for call_id, why in reasons.items()}

    async def _decisions(self, call_ids: Iterable[str]) -> dict[str, tuple[str, str]]:
        out: dict[str, tuple[str, str]] = {}
        for chunk in _chunks(unique(call_ids)):
            marks = ",".join("?" * len(chunk))
            for row in await self.store.fetchall(
                f"SELECT call_id, verdict, purpose FROM decisions WHERE call_id IN ({marks})"
                " ORDER BY id",
                chunk,
            ):
                out[row["call_id"]] = (row["verdict"], row["purpose"])  # the latest wins
        return out

    async def _register_tables(self) -> dict[str, str]:
        rows = await self.store.fetchall("SELECT register, table_name FROM register_copies")
        return {row["register"]: row["table_name"] for row in rows}

    # -- flags ---------------------------------------------------------------------------

    async def flag_and_suspend(
        self, finding: FlagFinding, now: datetime, reason_for: Callable[[int], str] | None
    ) -> tuple[UpsertResult, bool]:
        """Open a flag for the finding, or update the open one for its subject and detector;
        with `reason_for`, also suspend the finding's subject when the flag has new evidence,
        in the same transaction. A finding whose evidence an operator already acknowledged or
        dismissed opens nothing.

        Apart, a suspension that failed (a database locked past the busy timeout) was lost
        for good: the flag had its evidence already, and no later run saw anything new to
        suspend for."""
        async with self.store.writing() as conn:
            result = await self._upsert(finding, to_epoch(now) or time.time())
            suspended = False
            if reason_for is not None and result.flag_id is not None and result.new_evidence:
                suspended = await _suspend(
                    conn, finding.subject, reason_for(result.flag_id), now, result.flag_id
                )
        return result, suspended

    async def _upsert(self, finding: FlagFinding, now: float) -> UpsertResult:
        evidence = json.dumps(
            {
                "call_ids": list(finding.evidence),
                "callees": list(finding.callees),
                "citation": finding.citation,
                "action": finding.action.value,
                "unverified": finding.unverified,
            }
        )
        figures = (
            to_epoch(finding.window_start),
            to_epoch(finding.window_end),
            finding.measured,
            finding.threshold,
            evidence,
            finding.detail,
        )
        async with self.store.conn.execute(
            "SELECT id, evidence FROM flags WHERE subject = ? AND detector = ? AND status = 'open'",
            (finding.subject, finding.detector),
        ) as cur:
            row = await cur.fetchone()
        if row is not None:
            new = not set(finding.evidence) <= set(_call_ids(row["evidence"]))
            await self.store.conn.execute(
                "UPDATE flags SET window_start = ?, window_end = ?, measured = ?, threshold = ?,"
                " evidence = ?, detail = ?, updated_at = ? WHERE id = ?",
                (*figures, now, row["id"]),
            )
            return UpsertResult(int(row["id"]), False, new)
        async with self.store.conn.execute(
            "SELECT evidence FROM flags WHERE subject = ? AND detector = ? AND status != 'open'",
            (finding.subject, finding.detector),
        ) as cur:
            closed = [_call_ids(r["evidence"]) for r in await cur.fetchall()]
        reviewed = set().union(*closed) if closed else set()
        if closed and set(finding.evidence) <= reviewed:
            return UpsertResult(None, False, False)
        async with self.store.conn.execute(
            "INSERT INTO flags (subject, detector, status, window_start, window_end, measured,"
            " threshold, evidence, detail, opened_at, updated_at) VALUES"
            " (?, ?, 'open', ?, ?, ?, ?, ?, ?, ?, ?)",
            (finding.subject, finding.detector, *figures, now, now),
        ) as cur:
            flag_id = cur.lastrowid
        assert flag_id is not None
        return UpsertResult(flag_id, True, True)

    async def flags(
        self,
        status: str | None = "open",
        subject: str | None = None,
        detector: str | None = None,
    ) -> list[FlagRecord]:
        clauses, params = [], []
        for column, value in (("status", status), ("subject", subject), ("detector", detector)):
            if value is not None:
                clauses.append(f"{column} = ?")
                params.append(value)
        where = f" WHERE {' AND '.join(clauses)}" if clauses else ""
        rows = await self.store.fetchall(f"SELECT * FROM flags{where} ORDER BY id", params)
        return [_flag(row) for row in rows]

    async def flag(self, flag_id: int) -> FlagRecord | None:
        row = await self.store.fetchone("SELECT * FROM flags WHERE id = ?", (flag_id,))
        return None if row is None else _flag(row)

    async def close_flag(self, flag_id: int, status: str, note: str, now: datetime) -> FlagRecord:
        """Acknowledge or dismiss a flag with the operator's note; ValueError when not allowed."""
        if status not in ("acknowledged", "dismissed"):
            raise ValueError(f"a flag can be acknowledged or dismissed, not {status!r}")
        current = await self.flag(flag_id)
        if current is None:
            raise ValueError(f"there is no flag {flag_id}")
        if current.status == status or current.status == "dismissed":
            raise ValueError(f"flag {flag_id} is already {current.status}")
        await self.store.transaction(
            [
                (
                    "UPDATE flags SET status = ?, note = ?, closed_at = ?, updated_at = ?"
                    " WHERE id = ?",
                    (status, note, to_epoch(now), to_epoch(now), flag_id),
                ),
                _event_statement(
                    f"flag_{status}",
                    {"flag_id": flag_id, "subject": current.subject, "note": note},
                    now,
                ),
            ]
        )
        updated = await self.flag(flag_id)
        assert updated is not None
        return updated

    # -- suspensions ---------------------------------------------------------------------

    async def suspend(
        self, subject: str, reason: str, now: datetime, flag_id: int | None = None
    ) -> bool:
        """Suspend `subject`; False when it already is. Committed before this returns."""
        async with self.store.writing() as conn:
            return await _suspend(conn, subject, reason, now, flag_id)

    async def unsuspend(self, subject: str, reason: str, now: datetime) -> bool:
        """Lift a suspension; False when `subject` was not suspended."""
        async with self.store.writing() as conn:
            async with conn.execute("DELETE FROM suspensions WHERE subject = ?", (subject,)) as cur:
                deleted = cur.rowcount > 0
            if deleted:
                detail = {"subject": subject, "reason": reason}
                await conn.execute(*_event_statement("unsuspend", detail, now))
        return deleted

    async def suspensions(self) -> list[SuspensionRecord]:
        rows = await self.store.fetchall("SELECT * FROM suspensions ORDER BY created_at, subject")
        return [
            SuspensionRecord(
                row["subject"], row["reason"], require_epoch(row["created_at"]), row["flag_id"]
            )
            for row in rows
        ]

    async def suspended_like(self, subject: str) -> list[str]:
        """The other suspended subjects that hold `subject`'s calls: it in another case of
        its letters (the check folds them: `rules.facts.folded`), and for a tenant's
        campaign (`campaign:T/NAME`) every tenant's `campaign:NAME` and `tenant:T`."""
        holding = [subject]
        kind, _, name = subject.partition(":")
        if kind == "campaign" and "/" in name:
            tenant, _, campaign = name.partition("/")
            holding += [f"campaign:{campaign}", f"tenant:{tenant}"]
        marks = ", ".join("?" * len(holding))
        rows = await self.store.fetchall(
            f"SELECT subject FROM suspensions WHERE subject COLLATE NOCASE IN ({marks})"
            " AND subject != ? ORDER BY subject",
            (*holding, subject),
        )
        return [row[0] for row in rows]

    async def is_suspended(self, subject: str) -> bool:
        row = await self.store.fetchone("SELECT 1 FROM suspensions WHERE subject = ?", (subject,))
        return row is not None


def _event_statement(kind: str, detail: dict[str, Any], at: datetime) -> tuple[str, Sequence[Any]]:
    return (
        "INSERT INTO events (at, kind, detail) VALUES (?, ?, ?)",
        (to_epoch(at), kind, json.dumps(detail, default=str)),
    )


def _suppression_breach(row: sqlite3.Row, outcome: CallOutcome) -> str | None:
    started = to_epoch(outcome.started_at)
    if started is None:
        return None
    if row["tenant"] and row["tenant"] != (outcome.tenant or "default"):
        return None
    if row["campaign"] and row["campaign"] != outcome.campaign:
        return None
    if not row["requested_at"] <= started or not row["created_at"] <= started:
        return None
    if row["expires_at"] is not None and started >= row["expires_at"]:
        return None
    scope = (
        "global"
        if not row["tenant"]
        else (f"tenant {row['tenant']}" if not row["campaign"] else f"campaign {row['campaign']}")
    )
    requested = require_epoch(row["requested_at"])
    if str(row["number"]).endswith(RANGE_MARK):
        return f"it is in the suppressed range {row['number']} ({scope}, {requested:%Y-%m-%d})"
    return f"it had opted out ({scope}, {requested:%Y-%m-%d})"


def _call_ids(evidence: str) -> list[str]:
    try:
        value = json.loads(evidence)
    except ValueError:
        return []
    ids = value.get("call_ids", []) if isinstance(value, dict) else value
    return [str(i) for i in ids] if isinstance(ids, list) else []


async def _suspend(
    conn: aiosqlite.Connection, subject: str, reason: str, now: datetime, flag_id: int | None
) -> bool:
    """Insert the suspension and its event in the caller's transaction; False when
    `subject` already is suspended."""
    async with conn.execute(
        "INSERT OR IGNORE INTO suspensions (subject, reason, created_at, flag_id)"
        " VALUES (?, ?, ?, ?)",
        (subject, reason, to_epoch(now), flag_id),
    ) as cur:
        inserted = cur.rowcount > 0
    if inserted:
        detail = {"subject": subject, "reason": reason, "flag_id": flag_id}
        await conn.execute(*_event_statement("suspend", detail, now))
    return inserted


def _flag(row: sqlite3.Row) -> FlagRecord:
    try:
        evidence = json.loads(row["evidence"])
    except ValueError:
        evidence = {}
    if not isinstance(evidence, dict):
        evidence = {"call_ids": evidence if isinstance(evidence, list) else []}
    return FlagRecord(
        id=row["id"],
        subject=row["subject"],
        detector=row["detector"],
        status=row["status"],
        window_start=require_epoch(row["window_start"]),
        window_end=require_epoch(row["window_end"]),
        measured=row["measured"],
        threshold=row["threshold"],
        call_ids=tuple(str(i) for i in evidence.get("call_ids", [])),
        detail=row["detail"],
        citation=str(evidence.get("citation", "")),
        action=str(evidence.get("action", "flag")),
        unverified=bool(evidence.get("unverified", False)),
        callees=tuple(str(c) for c in evidence.get("callees", [])),
        opened_at=require_epoch(row["opened_at"]),
        updated_at=require_epoch(row["updated_at"]),
        closed_at=from_epoch(row["closed_at"]),
        note=row["note"],
    )


def _chunks(values: Sequence[str]) -> Iterable[list[str]]:
    for i in range(0, len(values), _CHUNK):
        yield list(values[i : i + _CHUNK])


async def outcomes_from_rows(rows: list[sqlite3.Row]) -> list[CallOutcome]:
    """The rows as outcomes, built on a thread: a detector window holds tens of thousands,
    and building them on the event loop held up the inline checks (about 10 us each). The
    rows are freed there too, in steps (`release_in_steps`), and `rows` is left empty; a
    few (under `OFF_LOOP_ROWS`) are built on the loop and left as they are."""
    if len(rows) < OFF_LOOP_ROWS:
        return [outcome_from_row(row) for row in rows]
    return await asyncio.to_thread(_outcomes_releasing_rows, rows)


def _outcomes_releasing_rows(rows: list[sqlite3.Row]) -> list[CallOutcome]:
    outcomes = [outcome_from_row(row) for row in rows]
    release_in_steps(rows)
    return outcomes


def unique(values: Iterable[str]) -> list[str]:
    """The distinct values, unsorted: sorting the call ids of a 100,000-outcome window is
    one C call of some 90 ms, which holds the GIL (on any thread) while the inline checks
    wait for it."""
    return list(set(values))


OFF_LOOP_ROWS = 500  # fewer are built at once: a thread hand-over costs more than they do
