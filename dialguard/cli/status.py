"""`dialguard status`: the guard's state on one screen.

What an operator asks first when calls stop going out, or before a campaign: is the store
what serve writes to, what has the guard decided in the last hour and why it blocked, are
the register copies fresh, what holds calls now (suspensions, blackouts, open flags), and
when the AMI link was last down. Every figure comes from the store, which it only reads
(opening an older database upgrades it, as every command does).

`--at` ends the hour counted and is the instant blackouts, opt-outs and register
freshness are judged at; suspensions and open flags are those of now.
"""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from typing import Any

import click

from dialguard.cli.app import FIRST_MIDNIGHT, AppContext, cli, emit_json, parse_when, pass_app
from dialguard.cli.registry import register_states
from dialguard.store import Store
from dialguard.store import status as db
from dialguard.store.registers import register_copy_rows

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
        state = await db.state(store, at, WINDOW, TOP_RULES)
        # Judged on the date where it is latest (UTC+14), as a callee there sees it.
        copies = await register_copy_rows(store)
        state["registers"] = register_states(policy, copies, _latest_date(at))
        return state

    state = app.run(body)
    if as_json:
        emit_json(state)
        return
    for line in _lines(state, block_when_missing=policy.block_when_register_missing, at=at):
        click.echo(line)


def _lines(state: dict[str, Any], *, block_when_missing: bool, at: datetime) -> list[str]:
    db, checks = state["database"], state["checks_last_hour"]
    size = f", {db['bytes'] / 1e6:,.1f} MB" if db["bytes"] is not None else ""
    blocked = ", ".join(f"{rule} {n:,}" for rule, n in checks["blocked_by_top"].items())
    gap = state["last_ami_gap"]
    lines = [
        f"database   {db['path']} (schema {db['schema']}{size})",
        f"checks     last hour: {checks['allowed']:,} allowed, {checks['blocked']:,} blocked"
        + (f" (most by {blocked})" if blocked else "")
        + f"; last at {_shown(checks['last_at']) or 'never'}",
        f"calls      last hour: {state['ami_calls_last_hour']:,} recorded by the AMI listener;"
        + (
            f" last AMI gap: {gap['seconds'] if gap['seconds'] is not None else '?'} s,"
            f" back at {_shown(gap['back_at'])}"
            if gap
            else " no AMI gap recorded (one is recorded once the link is back)"
        ),
    ]
    registers, missing, warnings = [], [], []
    for item in state["registers"]:
        name = item["register"]
        # Only a register of callees, still binding, blocks calls when missing or stale.
        ended = item["binds_until"] is not None and at.date() > date.fromisoformat(
            item["binds_until"]
        )
        blocks = item["applies_to"] == "callee" and not ended
        if not item["present"]:
            registers.append(f"{name} no copy" + (" (no longer binds)" if ended else ""))
            if block_when_missing and blocks:
                missing.append(name)
            continue
        fresh = "STALE" if item["stale"] else "fresh"
        registers.append(f"{name} {fresh} ({item['as_of']}, {item['count']:,})")
        if item["stale"] and blocks:
            warnings.append(f"{name} is stale since {item['stale_on']}: its calls are blocked")
    if missing:
        warnings.append(
            f"no copy of {', '.join(missing)}: the calls they cover are blocked"
            " (registry.missing; `registry import`, or [guard] register_missing)"
        )
    suppressions = state["suppressions_in_force"]
    lines += [
        f"registers  {'; '.join(registers) or 'none configured'}",
        f"opt-outs   {suppressions['entries']:,} in force ({suppressions['ranges']:,} ranges)",
        f"holding    suspensions: {', '.join(state['suspensions']) or 'none'};"
        f" blackouts in force: {', '.join(state['blackouts_in_force']) or 'none'};"
        f" open flags: {state['open_flags']:,}",
    ]
    lines += _pending_lines(state["pending_optouts"], warnings)
    return lines + [f"warning: {w}" for w in warnings]


def _pending_lines(pending: dict[str, Any], warnings: list[str]) -> list[str]:
    """The opt-outs `serve` keeps in its spool for want of a database: held by its checks,
    not yet on the list."""
    if pending["error"] is not None:
        warnings.append(
            f"the opt-outs' spool {pending['spool']} cannot be read: {pending['error']}"
        )
        return []
    entries, unreadable = pending["entries"], pending["unreadable"]
    if not entries and not unreadable:
        return []
    line = f"pending    {entries:,} opt-out{'s' if entries != 1 else ''} kept in {pending['spool']}"
    if unreadable:
        line += f" (and {unreadable:,} unreadable line{'s' if unreadable != 1 else ''})"
    line += ": serve holds them in its checks until it writes them (it retries them)"
    return [line]


def _shown(iso: str | None) -> str | None:
    return None if iso is None else f"{datetime.fromisoformat(iso):%Y-%m-%d %H:%M:%S} UTC"


def _latest_date(at: datetime) -> date:
    """`at`'s date where the day begins first (UTC+14): a register goes stale there first."""
    return at.astimezone(FIRST_MIDNIGHT).date()
