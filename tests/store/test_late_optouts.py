"""`late_optouts` at fixed instants: which opt-outs came after the law's limit, and which
calls after that limit count (dialguard/store/late_optouts.py)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from dialguard.store import Store
from dialguard.store.late_optouts import late_optouts

NUMBER = "+12255550123"
# Sunday 1 March 2026, 23:00 UTC: the 10th business day after it is Friday the 13th, so
# the limit ends at Saturday 14 March 00:00, 12 days and an hour later (the shortest gap).
REQUESTED = datetime(2026, 3, 1, 23, tzinfo=UTC)
DEADLINE = datetime(2026, 3, 14, tzinfo=UTC)


async def _entry(
    store: Store,
    recorded: datetime,
    *,
    number: str = NUMBER,
    tenant: str = "",
    campaign: str = "",
    expires: datetime | None = None,
) -> None:
    await store.write(
        "INSERT INTO suppressions (number, tenant, campaign, reason, source, requested_at,"
        " expires_at, created_at) VALUES (?, ?, ?, '', 'crm', ?, ?, ?)",
        (
            number,
            tenant,
            campaign,
            REQUESTED.timestamp(),
            expires.timestamp() if expires else None,
            recorded.timestamp(),
        ),
    )


async def _decision(
    store: Store, call_id: str | None, at: datetime, verdict: str = "allow", tenant: str = "acme"
) -> None:
    await store.write(
        "INSERT INTO decisions (call_id, decided_at, source, tenant, campaign, purpose, dialled,"
        " number, caller_id, verdict, rule, reason, latency_ms, decision_json)"
        " VALUES (?, ?, 'agi', ?, 'winter', 'telemarketing', ?, ?, NULL, ?, NULL, '', 1, '{}')",
        (call_id, at.timestamp(), tenant, NUMBER, NUMBER, verdict),
    )


async def _outcome(
    store: Store, call_id: str, at: datetime, disposition: str = "ANSWERED", tenant: str = "acme"
) -> None:
    await store.write(
        "INSERT INTO outcomes (call_id, number, tenant, campaign, started_at, disposition,"
        " updated_at) VALUES (?, ?, ?, 'winter', ?, ?, ?)",
        (call_id, NUMBER, tenant, at.timestamp(), disposition, at.timestamp()),
    )


async def test_recorded_at_the_end_of_the_shortest_limit_is_late(store: Store) -> None:
    await _entry(store, DEADLINE + timedelta(minutes=30))
    await _entry(store, DEADLINE - timedelta(minutes=1), number="+12255550124")
    [late] = await late_optouts(store)
    assert late.entry.number == NUMBER and late.deadline == DEADLINE
    assert late.days == 10  # a Saturday: late, though no 11th business day has begun


async def test_each_call_after_the_limit_counts_once(store: Store) -> None:
    after = DEADLINE + timedelta(days=1)
    await _entry(store, DEADLINE + timedelta(days=5))
    await _decision(store, "a", after)  # allowed, with its outcome: one call
    await _outcome(store, "a", after)
    await _decision(store, None, after)  # no uniqueid: each its own call
    await _decision(store, None, after + timedelta(hours=1))
    await _decision(store, "b", after, verdict="block")  # never placed
    await _outcome(store, "c", after, disposition="REJECTED")  # refused by the dialplan
    await _outcome(store, "d", DEADLINE - timedelta(hours=1))  # within the limit
    await _outcome(store, "e", DEADLINE + timedelta(days=6))  # once the guard held it
    [late] = await late_optouts(store)
    assert late.calls_after_deadline == 3


async def test_scopes_and_expiry(store: Store) -> None:
    after = DEADLINE + timedelta(days=1)
    await _entry(store, DEADLINE + timedelta(days=5))  # global
    await _entry(store, DEADLINE + timedelta(days=5), number="+12255550124", tenant="beta")
    await _entry(  # asked not to be called for a week: over before its limit
        store,
        DEADLINE + timedelta(days=5),
        number="+12255550125",
        expires=REQUESTED + timedelta(days=7),
    )
    await _outcome(store, "a", after, tenant="acme")
    await _outcome(store, "b", after, tenant="beta")
    everyone = {late.entry.number: late.calls_after_deadline for late in await late_optouts(store)}
    assert everyone == {NUMBER: 2, "+12255550124": 0}
    acme = {
        late.entry.number: late.calls_after_deadline
        for late in await late_optouts(store, tenant="acme")
    }
    assert acme == {NUMBER: 1}  # the global entry, with acme's call alone
    assert await late_optouts(store, since=REQUESTED + timedelta(hours=1)) == []


async def test_an_entry_that_lapses_after_its_limit_counts_calls_until_it_lapsed(
    store: Store,
) -> None:
    lapsed = DEADLINE + timedelta(days=2)
    await _entry(store, DEADLINE + timedelta(days=5), expires=lapsed)
    await _outcome(store, "a", DEADLINE + timedelta(days=1))
    await _outcome(store, "b", DEADLINE + timedelta(days=3))  # after it had lapsed
    [late] = await late_optouts(store)
    assert late.calls_after_deadline == 1
