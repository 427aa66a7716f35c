"""Register imports replace a copy whole and atomically; failures leave the old copy in force."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import date
from pathlib import Path

import pytest

from dialguard.registers.readers import FORMATS, Item, read_plain
from dialguard.store import Store
from dialguard.store.registers import (
    RegisterImportError,
    import_register,
    is_listed,
    register_copy_rows,
    register_tables,
)

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
