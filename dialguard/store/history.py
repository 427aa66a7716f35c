"""Past call attempts imported as `outcomes` rows (`source = 'history'`), idempotently."""

from __future__ import annotations

import json
import time
from collections.abc import Sequence

from dialguard.store.core import Store
from dialguard.store.timeconv import to_epoch
from rules.outcomes import CallOutcome


async def import_outcomes(store: Store, outcomes: Sequence[CallOutcome], source_file: str) -> int:
    """Insert the outcomes in one transaction; a call_id already stored is left as it is.

    Returns how many were new (the rest are duplicates of an earlier import or recording).
    """
    now = time.time()
    rows = [
        (
            o.call_id,
            o.linkedid,
            o.number,
            o.dialled,
            o.caller_id,
            o.tenant,
            o.campaign,
            to_epoch(o.started_at),
            to_epoch(o.answered_at),
            to_epoch(o.ended_at),
            o.disposition,
            o.billsec,
            int(o.abandoned),
            o.source,
            now,
        )
        for o in outcomes
    ]
    conn = store.conn
    await conn.execute("BEGIN IMMEDIATE")
    try:
        before = conn.total_changes
        await conn.executemany(
            "INSERT OR IGNORE INTO outcomes (call_id, linkedid, number, dialled, caller_id, tenant,"
            " campaign, started_at, answered_at, ended_at, disposition, billsec, abandoned, source,"
            " updated_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
            rows,
        )
        added = conn.total_changes - before
        await conn.execute(
            "INSERT INTO events (at, kind, detail) VALUES (?, ?, ?)",
            (
                now,
                "history.import",
                json.dumps({"file": source_file, "rows": len(rows), "added": added}),
            ),
        )
        await conn.execute("COMMIT")
    except BaseException:
        await conn.execute("ROLLBACK")
        raise
    return added
