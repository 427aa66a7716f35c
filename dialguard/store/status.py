"""The figures `dialguard status` shows, read from the store (the command formats them)."""

from __future__ import annotations

import json
from collections import Counter
from datetime import datetime, timedelta
from typing import Any

from dialguard.store.blackouts import list_blackouts
from dialguard.store.core import Store
from dialguard.store.schema import RANGE_ROW
from dialguard.store.spool import OptOutSpool, spool_path
from dialguard.store.timeconv import from_epoch


async def state(store: Store, at: datetime, window: timedelta, top: int) -> dict[str, Any]:
    """The decisions and AMI calls of the `window` before `at`, the last AMI gap, the
    opt-outs and blackouts in force at `at`, and the suspensions and open flags of now."""
    since, until = (at - window).timestamp(), at.timestamp()
    verdicts: Counter[str] = Counter()
    rules: Counter[str] = Counter()
    for verdict, rule, count in await store.fetchall(
        "SELECT verdict, rule, count(*) FROM decisions WHERE decided_at >= ?"
        " AND decided_at < ? GROUP BY verdict, rule",
        (since, until),
    ):
        verdicts[verdict] += count
        if verdict == "block":
            rules[rule or "?"] += count
    last = await store.fetchone(
        "SELECT max(decided_at) FROM decisions WHERE decided_at < ?", (until,)
    )
    calls = await store.fetchone(
        "SELECT count(*) FROM outcomes WHERE started_at >= ? AND started_at < ? AND source = 'ami'",
        (since, until),
    )
    gap = await store.fetchone(
        "SELECT at, detail FROM events WHERE kind = 'ami_gap' AND at < ? ORDER BY at DESC LIMIT 1",
        (until,),
    )
    version = await store.fetchone("PRAGMA user_version")
    in_force = "requested_at <= :at AND (expires_at IS NULL OR expires_at > :at)"
    suppressions = await store.fetchone(
        f"SELECT count(*) FROM suppressions WHERE {in_force}", {"at": until}
    )
    ranges = await store.fetchone(
        f"SELECT count(*) FROM suppressions WHERE {RANGE_ROW} AND {in_force}", {"at": until}
    )
    suspended = await store.fetchall("SELECT subject FROM suspensions ORDER BY subject")
    flags = await store.fetchone("SELECT count(*) FROM flags WHERE status = 'open'")
    blackouts = [b for b in await list_blackouts(store, ended_too=False, at=at) if b.in_force(at)]
    return {
        "at": at.isoformat(),
        "database": {
            "path": str(store.path),
            "schema": version[0] if version else None,
            "bytes": store.path.stat().st_size if store.path.exists() else None,
        },
        "checks_last_hour": {
            "allowed": verdicts["allow"],
            "blocked": verdicts["block"],
            "blocked_by_top": dict(rules.most_common(top)),
            "last_at": _iso(last[0] if last else None),
        },
        "ami_calls_last_hour": calls[0] if calls else 0,
        "last_ami_gap": _gap(gap[0], gap[1]) if gap else None,
        "suppressions_in_force": {
            "entries": suppressions[0] if suppressions else 0,
            "ranges": ranges[0] if ranges else 0,
        },
        "suspensions": [row[0] for row in suspended],
        "open_flags": flags[0] if flags else 0,
        "blackouts_in_force": [f"{b.id} {b.place}" for b in blackouts],
        "pending_optouts": pending_optouts(store),
    }


def pending_optouts(store: Store) -> dict[str, Any]:
    """The opt-outs `serve` kept in its spool for want of a database (`spool.py`): not in
    force until it writes them."""
    spool = OptOutSpool(spool_path(store.path))
    try:
        contents = spool.read()
    except OSError as exc:
        return {"spool": str(spool.path), "entries": None, "unreadable": None, "error": str(exc)}
    return {
        "spool": str(spool.path),
        "entries": len(contents.entries),
        "unreadable": len(contents.unreadable) + (contents.torn is not None),
        "error": None,
    }


def _iso(epoch: float | None) -> str | None:
    at = from_epoch(epoch)
    return at.isoformat() if at is not None else None


def _gap(back_at: float, detail: str) -> dict[str, Any]:
    """The last AMI outage: when the link came back, and how long it was down."""
    try:
        seconds = json.loads(detail).get("seconds")
    except (ValueError, AttributeError):
        seconds = None
    return {"back_at": _iso(back_at), "seconds": seconds}
