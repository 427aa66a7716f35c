"""The automated mark of earlier calls, which the caps on automated calls count (TRACED)."""

from __future__ import annotations

import json
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

from dialguard.store import Store, open_store
from dialguard.store.callerids import InventoryEntry, save_caller_ids
from rules.models import CallAttempt, Decision, Verdict
from rules.outcomes import CallOutcome
from rules.ports import FactQuery
from tests.store.test_migrations import _at_version

NUMBER = "+15155550100"
AT = datetime.now(UTC).replace(microsecond=0) - timedelta(days=1)


def allowed(call_id: str, automated: bool) -> tuple[CallAttempt, Decision]:
    attempt = CallAttempt(
        NUMBER, "+13195550100", AT, tenant="acme", call_id=call_id, automated=automated
    )
    decision = Decision(Verdict.ALLOW, None, "allowed", "", NUMBER, None, "US", None, ())
    return attempt, decision


def query() -> FactQuery:
    return FactQuery(NUMBER, "acme", None, None, [], [], AT - timedelta(days=61))


async def marks(store: Store) -> dict[str | None, bool]:
    facts = await store.facts_for(query())
    return {a.call_id: a.automated for a in facts.attempts}


async def test_an_automated_call_counts_as_automated_before_and_after_its_commit(
    store: Store, tmp_path: Path
) -> None:
    for call_id, automated in (("robo", True), ("live", False)):
        await store.record_decision(*allowed(call_id, automated), 1.0, "agi")
    assert await marks(store) == {"robo": True, "live": False}  # not yet committed
    await store.flush()
    other = await open_store(tmp_path / "dialguard.sqlite3")  # another process's view
    try:
        assert await marks(other) == {"robo": True, "live": False}
    finally:
        await other.close()


async def test_the_call_s_outcome_carries_the_mark_of_its_decision(store: Store) -> None:
    await store.record_decision(*allowed("robo", True), 1.0, "agi")
    await store.flush()
    await store.upsert_outcome(
        CallOutcome("robo", number=NUMBER, tenant="acme", started_at=AT, disposition="ANSWERED")
    )
    await store.upsert_outcome(
        CallOutcome("hist", number=NUMBER, tenant="acme", started_at=AT, source="history")
    )
    facts = await store.facts_for(query())
    by_source = {(a.call_id, a.source): a.automated for a in facts.attempts}
    assert by_source == {
        ("robo", "decision"): True,
        ("robo", "outcome"): True,
        ("hist", "history"): False,  # an imported call carries no mark
    }


async def test_an_outcome_s_own_mark_is_kept_and_never_taken_back_by_a_later_event(
    store: Store,
) -> None:
    await store.upsert_outcome(
        CallOutcome("hist", number=NUMBER, tenant="acme", started_at=AT, automated=True)
    )
    await store.upsert_outcome(CallOutcome("hist", number=NUMBER, disposition="ANSWERED"))
    assert await marks(store) == {"hist": True}


async def test_the_upgrade_copies_the_mark_of_the_attempts_a_cap_can_still_count(
    tmp_path: Path,
) -> None:
    path = tmp_path / "old.sqlite3"
    conn = _at_version(path, 6)
    now = time.time()
    rows = [
        ("recent-robo", now - 86400, "allow", True),
        ("recent-live", now - 86400, "allow", False),
        ("blocked-robo", now - 86400, "block", True),  # never rang: counts for no cap
        ("old-robo", now - 70 * 86400, "allow", True),  # beyond every cap's window
    ]
    for call_id, decided_at, verdict, automated in rows:
        conn.execute(
            "INSERT INTO decisions (call_id, decided_at, source, tenant, purpose, dialled,"
            " number, verdict, reason, latency_ms, decision_json)"
            " VALUES (?, ?, 'agi', 'acme', 'informational', ?, ?, ?, '', 1, ?)",
            (
                call_id,
                decided_at,
                NUMBER,
                NUMBER,
                verdict,
                # As audit_json writes it; a failure-policy decision has no top-level mark.
                json.dumps({"verdict": verdict, "inputs": {"automated": automated}}),
            ),
        )
    conn.close()
    store = await open_store(path)
    try:
        found = await store.fetchall("SELECT call_id, automated FROM decisions ORDER BY call_id")
    finally:
        await store.close()
    assert {r["call_id"]: r["automated"] for r in found} == {
        "recent-robo": 1,
        "recent-live": 0,
        "blocked-robo": 0,
        "old-robo": 0,
    }


async def test_the_guard_holds_a_fourth_exempt_robocall_in_30_days(store: Store) -> None:
    from dialguard.guard import Guard
    from rules.models import LineType, Purpose
    from rules.policy import Policy

    await save_caller_ids(store, [InventoryEntry("+13195550100", "acme")], "test")
    guard = Guard(store, Policy())
    weekday_10 = datetime(2026, 6, 10, 15, 0, tzinfo=UTC)  # Wed 10:00 in Iowa

    def call(n: int, automated: bool = True) -> CallAttempt:
        return CallAttempt(
            NUMBER,
            "+13195550100",
            weekday_10 + timedelta(days=n),
            tenant="acme",
            purpose=Purpose.RESEARCH,
            call_id=f"c{n}",
            automated=automated,
            line_type=LineType.LANDLINE,  # to a mobile, consent first (tcpa-wireless)
        )

    verdicts = [(await guard.check(call(n))).rule for n in range(4)]
    assert verdicts == [None, None, None, "frequency.us-traced-exempt-prerecorded"]
    assert (await guard.check(call(4, automated=False))).allowed  # a live call is not held
