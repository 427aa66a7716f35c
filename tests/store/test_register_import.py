"""Register imports replace a copy whole and atomically; failures leave the old copy in force."""

from __future__ import annotations

import sqlite3
import threading
from collections.abc import Iterator
from datetime import date
from pathlib import Path
from typing import Any

import pytest

from dialguard.registers.readers import FORMATS, Item, read_plain
from dialguard.store import Store
from dialguard.store.registers import (
    RegisterImportError,
    import_register_sync,
    is_listed,
    register_copy_rows,
    register_tables,
)
from dialguard.store.registers import import_register as import_strictly


async def import_register(*args: Any, **kw: Any) -> Any:
    """These tests count rejected lines: the lines that can be read are imported, as with
    `registry import --skip-bad` (without it a rejected line imports nothing:
    test_a_rejected_line_imports_nothing_unless_told_to_skip_it)."""
    return await import_strictly(*args, skip_bad=True, **kw)


DAY = date(2026, 3, 1)


def write(tmp_path: Path, name: str, *lines: str) -> Path:
    path = tmp_path / name
    path.write_text("".join(f"{line}\n" for line in lines), encoding="utf-8")
    return path


async def load(store: Store, path: Path, fmt: str = "plain", **kw: object) -> object:
    return await import_register(store, "au-dncr", path, FORMATS[fmt], "AU", DAY, **kw)  # type: ignore[arg-type]


async def test_import_replaces_the_copy_whole(store: Store, tmp_path: Path) -> None:
    await load(store, write(tmp_path, "a.txt", "0412345678", "0412345679"))
    await load(store, write(tmp_path, "b.txt", "0412345680"))
    assert not await is_listed(store, "au-dncr", 61412345678)
    assert await is_listed(store, "au-dncr", 61412345680)
    rows = await register_copy_rows(store)
    assert rows["au-dncr"].count == 1
    assert await register_tables(store) == [rows["au-dncr"].table_name]


async def test_counts_duplicates_and_rejects_with_line_numbers(
    store: Store, tmp_path: Path
) -> None:
    lines = ["0412345678", "bad", "0412345678", *(f"x{i}" for i in range(12)), "0412345679"]
    report = await load(store, write(tmp_path, "a.txt", *lines))
    assert (report.accepted, report.added, report.duplicates, report.rejected) == (3, 2, 1, 13)  # type: ignore[attr-defined]
    assert [n for n, _ in report.rejects] == [2, 4, 5, 6, 7, 8, 9, 10, 11, 12]  # type: ignore[attr-defined]
    assert report.count == 2  # type: ignore[attr-defined]


async def test_checksum_is_sha256_of_the_file(store: Store, tmp_path: Path) -> None:
    import hashlib

    path = write(tmp_path, "a.txt", "0412345678")
    report = await load(store, path)
    assert report.checksum == hashlib.sha256(path.read_bytes()).hexdigest()  # type: ignore[attr-defined]


@pytest.mark.parametrize("failure", [RuntimeError, KeyboardInterrupt])
async def test_failure_midway_keeps_previous_copy(
    store: Store, tmp_path: Path, failure: type[BaseException]
) -> None:
    await load(store, write(tmp_path, "a.txt", "0412345678"))
    before = await register_tables(store)
    big = write(tmp_path, "b.txt", *(f"04123{i:05d}" for i in range(50)))

    def failing(lines: Iterator[str]) -> Iterator[Item]:
        for item in read_plain(lines, "AU"):
            if item[0] == 30:
                raise failure("boom")
            yield item

    with pytest.raises(failure):
        await load(store, big, items=failing, chunk_rows=10)  # chunks already committed
    assert await register_tables(store) == before
    assert await is_listed(store, "au-dncr", 61412345678)
    assert (await register_copy_rows(store))["au-dncr"].count == 1


async def test_everything_rejected_is_an_error_and_changes_nothing(
    store: Store, tmp_path: Path
) -> None:
    await load(store, write(tmp_path, "a.txt", "0412345678"))
    with pytest.raises(RegisterImportError, match="every line was rejected"):
        await load(store, write(tmp_path, "b.txt", "junk", "more junk"))
    with pytest.raises(RegisterImportError, match="no numbers"):
        await load(store, write(tmp_path, "c.txt", "# only a comment"))
    assert await is_listed(store, "au-dncr", 61412345678)
    assert len(await register_tables(store)) == 1


async def test_change_list_applies_on_top_of_the_copy(store: Store, tmp_path: Path) -> None:
    full = write(tmp_path, "full.txt", "2015550123", "2015550124")
    await import_register(store, "us-dnc", full, FORMATS["us-dnc"], "US", DAY)
    changes = write(tmp_path, "chg.txt", "2015550123,D", "2015550125,A", "2015550124,A")
    report = await import_register(store, "us-dnc", changes, FORMATS["us-dnc-changes"], "US", DAY)
    assert (report.deleted, report.added, report.duplicates, report.count) == (1, 1, 1, 2)
    assert not await is_listed(store, "us-dnc", 12015550123)
    assert await is_listed(store, "us-dnc", 12015550124)
    assert await is_listed(store, "us-dnc", 12015550125)
    assert (await register_copy_rows(store))["us-dnc"].count == 2


async def test_several_change_lists_apply_in_order_and_count_once(
    store: Store, tmp_path: Path
) -> None:
    full = write(tmp_path, "full.txt", *(f"20155501{i:02d}" for i in range(10)))
    await import_register(store, "us-dnc", full, FORMATS["us-dnc"], "US", DAY)
    first = write(tmp_path, "c1.txt", "2015550200,A", "2015550201,A", "2015550100,D")
    second = write(tmp_path, "c2.txt", "2015550202,A", "2015550200,D")  # undoes one of c1's
    deletions_only = write(tmp_path, "c3.txt", "2015550101,D")
    changes = FORMATS["us-dnc-changes"]

    report = await import_register(
        store, "us-dnc", [first, second, deletions_only], changes, "US", DAY
    )

    numbers = [n for n, _ in await table_rows(store, "us-dnc")]
    assert 12015550200 not in numbers and 12015550202 in numbers
    assert report.count == len(numbers) == 10 + 3 - 3
    # An area code with no change that day: an empty change list among others is no error.
    quiet = write(tmp_path, "c0.txt")
    report = await import_register(store, "us-dnc", [quiet, deletions_only], changes, "US", DAY)
    assert report.count == len(numbers)
    assert (await register_copy_rows(store))["us-dnc"].count == len(numbers)
    # A day with deletions only is a change list too.
    report = await import_register(store, "us-dnc", [deletions_only], changes, "US", DAY)
    assert (report.deleted, report.count) == (0, len(numbers))  # already gone
    again = write(tmp_path, "c4.txt", "2015550102,D")
    report = await import_register(store, "us-dnc", again, changes, "US", DAY)
    assert (report.deleted, report.count) == (1, len(numbers) - 1)


async def test_change_list_without_a_copy_is_refused(store: Store, tmp_path: Path) -> None:
    changes = write(tmp_path, "chg.txt", "2015550123,A")
    with pytest.raises(RegisterImportError, match="full list"):
        await import_register(store, "us-dnc", changes, FORMATS["us-dnc-changes"], "US", DAY)
    assert await register_tables(store) == []


async def test_registration_dates_reach_the_facts(store: Store, tmp_path: Path) -> None:
    from datetime import UTC, datetime

    from rules.ports import FactQuery

    path = write(tmp_path, "be.txt", "0470123456;2024-01-05")
    await import_register(store, "be-dncm", path, FORMATS["be-dncm"], "BE", DAY)
    query = FactQuery(
        number="+32470123456",
        caller_id=None,
        tenant="acme",
        campaign=None,
        registers=["be-dncm"],
        caller_id_registers=[],
        attempts_since=datetime(2026, 1, 1, tzinfo=UTC),
    )
    facts = await store.facts_for(query)
    assert facts.register_hits["be-dncm"].registered_on == date(2024, 1, 5)


# -- the block fast path -------------------------------------------------------------------

US_LINES = [
    "2015550123",
    "bad line",
    "2015550124",
    "",
    "# comment",
    "201 555 0125",  # line reader: spaces
    "2015550123",  # duplicate of a bulk line
    "+12015550126",
    "1015550127",  # NPA 1..: rejected
    "2015550125",  # duplicate of a line-reader line
    *(f"212555{i:04d}" for i in range(40)),
]


async def table_rows(store: Store, register: str) -> list[tuple[int, str | None]]:
    table = (await register_copy_rows(store))[register].table_name
    rows = await store.fetchall(f'SELECT number, registered_on FROM "{table}" ORDER BY number')
    return [(row[0], row[1]) for row in rows]


@pytest.mark.parametrize(("block_bytes", "chunk_rows"), [(4 << 20, 1_000_000), (16, 7)])
async def test_fast_path_import_equals_the_line_reader_import(
    store: Store, tmp_path: Path, block_bytes: int, chunk_rows: int
) -> None:
    """Counts, rejects with line numbers, and the copy itself: as if read line by line."""
    data = tmp_path / "us.txt"
    data.write_bytes(("\r\n".join(US_LINES) + "\r\n").encode())
    fmt = FORMATS["us-dnc"]
    fast = await import_register(
        store, "us-dnc", data, fmt, "US", DAY, block_bytes=block_bytes, chunk_rows=chunk_rows
    )
    fast_rows = await table_rows(store, "us-dnc")

    def line_by_line(lines: Iterator[str]) -> Iterator[Item]:
        return fmt.read(lines, "US")

    slow = await import_register(store, "us-dnc", data, fmt, "US", DAY, items=line_by_line)
    assert await table_rows(store, "us-dnc") == fast_rows
    keys = ("lines", "accepted", "added", "duplicates", "rejected", "rejects", "count", "checksum")
    assert {k: getattr(fast, k) for k in keys} == {k: getattr(slow, k) for k in keys}
    assert (fast.accepted, fast.duplicates, fast.count) == (46, 2, 44)
    assert [n for n, _ in fast.rejects] == [2, 9]
    assert len(fast_rows) == 44 and fast_rows[0] == (12015550123, None)


async def test_first_line_of_a_duplicate_keeps_its_date(store: Store, tmp_path: Path) -> None:
    path = write(
        tmp_path,
        "be.txt",
        "0470123456;2024-01-05",
        "0470123457;2023-02-02",
        "0470123456;2021-07-07",
        "0470123457",
    )
    report = await import_register(store, "be-dncm", path, FORMATS["be-dncm"], "BE", DAY)
    assert (report.accepted, report.duplicates, report.count) == (4, 2, 2)
    assert await table_rows(store, "be-dncm") == [
        (32470123456, "2024-01-05"),
        (32470123457, "2023-02-02"),
    ]


@pytest.mark.parametrize("phase", ["reading", "sorting", "writing"])
@pytest.mark.parametrize("failure", [RuntimeError, KeyboardInterrupt])
async def test_fast_path_failure_keeps_previous_copy(
    store: Store, tmp_path: Path, phase: str, failure: type[BaseException]
) -> None:
    await load(store, write(tmp_path, "a.txt", "0412345678"))
    before = await register_tables(store)
    big = write(tmp_path, "b.txt", *(f"04123{i:05d}" for i in range(50)))
    seen: list[tuple[str, int]] = []

    def progress(current: str, done: int, total: int) -> None:
        seen.append((current, done))
        if current == phase and (phase != "writing" or done > 10):  # chunks already committed
            raise failure("boom")

    with pytest.raises(failure):
        await load(store, big, progress=progress, chunk_rows=10, block_bytes=64)
    assert seen[-1][0] == phase
    assert await register_tables(store) == before
    assert await is_listed(store, "au-dncr", 61412345678)
    assert not await is_listed(store, "au-dncr", 61412300001)
    assert (await register_copy_rows(store))["au-dncr"].count == 1


async def test_daemons_can_write_while_the_file_is_read(store: Store, tmp_path: Path) -> None:
    """Reading and sorting hold no lock on the database; only each committed chunk does."""
    path = write(tmp_path, "a.txt", *(f"04123{i:05d}" for i in range(50)))
    writes: list[str] = []

    def progress(phase: str, done: int, total: int) -> None:
        if phase in ("reading", "sorting"):
            other = sqlite3.connect(store.path, timeout=0, isolation_level=None)
            other.execute("BEGIN IMMEDIATE")  # fails at once if the import held the write lock
            other.execute("INSERT INTO events (at, kind, detail) VALUES (0, 'test', '{}')")
            other.execute("COMMIT")
            other.close()
            writes.append(phase)

    report = await load(store, path, progress=progress, block_bytes=64)
    assert report.count == 50  # type: ignore[attr-defined]
    assert "reading" in writes and "sorting" in writes


async def test_bom_and_old_mac_line_ends(store: Store, tmp_path: Path) -> None:
    path = tmp_path / "mac.txt"
    path.write_bytes(b"\xef\xbb\xbf0412345678\r0412345679\rjunk\r\r0412345680")
    report = await load(store, path, block_bytes=5)
    assert (report.lines, report.accepted, report.rejected, report.count) == (4, 3, 1, 3)  # type: ignore[attr-defined]
    assert report.rejects[0][0] == 3  # type: ignore[attr-defined]


async def test_cancel_interrupts_a_running_statement(store: Store, tmp_path: Path) -> None:
    """Ctrl-C during the sort: SQLite abandons the statement; nothing of the import is left."""
    await load(store, write(tmp_path, "a.txt", "0412345678"))
    before = await register_tables(store)
    cancel = threading.Event()

    def progress(phase: str, done: int, total: int) -> None:
        if phase == "sorting":
            cancel.set()  # seen next by SQLite's progress handler, inside CREATE INDEX

    path = write(tmp_path, "b.txt", *(f"0412{i:06d}" for i in range(20_000)))
    with pytest.raises(sqlite3.OperationalError, match="interrupted"):
        import_register_sync(
            store.path,
            "au-dncr",
            path,
            FORMATS["plain"],
            "AU",
            DAY,
            progress=progress,
            cancel=cancel,
        )
    assert await register_tables(store) == before
    assert (await register_copy_rows(store))["au-dncr"].count == 1


async def test_a_file_with_many_rejected_lines_imports_nothing_unless_told_to_skip_them(
    store: Store, tmp_path: Path
) -> None:
    # A file with lines that cannot be read is damaged or in the wrong format, and the
    # numbers of those lines would be callable under the new copy: the previous copy stays.
    good = write(tmp_path, "good.txt", "0412345678")
    await import_strictly(store, "au-dncr", good, FORMATS["plain"], "AU", DAY)
    bad = write(tmp_path, "bad.txt", "0412345679", "not-a-number")
    with pytest.raises(RegisterImportError, match=r"1 of 2 lines rejected.*previous copy in force"):
        await import_strictly(store, "au-dncr", bad, FORMATS["plain"], "AU", DAY)
    assert (await register_copy_rows(store))["au-dncr"].count == 1
    report = await import_strictly(
        store, "au-dncr", bad, FORMATS["plain"], "AU", DAY, skip_bad=True
    )
    assert (report.count, report.rejected) == (1, 1)
    # One odd line in thousands is reported and skipped: refusing the copy for it would
    # leave the old one to go stale, and that blocks every call the register covers.
    numbers = [f"04123{i:05d}" for i in range(2_000)]
    big = write(tmp_path, "big.txt", *numbers, "not-a-number")
    report = await import_strictly(store, "au-dncr", big, FORMATS["plain"], "AU", DAY)
    assert (report.count, report.rejected) == (2_000, 1)


async def test_the_share_of_rejected_lines_is_judged_per_file(store: Store, tmp_path: Path) -> None:
    # Judged over all the files, one damaged area-code file among many passed.
    big = write(tmp_path, "big.txt", *(f"04123{i:05d}" for i in range(5_000)))
    small = write(tmp_path, "small.txt", "0412399999", "garbled", "garbled too")
    with pytest.raises(RegisterImportError, match=r"small\.txt: 2 of 3 lines rejected"):
        await import_strictly(store, "au-dncr", [big, small], FORMATS["plain"], "AU", DAY)
