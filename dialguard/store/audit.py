"""The events table read back (`dialguard events`): the audit trail of changes."""

from __future__ import annotations

import json
from datetime import datetime
from typing import Any

from dialguard.store.core import Store
from dialguard.store.timeconv import require_epoch


async def list_events(
    store: Store, since: datetime | None, kind: str | None, actor: str | None, limit: int
) -> list[dict[str, Any]]:
    """The latest `limit` events at or after `since`, oldest first; `kind` is a prefix
    (`suppression` finds suppression.add and suppression.remove)."""
    where: list[str] = ["at >= ?"]
    params: list[object] = [since.timestamp() if since else 0.0]
    if kind:
        # A range of the index on (kind, at), where LIKE would read `_` as a wildcard.
        where.append("kind >= ? AND kind < ?")
        params += [kind, kind + "\U0010ffff"]
    if actor:
        where.append("actor = ?")
        params.append(actor)
    rows = await store.fetchall(
        "SELECT * FROM (SELECT id, at, actor, kind, detail FROM events"
        f" WHERE {' AND '.join(where)} ORDER BY id DESC LIMIT ?) ORDER BY id",
        [*params, limit],
    )
    return [
        {
            "id": row["id"],
            "at": require_epoch(row["at"]).isoformat(),
            "actor": row["actor"] or None,
            "kind": row["kind"],
            "detail": _detail(row["detail"]),
        }
        for row in rows
    ]


def _detail(text: str) -> object:
    try:
        return json.loads(text)
    except ValueError:  # an event written by hand, or by an older version, as plain text
        return text
