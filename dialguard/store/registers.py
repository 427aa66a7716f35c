"""Register copies: the streaming bulk import that replaces a copy whole, and copy status.

An import builds a NEW table `reg_<register>_<n>` beside the copy in force, then swaps the
`register_copies` row and drops the old table in one short transaction. Until that swap the
old copy stays in force; any failure (bad file, exception, Ctrl-C) drops the half-built table.

The bulk load uses the synchronous `sqlite3` module on its own connection, in a worker thread:
aiosqlite hands every call to its thread through a queue, which costs more than the insert
itself at tens of millions of rows, and `executemany` over a generator keeps memory constant.
The new table is filled in committed chunks so that the daemons sharing the file (which record
every decision) never wait on the import's write lock for more than one chunk. Each chunk is
sorted before insertion: B-tree inserts in key order touch far fewer pages than random ones.
"""

from __future__ import annotations

import asyncio
import hashlib
import io
import json
import re
import sqlite3
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import asdict, dataclass, field
from datetime import date
from operator import itemgetter
from pathlib import Path
from typing import Any

from dialguard.registers.readers import Format, Item
from dialguard.store.core import Store
from dialguard.store.timeconv import require_epoch

CHUNK_ROWS = 1_000_000
MAX_REJECTS_SHOWN = 10

Progress = Callable[[int], None]  # bytes of the file read so far


class RegisterImportError(Exception):
    """The file cannot become a register copy; the previous copy stays in force."""


@dataclass
class ImportReport:
    register: str
    format: str
    as_of: date
    source_file: str
    checksum: str = ""
    table: str = ""
    lines: int = 0  # data lines read (blank lines and comments excluded)
    accepted: int = 0  # lines that named a number to list
    added: int = 0  # numbers newly in the copy
    duplicates: int = 0  # accepted lines whose number was already listed
    deleted: int = 0  # change lists: numbers removed
    not_listed: int = 0  # wash results: numbers the register says are not registered
    rejected: int = 0
    rejects: list[tuple[int, str]] = field(default_factory=list)  # the first few, with line numbers
    count: int = 0  # numbers in the new copy
    previous_count: int | None = None
    seconds: float = 0.0
    note: str = ""

    def as_dict(self) -> dict[str, Any]:
        out = asdict(self)
        out["as_of"] = self.as_of.isoformat()
        out["rejects"] = [{"line": n, "problem": p} for n, p in self.rejects]
        return out


@dataclass(frozen=True)
class CopyRow:
    register: str
    table_name: str
    as_of: date
    imported_at: float
    count: int
    checksum: str
    source_file: str
    format: str


class _HashingReader(io.RawIOBase):
    """A raw binary stream that hashes (sha256) and counts every byte it passes on."""

    def __init__(self, raw: io.BufferedReader) -> None:
        self.raw = raw
        self.digest = hashlib.sha256()
        self.bytes_read = 0

    def readable(self) -> bool:
        return True

    def readinto(self, buffer: Any) -> int:
        n = self.raw.readinto(buffer)
        if n:
            view = memoryview(buffer)[:n]
            self.digest.update(view)
            self.bytes_read += n
        return n or 0


def table_prefix(register: str) -> str:
    return "reg_" + re.sub(r"[^0-9A-Za-z]", "_", register) + "_"


async def import_register(
    store: Store,
    register: str,
    path: Path,
    fmt: Format,
    country: str | None,
    as_of: date,
    *,
    progress: Progress | None = None,
    chunk_rows: int = CHUNK_ROWS,
    items: Callable[[Iterator[str]], Iterator[Item]] | None = None,
) -> ImportReport:
    """Import `path` as the new copy of `register` (see the module docstring).

    `items` replaces the format's reader (tests inject failures through it). Cancelling the
    awaiting task (Ctrl-C) stops the worker at its next chunk and leaves the old copy in force.
    """
    cancel = threading.Event()
    try:
        return await asyncio.to_thread(
            import_register_sync,
            store.path,
            register,
            path,
            fmt,
            country,
            as_of,
            progress=progress,
            cancel=cancel,
            chunk_rows=chunk_rows,
            items=items,
        )
    except BaseException:
        cancel.set()
        raise


def import_register_sync(
    db_path: Path,
    register: str,
    path: Path,
    fmt: Format,
    country: str | None,
    as_of: date,
    *,
    progress: Progress | None = None,
    cancel: threading.Event | None = None,
    chunk_rows: int = CHUNK_ROWS,
    items: Callable[[Iterator[str]], Iterator[Item]] | None = None,
) -> ImportReport:
    started = time.perf_counter()
    report = ImportReport(register, fmt.name, as_of, str(path), note=fmt.note)
    conn = sqlite3.connect(db_path, isolation_level=None, timeout=30.0)
    new_table = ""
    try:
        _bulk_pragmas(conn)
        current = conn.execute(
            "SELECT table_name, count FROM register_copies WHERE register = ?", (register,)
        ).fetchone()
        old_table = current[0] if current else None
        report.previous_count = current[1] if current else None
        if fmt.changes and old_table is None:
            raise RegisterImportError(
                f"{register} has no copy yet: a change list needs a full list imported first"
            )
        _drop_strays(conn, register, keep=old_table)
        new_table = _new_table_name(conn, register)
        conn.execute(f'CREATE TABLE "{new_table}" (number INTEGER PRIMARY KEY, registered_on TEXT)')
        report.table = new_table
        if fmt.changes and old_table is not None:
            _copy_table(conn, old_table, new_table, chunk_rows, cancel)
            report.count = report.previous_count or 0
        with path.open("rb", buffering=0) as raw_file:
            hashing = _HashingReader(raw_file)  # type: ignore[arg-type]
            text = io.TextIOWrapper(
                io.BufferedReader(hashing, buffer_size=1 << 20),
                encoding="utf-8-sig",
                errors="replace",
                newline=None,
            )
            lines = iter(text)
            stream = items(lines) if items is not None else fmt.read(lines, country)
            _load(conn, new_table, stream, report, chunk_rows, cancel, hashing, progress)
            # A reader may stop early; the checksum is of the whole file.
            while hashing.read(1 << 20):
                pass
            report.checksum = hashing.digest.hexdigest()
        if report.accepted + report.not_listed == 0:
            raise RegisterImportError(_nothing_read(path, report))
        _swap(conn, report, old_table)
    except BaseException:
        if conn.in_transaction:
            conn.execute("ROLLBACK")
        if new_table:
            conn.execute(f'DROP TABLE IF EXISTS "{new_table}"')
        conn.close()
        raise
    conn.close()
    report.seconds = time.perf_counter() - started
    return report


def _bulk_pragmas(conn: sqlite3.Connection) -> None:
    conn.execute("PRAGMA busy_timeout = 30000")
    conn.execute("PRAGMA journal_mode = WAL")
    conn.execute("PRAGMA synchronous = NORMAL")
    conn.execute("PRAGMA cache_size = -262144")  # 256 MiB: the new table's upper levels stay hot
    conn.execute("PRAGMA temp_store = MEMORY")


def _new_table_name(conn: sqlite3.Connection, register: str) -> str:
    prefix = table_prefix(register)
    numbers = [0]
    for (name,) in conn.execute("SELECT name FROM sqlite_master WHERE type = 'table'"):
        if name.startswith(prefix) and name[len(prefix) :].isdigit():
            numbers.append(int(name[len(prefix) :]))
    for (name,) in conn.execute("SELECT table_name FROM register_copies"):
        if name.startswith(prefix) and name[len(prefix) :].isdigit():
            numbers.append(int(name[len(prefix) :]))
    return f"{prefix}{max(numbers) + 1}"


def _drop_strays(conn: sqlite3.Connection, register: str, keep: str | None) -> None:
    """Drop tables left by an import of this register that was killed outright (kill -9)."""
    prefix = table_prefix(register)
    for (name,) in conn.execute("SELECT name FROM sqlite_master WHERE type = 'table'").fetchall():
        if name.startswith(prefix) and name[len(prefix) :].isdigit() and name != keep:
            conn.execute(f'DROP TABLE "{name}"')


def _copy_table(
    conn: sqlite3.Connection, old: str, new: str, chunk_rows: int, cancel: threading.Event | None
) -> None:
    last = -1
    while True:
        _check_cancel(cancel)
        conn.execute("BEGIN IMMEDIATE")
        cur = conn.execute(
            f'INSERT INTO "{new}" SELECT number, registered_on FROM "{old}" '
            "WHERE number > ? ORDER BY number LIMIT ?",
            (last, chunk_rows),
        )
        copied = cur.rowcount
        conn.execute("COMMIT")
        if copied < chunk_rows:
            return
        last = conn.execute(f'SELECT max(number) FROM "{new}"').fetchone()[0]


def _load(
    conn: sqlite3.Connection,
    table: str,
    stream: Iterator[Item],
    report: ImportReport,
    chunk_rows: int,
    cancel: threading.Event | None,
    hashing: _HashingReader,
    progress: Progress | None,
) -> None:
    insert = f'INSERT OR IGNORE INTO "{table}" (number, registered_on) VALUES (?, ?)'
    delete = f'DELETE FROM "{table}" WHERE number = ?'
    rejects = report.rejects
    while True:
        _check_cancel(cancel)
        adds: list[tuple[int, str | None]] = []
        removes: list[tuple[int]] = []
        lines = 0
        deletes_last = False
        # The hot loop: one tuple test per line, no calls.
        for line_no, key, info, is_delete in stream:
            lines += 1
            if key is None:
                if info is None:
                    report.not_listed += 1
                else:
                    report.rejected += 1
                    if len(rejects) < MAX_REJECTS_SHOWN:
                        rejects.append((line_no, info))
            elif is_delete:
                removes.append((key,))
                if adds:  # keep adds and deletes of one chunk in file order
                    deletes_last = True
                    break
            else:
                adds.append((key, info))
                if removes or len(adds) >= chunk_rows:
                    break
        report.lines += lines
        if not adds and not removes:
            break
        adds.sort(key=itemgetter(0))  # stable: the first line of a duplicate wins
        conn.execute("BEGIN IMMEDIATE")
        if removes and not deletes_last:
            report.deleted += _run(conn, delete, removes)
        if adds:
            added = _run(conn, insert, adds)
            report.accepted += len(adds)
            report.added += added
            report.duplicates += len(adds) - added
        if removes and deletes_last:
            report.deleted += _run(conn, delete, removes)
        conn.execute("COMMIT")
        if progress is not None:
            progress(hashing.bytes_read)
    # A change list starts from the previous copy's count (see `_copy_table`).
    report.count += report.added - report.deleted


def _run(conn: sqlite3.Connection, sql: str, rows: list[Any]) -> int:
    before = conn.total_changes
    conn.executemany(sql, rows)
    return conn.total_changes - before


def _check_cancel(cancel: threading.Event | None) -> None:
    if cancel is not None and cancel.is_set():
        raise KeyboardInterrupt


def _swap(conn: sqlite3.Connection, report: ImportReport, old_table: str | None) -> None:
    conn.execute("BEGIN IMMEDIATE")
    conn.execute(
        "INSERT OR REPLACE INTO register_copies (register, table_name, as_of, imported_at, count,"
        " checksum, source_file, format) VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
        (
            report.register,
            report.table,
            report.as_of.isoformat(),
            time.time(),
            report.count,
            report.checksum,
            report.source_file,
            report.format,
        ),
    )
    if old_table is not None and old_table != report.table:
        conn.execute(f'DROP TABLE IF EXISTS "{old_table}"')
    detail = {k: v for k, v in report.as_dict().items() if k not in ("rejects", "seconds")}
    conn.execute(
        "INSERT INTO events (at, kind, detail) VALUES (?, ?, ?)",
        (time.time(), "registry.import", json.dumps(detail, default=str)),
    )
    conn.execute("COMMIT")


def _nothing_read(path: Path, report: ImportReport) -> str:
    if report.rejected == 0:
        return f"{path}: no numbers found (empty file?); the previous copy stays in force"
    first = "; ".join(f"line {n}: {p}" for n, p in report.rejects[:3])
    return (
        f"{path}: every line was rejected ({report.rejected}; {first}); "
        "the previous copy stays in force"
    )


# -- status ----------------------------------------------------------------------------------


async def register_copy_rows(store: Store) -> dict[str, CopyRow]:
    rows = await store.fetchall("SELECT * FROM register_copies")
    return {
        row["register"]: CopyRow(
            row["register"],
            row["table_name"],
            date.fromisoformat(row["as_of"]),
            row["imported_at"],
            row["count"],
            row["checksum"],
            row["source_file"],
            row["format"],
        )
        for row in rows
    }


async def register_tables(store: Store) -> list[str]:
    """Every `reg_` table in the file (tests check no half-built table survives)."""
    rows = await store.fetchall(
        "SELECT name FROM sqlite_master WHERE type = 'table' AND name LIKE 'reg\\_%' ESCAPE '\\'"
    )
    return sorted(row[0] for row in rows)


async def is_listed(store: Store, register: str, key: int) -> bool:
    """One indexed lookup in the copy in force (the benchmark's membership test)."""
    row = await store.fetchone(
        "SELECT table_name FROM register_copies WHERE register = ?", (register,)
    )
    if row is None:
        return False
    hit = await store.fetchone(f'SELECT 1 FROM "{row[0]}" WHERE number = ?', (key,))
    return hit is not None


def imported_at(row: CopyRow) -> str:
    return require_epoch(row.imported_at).isoformat(timespec="seconds")
