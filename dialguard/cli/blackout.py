"""`dialguard blackout add/lift/list`: periods in which no call of a purpose is made to a
place, such as a declared state of emergency (rules/checks/blackouts.py)."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, date, datetime, time
from zoneinfo import ZoneInfo

import click

from dialguard.cli.app import (
    FIRST_MIDNIGHT,
    LAST_MIDNIGHT,
    AppContext,
    InputError,
    cli,
    emit_json,
    in_range,
    is_terminal,
    parse_when,
    pass_app,
    scope_name,
)
from dialguard.store import Store
from dialguard.store import blackouts as db
from rules.facts import Blackout
from rules.location import numbers_placed_in, place_zones, read_place
from rules.models import Purpose
from rules.policy import Policy

EVERY_PURPOSE = "all"
_PURPOSES = [p.value for p in Purpose]


@cli.group()
def blackout() -> None:
    """Blackouts: no calls of some purposes to a place for a while (a state of emergency)."""


@blackout.command("add")
@click.argument("place")
@click.option("--reason", required=True, help="Why, in one sentence (shown on every block).")
@click.option(
    "--from",
    "from_text",
    default=None,
    help="When it starts (ISO date or date-time; default now). A date alone: its first"
    " midnight on the place's clocks.",
)
@click.option(
    "--until",
    "until_text",
    default=None,
    help="When it ends (default: when lifted). A date alone: its last midnight on the"
    " place's clocks, so the day before is held everywhere.",
)
@click.option(
    "--purpose",
    "purposes",
    multiple=True,
    type=click.Choice([*_PURPOSES, EVERY_PURPOSE]),
    help="The calls it holds, repeatable (default telemarketing; all: every purpose).",
)
@click.option("--tenant", callback=scope_name, default=None, help="Only this tenant's calls.")
@click.option("--json", "as_json", is_flag=True, help="Print the blackout as JSON.")
@pass_app
def add(
    app: AppContext,
    place: str,
    reason: str,
    from_text: str | None,
    until_text: str | None,
    purposes: Sequence[str],
    tenant: str | None,
    as_json: bool,
) -> None:
    """Hold calls to PLACE, a country (US) or a region of it (US-LA, AU-QLD, FR-974), from
    the next check on."""
    policy = app.settings.policy
    code, problem = read_place(place, policy)
    if code is None:
        raise InputError(problem or f"place {place!r} cannot be read")
    if not reason.strip():
        raise InputError("--reason: give the reason in words")
    if not reason.isprintable():  # it goes to every blocked call's reason and to the listing
        raise InputError("--reason: give it on one line, without tabs or control characters")
    now = datetime.now(UTC)
    starts = _instant(from_text, "--from", code, policy, first=True) or now
    ends = _instant(until_text, "--until", code, policy, first=False)
    if ends is not None and ends <= starts:
        raise InputError(f"--until {until_text} is not after the start, {starts.isoformat()}")
    held = frozenset() if EVERY_PURPOSE in purposes else frozenset(purposes or ["telemarketing"])
    record = app.run(
        lambda store: db.declare(store, code, starts, ends, held, tenant, reason.strip())
    )
    if as_json:
        emit_json(db.as_dict(record))
        return
    click.echo(f"blackout {record.id}: {_describe(record)}")
    if tenant is not None and policy.tenants and tenant not in policy.tenants:
        click.echo(
            f"note: tenant {tenant!r} is not in the settings' [tenants]: the blackout holds"
            f" only calls with DIALGUARD_TENANT={tenant}",
            err=True,
        )
    if len(code) > 2 and not numbers_placed_in(code, policy):
        click.echo(
            f"note: no number tells a callee is in {code}: every {code[:2]} callee is held"
            " unless the call gives a callee region (DIALGUARD_CALLEE_REGION)",
            err=True,
        )


@blackout.command("lift")
@click.argument("blackout_id", metavar="ID", type=click.IntRange(1, 2**63 - 1))
@click.option(
    "--at",
    "at_text",
    default=None,
    help="When it ends (default: now). A date alone: its last midnight on the place's clocks,"
    " as --until reads it.",
)
@pass_app
def lift(app: AppContext, blackout_id: int, at_text: str | None) -> None:
    """End blackout ID (calls are made again from the next check on)."""
    policy = app.settings.policy

    async def body(store: Store) -> Blackout | None:
        found = await db.get(store, blackout_id)
        if found is None:
            return None
        at = _instant(at_text, "--at", found.place, policy, first=False) or datetime.now(UTC)
        return await db.lift(store, blackout_id, at)

    record = app.run(body)
    if record is None:
        raise InputError(f"there is no blackout {blackout_id}")
    click.echo(f"blackout {record.id} ended {_utc(record.ends_at or datetime.now(UTC))} UTC")


@blackout.command("list")
@click.option("--all", "ended_too", is_flag=True, help="Ended blackouts too.")
@click.option(
    "--at",
    "at_text",
    default=None,
    help="In force or to come then (default: now). A date alone: its first midnight anywhere"
    " (UTC+14).",
)
@click.option("--json", "as_json", is_flag=True, help="Print the blackouts as JSON.")
@pass_app
def list_(app: AppContext, ended_too: bool, at_text: str | None, as_json: bool) -> None:
    """Blackouts in force or to come (with --all, every one)."""
    at = parse_when(at_text, "--at", day_starts=FIRST_MIDNIGHT) or datetime.now(UTC)
    records = app.run(lambda store: db.list_blackouts(store, ended_too=ended_too, at=at))
    if as_json:
        emit_json([db.as_dict(r) for r in records])
        return
    if not records:
        click.echo("no blackouts")
        return
    rows = [
        (
            str(r.id),
            r.place,
            _utc(r.starts_at),
            _utc(r.ends_at) if r.ends_at else "until lifted",
            ", ".join(sorted(r.purposes)) or EVERY_PURPOSE,
            r.tenant or "every tenant",
            r.reason,
        )
        for r in records
    ]
    if is_terminal():
        from dialguard.cli.tables import print_table

        headers = ("id", "place", "from (UTC)", "until (UTC)", "purposes", "tenant", "reason")
        print_table(headers, rows, whole={"id", "place"})
        return
    for row in rows:
        click.echo("\t".join(row))


def _instant(
    text: str | None, option: str, place: str, policy: Policy, *, first: bool
) -> datetime | None:
    """A date-time as `parse_when` reads it; a date alone at the midnight the place reaches
    first (a start) or last (an end), so that the whole day is held on each of its clocks."""
    if text is None:
        return None
    try:
        day = date.fromisoformat(text.strip())
    except ValueError:
        given = parse_when(text, option)
        return given.astimezone(UTC) if given is not None else None
    zones = place_zones(place, policy)
    if not zones:
        fallback = FIRST_MIDNIGHT if first else LAST_MIDNIGHT
        return in_range(datetime.combine(day, time(), fallback), text, option)
    midnights = [datetime.combine(day, time(), ZoneInfo(zone)).astimezone(UTC) for zone in zones]
    return in_range(min(midnights) if first else max(midnights), text, option)


def _utc(at: datetime) -> str:
    return f"{at.astimezone(UTC):%Y-%m-%d %H:%M}"


def _describe(record: Blackout) -> str:
    purposes = f"{', '.join(sorted(record.purposes))} " if record.purposes else ""
    until = f"until {_utc(record.ends_at)} UTC" if record.ends_at else "until lifted"
    whose = f"tenant {record.tenant}'s" if record.tenant else "every tenant's"
    return (
        f"no {purposes}calls ({whose}) to {record.place} from {_utc(record.starts_at)} UTC"
        f" {until}: {record.reason}"
    )
