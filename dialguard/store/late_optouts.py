"""Opt-outs the guard received later than the law gives to honour them, and the calls made
to their numbers after that limit and before the guard held them (`suppress late`).

An entry's `requested_at` is when the callee asked (`suppress add --date`, an import's
`requested_at` column), its `created_at` when the guard first held it. From then on every
check blocks the number; the calls in between are the ones to answer for.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from dialguard.store.core import Store
from dialguard.store.facts import suppression_as_dict, suppression_from_row
from dialguard.store.schema import RANGE_ROW
from dialguard.store.timeconv import require_epoch, to_epoch
from rules.facts import SuppressionEntry
from rules.honouring import (
    LIMITED_PREFIXES,
    HonourLimit,
    days_taken,
    honour_deadline,
    honour_limit,
)
from rules.location import law_country
from rules.numbers import parse_number

# No limit ends sooner after its request than this (10 business days from a Sunday 23:59 end
# on the Saturday 12 days later): entries recorded sooner are not read one by one.
_SHORTEST_LIMIT_S = 12 * 86400 - 3600  # an hour's margin
# Only numbers under a law that gives a limit (rules.honouring).
_LIMITED = " OR ".join(f"number GLOB '{prefix}*'" for prefix in LIMITED_PREFIXES)
# The entries worth asking `late_for` of: a callee's number under such a law, recorded at
# least the shortest limit after its request.
_MAYBE_LATE = (
    f"created_at - requested_at >= {_SHORTEST_LIMIT_S} AND ({_LIMITED}) AND NOT ({RANGE_ROW})"
)


@dataclass(frozen=True)
class LateOptOut:
    entry: SuppressionEntry
    recorded_at: datetime
    limit: HonourLimit
    deadline: datetime
    days: int  # as the limit counts them, from the day after the request to the recording
    calls_after_deadline: int  # placed calls to the number in [deadline, recorded_at)

    def as_dict(self) -> dict[str, Any]:
        return {
            **suppression_as_dict(self.entry),
            "deadline": self.deadline.isoformat(),
            "recorded_at": self.recorded_at.isoformat(),
            "days": self.days,
            "limit": self.limit.unit(),
            "citation": self.limit.citation,
            "calls_after_deadline": self.calls_after_deadline,
        }


def late_for(entry: SuppressionEntry, recorded_at: datetime) -> tuple[HonourLimit, datetime] | None:
    """The limit an entry recorded at `recorded_at` broke, and its deadline; None if on time,
    where no limit is known (a range is an operator's entry, not a callee's request), or
    when the request had lapsed by its deadline (an opt-out "for this week")."""
    if entry.is_range:
        return None
    limit = honour_limit(law_country(parse_number(entry.number, None)), entry.requested_at)
    if limit is None:
        return None
    deadline = honour_deadline(entry.requested_at, limit)
    if entry.expires_at is not None and entry.expires_at <= deadline:
        return None
    return (limit, deadline) if recorded_at >= deadline else None


async def late_optouts(
    store: Store, *, tenant: str | None = None, since: datetime | None = None
) -> list[LateOptOut]:
    """Every entry recorded after its limit, requested at or after `since`, oldest request
    first. With `tenant`: its own entries and the global ones, counting its calls only."""
    sql = f"SELECT * FROM suppressions WHERE {_MAYBE_LATE} AND requested_at >= ?"
    params: list[Any] = [to_epoch(since) or 0.0]
    if tenant is not None:
        sql += " AND tenant IN ('', ?)"
        params.append(tenant)
    found: list[LateOptOut] = []
    for row in await store.fetchall(sql + " ORDER BY requested_at, number", params):
        entry = suppression_from_row(row)
        recorded_at = require_epoch(row["created_at"])
        late = late_for(entry, recorded_at)
        if late is None:
            continue
        limit, deadline = late
        end = min(recorded_at, entry.expires_at or recorded_at)
        calls = await _calls_between(store, entry, deadline, end, tenant)
        days = days_taken(entry.requested_at, recorded_at, limit)
        found.append(LateOptOut(entry, recorded_at, limit, deadline, days, calls))
    return found


async def late_among(store: Store, recorded_at: float, keys: str) -> int:
    """How many entries recorded at `recorded_at` (epoch seconds: one import's) came late;
    `keys` is an SQL query of the (number, tenant, campaign) to look at (its staged lines)."""
    rows = await store.fetchall(
        f"SELECT * FROM suppressions WHERE created_at = ? AND {_MAYBE_LATE}"
        f" AND (number, tenant, campaign) IN ({keys})",
        (recorded_at,),
    )
    at = require_epoch(recorded_at)
    return sum(late_for(suppression_from_row(row), at) is not None for row in rows)


async def _calls_between(
    store: Store, entry: SuppressionEntry, start: datetime, end: datetime, tenant: str | None
) -> int:
    """Calls the entry covers (of `tenant` alone, when given) that were placed in
    [start, end): allowed by the guard, or recorded by the AMI listener or an imported
    history. A call's decision and outcome count once; a call without an id counts alone."""
    scope = ""
    params: list[Any] = [entry.number, to_epoch(start), to_epoch(end)]
    if entry.tenant is not None or tenant is not None:
        scope += " AND tenant = ?"
        params.append(entry.tenant or tenant)
    if entry.campaign is not None:
        scope += " AND campaign = ?"
        params.append(entry.campaign)
    row = await store.fetchone(
        "SELECT count(*) FROM ("
        " SELECT coalesce(call_id, 'decision ' || id) FROM decisions"
        " WHERE number = ? AND decided_at >= ? AND decided_at < ?"
        f" AND verdict = 'allow' AND source = 'agi'{scope}"
        " UNION"
        " SELECT coalesce(call_id, 'outcome ' || rowid) FROM outcomes"
        " WHERE number = ? AND started_at >= ? AND started_at < ?"
        f" AND disposition IS NOT 'REJECTED'{scope})",
        params * 2,
    )
    return int(row[0]) if row is not None else 0
