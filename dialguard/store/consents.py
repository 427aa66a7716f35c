"""Consent and relationship records (`consents` table): the operator's writes and listings.

The hot path reads them through `Store.facts_for`. A campaign is stored as '' when absent
(all the tenant's campaigns). Revoking keeps the row and sets `revoked_at`, so the history
stays auditable and a decision at an earlier `--at` still sees the consent as it was.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from datetime import datetime, timedelta

from dialguard.store.core import Store
from dialguard.store.facts import consent_from_row
from dialguard.store.timeconv import require_epoch, to_epoch
from rules.facts import ConsentKind, ConsentRecord


@dataclass(frozen=True, slots=True)
class ConsentRow:
    id: int
    record: ConsentRecord
    note: str
    created_at: datetime

    def as_dict(self) -> dict[str, object]:
        r = self.record
        return {
            "id": self.id,
            "number": r.number,
            "tenant": r.tenant,
            "campaign": r.campaign,
            "kind": r.kind.value,
            "granted_at": r.granted_at.isoformat(),
            "granted_on": r.granted_on.isoformat() if r.granted_on else None,
            "expires_at": r.expires_at.isoformat() if r.expires_at else None,
            "revoked_at": r.revoked_at.isoformat() if r.revoked_at else None,
            "note": self.note,
            "created_at": self.created_at.isoformat(),
        }


async def add_consent(store: Store, record: ConsentRecord, note: str = "") -> int:
    """Insert one consent record; returns its id once committed."""
    await store.transaction(
        [
            (
                "INSERT INTO consents (number, tenant, campaign, kind, granted_at, granted_on,"
                " expires_at, revoked_at, created_at, note) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                (
                    record.number,
                    record.tenant,
                    record.campaign or "",
                    record.kind.value,
                    to_epoch(record.granted_at),
                    record.granted_on.isoformat() if record.granted_on else None,
                    to_epoch(record.expires_at),
                    to_epoch(record.revoked_at),
                    time.time(),
                    note,
                ),
            ),
            (
                "INSERT INTO events (at, kind, detail) VALUES (?, 'consent.add', ?)",
                (time.time(), f"{record.number} {record.tenant} {record.kind.value}"),
            ),
        ]
    )
    row = await store.fetchone("SELECT max(id) FROM consents")
    return int(row[0]) if row is not None else 0


# How far apart the same calendar date can begin across the world's zones (UTC+14 to UTC-12).
SAME_DAY = timedelta(hours=26)


async def revoke_consents(
    store: Store,
    number: str,
    tenant: str,
    at: datetime,
    kind: ConsentKind | None = None,
    campaign: str | None = None,
    *,
    now: datetime,
) -> int:
    """Mark the matching consents given by `at` and not revoked by then as revoked at `at`;
    returns how many.

    A revocation dated later is brought forward (the callee withdrew sooner); an earlier one
    is never put off. A consent given after `at` stands: the callee withdrew, then agreed
    again (revoking it made it never in force). But a date alone spans 26 hours across the
    zones (a consent dated D is taken from D at UTC-12, a revocation dated D from D at
    UTC+14), so a consent given up to `SAME_DAY` after `at` is revoked too: the same day,
    the withdrawal is taken to come last, the stricter order. A consent dated after `now`
    cannot have been given again since: it is revoked too (it stood, and took effect on
    its date over the withdrawal)."""
    sql = (
        "UPDATE consents SET revoked_at = ? WHERE number = ? AND tenant = ?"
        " AND (granted_at <= ? OR granted_at > ?) AND (revoked_at IS NULL OR revoked_at > ?)"
    )
    params: list[object] = [
        to_epoch(at),
        number,
        tenant,
        to_epoch(at + SAME_DAY),
        to_epoch(now),
        to_epoch(at),
    ]
    if kind is not None:
        sql += " AND kind = ?"
        params.append(kind.value)
    if campaign is not None:
        sql += " AND campaign = ?"
        params.append(campaign)
    async with store.writing() as conn:
        async with conn.execute(sql, params) as cur:
            count = cur.rowcount
        await conn.execute(
            "INSERT INTO events (at, kind, detail) VALUES (?, 'consent.revoke', ?)",
            (time.time(), f"{number} {tenant} {kind.value if kind else 'all'} ({count})"),
        )
    return count


async def list_consents(
    store: Store, tenant: str | None = None, number: str | None = None
) -> list[ConsentRow]:
    sql = "SELECT * FROM consents WHERE 1 = 1"
    params: list[object] = []
    if tenant is not None:
        sql += " AND tenant = ?"
        params.append(tenant)
    if number is not None:
        sql += " AND number = ?"
        params.append(number)
    rows = await store.fetchall(sql + " ORDER BY number, tenant, granted_at, id", params)
    return [
        ConsentRow(
            row["id"],
            consent_from_row(row),
            row["note"],
            require_epoch(row["created_at"]),
        )
        for row in rows
    ]
