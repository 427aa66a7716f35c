"""The caller-ID inventory: numbers (E.164) each tenant owns or may present, optionally in pools.

The hot path reads it through `Store.facts_for`; these are the operator's writes and listings.
Pools are stored as '' when absent (the column is NOT NULL).
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime

from dialguard.store.core import Store
from dialguard.store.timeconv import require_epoch


@dataclass(frozen=True, slots=True)
class InventoryEntry:
    number: str
    tenant: str
    pool: str | None = None


@dataclass(frozen=True, slots=True)
class InventoryRow:
    number: str
    tenant: str
    pool: str | None
    source: str
    created_at: datetime

    def as_dict(self) -> dict[str, object]:
        return {
            "number": self.number,
            "tenant": self.tenant,
            "pool": self.pool,
            "source": self.source,
            "created_at": self.created_at.isoformat(),
        }


@dataclass(frozen=True, slots=True)
class ImportCounts:
    added: int
    updated: int  # already there, pool changed
    unchanged: int  # already there with the same pool

    def as_dict(self) -> dict[str, int]:
        return {"added": self.added, "updated": self.updated, "unchanged": self.unchanged}


async def save_caller_ids(
    store: Store, entries: Sequence[InventoryEntry], source: str
) -> ImportCounts:
    """Add every entry in one transaction: all are saved or none are.

    An entry already in the inventory moves to the entry's pool when it names one; an entry
    without a pool leaves the existing pool alone.
    """
    added = updated = unchanged = 0
    now = time.time()
    async with store.writing() as conn:
        for entry in entries:
            pool = entry.pool or ""
            async with conn.execute(
                "SELECT pool FROM caller_ids WHERE number = ? AND tenant = ?",
                (entry.number, entry.tenant),
            ) as cur:
                row = await cur.fetchone()
            if row is None:
                added += 1
                await conn.execute(
                    "INSERT INTO caller_ids (number, tenant, pool, source, created_at)"
                    " VALUES (?, ?, ?, ?, ?)",
                    (entry.number, entry.tenant, pool, source, now),
                )
            elif entry.pool is not None and row[0] != pool:
                updated += 1
                await conn.execute(
                    "UPDATE caller_ids SET pool = ? WHERE number = ? AND tenant = ?",
                    (pool, entry.number, entry.tenant),
                )
            else:
                unchanged += 1
    counts = ImportCounts(added, updated, unchanged)
    tenants = sorted({e.tenant for e in entries})
    await store.log_event(
        "callerid.save",
        {"source": source, "tenants": tenants, "count": len(entries), **counts.as_dict()},
    )
    return counts


async def remove_caller_id(store: Store, number: str, tenant: str) -> bool:
    """Remove one number from a tenant's inventory; False when it was not there."""
    removed = await store.write(
        "DELETE FROM caller_ids WHERE number = ? AND tenant = ?", (number, tenant)
    )
    if removed:
        await store.log_event("callerid.remove", {"number": number, "tenant": tenant})
    return removed > 0


async def list_caller_ids(
    store: Store, tenant: str | None = None, pool: str | None = None
) -> list[InventoryRow]:
    clauses: list[str] = []
    params: list[str] = []
    if tenant is not None:
        clauses.append("tenant = ?")
        params.append(tenant)
    if pool is not None:
        clauses.append("pool = ?")
        params.append(pool)
    where = f" WHERE {' AND '.join(clauses)}" if clauses else ""
    rows = await store.fetchall(
        f"SELECT * FROM caller_ids{where} ORDER BY tenant, pool, number", params
    )
    return [
        InventoryRow(
            row["number"],
            row["tenant"],
            row["pool"] or None,
            row["source"],
            require_epoch(row["created_at"]),
        )
        for row in rows
    ]
