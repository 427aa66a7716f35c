"""`dialguard status`: the guard's state on one screen, read-only.

What an operator asks first when calls stop going out, or before a campaign: is the store
what serve writes to, what has the guard decided in the last hour and why it blocked, are
the register copies fresh, what holds calls now (suspensions, blackouts, open flags), and
when the AMI link was last down. Every figure comes from the store; nothing is written.
"""

from __future__ import annotations

from collections import Counter
from datetime import UTC, datetime, timedelta
from typing import Any

import click

from dialguard.cli.app import AppContext, cli, emit_json, parse_when, pass_app
from dialguard.cli.registry import register_states
from dialguard.store import Store
from dialguard.store.blackouts import list_blackouts
from dialguard.store.registers import register_copy_rows
from dialguard.store.schema import RANGE_ROW

WINDOW = timedelta(hours=1)
TOP_RULES = 5


@cli.command()
@click.option("--at", "at_text", default=None, help="As of this instant (default: now).")
@click.option("--json", "as_json", is_flag=True)
@pass_app
def status(app: AppContext, at_text: str | None, as_json: bool) -> None:
    """The guard's state: the last hour's checks and calls, the registers, what holds calls."""
    at = (parse_when(at_text, "--at") or datetime.now(UTC)).astimezone(UTC)
    policy = app.settings.policy

    async def body(store: Store) -> dict[str, Any]:
        since = (at - WINDOW).timestamp()
        verdicts: Counter[str] = Counter()
        rules: Counter[str] = Counter()
        for verdict, rule, count in await store.fetchall(
            "SELECT verdict, rule, count(*) FROM decisions WHERE decided_at >= ?"
            " AND decided_at < ? GROUP BY verdict, rule",
            (since, at.timestamp()),
        ):
            verdicts[verdict] += count
            if verdict == "block":
                rules[rule or "?"] += count
        last = await store.fetchone(
            "SELECT max(decided_at) FROM decisions WHERE decided_at < ?", (at.timestamp(),)
        )
        calls = await store.fetchone(
            "SELECT count(*) FROM outcomes WHERE started_at >= ? AND started_at < ?",
            (since, at.timestamp()),
        )
        gap = await store.fetchone(
            "SELECT at, detail FROM events WHERE kind = 'ami_gap' AND at < ?"
            " ORDER BY at DESC LIMIT 1",
            (at.timestamp(),),
        )
        version = await store.fetchone("PRAGMA user_version")
        suppressions = await store.fetchone("SELECT count(*) FROM suppressions")
        ranges = await store.fetchone(f"SELECT count(*) FROM suppressions WHERE {RANGE_ROW}")
        suspended = await store.fetchall("SELECT subject FROM suspensions ORDER BY subject")
        flags = await store.fetchone("SELECT count(*) FROM flags WHERE status = 'open'")
        blackouts = [
            b for b in await list_blackouts(store, ended_too=False, at=at) if b.in_force(at)
        ]
        copies = await register_copy_rows(store)
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
                "blocked_by": dict(rules.most_common(TOP_RULES)),
                "last_at": _iso(last[0] if last else None),
            },
            "calls_last_hour": calls[0] if calls else 0,
            "last_ami_gap": _iso(gap[0]) if gap else None,
            "registers": register_states(policy, copies, at.date()),
            "suppressions": {
                "entries": suppressions[0] if suppressions else 0,
                "ranges": ranges[0] if ranges else 0,
            },
            "suspensions": [row[0] for row in suspended],
            "open_flags": flags[0] if flags else 0,
            "blackouts_in_force": [f"{b.id} {b.place}" for b in blackouts],
        }

    state = app.run(body)
    if as_json:
        emit_json(state)
        return
    for line in _lines(state, block_when_missing=policy.block_when_register_missing):
        click.echo(line)


def _lines(state: dict[str, Any], *, block_when_missing: bool) -> list[str]:
    db, checks = state["database"], state["checks_last_hour"]
    size = f", {db['bytes'] / 1e6:,.1f} MB" if db["bytes"] is not None else ""
    blocked = ", ".join(f"{rule} {n:,}" for rule, n in checks["blocked_by"].items())
    lines = [
        f"database   {db['path']} (schema {db['schema']}{size})",
        f"checks     last hour: {checks['allowed']:,} allowed, {checks['blocked']:,} blocked"
        + (f" ({blocked})" if blocked else "")
        + f"; last at {checks['last_at'] or 'never'}",
        f"calls      last hour: {state['calls_last_hour']:,} recorded by the AMI listener;"
        f" last AMI gap: {state['last_ami_gap'] or 'none'}",
    ]
    registers, missing, warnings = [], [], []
    for item in state["registers"]:
        name = item["register"]
        if not item["present"]:
            registers.append(f"{name} no copy")
            if block_when_missing and item["applies_to"] == "callee":
                missing.append(name)
            continue
        fresh = "STALE" if item["stale"] else "fresh"
        registers.append(f"{name} {fresh} ({item['as_of']}, {item['count']:,})")
        if item["stale"]:
            warnings.append(f"{name} is stale since {item['stale_on']}: its calls are blocked")
    if missing:
        warnings.append(
            f"no copy of {', '.join(missing)}: the calls they cover are blocked"
            " (registry.missing; `registry import`, or [guard] register_missing)"
        )
    suppressions = state["suppressions"]
    lines += [
        f"registers  {'; '.join(registers) or 'none configured'}",
        f"opt-outs   {suppressions['entries']:,} entries ({suppressions['ranges']:,} ranges)",
        f"holding    suspensions: {', '.join(state['suspensions']) or 'none'};"
        f" blackouts in force: {', '.join(state['blackouts_in_force']) or 'none'};"
        f" open flags: {state['open_flags']:,}",
    ]
    return lines + [f"warning: {w}" for w in warnings]


def _iso(epoch: float | None) -> str | None:
    return None if epoch is None else f"{datetime.fromtimestamp(epoch, UTC):%Y-%m-%d %H:%M:%S} UTC"
