"""`dialguard registry`: import national do-not-call register copies, show their freshness."""

from __future__ import annotations

from collections.abc import Awaitable
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

import click

from dialguard.cli.app import (
    AppContext,
    cli,
    emit_json,
    fail,
    is_terminal,
    parse_day,
    pass_app,
    readable_file,
)
from dialguard.registers.readers import FORMATS, default_format
from dialguard.store import Store
from dialguard.store.registers import (
    CopyRow,
    ImportReport,
    Progress,
    RegisterImportError,
    import_register,
    imported_at,
    register_copy_rows,
)
from rules.numbers import shorten
from rules.policy import Policy, RegisterSpec


@cli.group()
def registry() -> None:
    """National do-not-call registers (US DNC, AU DNCR, UK TPS/CTPS, FR Bloctel, ...)."""


def _spec(app: AppContext, name: str) -> RegisterSpec:
    registers = app.settings.policy.registers
    if name not in registers:
        fail(
            f"--registry {shorten(name)!r} is not a known register (known: {', '.join(sorted(registers))})"
        )
    return registers[name]


@registry.command("import")
@click.argument("files", metavar="FILE...", nargs=-1, required=True)
@click.option("--registry", "name", required=True, help="Register name, e.g. us-dnc, au-dncr.")
@click.option(
    "--as-of",
    "as_of_text",
    default=None,
    help="Date the copy was taken (default: the file's modification date, the oldest of"
    " several's, or today if later; the file of the copy in force keeps that copy's date).",
)
@click.option(
    "--format",
    "fmt_name",
    type=click.Choice(sorted(FORMATS)),
    default=None,
    help="File layout (default: the register's own; every register accepts plain).",
)
@click.option(
    "--skip-bad",
    is_flag=True,
    help="Import the lines that can be read even when others are rejected (default: a"
    " rejected line imports nothing and the previous copy stays in force).",
)
@click.option("--json", "as_json", is_flag=True, help="Print the import report as JSON.")
@pass_app
def import_(
    app: AppContext,
    files: tuple[str, ...],
    name: str,
    as_of_text: str | None,
    fmt_name: str | None,
    skip_bad: bool,
    as_json: bool,
) -> None:
    """Replace the copy of a register with FILE, whole and atomically. Several files (the FTC
    hands out one per area code) make one copy together."""
    spec = _spec(app, name)
    paths = [readable_file(file) for file in files]
    given = parse_day(as_of_text, "--as-of")
    as_of = given or file_date(paths)
    # No copy can be dated after the date anywhere on Earth now (UTC+14); this machine's
    # own date plus one allowed a day more east of UTC, a day of freshness the copy lacks.
    if as_of > (datetime.now(UTC) + timedelta(hours=14)).date():
        fail(f"--as-of {as_of} is in the future")
    fmt = FORMATS[fmt_name or default_format(name)]
    size = sum(path.stat().st_size for path in paths)
    keep = given is None  # an as-of the operator gave is the copy's, whatever the file

    async def body(store: Store) -> ImportReport:
        def importing(progress: Progress | None = None) -> Awaitable[ImportReport]:
            return import_register(
                store,
                name,
                paths,
                fmt,
                spec.country,
                as_of,
                progress=progress,
                skip_bad=skip_bad,
                same_file_keeps_date=keep,
            )

        if not is_terminal():
            return await importing()
        from rich.progress import BarColumn, TaskProgressColumn, TimeElapsedColumn
        from rich.progress import Progress as ProgressBar

        with ProgressBar(
            "[progress.description]{task.description}",
            BarColumn(),
            TaskProgressColumn(),
            TimeElapsedColumn(),
            transient=True,
        ) as bar:
            task = bar.add_task(f"{name}: reading", total=size)

            def show(phase: str, done: int, total: int) -> None:
                # reading the file, then sorting the numbers, then writing them (chunks)
                bar.update(task, description=f"{name}: {phase}", completed=done, total=total)

            return await importing(show)

    try:
        report = app.run(body)
    except RegisterImportError as exc:
        fail(str(exc))
    as_of = report.as_of  # the copy's date in force: kept from the same file's copy
    # The check judges a copy's age on the callee's date, the latest of which is UTC+14's.
    latest_day = (datetime.now(UTC) + timedelta(hours=14)).date()
    if spec.max_age_days is not None and latest_day > as_of + timedelta(days=spec.max_age_days):
        # Imported all the same (the file was sound), but the operator should know at once.
        click.echo(
            f"dialguard: warning: a {name} copy of {as_of} is older than"
            f" {spec.max_age_days} days where it is {latest_day} already: the calls it covers"
            " there are blocked (registry.stale) until a current copy is imported",
            err=True,
        )
    if as_json:
        emit_json(report.as_dict())
        return
    _print_report(report)


def file_date(paths: list[Path]) -> date:
    """A copy's date when none is given: the files' modification date, as a download (or
    wget, which keeps the server's) leaves it, the oldest of several; today if that is
    later. Today for any file let a copy downloaded weeks ago be imported as fresh."""
    return min([date.today(), *(date.fromtimestamp(path.stat().st_mtime) for path in paths)])


def _print_report(r: ImportReport) -> None:
    click.echo(
        f"{r.register}: copy of {r.as_of} now in force, {r.count} numbers "
        f"(was {r.previous_count if r.previous_count is not None else 'none'})"
    )
    parts = [f"{r.lines} lines", f"{r.accepted} accepted", f"{r.duplicates} duplicate"]
    if r.deleted:
        parts.append(f"{r.deleted} deleted")
    if r.not_listed:
        parts.append(f"{r.not_listed} not registered")
    parts.append(f"{r.rejected} rejected")
    click.echo("  " + ", ".join(parts) + f" in {r.seconds:.1f} s")
    for line_no, problem in r.rejects:
        click.echo(f"  rejected line {line_no}: {problem}")
    if r.rejected > len(r.rejects):
        click.echo(f"  ... and {r.rejected - len(r.rejects)} more rejected lines")
    if r.registered_after_as_of:
        # Such a registration binds at once (rules/checks/registry.py); many of them say
        # the file's dates were read in the wrong order.
        n = r.registered_after_as_of
        click.echo(
            f"  {n} line{'s' if n != 1 else ''} registered after the copy's date {r.as_of}:"
            " a date that cannot be right, binding at once (the file's date format misread,"
            " 01/12/2026 as 1 December?)"
        )
        for d in r.registered_after_as_of_lines:
            click.echo(f"  line {d.line} of {d.file}: registered on {d.registered_on}")
        more = r.registered_after_as_of - len(r.registered_after_as_of_lines)
        if more:
            click.echo(f"  ... and {more} more lines registered after the copy's date")
    if r.note:
        click.echo(f"  note: {r.note}")
    click.echo(f"  sha256 {r.checksum}")


def register_states(policy: Policy, rows: dict[str, CopyRow], today: date) -> list[dict[str, Any]]:
    """Each configured register's copy as `registry status` and `status` show it."""
    out: list[dict[str, Any]] = []
    for name in sorted(policy.registers):
        spec = policy.registers[name]
        row = rows.get(name)
        item: dict[str, Any] = {
            "register": name,
            "label": spec.label,
            "applies_to": spec.applies_to,
            "binds_until": spec.binds_until.isoformat() if spec.binds_until else None,
            "present": row is not None,
            "as_of": None,
            "age_days": None,
            "count": None,
            "stale_on": None,
            "stale": None,
            "imported_at": None,
            "format": None,
            "checksum": None,
        }
        if row is not None:
            stale_on = (
                row.as_of + timedelta(days=spec.max_age_days + 1)
                if spec.max_age_days is not None
                else None
            )
            item.update(
                as_of=row.as_of.isoformat(),
                age_days=(today - row.as_of).days,
                count=row.count,
                stale_on=stale_on.isoformat() if stale_on else None,
                stale=stale_on is not None and today >= stale_on,
                imported_at=imported_at(row),
                format=row.format,
                checksum=row.checksum,
            )
        out.append(item)
    return out


@registry.command("status")
@click.option(
    "--on", "on_text", default=None, help="Judge staleness on this date (default: today)."
)
@click.option("--json", "as_json", is_flag=True)
@pass_app
def status(app: AppContext, on_text: str | None, as_json: bool) -> None:
    """Each configured register: copy present, as-of date, age, count, when it goes stale."""
    today = parse_day(on_text, "--on") or datetime.now(UTC).date()
    rows = app.run(register_copy_rows)
    out = register_states(app.settings.policy, rows, today)
    if as_json:
        emit_json(out)
        return
    for item in out:
        if not item["present"]:
            click.echo(f"{item['register']:12} no copy")
            continue
        stale = "STALE" if item["stale"] else "fresh"
        until = f", stale from {item['stale_on']}" if item["stale_on"] else ""
        click.echo(
            f"{item['register']:12} {stale}: copy of {item['as_of']} ({item['age_days']} days old"
            f"{until}), {item['count']} numbers"
        )
