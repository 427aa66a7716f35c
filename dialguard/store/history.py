"""Past call attempts imported as `outcomes` rows (`source = 'history'`), idempotently."""

from __future__ import annotations

import time

from dialguard.store.core import Store, insert_event
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
    "automated",
)


class HistoryImport(StagedImport[CallOutcome]):
    """Past call attempts imported as outcomes: all or nothing, in constant memory.

    Attempts are staged (`staging.StagedImport`: no lock on the shared database) and copied into
    `outcomes` in ONE transaction, in call-id order; a call id already stored (an earlier
    import of the same file, or a recorded call) is left as it is.
    """

    def __init__(self, store: Store) -> None:
        super().__init__(store, "history_stage", _COLUMNS)

    def row(self, item: CallOutcome) -> tuple[object, ...]:
        return (
            item.call_id,
            item.linkedid,
            item.number,
            item.dialled,
            item.caller_id,
            item.tenant,
            item.campaign,
            to_epoch(item.started_at),
            to_epoch(item.answered_at),
            to_epoch(item.ended_at),
            item.disposition,
            item.billsec,
            int(item.abandoned),
            item.source,
            int(item.automated),
        )

    async def apply(self, source_file: str, *, marks_given: bool = True) -> int:
        """Copy every staged attempt in one transaction; how many were new.

        `marks_given`: the file carries an automated column. Only then does a call imported
        before take the mark it now has (upward only, a mark once taken stays), and only a
        call that history import stored: a file without the column, whose calls take the
        import's default, changed every call of the same id, a live call the AMI listener
        recorded too."""
        await self.store.conn.execute(
            "CREATE INDEX temp.history_stage_call ON history_stage (call_id)"
        )
        columns = ", ".join(_COLUMNS)
        now = time.time()
        async with self.store.writing() as conn:
            # A call stored already (the file imported before without its automated column)
            # takes the mark it now has; nothing else of it changes.
            if marks_given:
                await conn.execute(
                    "UPDATE outcomes SET automated = 1 WHERE automated = 0"
                    " AND source = 'history' AND call_id IN"
                    f" (SELECT call_id FROM {self.table} WHERE automated = 1)"
                )
            before = conn.total_changes
            await conn.execute(
                f"INSERT OR IGNORE INTO outcomes ({columns}, updated_at)"
                f" SELECT {columns}, ? FROM {self.table} ORDER BY call_id, rowid",
                (now,),
            )
            added = conn.total_changes - before
            await insert_event(
                conn,
                now,
                "history.import",
                {"file": source_file, "rows": self.staged, "added": added},
            )
        return added
