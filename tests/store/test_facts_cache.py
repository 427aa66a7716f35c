"""The facts that do not depend on the callee's number are cached, yet every change to them
(caller-ID inventory, suspensions, blackouts, a register swap) is seen by the very next check."""

from __future__ import annotations

import asyncio
from datetime import UTC, date, datetime
from pathlib import Path

import pytest

from dialguard.registers.readers import FORMATS
from dialguard.store import Store
from dialguard.store.callerids import InventoryEntry, remove_caller_id, save_caller_ids
from dialguard.store.flags import FlagStore
from dialguard.store.registers import import_register
from rules.facts import CallerIdRecord, SuppressionEntry
from rules.ports import FactQuery

NOW = datetime(2026, 3, 2, tzinfo=UTC)
CALLER_ID = "+61291234567"
QUERY = FactQuery(
    number="+61412345678",
    caller_id=CALLER_ID,
    tenant="acme",
    campaign="spring",
    registers=["au-dncr"],
    caller_id_registers=[],
    attempts_since=datetime(2026, 1, 1, tzinfo=UTC),
)


async def import_au_dncr(store: Store, tmp_path: Path, *lines: str) -> None:
    path = tmp_path / "wash.txt"
    path.write_text("".join(f"{line}\n" for line in lines), encoding="utf-8")
    await import_register(store, "au-dncr", path, FORMATS["plain"], "AU", date(2026, 3, 1))


@pytest.fixture(name="statements")
def _statements(store: Store) -> list[str]:
    """The SQL the check's read connection runs."""
    seen: list[str] = []
    assert store._hot._read is not None
    store._hot._read.set_trace_callback(seen.append)
    return seen


async def test_unchanged_facts_are_read_once(store: Store, statements: list[str]) -> None:
    await store.facts_for(QUERY)
    statements.clear()
    await store.facts_for(QUERY)
    read = " ".join(statements)
    assert "facts_generation" in read
    for cached in ("register_copies", "caller_ids", "suspensions WHERE subject"):
        assert cached not in read
    for per_number in ("suppressions WHERE number", "consents", "decisions", "outcomes"):
        assert per_number in read


async def test_caller_id_inventory_changes_reach_the_next_check(store: Store) -> None:
    facts = await store.facts_for(QUERY)
    assert (facts.caller_id_records, facts.tenant_has_inventory) == ((), False)
    await save_caller_ids(store, [InventoryEntry(CALLER_ID, "acme", "au")], "test")
    facts = await store.facts_for(QUERY)
    assert facts.caller_id_records == (CallerIdRecord(CALLER_ID, "acme", "au"),)
    assert facts.tenant_has_inventory
    await save_caller_ids(store, [InventoryEntry(CALLER_ID, "acme", "other")], "test")
    facts = await store.facts_for(QUERY)
    assert facts.caller_id_records == (CallerIdRecord(CALLER_ID, "acme", "other"),)
    assert await remove_caller_id(store, CALLER_ID, "acme")
    facts = await store.facts_for(QUERY)
    assert (facts.caller_id_records, facts.tenant_has_inventory) == ((), False)


async def test_suspensions_reach_the_next_check(store: Store) -> None:
    flags = FlagStore(store)
    assert (await store.facts_for(QUERY)).suspensions == ()
    await flags.suspend("campaign:spring", "abuse", NOW)
    assert [s.subject for s in (await store.facts_for(QUERY)).suspensions] == ["campaign:spring"]
    await flags.unsuspend("campaign:spring", "reviewed", NOW)
    assert (await store.facts_for(QUERY)).suspensions == ()


async def test_blackouts_reach_the_next_check(store: Store, statements: list[str]) -> None:
    from dialguard.store import blackouts

    assert (await store.facts_for(QUERY)).blackouts == ()
    declared = await blackouts.declare(
        store, "AU-QLD", NOW, None, frozenset({"telemarketing"}), None, "cyclone"
    )
    assert (await store.facts_for(QUERY)).blackouts == (declared,)
    statements.clear()
    await store.facts_for(QUERY)
    assert "blackouts" not in " ".join(statements)  # cached while nothing changes
    lifted = await blackouts.lift(store, declared.id, NOW.replace(day=3))
    assert lifted is not None and lifted.ends_at == NOW.replace(day=3)
    assert (await store.facts_for(QUERY)).blackouts == (lifted,)
    await store.write("DELETE FROM blackouts")
    assert (await store.facts_for(QUERY)).blackouts == ()


async def test_a_register_swap_reaches_the_next_check(store: Store, tmp_path: Path) -> None:
    assert (await store.facts_for(QUERY)).register_copies == {}
    await import_au_dncr(store, tmp_path, "0412 345 679")
    facts = await store.facts_for(QUERY)
    assert facts.register_copies["au-dncr"].count == 1
    assert "au-dncr" not in facts.register_hits
    await import_au_dncr(store, tmp_path, "0412 345 678", "0412 345 679")
    facts = await store.facts_for(QUERY)
    assert facts.register_copies["au-dncr"].count == 2
    assert "au-dncr" in facts.register_hits


async def test_a_raw_sql_change_is_seen_too(store: Store) -> None:
    """The generation is kept by triggers, not by our code paths: any writer bumps it."""
    await store.facts_for(QUERY)
    await store.write(
        "INSERT INTO suspensions (subject, reason, created_at) VALUES (?, ?, ?)",
        ("tenant:acme", "operator", 0.0),
    )
    assert [s.subject for s in (await store.facts_for(QUERY)).suspensions] == ["tenant:acme"]


@pytest.mark.parametrize("attempt", range(20))  # the race is lost about one time in ten
async def test_stores_opened_together_migrate_once(tmp_path: Path, attempt: int) -> None:
    """Processes opening a new file together: one switches it to WAL and migrates it, and
    the others wait for that instead of failing with "database is locked"."""
    from dialguard.store import open_store
    from dialguard.store.schema import SCHEMA_VERSION

    path = tmp_path / f"both-{attempt}.sqlite3"
    stores = await asyncio.gather(*(open_store(path) for _ in range(3)))
    try:
        row = await stores[0].fetchone("PRAGMA user_version")
        assert row is not None and row[0] == SCHEMA_VERSION
    finally:
        for store in stores:
            await store.close()


def _entry(number: str, tenant: str | None = None) -> SuppressionEntry:
    return SuppressionEntry(number, tenant, None, "", "test", NOW)


async def test_ranges_are_looked_up_only_while_the_list_holds_one(
    store: Store, statements: list[str]
) -> None:
    from dialguard.store import suppressions

    await suppressions.add(store, _entry("+61499999999"))  # a number: read per call
    await store.facts_for(QUERY)
    statements.clear()
    await store.facts_for(QUERY)
    assert "'+614*'" not in " ".join(statements)
    await suppressions.add(store, _entry("+6149*"))  # a range: the generation moves
    await store.facts_for(QUERY)  # refills the cache, in a read transaction
    statements.clear()
    await store.facts_for(QUERY)  # then one statement, the ranges' keys in it
    assert len(statements) == 1 and "'+614*'" in statements[0]
    await suppressions.add(store, _entry("+6141*"))
    for _ in range(3):  # the refill, then the one-statement path
        assert "+6141*" in {e.number for e in (await store.facts_for(QUERY)).suppressions}


async def test_a_range_imported_or_written_by_hand_reaches_the_next_check(
    store: Store, tmp_path: Path
) -> None:
    from dialguard.store.suppressions import SuppressionImport

    assert (await store.facts_for(QUERY)).suppressions == ()
    async with SuppressionImport(store) as staged:
        await staged.add([_entry("+614123*")])
        await staged.apply("test")
    assert [e.number for e in (await store.facts_for(QUERY)).suppressions] == ["+614123*"]
    await store.write("UPDATE suppressions SET number = '+6141234*' WHERE number = '+614123*'")
    assert [e.number for e in (await store.facts_for(QUERY)).suppressions] == ["+6141234*"]
    await store.write("DELETE FROM suppressions")
    assert (await store.facts_for(QUERY)).suppressions == ()


async def test_a_suppressed_range_reaches_the_next_check(store: Store) -> None:
    from dialguard.store import suppressions

    assert (await store.facts_for(QUERY)).suppressions == ()
    await suppressions.add(store, _entry("+614123*", "acme"))
    assert [e.number for e in (await store.facts_for(QUERY)).suppressions] == ["+614123*"]
    await suppressions.add(store, _entry("+6141*"))
    await suppressions.add(store, _entry("+6142*"))  # covers another number
    await suppressions.add(store, _entry("+61412345678"))
    assert {e.number for e in (await store.facts_for(QUERY)).suppressions} == {
        "+614123*",
        "+6141*",
        "+61412345678",
    }
    assert await suppressions.remove(store, "+614123*", "acme", None)
    assert "+614123*" not in {e.number for e in (await store.facts_for(QUERY)).suppressions}
