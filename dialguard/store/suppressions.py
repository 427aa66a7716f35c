"""The local suppression (opt-out) list: add, remove, list, bulk import; every change audited."""

from __future__ import annotations

import json
import time
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from dialguard.store.core import SUPPRESSION_UPSERT, Store
from dialguard.store.facts import suppression_as_dict, suppression_from_row
from dialguard.store.late_optouts import late_among
from dialguard.store.staging import StagedImport
from dialguard.store.timeconv import require_epoch, to_epoch
from rules.facts import SuppressionEntry
from rules.numbers import RANGE_MARK, range_keys


@dataclass(frozen=True)
class SuppressionRow:
    entry: SuppressionEntry
    created_at: float

    def as_dict(self) -> dict[str, Any]:
        return suppression_as_dict(self.entry)


async def add(store: Store, entry: SuppressionEntry) -> bool:
    """Add (or refresh) one entry; durable and audited before this returns. False when
    nothing changed (`Store.add_suppression`): no event then."""
    return await store.add_suppression(entry)


async def recorded_at(store: Store, entry: SuppressionEntry) -> datetime | None:
    """When the list first held the entry of this number and scope (None: it does not)."""
    row = await store.fetchone(
        "SELECT created_at FROM suppressions WHERE number = ? AND tenant = ? AND campaign = ?",
        (entry.number, entry.tenant or "", entry.campaign or ""),
    )
    return require_epoch(row[0]) if row is not None else None


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
    """The entries, narrowed to a scope and to a number: the number's own entries and the
    ranges it is in, as the check finds them (a range given as `number`: that range's)."""
    where: list[str] = []
    params: list[Any] = []
    for column, value in (("tenant", tenant), ("campaign", campaign)):
        if value is not None:
            where.append(f"{column} = ?")
            params.append(value)
    if number is not None:
        keys = [number] if number.endswith(RANGE_MARK) else [number, *range_keys(number)]
        where.append(f"number IN ({', '.join('?' * len(keys))})")
        params += keys
    sql = "SELECT * FROM suppressions"
    if where:
        sql += " WHERE " + " AND ".join(where)
    sql += " ORDER BY number, tenant, campaign"
    return [
        SuppressionRow(suppression_from_row(row), row["created_at"])
        for row in await store.fetchall(sql, params)
    ]


@dataclass(frozen=True)
class ImportCounts:
    entries: int  # lines imported
    new: int  # numbers and scopes not on the list before
    updated: int  # already on the list: reason, source and expiry replaced
    duplicates: int  # lines repeating an earlier line's number and scope
    late: int = 0  # entries it recorded that came later than the law gives (late_optouts)


class SuppressionImport(StagedImport[SuppressionEntry]):
    """A bulk import of opt-outs: all or nothing, in constant memory, holding the database
    briefly.

    Entries are staged (`staging.StagedImport`: no lock on the shared database). `apply` then adds
    them in ONE transaction, committed with synchronous=FULL, in key order: the index is
    appended to rather than updated at random, which holds the write lock two to three times
    less long (0.7-0.9 s rather than 1.5-2.5 s for 200,000 entries here). The daemons'
    decision records wait for that lock, and the inline check blocks once they have waited
    2 s (`guard.error`): split lists longer than about 400,000 entries (500,000 held it
    2.05 s). Lines for a number and scope already there, or repeated, merge as if added one
    by one in order: the longer expiry, with its request's reason and source
    (store.SUPPRESSION_UPSERT).
    """

    def __init__(self, store: Store) -> None:
        super().__init__(
            store,
            "suppression_stage",
            (
                "number TEXT NOT NULL",
                "tenant TEXT NOT NULL",
                "campaign TEXT NOT NULL",
                "reason TEXT",
                "source TEXT",
                "requested_at REAL",
                "expires_at REAL",
            ),
        )

    def row(self, item: SuppressionEntry) -> tuple[object, ...]:
        return (
            item.number,
            item.tenant or "",
            item.campaign or "",
            item.reason,
            item.source,
            to_epoch(item.requested_at),
            to_epoch(item.expires_at),
        )

    async def apply(self, source: str) -> ImportCounts:
        """Add every staged entry in one transaction; what it did, counted."""
        # Before taking the write lock: the key order the insert reads in, and the counts.
        await self.store.conn.execute(
            "CREATE INDEX temp.suppression_stage_key"
            " ON suppression_stage (number, tenant, campaign)"
        )
        keys = f"SELECT DISTINCT number, tenant, campaign FROM {self.table}"
        distinct = await self.count(keys)
        already = await self.count(
            f"{keys} st WHERE EXISTS (SELECT 1 FROM suppressions s WHERE s.number = st.number"
            " AND s.tenant = st.tenant AND s.campaign = st.campaign)"
        )
        now = time.time()
        staged = (
            "SELECT number, tenant, campaign, reason, source, requested_at, expires_at, ?"
            # WHERE: SQLite's rule for an upsert whose rows come from a SELECT.
            f" FROM {self.table} WHERE true ORDER BY number, tenant, campaign, rowid"
        )
        event = json.dumps({"source": source, "entries": self.staged})
        await self.store.durable_transaction(
            [
                (SUPPRESSION_UPSERT.format(rows=staged), (now,)),
                (
                    "INSERT INTO events (at, kind, detail) VALUES (?, ?, ?)",
                    (now, "suppression.import", event),
                ),
            ]
        )
        # The entries this import recorded (new ones, and lapsed ones it replaced) carry its
        # `now` as their created_at: those that came late.
        late = await late_among(self.store, now, keys)
        return ImportCounts(self.staged, distinct - already, already, self.staged - distinct, late)
