"""`dialguard suppress`: the local suppression (opt-out) list.

Scopes: without `--tenant` an entry is global; `--campaign` (which needs `--tenant`) narrows it
to one campaign. `remove` of an entry that is not on the list says so and exits 0: removal is
idempotent, so scripts can run it twice. `import` is all or nothing: one bad line and nothing
is written (exit 2, the bad lines named), unless `--skip-bad` imports the good ones.
"""

from __future__ import annotations

import csv
import io
import sys
from collections.abc import Iterator
from datetime import UTC, datetime

import click

from dialguard.cli.app import (
    LAST_MIDNIGHT,
    AppContext,
    InputError,
    cli,
    emit_json,
    fail,
    near_tenant_warner,
    not_in_the_future,
    parse_when,
    pass_app,
    readable_file,
    scope_name,
)
from dialguard.cli.listfile import number_records
from dialguard.store import Store
from dialguard.store import suppressions as db
from dialguard.store.late_optouts import late_for, late_optouts
from rules.facts import SuppressionEntry
from rules.numbers import RANGE_MARK, number_range, parse_number, range_has_numbers, shorten
from rules.policy import Policy

MAX_BAD_SHOWN = 10


@cli.group()
def suppress() -> None:
    """The local suppression (opt-out) list: global, per tenant, per campaign."""


def _scope(tenant: str | None, campaign: str | None) -> None:
    if campaign is not None and tenant is None:
        fail("--campaign needs --tenant (a campaign belongs to a tenant)")


# Longer than any dial string written out with spaces and punctuation, or any date-time.
MAX_NUMBER_CHARS = 100
MAX_DATE_CHARS = 64
# What `entry_of` returns for a line whose entry ended before it began.
LAPSED = "lapsed"


def normalise(raw: str, tenant: str | None, policy: Policy, *, assigned: bool = False) -> str:
    """E.164 of `raw` read in the tenant's region; raises InputError naming the problem.
    `assigned`: the number must also be valid (`_problem`)."""
    e164, problem = _problem(raw, tenant, policy, assigned=assigned)
    if e164 is None:
        fail(problem or f"{shorten(raw)!r} is not a number")
    return e164


def _problem(
    raw: str, tenant: str | None, policy: Policy, *, assigned: bool = True
) -> tuple[str | None, str | None]:
    """E.164 of `raw`, or None and why. With `assigned`, only an assigned number: one the
    guard calls impossible never matches a call, and is usually a typo or a number read in
    the wrong region (a UK `020 ...` under an AU tenant) whose callee stays unprotected."""
    shown = shorten(raw)  # one short line, whatever the input
    if len(raw) > MAX_NUMBER_CHARS:
        return None, f"{shown!r} is too long to be a telephone number"
    if raw.strip().endswith(RANGE_MARK):
        prefix, problem = number_range(raw)
        return prefix, (problem or None)
    region = policy.region_for(tenant) if tenant else policy.default_region
    parsed = parse_number(raw, region)
    if parsed.e164 is None or (assigned and not parsed.valid):
        return None, f"{shown!r} {parsed.problem} (read in {region or 'no region'})"
    return parsed.e164, None


@suppress.command("add")
@click.argument("number")
@click.option(
    "--tenant",
    callback=scope_name,
    default=None,
    help="Only this tenant's calls (default: global).",
)
@click.option(
    "--campaign", callback=scope_name, default=None, help="Only this campaign of the tenant."
)
@click.option("--reason", default="", help="Why (free text).")
@click.option("--source", default="cli", show_default=True, help="Where the request came from.")
@click.option(
    "--date", "date_text", default=None, help="When the request was received (default: now)."
)
@click.option("--expires", default=None, help="When the entry lapses (ISO date or date-time).")
@pass_app
def add(
    app: AppContext,
    number: str,
    tenant: str | None,
    campaign: str | None,
    reason: str,
    source: str,
    date_text: str | None,
    expires: str | None,
) -> None:
    """Put NUMBER on the suppression list."""
    _scope(tenant, campaign)
    e164 = normalise(number, tenant, app.settings.policy, assigned=True)
    requested = _received(date_text, "--date", datetime.now(UTC))
    expires_at = parse_when(expires, "--expires", day_starts=LAST_MIDNIGHT)
    if expires_at is not None and expires_at <= requested:
        fail(f"--expires {expires} is not after the request date {requested.isoformat()}")
    entry = SuppressionEntry(e164, tenant, campaign, reason, source, requested, expires_at)

    async def body(store: Store) -> datetime | None:
        """When the list first held the entry, None if nothing changed."""
        return await db.recorded_at(store, entry) if await db.add(store, entry) else None

    recorded = app.run(body)
    if recorded is not None:
        click.echo(f"suppressed {e164} ({entry.scope})")
        if entry.is_range and not range_has_numbers(e164):
            click.echo(
                f"note: phonenumbers knows no number that {e164} begins: check the range (it"
                " was added as written, and blocks only numbers that begin so)",
                err=True,
            )
        _say_if_late(entry, recorded)
    else:
        click.echo(
            f"unchanged: {e164} ({entry.scope}) is listed by a request that began after"
            f" this one lapsed ({expires})"
        )


@suppress.command("remove")
@click.argument("number")
@click.option("--tenant", callback=scope_name, default=None)
@click.option("--campaign", callback=scope_name, default=None)
@pass_app
def remove(app: AppContext, number: str, tenant: str | None, campaign: str | None) -> None:
    """Take NUMBER off the list, for exactly this scope (exit 0 even if it was not listed)."""
    _scope(tenant, campaign)
    e164 = normalise(number, tenant, app.settings.policy)
    removed = app.run(lambda store: db.remove(store, e164, tenant, campaign))
    scope = SuppressionEntry(e164, tenant, campaign, "", "", datetime.now(UTC)).scope
    click.echo(f"removed {e164} ({scope})" if removed else f"{e164} is not on the list ({scope})")


@suppress.command("list")
@click.option("--tenant", callback=scope_name, default=None, help="Entries of this tenant only.")
@click.option(
    "--campaign", callback=scope_name, default=None, help="Entries of this campaign only."
)
@click.option(
    "--global",
    "global_only",
    is_flag=True,
    help="Global entries only (those that block every tenant's calls).",
)
@click.option("--number", default=None, help="Entries for this number only.")
@click.option("--json", "as_json", is_flag=True)
@pass_app
def list_(
    app: AppContext,
    tenant: str | None,
    campaign: str | None,
    global_only: bool,
    number: str | None,
    as_json: bool,
) -> None:
    """Show the suppression list."""
    if global_only:
        if tenant is not None or campaign is not None:
            fail("give --global or --tenant/--campaign, not both")
        tenant = campaign = ""  # how the list stores an entry for every tenant
    e164 = normalise(number, tenant or None, app.settings.policy) if number else None
    rows = app.run(lambda store: db.list_entries(store, tenant, campaign, e164))
    dicts = [r.as_dict() for r in rows]
    if as_json:
        emit_json(dicts)
        return
    columns = ["number", "tenant", "campaign", "reason", "source", "requested_at", "expires_at"]
    if sys.stdout.isatty():
        from dialguard.cli.tables import print_table

        cells = [[str(d[c] or "") for c in columns] for d in dicts]
        print_table(columns, cells, whole={"number"})
    else:
        for d in dicts:
            click.echo("\t".join(str(d[c] or "") for c in columns))
    if not dicts:
        click.echo("no entries", err=True)


def _say_if_late(entry: SuppressionEntry, recorded: datetime | None) -> None:
    """A note when the entry (as stored: a refresh keeps the first recording) came later
    than the law gives to honour the request."""
    late = late_for(entry, recorded) if recorded is not None else None
    if late is not None:
        limit, deadline = late
        click.echo(
            f"note: requested {entry.requested_at:%Y-%m-%d}, recorded after the limit of"
            f" {limit.describe()}, which ended {deadline:%Y-%m-%d %H:%M} UTC; `dialguard"
            " suppress late` counts the calls made after it",
            err=True,
        )


@suppress.command("late")
@click.option("--tenant", callback=scope_name, default=None, help="This tenant's and global.")
@click.option("--since", default=None, help="Requests made since this date (default: all).")
@click.option("--json", "as_json", is_flag=True)
@pass_app
def late(app: AppContext, tenant: str | None, since: str | None, as_json: bool) -> None:
    """Opt-outs recorded later than the law gives to honour them (US: 10 business days,
    47 CFR 64.1200(d)(3)), with the calls made to the number after that limit."""
    start = parse_when(since, "--since")
    found = app.run(lambda store: late_optouts(store, tenant=tenant, since=start))
    dicts = [f.as_dict() for f in found]
    if as_json:
        emit_json(dicts)
        return
    if not dicts:
        click.echo("no opt-out was recorded after its limit", err=True)
        return
    columns = ["number", "tenant", "campaign", "requested_at", "deadline", "recorded_at"]
    columns += ["days", "limit", "calls_after_deadline"]
    for d in dicts:
        click.echo("\t".join(str(d[c] if d[c] is not None else "") for c in columns))


@suppress.command("export")
@click.option("--json", "as_json", is_flag=True, help="One JSON document.")
@click.option("--csv", "as_csv", is_flag=True, help="CSV with a header (the default).")
@pass_app
def export(app: AppContext, as_json: bool, as_csv: bool) -> None:
    """Write the whole list to stdout (CSV that `suppress import` reads back, or JSON)."""
    if as_json and as_csv:
        fail("give --json or --csv, not both")
    rows = app.run(lambda store: db.list_entries(store))
    dicts = [r.as_dict() for r in rows]
    if as_json:
        emit_json(dicts)
        return
    out = io.StringIO()
    fields = ["number", "tenant", "campaign", "reason", "source", "requested_at", "expires_at"]
    writer = csv.DictWriter(out, fields, lineterminator="\n")
    writer.writeheader()
    for d in dicts:
        writer.writerow({k: d[k] or "" for k in fields})
    click.echo(out.getvalue(), nl=False)


@suppress.command("import")
@click.argument("file")
@click.option(
    "--tenant", callback=scope_name, default=None, help="Scope for lines that do not name one."
)
@click.option(
    "--campaign", callback=scope_name, default=None, help="Campaign for lines that do not name one."
)
@click.option("--reason", default="", help="Reason for lines that do not give one.")
@click.option("--source", default=None, help="Source recorded (default: import:FILE).")
@click.option("--skip-bad", is_flag=True, help="Import the good lines even if some are bad.")
@pass_app
def import_(
    app: AppContext,
    file: str,
    tenant: str | None,
    campaign: str | None,
    reason: str,
    source: str | None,
    skip_bad: bool,
) -> None:
    """Import FILE: one number per line, or a CSV whose header names `number` (and optionally
    `tenant`, `campaign`, `reason`, `expires`, `requested_at`, `source`: what
    `suppress export` writes)."""
    _scope(tenant, campaign)
    path = readable_file(file)
    src = source or f"import:{path.name}"
    now = datetime.now(UTC)
    policy = app.settings.policy
    bad: list[str] = []  # the first few, for the message
    bad_lines = lapsed = 0

    warn_of_near = near_tenant_warner(policy)

    def entry_of(fields: dict[str, str]) -> SuppressionEntry | str:
        """The entry a line gives, or what is wrong with it."""
        e_tenant = fields.get("tenant") or tenant
        warn_of_near(fields.get("tenant"))
        e_campaign = fields.get("campaign") or campaign
        # A line of `suppress export` (an E.164 number with its source and request date) is
        # an entry stored already, by the opt-out routes too or before a numbering-plan
        # update: it imports as it is. Any other line needs an assigned number.
        number = fields.get("number", "")
        exported = (
            number.startswith("+")
            and bool(fields.get("source"))
            and bool(fields.get("requested_at"))
        )
        e164, problem = _problem(number, e_tenant, policy, assigned=not exported)
        if problem is None and e_campaign and not e_tenant:
            problem = "a campaign needs a tenant"
        expires_text = fields.get("expires") or fields.get("expires_at") or None
        requested_text = fields.get("requested_at") or None
        try:
            for name, text in (("expires", expires_text), ("requested_at", requested_text)):
                if text is not None and len(text) > MAX_DATE_CHARS:
                    raise InputError(f"{name} {shorten(text)!r} is too long to be a date")
            expires_at = parse_when(expires_text, "expires", day_starts=LAST_MIDNIGHT)
            requested = _received(requested_text, "requested_at", now)
        except InputError as exc:
            problem = problem or exc.format_message()
            expires_at, requested = None, now
        if problem is not None or e164 is None:
            return problem or "no number"
        if expires_at is not None and expires_at <= requested:
            return LAPSED  # over before it began: nothing to add (an old version stored such)
        return SuppressionEntry(
            e164,
            e_tenant,
            e_campaign,
            fields.get("reason") or reason,
            fields.get("source") or src,
            requested,
            expires_at,
        )

    def good_entries() -> Iterator[SuppressionEntry]:
        """The entries of the good lines, as the file is read; the bad ones counted."""
        nonlocal bad_lines, lapsed
        for line_no, fields in number_records(path, IMPORT_COLUMNS):
            entry = entry_of(fields)
            if isinstance(entry, SuppressionEntry):
                yield entry
                continue
            if entry is LAPSED:
                lapsed += 1
                continue
            bad_lines += 1
            if len(bad) < MAX_BAD_SHOWN:
                bad.append(f"line {line_no}: {entry}")

    async def body(store: Store) -> db.ImportCounts | None:
        """Stage the good lines as the file is read (constant memory); apply them all at
        once, or nothing when a line is bad and --skip-bad was not given."""
        async with db.SuppressionImport(store) as staged:
            await staged.add(good_entries())
            if (bad_lines and not skip_bad) or not staged.staged:
                return None
            return await staged.apply(src)

    counts = app.run(body)
    if bad_lines and not skip_bad:
        shown = "; ".join(bad)
        fail(
            f"{file}: {bad_lines} bad line(s), nothing imported ({shown}); fix them or use"
            " --skip-bad"
        )
    if counts is None:
        fail(f"{file}: no numbers found" + (f" ({lapsed} lines had ended)" if lapsed else ""))
    click.echo(
        f"imported {counts.entries} entries from {file}: {counts.new} new,"
        f" {counts.updated} already listed, {counts.duplicates} duplicate lines"
        + (f", {lapsed} skipped as ended before they began" if lapsed else "")
    )
    if counts.late:
        click.echo(
            f"note: {counts.late} of the entries this import recorded came later than the law"
            " gives to honour a request (US: 10 business days); `dialguard suppress late`"
            " lists them, with the calls made after their limit",
            err=True,
        )
    for line in bad:
        click.echo(f"  skipped {line}", err=True)
    if bad_lines > len(bad):
        click.echo(f"  ... and {bad_lines - len(bad)} more bad lines", err=True)


def _received(text: str | None, option: str, now: datetime) -> datetime:
    """When an opt-out request was received (default: now)."""
    return not_in_the_future(text, option, now, what="the request was received")


IMPORT_COLUMNS = frozenset(
    {"number", "tenant", "campaign", "reason", "source", "requested_at", "expires", "expires_at"}
)
