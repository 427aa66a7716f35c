"""Blackouts (`dialguard blackout`): declare, lift and list; every change audited.

The inline check caches every blackout behind the facts generation (`facts.FactsCache`),
which the table's triggers bump: a blackout declared or lifted holds from the next check.
A lifted blackout is ended, not deleted, so that its decisions can still be explained.
"""

from __future__ import annotations

import time
from dataclasses import replace
from datetime import UTC, datetime
from typing import Any

from dialguard.store.core import Store, insert_event
from dialguard.store.facts import SELECT_BLACKOUTS, blackout_from_row
from dialguard.store.timeconv import to_epoch
from rules.facts import Blackout


def as_dict(blackout: Blackout) -> dict[str, Any]:
    return {
        "id": blackout.id,
        "place": blackout.place,
        "tenant": blackout.tenant,
        "purposes": sorted(blackout.purposes),
        "starts_at": blackout.starts_at.astimezone(UTC).isoformat(),
        "ends_at": blackout.ends_at.astimezone(UTC).isoformat() if blackout.ends_at else None,
        "reason": blackout.reason,
    }


async def declare(
    store: Store,
    place: str,
    starts_at: datetime,
    ends_at: datetime | None,
    purposes: frozenset[str],
    tenant: str | None,
    reason: str,
) -> Blackout:
    """Add a blackout, committed durably (calls are held from the next check) and audited
    in the same transaction."""
    now = time.time()
    async with store.writing(durable=True) as conn:
        cursor = await conn.execute(
            "INSERT INTO blackouts (place, tenant, purposes, starts_at, ends_at, reason,"
            " created_at) VALUES (?, ?, ?, ?, ?, ?, ?)",
            (
                place,
                tenant or "",
                ",".join(sorted(purposes)),
                to_epoch(starts_at),
                to_epoch(ends_at),
                reason,
                now,
            ),
        )
        blackout_id = cursor.lastrowid
        assert blackout_id is not None  # an INSERT into a rowid table
        blackout = Blackout(blackout_id, place, starts_at, ends_at, purposes, tenant, reason)
        await insert_event(conn, now, "blackout.add", as_dict(blackout))
    return blackout


async def get(store: Store, blackout_id: int) -> Blackout | None:
    row = await store.fetchone(f"{SELECT_BLACKOUTS} WHERE id = ?", (blackout_id,))
    return blackout_from_row(*row) if row is not None else None


async def lift(store: Store, blackout_id: int, at: datetime) -> Blackout | None:
    """End the blackout at `at` (sooner than it would have ended); None when there is no
    such blackout. One that ended by `at` already is left as it is, and returned."""
    now = time.time()
    async with store.writing(durable=True) as conn:
        cursor = await conn.execute(f"{SELECT_BLACKOUTS} WHERE id = ?", (blackout_id,))
        row = await cursor.fetchone()
        if row is None:
            return None
        blackout = blackout_from_row(*row)
        if blackout.ends_at is not None and blackout.ends_at <= at:
            return blackout
        # One that has not started yet ends as it starts: it never holds a call.
        ends_at = max(at, blackout.starts_at)
        await conn.execute(
            "UPDATE blackouts SET ends_at = ? WHERE id = ?", (to_epoch(ends_at), blackout_id)
        )
        lifted = replace(blackout, ends_at=ends_at)
        await insert_event(conn, now, "blackout.lift", as_dict(lifted))
    return lifted


async def list_blackouts(store: Store, *, ended_too: bool, at: datetime) -> list[Blackout]:
    """The blackouts in force or to come at `at`; with `ended_too`, every one."""
    rows = await store.fetchall(f"{SELECT_BLACKOUTS} ORDER BY starts_at, id")
    found = [blackout_from_row(*row) for row in rows]
    if ended_too:
        return found
    return [b for b in found if b.ends_at is None or b.ends_at > at]
