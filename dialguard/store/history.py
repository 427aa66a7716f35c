"""Past call attempts imported as `outcomes` rows (`source = 'history'`), idempotently."""

from __future__ import annotations

import json
import time
from collections.abc import Sequence

from dialguard.store.core import Store
from dialguard.store.staging import StagedImport
from dialguard.store.timeconv import to_epoch
from rules.outcomes import CallOutcome

_COLUMNS = (
    "call_id",
    "linkedid",
    "number",
    "dialled",
    "caller_id",
    "tenant",
    "campaign",
    "started_at",
    "answered_at",
    "ended_at",
    "disposition",
    "billsec",
    "abandoned",
    "source",
)


class HistoryImport(StagedImport):
    """Past call attempts imported as outcomes: all or nothing, in constant memory.

    Attempts are staged (`staging.Staging`: no lock on the shared database) and copied into
    `outcomes` in ONE transaction, in call-id order; a call id already stored (an earlier
    import of the same file, or a recorded call) is left as it is.
    """

    def __init__(self, store: Store) -> None:
        super().__init__(store, "history_stage", _COLUMNS)

    async def add(self, outcomes: Sequence[CallOutcome]) -> None:
        await self._stage.add(
            [
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
                )
                for o in outcomes
            ]
        )

    async def apply(self, source_file: str) -> int:
        """Copy every staged attempt in one transaction; how many were new."""
        conn, stage = self.store.conn, self._stage
        await conn.execute("CREATE INDEX temp.history_stage_call ON history_stage (call_id)")
        columns = ", ".join(_COLUMNS)
        now = time.time()
        await conn.execute("BEGIN IMMEDIATE")
        try:
            before = conn.total_changes
            await conn.execute(
                f"INSERT OR IGNORE INTO outcomes ({columns}, updated_at)"
                f" SELECT {columns}, ? FROM {stage.table} ORDER BY call_id, rowid",
                (now,),
            )
            added = conn.total_changes - before
            await conn.execute(
                "INSERT INTO events (at, kind, detail) VALUES (?, ?, ?)",
                (
                    now,
                    "history.import",
                    json.dumps({"file": source_file, "rows": stage.rows, "added": added}),
                ),
            )
            await conn.execute("COMMIT")
        except BaseException:
            await conn.execute("ROLLBACK")
            raise
        return added
