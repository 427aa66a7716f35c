"""Register copies: the streaming bulk import that replaces a copy whole, and copy status.

An import builds a NEW table `reg_<register>_<n>` beside the copy in force, then swaps the
`register_copies` row and drops the old table in one short transaction. Until that swap the
old copy stays in force; any failure (bad file, exception, Ctrl-C) drops the half-built table.

The bulk load uses the synchronous `sqlite3` module on its own connection, in a worker thread
(aiosqlite's per-call thread hop costs more than an insert at tens of millions of rows). A full
list is loaded in two steps, both in constant memory:

1. stage: the file is read in blocks (`registers.blocks.scan`); each run of lines the format's
   fast path accepts becomes ONE `INSERT ... SELECT value FROM json_each(?)`, the other lines go
   through the line reader. Keys land in a TEMP table (SQLite's own temporary file, removed by
   SQLite even after kill -9), in file order: the shared database is not locked at all.
2. fill: an index on the staged keys makes SQLite sort them (external merge sort, bounded
   memory); they are then copied into the new table in key order, in committed chunks. Inserting
   in key order appends to the B-tree: pages are written once and full, where random order
   rewrites half-full pages at every commit (3x slower, a file twice as big). The daemons
   sharing the file (which record every decision) wait for at most one chunk.

Change lists (deletions among additions, in file order) are applied row by row in chunks.
"""

from __future__ import annotations

import asyncio
import json
import re
import sqlite3
import threading
import time
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import asdict, dataclass, field
from datetime import date
from functools import partial
from operator import itemgetter
from pathlib import Path
from typing import Any

from dialguard.registers.blocks import (
    FastRun,
    LineTooLong,
    Piece,
    line_blocks,
    scan,
    text_lines,
)
from dialguard.registers.files import RegisterFile, RegisterFileError, open_register_file
from dialguard.registers.readers import Format, Item
from dialguard.store.core import Store
from dialguard.store.schema import actor_trigger
from dialguard.store.timeconv import require_epoch

CHUNK_ROWS = 1_000_000
BLOCK_BYTES = 4 << 20
MAX_REJECTS_SHOWN = 10

# (phase, done, total): "reading" (bytes of the file), "sorting", "writing" (numbers)
Progress = Callable[[str, int, int], None]


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
    # Accepted lines dated after `as_of`, which bind at once (rules/checks/registry.py): a
    # date that cannot be right, often the file's format misread (01/12 as 1 December).
    registered_after_as_of: int = 0
    registered_after_as_of_lines: list[LaterDated] = field(default_factory=list)  # the first few

    def as_dict(self) -> dict[str, Any]:
        out = asdict(self)
        out["as_of"] = self.as_of.isoformat()
        out["rejects"] = [{"line": n, "problem": p} for n, p in self.rejects]
        out["registered_after_as_of_lines"] = [
            {"file": d.file, "line": d.line, "registered_on": d.registered_on}
            for d in self.registered_after_as_of_lines
        ]
        return out


@dataclass(frozen=True, order=True)
class LaterDated:
    """An accepted line whose registration date is after the copy's date."""

    file_index: int  # first: the report lists them in the order of the files and lines
    line: int
    registered_on: str
    file: str


class _LaterDates:
    """The accepted lines dated after `floor`, the earliest date the copy can end up with (a
    copy in force from the same file keeps its older date): per date, how many and the
    first few, so that they are counted against the copy's final date."""

    def __init__(self, floor: date) -> None:
        self.floor = floor.isoformat()  # ISO dates compare as text
        self.by_date: dict[str, tuple[int, list[LaterDated]]] = {}
        self.file_index, self.file = 0, ""

    def see(self, line: int, registered_on: str | None) -> None:
        """An accepted line and its registration date (None: the file gives none)."""
        if registered_on is None or registered_on <= self.floor:
            return
        count, first = self.by_date.get(registered_on, (0, []))
        if len(first) < MAX_REJECTS_SHOWN:
            first.append(LaterDated(self.file_index, line, registered_on, self.file))
        self.by_date[registered_on] = (count + 1, first)

    def report(self, report: ImportReport) -> None:
        """Count those after the report's `as_of`, and keep the first few."""
        after = [
            (n, first) for day, (n, first) in self.by_date.items() if day > report.as_of.isoformat()
        ]
        report.registered_after_as_of = sum(n for n, _ in after)
        shown = sorted(d for _, first in after for d in first)
        report.registered_after_as_of_lines = shown[:MAX_REJECTS_SHOWN]


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


@contextmanager
def _translated_file_errors(path: Path) -> Iterator[None]:
    """A damaged or unusable archive, or a line too long to be a register's, fails the
    import like any other bad file."""
    try:
        yield
    except RegisterFileError as exc:
        raise RegisterImportError(str(exc)) from None
    except LineTooLong as exc:
        raise RegisterImportError(f"{path.name}: {exc}") from None


def table_prefix(register: str) -> str:
    return "reg_" + re.sub(r"[^0-9A-Za-z]", "_", register) + "_"


async def import_register(
    store: Store,
    register: str,
    path: Path | Sequence[Path],
    fmt: Format,
    country: str | None,
    as_of: date,
    *,
    progress: Progress | None = None,
    chunk_rows: int = CHUNK_ROWS,
    block_bytes: int = BLOCK_BYTES,
    items: Callable[[Iterator[str]], Iterator[Item]] | None = None,
    skip_bad: bool = False,
    same_file_keeps_date: bool = False,
) -> ImportReport:
    """Import `path` as the new copy of `register` (see the module docstring); several files
    (the FTC hands out one per area code) make one copy together, read in the order given.
    More than one line in a thousand rejected leaves the previous copy in force, unless
    `skip_bad`: that is a damaged file or the wrong format, and the numbers of its unread
    lines would be callable under the new copy. Fewer are reported and skipped: a register
    of millions of numbers holds a few that are unassigned or foreign (no call to them is
    allowed or covered anyway), and refusing the copy for them would leave the old one to
    go stale, which blocks every call it covers.

    `items` replaces the format's reader (tests inject failures through it). Cancelling the
    awaiting task (Ctrl-C) stops the worker at its next block and leaves the old copy in force.

    `same_file_keeps_date` (an `as_of` the operator did not give): the file of the copy in
    force (the same checksum) keeps that copy's date when it is older. Dated today, a stale
    copy imported again came back fresh, and lifted `registry.stale` on the same old numbers.
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
            block_bytes=block_bytes,
            items=items,
            skip_bad=skip_bad,
            actor=store.actor,
            same_file_keeps_date=same_file_keeps_date,
        )
    except BaseException:
        cancel.set()
        raise


def import_register_sync(
    db_path: Path,
    register: str,
    path: Path | Sequence[Path],
    fmt: Format,
    country: str | None,
    as_of: date,
    *,
    progress: Progress | None = None,
    cancel: threading.Event | None = None,
    chunk_rows: int = CHUNK_ROWS,
    block_bytes: int = BLOCK_BYTES,
    items: Callable[[Iterator[str]], Iterator[Item]] | None = None,
    skip_bad: bool = False,
    actor: str = "dialguard",
    same_file_keeps_date: bool = False,
) -> ImportReport:
    started = time.perf_counter()
    paths = [path] if isinstance(path, Path) else list(path)
    if not paths:
        raise RegisterImportError("no file to import")
    names = ", ".join(str(p) for p in paths)
    report = ImportReport(register, fmt.name, as_of, names, note=fmt.note)
    conn = sqlite3.connect(db_path, isolation_level=None, timeout=30.0)
    new_table = ""
    if cancel is not None:
        # Ctrl-C stops even a long statement (the sort of a big copy) within milliseconds.
        conn.set_progress_handler(lambda: int(cancel.is_set()), 10_000)
    try:
        _bulk_pragmas(conn)
        # After the pragmas: setting temp_store drops the connection's TEMP triggers.
        conn.execute(actor_trigger(actor))  # the copy's event names who imported it
        current = conn.execute(
            "SELECT table_name, count, as_of FROM register_copies WHERE register = ?",
            (register,),
        ).fetchone()
        old_table = current[0] if current else None
        report.previous_count = current[1] if current else None
        kept = date.fromisoformat(current[2]) if current and same_file_keeps_date else as_of
        later = _LaterDates(min(as_of, kept))
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
        if not fmt.changes:
            conn.execute("CREATE TEMP TABLE stage (k INTEGER NOT NULL, line INTEGER, info TEXT)")
        sizes = [p.stat().st_size for p in paths]
        checksums: list[str] = []
        for index, one in enumerate(paths):
            lines_before, rejected_before = report.lines, report.rejected
            rejects_before = len(report.rejects)
            later.file_index, later.file = index, one.name
            with _translated_file_errors(one), open_register_file(one, block_bytes) as source:
                blocks = line_blocks(source.blocks)
                read_progress = partial(_read_progress, progress, source, sizes, index)
                if fmt.changes:
                    stream = (items or partial(fmt.read, country=country))(text_lines(blocks))
                    _load_changes(
                        conn, new_table, stream, report, later, chunk_rows, cancel, read_progress
                    )
                else:
                    pieces = (
                        _item_batches(items(text_lines(blocks)), chunk_rows)
                        if items is not None
                        else scan(blocks, fmt, country)
                    )
                    _stage(conn, pieces, report, later, cancel, read_progress)
                checksums.append(source.checksum())
            # A full list is checked per file, not for all the files together: an area code's
            # file cut short to nothing, or in the wrong format, would leave its numbers out
            # of the copy unnoticed. No line named a number (a deletion counts):
            rejected, lines = report.rejected - rejected_before, report.lines - lines_before
            if lines == rejected and not fmt.changes:
                raise RegisterImportError(
                    _nothing_read(str(one), rejected, report.rejects[rejects_before:])
                )
            # Per file too: one damaged area-code file among hundreds must not pass.
            if rejected > lines * MAX_REJECTED_SHARE and not skip_bad:
                shown = report.rejects[rejects_before:]  # empty once earlier files filled it
                first = shown[0] if shown else None
                raise RegisterImportError(_some_rejected(str(one), rejected, lines, first, report))
            if len(paths) > 1:  # a line number means nothing without its file
                report.rejects[rejects_before:] = [
                    (n, f"{one.name}: {problem}") for n, problem in report.rejects[rejects_before:]
                ]
        if fmt.changes and report.lines == report.rejected:  # an area code may have no change
            raise RegisterImportError(_nothing_read(names, report.rejected, report.rejects))
        if not fmt.changes:
            _fill(conn, new_table, report, chunk_rows, cancel, progress)
        report.checksum = (
            checksums[0]
            if len(paths) == 1
            else "; ".join(f"{p.name} {c}" for p, c in zip(paths, checksums, strict=True))
        )
        _swap(conn, report, old_table, same_file_keeps_date, later)
    except BaseException:
        conn.set_progress_handler(None, 0)  # the cleanup must run to its end
        if conn.in_transaction:
            conn.execute("ROLLBACK")
        if new_table:
            conn.execute(f'DROP TABLE IF EXISTS "{new_table}"')
        conn.close()
        raise
    conn.close()
    report.seconds = time.perf_counter() - started
    return report


def _read_progress(
    progress: Progress | None, source: RegisterFile, sizes: list[int], index: int
) -> None:
    """How far reading has got: in the file's own bytes for one file; for several, in bytes
    of all the files, the current one counted by the share of it read (a zip counts its
    member's bytes, not the file's)."""
    if progress is None:
        return
    if len(sizes) == 1:
        progress("reading", source.position(), source.size)
        return
    share = min(1.0, source.position() / source.size) if source.size else 1.0
    progress("reading", sum(sizes[:index]) + int(share * sizes[index]), sum(sizes))


def _bulk_pragmas(conn: sqlite3.Connection) -> None:
    conn.execute("PRAGMA busy_timeout = 30000")
    conn.execute("PRAGMA journal_mode = WAL")
    conn.execute("PRAGMA synchronous = NORMAL")
    # The staging table lives in SQLite's temporary file (deleted by SQLite even after kill -9);
    # its cache bounds the memory the import uses, whatever the size of the file.
    conn.execute("PRAGMA temp_store = FILE")
    conn.execute("PRAGMA cache_size = -65536")  # 64 MiB: appends touch few pages
    conn.execute("PRAGMA temp.cache_size = -65536")  # 64 MiB: the staging table is appended to
    # No sorter helper threads: measured no faster on 2 cores, 130 MB more memory, and the
    # second core is the daemons'.


def _item_batches(stream: Iterator[Item], size: int) -> Iterator[Piece]:
    batch: list[Item] = []
    for item in stream:
        batch.append(item)
        if len(batch) >= size:
            yield batch
            batch = []
    if batch:
        yield batch


def _stage(
    conn: sqlite3.Connection,
    pieces: Iterator[Piece],
    report: ImportReport,
    later: _LaterDates,
    cancel: threading.Event | None,
    read_progress: Callable[[], None],
) -> None:
    """Put every accepted line's key into the temporary table `stage`, in file order (no lock
    on the shared database)."""
    rejects = report.rejects
    # Staged lines count on from the files before this one, so the first file wins a number
    # that several name (`_fill`); rejects keep the line numbers of their own file.
    offset = report.lines
    conn.execute("BEGIN")  # writes only the temporary database: the daemons never wait on it
    for piece in pieces:
        _check_cancel(cancel)
        if isinstance(piece, FastRun):
            conn.execute(
                "INSERT INTO temp.stage (k) SELECT value FROM json_each(?)", (piece.keys_json,)
            )
            report.lines += piece.count
            report.accepted += piece.count
        else:
            rows: list[tuple[int, int, str | None]] = []
            for line_no, key, info, _delete in piece:
                if key is not None:
                    rows.append((key, offset + line_no, info))
                    later.see(line_no, info)
                elif info is None:
                    report.not_listed += 1
                else:
                    report.rejected += 1
                    if len(rejects) < MAX_REJECTS_SHOWN:
                        rejects.append((line_no, info))
            report.lines += len(piece)
            report.accepted += len(rows)
            conn.executemany("INSERT INTO temp.stage (k, line, info) VALUES (?, ?, ?)", rows)
        read_progress()
    conn.execute("COMMIT")


def _fill(
    conn: sqlite3.Connection,
    table: str,
    report: ImportReport,
    chunk_rows: int,
    cancel: threading.Event | None,
    progress: Progress | None,
) -> None:
    """Copy the staged keys into the new table in key order, one committed chunk at a time.

    The index makes SQLite sort the keys (in bounded memory, spilling to temporary files); the
    copy is then an append to the new table's B-tree: pages filled once, written once, full.
    Of the lines naming one number the first wins (`line` NULL: the fast path, which has no
    registration dates).
    """
    _check_cancel(cancel)
    if progress is not None:
        progress("sorting", 0, report.accepted)
    conn.execute("CREATE INDEX temp.stage_order ON stage (k, line, info)")
    insert = (
        f'INSERT OR IGNORE INTO main."{table}" (number, registered_on) '
        "SELECT k, info FROM temp.stage WHERE k > ? ORDER BY k, line LIMIT ?"
    )
    last, done = -1, 0
    while True:
        _check_cancel(cancel)
        conn.execute("BEGIN IMMEDIATE")
        cur = conn.execute(insert, (last, chunk_rows))
        added = cur.rowcount
        if added:  # every staged key above `last` is new: an empty chunk means the end
            last = conn.execute(f'SELECT max(number) FROM main."{table}"').fetchone()[0]
        conn.execute("COMMIT")
        if not added:
            break
        report.added += added
        done += chunk_rows
        if progress is not None:
            progress("writing", min(done, report.accepted), report.accepted)
    conn.execute("DROP TABLE temp.stage")
    report.duplicates = report.accepted - report.added
    report.count = report.added


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


def _load_changes(
    conn: sqlite3.Connection,
    table: str,
    stream: Iterator[Item],
    report: ImportReport,
    later: _LaterDates,
    chunk_rows: int,
    cancel: threading.Event | None,
    read_progress: Callable[[], None],
) -> None:
    """Apply a change list's additions and deletions, in file order, in committed chunks."""
    added_before, deleted_before = report.added, report.deleted  # earlier files' changes
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
                later.see(line_no, info)
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
        read_progress()
    # A change list starts from the previous copy's count (see `_copy_table`).
    report.count += (report.added - added_before) - (report.deleted - deleted_before)


def _keep_the_copys_date(conn: sqlite3.Connection, report: ImportReport) -> None:
    """The copy in force came from the same file(s) (one checksum) and is older: its date."""
    row = conn.execute(
        "SELECT as_of, checksum FROM register_copies WHERE register = ?", (report.register,)
    ).fetchone()
    if row is None or row[1] != report.checksum:
        return
    earlier = date.fromisoformat(row[0])
    if earlier < report.as_of:
        report.as_of = earlier
        kept = f"the same file as the copy of {earlier}, which keeps its date (give --as-of)"
        report.note = f"{report.note}; {kept}" if report.note else kept


def _run(conn: sqlite3.Connection, sql: str, rows: list[Any]) -> int:
    before = conn.total_changes
    conn.executemany(sql, rows)
    return conn.total_changes - before


def _check_cancel(cancel: threading.Event | None) -> None:
    if cancel is not None and cancel.is_set():
        raise KeyboardInterrupt


def _swap(
    conn: sqlite3.Connection,
    report: ImportReport,
    old_table: str | None,
    same_file_keeps_date: bool,
    later: _LaterDates,
) -> None:
    conn.execute("BEGIN IMMEDIATE")
    if same_file_keeps_date:
        _keep_the_copys_date(conn, report)
    later.report(report)  # against the copy's date as it now stands
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
    skipped = ("rejects", "registered_after_as_of_lines", "seconds")
    detail = {k: v for k, v in report.as_dict().items() if k not in skipped}
    conn.execute(
        "INSERT INTO events (at, kind, detail) VALUES (?, ?, ?)",
        (time.time(), "registry.import", json.dumps(detail, default=str)),
    )
    conn.execute("COMMIT")


# Above this share of rejected lines a file is taken for damaged or in the wrong format.
MAX_REJECTED_SHARE = 0.001


def _some_rejected(
    path: str, rejected: int, lines: int, first: tuple[int, str] | None, report: ImportReport
) -> str:
    example = f" (first: line {first[0]}: {first[1]})" if first else ""
    kept = "still no copy" if report.previous_count is None else "the previous copy in force"
    return (
        f"{path}: {rejected} of {lines} lines rejected, more than 1 in"
        f" {round(1 / MAX_REJECTED_SHARE):,}{example}; nothing imported, {kept}"
        " (--skip-bad imports the other lines)"
    )


def _nothing_read(path: str, rejected: int, rejects: Sequence[tuple[int, str]]) -> str:
    if rejected == 0:
        return f"{path}: no numbers found (empty file?); the previous copy stays in force"
    first = "; ".join(f"line {n}: {p}" for n, p in rejects[:3])
    return (
        f"{path}: every line was rejected ({rejected}{'; ' + first if first else ''}); "
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
