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
