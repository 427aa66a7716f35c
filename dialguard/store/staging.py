"""Rows of a bulk import staged in a TEMP table, before they go into the shared tables at once.

The TEMP table belongs to the store's own connection and lives in SQLite's temporary file:
staging takes no lock on the shared database, so the daemons go on recording decisions while
a long file is read, and the rows do not wait in Python's memory. The import then copies them
in one short transaction (all or nothing); leaving the `async with` drops what is staged.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Self

from dialguard.store.core import Store

# Rows an import stages at a time: its memory stays flat whatever the file.
BATCH_ROWS = 10_000


class Staging:
    """`async with Staging(store, "name", ("a TEXT", "b REAL")) as stage: await stage.add(rows)`;
    the table is `temp.<name>`."""

    def __init__(self, store: Store, name: str, columns: Sequence[str]) -> None:
        self.store = store
        self.table = f"temp.{name}"
        self._name = name
        self._columns = ", ".join(columns)
        self._marks = ", ".join("?" * len(columns))
        self.rows = 0

    async def __aenter__(self) -> Staging:
        await self.store.conn.execute(f"DROP TABLE IF EXISTS {self.table}")
        await self.store.conn.execute(f"CREATE TEMP TABLE {self._name} ({self._columns})")
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.store.conn.execute(f"DROP TABLE IF EXISTS {self.table}")

    async def add(self, rows: Sequence[tuple[object, ...]]) -> None:
        """Stage a batch: nothing reaches the shared tables until the import copies it."""
        conn = self.store.conn
        await conn.execute("BEGIN")
        try:
            await conn.executemany(f"INSERT INTO {self.table} VALUES ({self._marks})", rows)
            await conn.execute("COMMIT")
        except BaseException:
            await conn.execute("ROLLBACK")
            raise
        self.rows += len(rows)

    async def count(self, select: str) -> int:
        row = await self.store.fetchone(f"SELECT count(*) FROM ({select})")
        return int(row[0]) if row else 0


class StagedImport:
    """The base of an import that stages its rows: `async with` it, `add` batches, then
    copy them all at once (the subclass's `apply`)."""

    def __init__(self, store: Store, name: str, columns: Sequence[str]) -> None:
        self.store = store
        self._stage = Staging(store, name, columns)

    @property
    def staged(self) -> int:
        """Rows staged so far."""
        return self._stage.rows

    async def __aenter__(self) -> Self:
        await self._stage.__aenter__()
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self._stage.__aexit__(*exc)
