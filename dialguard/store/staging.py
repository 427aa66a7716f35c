"""Rows of a bulk import staged in a TEMP table, before they go into the shared tables at once.

The TEMP table belongs to the store's own connection and lives in SQLite's temporary file:
staging takes no lock on the shared database, so the daemons go on recording decisions while
a long file is read, and the rows do not wait in Python's memory. The import then copies them
in one short transaction (all or nothing); leaving the `async with` drops what is staged.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import Generic, Self, TypeVar

from dialguard.store.core import Store

T = TypeVar("T")

# Rows staged at a time: an import's memory stays flat whatever the file.
BATCH_ROWS = 10_000


class StagedImport(Generic[T]):
    """An import that stages its items as rows of `temp.<name>` (`columns`): `async with` it,
    `add` the items as the file is read, then copy them all at once (the subclass's `apply`,
    which reads `table`)."""

    def __init__(self, store: Store, name: str, columns: Sequence[str]) -> None:
        self.store = store
        self.table = f"temp.{name}"
        self._create = f"CREATE TEMP TABLE {name} ({', '.join(columns)})"
        self._insert = f"INSERT INTO {self.table} VALUES ({', '.join('?' * len(columns))})"
        self.staged = 0  # rows staged so far

    def row(self, item: T) -> tuple[object, ...]:
        """The row `item` is staged as, in `columns` order."""
        raise NotImplementedError

    async def __aenter__(self) -> Self:
        await self.store.conn.execute(f"DROP TABLE IF EXISTS {self.table}")
        await self.store.conn.execute(self._create)
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.store.conn.execute(f"DROP TABLE IF EXISTS {self.table}")

    async def add(self, items: Iterable[T]) -> None:
        """Stage every item, `BATCH_ROWS` at a time: nothing reaches the shared tables until
        `apply`."""
        batch: list[tuple[object, ...]] = []
        for item in items:
            batch.append(self.row(item))
            if len(batch) >= BATCH_ROWS:
                await self._stage(batch)
                batch = []
        if batch:
            await self._stage(batch)

    async def _stage(self, rows: list[tuple[object, ...]]) -> None:
        conn = self.store.conn
        await conn.execute("BEGIN")
        try:
            await conn.executemany(self._insert, rows)
            await conn.execute("COMMIT")
        except BaseException:
            if conn.in_transaction:  # SQLite ends it itself on a full disk (store.core)
                await conn.execute("ROLLBACK")
            raise
        self.staged += len(rows)

    async def count(self, select: str) -> int:
        """How many rows `select` (over the staged table, say) gives."""
        row = await self.store.fetchone(f"SELECT count(*) FROM ({select})")
        return int(row[0]) if row else 0
