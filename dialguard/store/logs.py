"""Reading the decision and outcome log for `dialguard log`: newest first, joined by call_id."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from dialguard.store.core import Store
from dialguard.store.timeconv import require_epoch, to_epoch


@dataclass(frozen=True)
class LogFilter:
    since: datetime | None = None
    number: str | None = None  # E.164
    # Dial strings, matched on the rows that have no E.164 number (an emergency number, a
    # short code, a call decided by the failure policy); with `number`, either matches.
    dialled: tuple[str, ...] = ()
    tenant: str | None = None
    verdict: str | None = None
    rule: str | None = None
    limit: int = 50
    decisions: bool = True
    outcomes: bool = True


async def log_entries(store: Store, f: LogFilter) -> list[dict[str, Any]]:
    """Decisions (with their call's outcome, when one was recorded) and outcomes without a
    decision, merged newest first. Verdict and rule filters select decisions only."""
    entries: list[dict[str, Any]] = []
    if f.decisions:
        entries += await _decisions(store, f)
    if f.outcomes and f.verdict is None and f.rule is None:
        entries += await _orphan_outcomes(store, f, standalone=not f.decisions)
    entries.sort(key=lambda e: e["_at"], reverse=True)
    for e in entries:
        del e["_at"]
    return entries[: f.limit]


async def _decisions(store: Store, f: LogFilter) -> list[dict[str, Any]]:
    where, params = _common(f, "d", "decided_at")
    if f.verdict is not None:
        where.append("d.verdict = ?")
        params.append(f.verdict)
    if f.rule is not None and "." in f.rule:
        where.append("d.rule = ?")
        params.append(f.rule)
    elif f.rule is not None:  # a family (`callerid`): every rule of it
        where.append("substr(d.rule, 1, ?) = ?")
        params += [len(f.rule) + 1, f"{f.rule}."]
    sql = (
        "SELECT d.*, o.disposition AS o_disposition, o.billsec AS o_billsec,"
        " o.abandoned AS o_abandoned, o.amd AS o_amd FROM decisions d"
        " LEFT JOIN outcomes o ON o.call_id = d.call_id"
        + (" WHERE " + " AND ".join(where) if where else "")
        + " ORDER BY d.decided_at DESC LIMIT ?"
    )
    rows = await store.fetchall(sql, [*params, f.limit])
    return [
        {
            "_at": row["decided_at"],
            "kind": "decision",
            "at": require_epoch(row["decided_at"]).isoformat(),
            "call_id": row["call_id"],
            "source": row["source"],
            "tenant": row["tenant"],
            "campaign": row["campaign"],
            "number": row["number"] or row["dialled"],
            "caller_id": row["caller_id"],
            "verdict": row["verdict"],
            "rule": row["rule"],
            "reason": row["reason"],
            "latency_ms": row["latency_ms"],
            "disposition": row["o_disposition"],
            "billsec": row["o_billsec"],
            "abandoned": bool(row["o_abandoned"]) if row["o_abandoned"] is not None else None,
            "amd": row["o_amd"],
        }
        for row in rows
    ]


async def _orphan_outcomes(store: Store, f: LogFilter, standalone: bool) -> list[dict[str, Any]]:
    where, params = _common(f, "o", "started_at")
    if not standalone:  # outcomes already shown beside their decision are not repeated
        where.append("NOT EXISTS (SELECT 1 FROM decisions d WHERE d.call_id = o.call_id)")
    sql = (
        "SELECT o.* FROM outcomes o"
        + (" WHERE " + " AND ".join(where) if where else "")
        + " ORDER BY o.started_at DESC LIMIT ?"
    )
    rows = await store.fetchall(sql, [*params, f.limit])
    return [
        {
            "_at": row["started_at"] or row["updated_at"],
            "kind": "outcome",
            "at": require_epoch(row["started_at"] or row["updated_at"]).isoformat(),
            "call_id": row["call_id"],
            "source": row["source"],
            "tenant": row["tenant"],
            "campaign": row["campaign"],
            "number": row["number"] or row["dialled"],
            "caller_id": row["caller_id"],
            "verdict": None,
            "rule": None,
            "reason": None,
            "latency_ms": None,
            "disposition": row["disposition"],
            "billsec": row["billsec"],
            "abandoned": bool(row["abandoned"]),
            "amd": row["amd"],
        }
        for row in rows
    ]


def _common(f: LogFilter, table: str, time_col: str) -> tuple[list[str], list[Any]]:
    """The conditions every listing shares, on `table` (its alias) and its time column."""
    where: list[str] = []
    params: list[Any] = []
    if f.since is not None:
        where.append(f"{table}.{time_col} >= ?")
        params.append(to_epoch(f.since))
    by_dialled = ""
    if f.dialled:
        marks = ", ".join("?" * len(f.dialled))
        by_dialled = f"({table}.number IS NULL AND {table}.dialled IN ({marks}))"
    if f.number is not None and by_dialled:
        where.append(f"({table}.number = ? OR {by_dialled})")
        params += [f.number, *f.dialled]
    elif f.number is not None:
        where.append(f"{table}.number = ?")
        params.append(f.number)
    elif by_dialled:
        where.append(by_dialled)
        params += f.dialled
    if f.tenant is not None:
        where.append(f"{table}.tenant = ?")
        params.append(f.tenant)
    return where, params
