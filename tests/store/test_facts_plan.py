"""The per-number statement of the inline check: every part of it searches an index."""

from __future__ import annotations

import sqlite3
from dataclasses import replace
from pathlib import Path

import pytest

from dialguard.store import Store
from dialguard.store.facts import PER_NUMBER, PER_NUMBER_AND_RANGES, _per_number_params
from dialguard.store.flags import COMPLETE_OUTCOMES
from tests.store.test_facts_cache import QUERY, import_au_dncr


@pytest.mark.parametrize("ranges", [False, True])
async def test_every_part_of_the_per_number_statement_uses_an_index(
    store: Store, ranges: bool
) -> None:
    conn = store._hot._read
    assert conn is not None
    params = _per_number_params(QUERY, "+61412345678", ranges=ranges)
    statement = PER_NUMBER_AND_RANGES if ranges else PER_NUMBER
    plan = [row[3] for row in conn.execute(f"EXPLAIN QUERY PLAN {statement}", params)]
    scans = [step for step in plan if step.startswith("SCAN")]
    assert scans == ["SCAN facts_generation"]  # its single row
    searches = [step for step in plan if step.startswith("SEARCH")]
    assert len(searches) == 6  # suppressions, consents, decisions, outcomes and its join, EXISTS
    assert all(" USING INDEX " in step for step in searches), plan


async def test_the_suspensions_of_a_call_are_read_by_an_index_in_any_case(store: Store) -> None:
    # Folded as the rule folds them (rules.facts.folded), by the NOCASE index of schema 10.
    await store.write(
        "INSERT INTO suspensions (subject, reason, created_at) VALUES ('campaign:Spring', 'x', 0)"
    )
    facts = await store.facts_for(replace(QUERY, campaign="spring"))
    assert [s.subject for s in facts.suspensions] == ["campaign:Spring"]
    conn = store._hot._read
    assert conn is not None
    seen: list[str] = []
    conn.set_trace_callback(seen.append)
    await store.facts_for(replace(QUERY, campaign="SPRING", caller_id="+61291234568"))
    [statement] = [s for s in seen if "FROM suspensions WHERE subject" in s]
    plan = " ".join(row[3] for row in conn.execute(f"EXPLAIN QUERY PLAN {statement}"))
    assert "USING INDEX suspensions_subject_nocase" in plan or "USING COVERING INDEX" in plan, plan


async def test_a_check_reads_its_facts_in_one_statement_once_the_cache_is_filled(
    store: Store, tmp_path: Path
) -> None:
    conn = store._hot._read
    assert conn is not None
    await import_au_dncr(store, tmp_path, "0412 345 678")
    query = replace(QUERY, caller_id_registers=["au-dncr"])
    first = await store.facts_for(query)  # fills the cache, in a read transaction
    seen: list[str] = []
    conn.set_trace_callback(seen.append)
    facts = await store.facts_for(query)
    # No BEGIN and COMMIT: one statement is one snapshot.
    assert [s.split()[0] for s in seen] == ["SELECT"]
    assert seen[0].count('FROM "') == 2  # the callee's and the caller ID's lookups
    assert facts == first
    assert list(facts.register_hits) == ["au-dncr"]


async def test_a_check_after_a_change_reads_in_a_transaction(store: Store, tmp_path: Path) -> None:
    """The generation read by the one statement is not the cache's: every fact is read again
    in one snapshot, and the new register copy is consulted at once."""
    conn = store._hot._read
    assert conn is not None
    await store.facts_for(QUERY)
    await import_au_dncr(store, tmp_path, "0412 345 678")
    seen: list[str] = []
    conn.set_trace_callback(seen.append)
    facts = await store.facts_for(QUERY)
    assert [s.split()[0] for s in seen][:2] == ["SELECT", "BEGIN"]
    assert seen[-1] == "COMMIT"
    assert list(facts.register_hits) == ["au-dncr"]


async def test_the_register_lookups_search_the_primary_key(store: Store, tmp_path: Path) -> None:
    await import_au_dncr(store, tmp_path, "0412 345 678")
    await store.facts_for(QUERY)
    conn = store._hot._read
    assert conn is not None
    seen: list[str] = []
    conn.set_trace_callback(seen.append)
    await store.facts_for(QUERY)
    params = {"number": "+61412345678", "tenant": "acme", "since": 0.0, "r0": 61412345678}
    plan = [row[3] for row in conn.execute(f"EXPLAIN QUERY PLAN {seen[0]}", params)]
    register = [step for step in plan if "dncr" in step or "register" in step]
    assert register and all("PRIMARY KEY" in step for step in register), plan


async def test_callee_and_caller_id_register_hits_are_told_apart(
    store: Store, tmp_path: Path
) -> None:
    query = replace(QUERY, caller_id="+61412345679", caller_id_registers=["au-dncr", "none"])
    await import_au_dncr(store, tmp_path, "0412 345 679")
    facts = await store.facts_for(query)
    assert facts.register_hits == {}
    assert list(facts.caller_id_register_hits) == ["au-dncr"]
    await import_au_dncr(store, tmp_path, "0412 345 678")
    facts = await store.facts_for(query)
    assert list(facts.register_hits) == ["au-dncr"]
    assert facts.caller_id_register_hits == {}


async def test_completing_outcomes_starts_from_the_recent_decisions(store: Store) -> None:
    # Not from the outcomes without a tenant: calls the guard never saw leave many, and the
    # sweep held the write lock while it walked them all.
    conn = store._hot._read
    assert conn is not None
    plan = [row[3] for row in conn.execute(f"EXPLAIN QUERY PLAN {COMPLETE_OUTCOMES}", (0,))]
    assert not [step for step in plan if step.startswith("SCAN")], plan
    assert "SEARCH decisions USING INTEGER PRIMARY KEY (rowid>?)" in plan
    assert any(step.startswith("SEARCH outcomes USING INDEX sqlite_autoindex") for step in plan)


async def test_a_read_that_fails_part_way_holds_no_snapshot(store: Store) -> None:
    """A row the check cannot read (a consent kind a newer dialguard wrote) fails that check;
    the statement it left part-read kept its snapshot while the exception was alive, and the
    next checks read the database as it was then."""
    await store.facts_for(QUERY)  # the cache is filled: the next reads are single statements
    with sqlite3.connect(store.path) as conn:
        conn.execute(
            "INSERT INTO consents (number, tenant, kind, granted_at, created_at)"
            " VALUES (?, 'acme', 'telepathy', 0, 0)",
            (QUERY.number,),
        )
        for call_id in ("d1", "d2"):  # rows after it: the statement is not at its end
            conn.execute(
                "INSERT INTO decisions (call_id, decided_at, source, tenant, campaign, purpose,"
                " dialled, number, verdict, reason, latency_ms, decision_json)"
                " VALUES (?, 1.8e9, 'agi', 'acme', 'spring', 'telemarketing', 'x', ?, 'allow',"
                " 'r', 1, '{}')",
                (call_id, QUERY.number),
            )
    with pytest.raises(ValueError) as failed:
        await store.facts_for(QUERY)
    other = replace(QUERY, number="+61412345699")
    with sqlite3.connect(store.path) as conn:
        conn.execute(
            "INSERT INTO suppressions (number, tenant, campaign, reason, source, requested_at,"
            " created_at) VALUES (?, '', '', 'asked', 'test', 0, 0)",
            (other.number,),
        )
    facts = await store.facts_for(other)
    assert [s.number for s in facts.suppressions] == [other.number]
    assert failed.value is not None  # still alive here, as a logged exception may be
