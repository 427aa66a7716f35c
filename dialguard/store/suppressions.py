"""The local suppression (opt-out) list: add, remove, list, bulk import; every change audited."""

from __future__ import annotations

import json
import time
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from dialguard.store.core import Store
from dialguard.store.facts import suppression_from_row
from dialguard.store.timeconv import to_epoch
from rules.facts import SuppressionEntry


@dataclass(frozen=True)
class SuppressionRow:
    entry: SuppressionEntry
    created_at: float

    def as_dict(self) -> dict[str, Any]:
        e = self.entry
        return {
            "number": e.number,
            "tenant": e.tenant,
            "campaign": e.campaign,
            "reason": e.reason,
            "source": e.source,
            "requested_at": e.requested_at.isoformat(),
            "expires_at": e.expires_at.isoformat() if e.expires_at else None,
        }


def _event(entry: SuppressionEntry) -> dict[str, Any]:
    return {
        "number": entry.number,
        "tenant": entry.tenant,
        "campaign": entry.campaign,
        "reason": entry.reason,
        "source": entry.source,
        "expires_at": entry.expires_at,
    }


async def add(store: Store, entry: SuppressionEntry) -> None:
    """Add (or refresh) one entry; durable before this returns, then audited."""
    await store.add_suppression(entry)
    await store.log_event("suppression.add", _event(entry))


async def remove(store: Store, number: str, tenant: str | None, campaign: str | None) -> int:
    """Remove the entry of exactly this scope; returns how many rows went (0 or 1)."""
    removed = await store.write(
        "DELETE FROM suppressions WHERE number = ? AND tenant = ? AND campaign = ?",
        (number, tenant or "", campaign or ""),
    )
    if removed:
        await store.log_event(
            "suppression.remove", {"number": number, "tenant": tenant, "campaign": campaign}
        )
    return removed


async def list_entries(
    store: Store,
    tenant: str | None = None,
    campaign: str | None = None,
    number: str | None = None,
) -> list[SuppressionRow]:
    where: list[str] = []
    params: list[Any] = []
    for column, value in (("tenant", tenant), ("campaign", campaign), ("number", number)):
        if value is not None:
            where.append(f"{column} = ?")
            params.append(value)
    sql = "SELECT * FROM suppressions"
    if where:
        sql += " WHERE " + " AND ".join(where)
    sql += " ORDER BY number, tenant, campaign"
    return [
        SuppressionRow(suppression_from_row(row), row["created_at"])
        for row in await store.fetchall(sql, params)
    ]


async def import_entries(store: Store, entries: Sequence[SuppressionEntry], source: str) -> int:
    """Add every entry in ONE transaction (all or nothing), committed with synchronous=FULL."""
    now = time.time()
    rows = [
        (
            e.number,
            e.tenant or "",
            e.campaign or "",
            e.reason,
            e.source,
            to_epoch(e.requested_at),
            to_epoch(e.expires_at),
            now,
        )
        for e in entries
    ]
    conn = store.conn
    await conn.execute("PRAGMA synchronous = FULL")
    try:
        await conn.execute("BEGIN IMMEDIATE")
        try:
            await conn.executemany(
                "INSERT INTO suppressions (number, tenant, campaign, reason, source, requested_at,"
                " expires_at, created_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?)"
                " ON CONFLICT (number, tenant, campaign) DO UPDATE SET reason = excluded.reason,"
                " source = excluded.source,"
                " requested_at = min(requested_at, excluded.requested_at),"
                " expires_at = excluded.expires_at",
                rows,
            )
            await conn.execute(
                "INSERT INTO events (at, kind, detail) VALUES (?, ?, ?)",
                (now, "suppression.import", json.dumps({"source": source, "entries": len(rows)})),
            )
            await conn.execute("COMMIT")
        except BaseException:
            await conn.execute("ROLLBACK")
            raise
    finally:
        await conn.execute("PRAGMA synchronous = NORMAL")
    return len(rows)
