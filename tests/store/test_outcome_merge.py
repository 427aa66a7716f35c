"""Merging outcomes in the store: a replay never changes a known value, but an answered
`Cdr` outranks the cancelled target's of the same `Dial(A&B)`, whichever came first."""

from __future__ import annotations

from datetime import UTC, datetime

from dialguard.store import Store
from rules.outcomes import CallOutcome

AT = datetime(2026, 11, 28, 19, 38, 8, tzinfo=UTC)


async def test_an_answered_cdr_after_a_cancelled_one_is_kept(store: Store) -> None:
    cancelled = CallOutcome(
        "1.44", number="+12127365041", started_at=AT, disposition="NO ANSWER", billsec=0
    )
    answered = CallOutcome(
        "1.44", number="+12127365041", started_at=AT, disposition="ANSWERED", billsec=2
    )
    await store.upsert_outcome(cancelled)
    await store.upsert_outcome(answered)
    await store.upsert_outcome(cancelled)  # a replay
    [stored] = await store.outcomes_between(AT, AT.replace(minute=39))
    assert (stored.disposition, stored.billsec) == ("ANSWERED", 2)


async def test_an_amd_verdict_survives_a_replay_without_it(store: Store) -> None:
    base = CallOutcome("1.50", number="+442079460000", started_at=AT, disposition="ANSWERED")
    await store.upsert_outcome(CallOutcome("1.50", started_at=AT, amd="MACHINE"))
    await store.upsert_outcome(base)  # the Cdr, replayed without the mark
    [stored] = await store.outcomes_between(AT, AT.replace(minute=39))
    assert stored.amd == "MACHINE" and stored.machine and stored.disposition == "ANSWERED"
