"""A bulk opt-out import is staged without locking the shared database, then applied at once."""

from __future__ import annotations

import sqlite3
from datetime import UTC, datetime, timedelta

import pytest

from dialguard.store import Store
from dialguard.store.suppressions import SuppressionImport, list_entries
from rules.facts import SuppressionEntry

NOW = datetime(2026, 3, 2, tzinfo=UTC)


def _entries(*numbers: str) -> list[SuppressionEntry]:
    return [SuppressionEntry(n, "acme", None, "asked", "test", NOW) for n in numbers]


async def test_staging_takes_no_lock_and_nothing_is_listed_before_apply(store: Store) -> None:
    async with SuppressionImport(store) as staged:
        await staged.add(_entries("+61412345678", "+61412345679"))
        # A daemon recording decisions can still write: staging is in SQLite's temp file.
        other = sqlite3.connect(store.path, timeout=0, isolation_level=None)
        other.execute("BEGIN IMMEDIATE")
        other.execute("INSERT INTO events (at, kind, detail) VALUES (0, 'test', '{}')")
        other.execute("COMMIT")
        other.close()
        assert await list_entries(store) == []
        counts = await staged.apply("test")

    assert (counts.entries, counts.new, counts.updated, counts.duplicates) == (2, 2, 0, 0)
    assert len(await list_entries(store)) == 2


async def test_an_import_left_before_apply_lists_nothing_and_the_next_one_starts_clean(
    store: Store,
) -> None:
    with pytest.raises(RuntimeError):
        async with SuppressionImport(store) as staged:
            await staged.add(_entries("+61412345678"))
            raise RuntimeError("Ctrl-C, say")
    assert await list_entries(store) == []

    async with SuppressionImport(store) as staged:
        await staged.add(_entries("+61412345679"))
        counts = await staged.apply("test")
    assert counts.entries == 1
    assert [row.entry.number for row in await list_entries(store)] == ["+61412345679"]


async def test_an_import_never_shortens_an_opt_out_nor_ends_a_permanent_one(store: Store) -> None:
    # The callee's own IVR opt-out is permanent; a list that names the number with an expiry
    # must not put an end to it. Nor may a shorter expiry cut a longer one.
    later, sooner = NOW + timedelta(days=90), NOW + timedelta(days=30)
    await store.add_suppression(SuppressionEntry("+61412345678", "acme", None, "ivr", "agi", NOW))
    await store.add_suppression(
        SuppressionEntry("+61412345679", "acme", None, "asked", "test", NOW, later)
    )
    async with SuppressionImport(store) as staged:
        await staged.add(
            SuppressionEntry(n, "acme", None, "list", "import", NOW, sooner)
            for n in ("+61412345678", "+61412345679", "+61412345670")
        )
        await staged.apply("list.csv")
    rows = {row.entry.number: row.entry for row in await list_entries(store)}
    expiry = {number: entry.expires_at for number, entry in rows.items()}
    assert expiry == {"+61412345678": None, "+61412345679": later, "+61412345670": sooner}
    # The record still names the request its lifetime comes from: the callee's own.
    assert (rows["+61412345678"].source, rows["+61412345678"].reason) == ("agi", "ivr")
    assert rows["+61412345670"].source == "import"


async def test_an_opt_out_after_the_last_one_ended_starts_a_new_one(store: Store) -> None:
    # Merged with the lapsed entry, the callee's new request took the old request's date:
    # the call it was made on (placed while nothing was in force) then counted as a call
    # to an opted-out number, and suspended the campaign (detector `breach`).
    ended = NOW - timedelta(days=30)
    await store.add_suppression(
        SuppressionEntry(
            "+61412345678", "acme", None, "list", "import", ended - timedelta(days=300), ended
        )
    )
    await store.add_suppression(SuppressionEntry("+61412345678", "acme", None, "ivr", "agi", NOW))
    [row] = await list_entries(store)
    entry = row.entry
    assert (entry.requested_at, entry.expires_at) == (NOW, None)
    assert (entry.source, entry.reason) == ("agi", "ivr")


async def test_an_opt_out_still_in_force_keeps_its_first_request(store: Store) -> None:
    first = NOW - timedelta(days=10)
    await store.add_suppression(
        SuppressionEntry(
            "+61412345678", "acme", None, "list", "import", first, NOW + timedelta(days=5)
        )
    )
    await store.add_suppression(SuppressionEntry("+61412345678", "acme", None, "ivr", "agi", NOW))
    [row] = await list_entries(store)
    assert (row.entry.requested_at, row.entry.expires_at) == (first, None)


async def test_a_request_that_had_ended_before_the_entry_began_changes_nothing(
    store: Store,
) -> None:
    # An old line of a list, imported after the callee's IVR opt-out, dated the opt-out back
    # across the time nothing was in force (and, line order deciding, in one file too).
    await store.add_suppression(SuppressionEntry("+61412345678", "acme", None, "ivr", "agi", NOW))
    old = NOW - timedelta(days=200)
    async with SuppressionImport(store) as staged:
        await staged.add(
            [
                SuppressionEntry(
                    "+61412345678", "acme", None, "list", "import", old, old + timedelta(days=30)
                )
            ]
        )
        await staged.apply("old.csv")
    [row] = await list_entries(store)
    assert (row.entry.requested_at, row.entry.expires_at, row.entry.source) == (NOW, None, "agi")
