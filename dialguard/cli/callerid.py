"""`dialguard callerid`: the caller IDs each tenant owns or is authorised to present.

Numbers are normalised to E.164 with the tenant's region. A bad number is one line naming it
(exit 2) and nothing is written; an import is all or nothing.
"""

from __future__ import annotations

import csv
import io
import re
from dataclasses import dataclass
from pathlib import Path

import click

from dialguard.cli.app import (
    AppContext,
    InputError,
    cli,
    emit_json,
    near_tenant_warner,
    pass_app,
    readable_file,
    scope_name,
)
from dialguard.stirshaken import StirShakenError, parse_stir_shaken
from dialguard.store import Store
from dialguard.store.callerids import (
    ImportCounts,
    InventoryEntry,
    list_caller_ids,
    remove_caller_id,
    save_caller_ids,
)
from rules.numbers import clean_dial_string, parse_number, shorten
from rules.policy import Policy

_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.@-]{0,63}$")
_MAX_SHOWN = 5  # rejected lines named in the one-line error


@cli.group()
def callerid() -> None:
    """Caller IDs each tenant owns or is authorised to present."""


# NUMBER takes several words so that `callerid add 02 9123 4567` works unquoted.
@callerid.command("add")
@click.argument("words", metavar="NUMBER", nargs=-1, required=True)
@click.option(
    "--tenant", callback=scope_name, required=True, help="The tenant that owns the number."
)
@click.option("--pool", default=None, help="A named rotation pool.")
@pass_app
def add(app: AppContext, words: tuple[str, ...], tenant: str, pool: str | None) -> None:
    """Record NUMBER as a caller ID TENANT may present."""
    number = " ".join(words)
    _check_name(tenant, "--tenant")
    if pool is not None:
        _check_name(pool, "--pool")
    policy = app.settings.policy
    e164 = _normalise(number, tenant, policy, "callerid add")
    counts = app.run(
        lambda store: save_caller_ids(store, [InventoryEntry(e164, tenant, pool)], "cli")
    )
    in_pool = f" in pool {pool}" if pool else ""
    if counts.added:
        click.echo(f"added {e164} for tenant {tenant}{in_pool}")
    elif counts.updated:
        click.echo(f"{e164} for tenant {tenant} moved{in_pool}")
    else:
        click.echo(f"{e164} is already in tenant {tenant}'s inventory{in_pool}")
    warning = _presentation_warning(e164, policy)
    if warning:
        click.echo(f"warning: {warning}", err=True)


@callerid.command("remove")
@click.argument("words", metavar="NUMBER", nargs=-1, required=True)
@click.option("--tenant", callback=scope_name, required=True)
@pass_app
def remove(app: AppContext, words: tuple[str, ...], tenant: str) -> None:
    """Remove NUMBER from TENANT's inventory."""
    number = " ".join(words)
    e164 = _normalise(number, tenant, app.settings.policy, "callerid remove")
    removed = app.run(lambda store: remove_caller_id(store, e164, tenant))
    if not removed:
        raise InputError(f"callerid remove: {e164} is not in tenant {tenant}'s inventory")
    click.echo(f"removed {e164} from tenant {tenant}")


@callerid.command("list")
@click.option("--tenant", callback=scope_name, default=None)
@click.option("--pool", default=None)
@click.option("--json", "as_json", is_flag=True, help="Print one JSON document.")
@pass_app
def list_(app: AppContext, tenant: str | None, pool: str | None, as_json: bool) -> None:
    """List the inventory, optionally of one tenant or pool."""
    rows = app.run(lambda store: list_caller_ids(store, tenant, pool))
    if as_json:
        emit_json([row.as_dict() for row in rows])
        return
    if not rows:
        click.echo("no caller IDs recorded")
        return
    for row in rows:
        click.echo(
            f"{row.number:<17} {row.tenant:<16} {row.pool or '-':<12} {row.source:<12} "
            f"{row.created_at:%Y-%m-%d}"
        )


@callerid.command("import")
@click.argument("file")
@click.option(
    "--tenant", callback=scope_name, default=None, help="Tenant for rows without a tenant column."
)
@click.option("--pool", default=None, help="Pool for rows without a pool column.")
@click.option(
    "--format",
    "fmt",
    type=click.Choice(["auto", "csv", "lines", "stir-shaken"]),
    default="auto",
    show_default=True,
    help="auto: stir-shaken for *.conf, else CSV with a `number` header, else one per line.",
)
@click.option("--json", "as_json", is_flag=True, help="Print the counts as JSON.")
@pass_app
def import_(
    app: AppContext,
    file: str,
    tenant: str | None,
    pool: str | None,
    fmt: str,
    as_json: bool,
) -> None:
    """Import caller IDs from FILE: a CSV (`number`, optional `tenant`, `pool`), one number per
    line, or an Asterisk stir_shaken.conf (its `type = tn` sections). All or nothing."""
    for value, option in ((tenant, "--tenant"), (pool, "--pool")):
        if value is not None:
            _check_name(value, option)
    path = readable_file(file)
    text = _read_text(path)
    if fmt == "auto":
        fmt = "stir-shaken" if path.suffix == ".conf" else "csv-or-lines"
    lines = (
        _stir_shaken_lines(text, file) if fmt == "stir-shaken" else _table_lines(text, fmt, file)
    )
    warn_of_near = near_tenant_warner(app.settings.policy)
    for line in lines:
        warn_of_near(line.tenant)
    plan = _plan(lines, tenant, pool, app.settings.policy, file, fmt == "stir-shaken")
    source = "stir-shaken" if fmt == "stir-shaken" else "import"
    counts = app.run(lambda store: _save(store, plan, source))
    report = {"file": file, "accepted": len(plan.entries), "duplicates": plan.duplicates}
    report.update(counts.as_dict())
    if as_json:
        emit_json(report)
        return
    click.echo(
        f"imported {file}: {len(plan.entries)} accepted ({counts.added} added, "
        f"{counts.updated} moved to another pool, {counts.unchanged} already there), "
        f"{plan.duplicates} duplicate{'s' if plan.duplicates != 1 else ''} in the file"
    )


# -- reading the files ---------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class _Line:
    lineno: int
    number: str
    tenant: str | None = None
    pool: str | None = None


@dataclass(frozen=True, slots=True)
class _Plan:
    entries: list[InventoryEntry]
    duplicates: int


def _read_text(path: Path) -> str:
    try:
        return path.read_text(encoding="utf-8-sig")
    except UnicodeDecodeError:
        raise InputError(f"{path}: is not UTF-8 text") from None
    except OSError as exc:
        raise InputError(f"{path}: cannot be read ({exc.strerror})") from None


def _stir_shaken_lines(text: str, file: str) -> list[_Line]:
    try:
        parsed = parse_stir_shaken(text)
    except StirShakenError as exc:
        raise InputError(f"{file}: {exc}") from None
    if not parsed.numbers:
        raise InputError(f"{file}: no `type = tn` sections found, nothing imported")
    return [_Line(tn.line, tn.number) for tn in parsed.numbers]


def _table_lines(text: str, fmt: str, file: str) -> list[_Line]:
    try:
        return _rows_of_table(text, fmt, file)
    except csv.Error as exc:  # a field past csv's limit, a NUL byte
        raise InputError(f"{file}: is not a readable CSV ({exc})") from None


def _rows_of_table(text: str, fmt: str, file: str) -> list[_Line]:
    rows = text.splitlines()
    first = next((r for r in rows if r.strip()), "")
    header = [c.strip().lower() for c in next(csv.reader([first]), [])]
    if fmt == "csv" or (fmt != "lines" and "number" in header):
        return _csv_lines(text, file)
    return [
        _Line(lineno, row.strip())
        for lineno, row in enumerate(rows, start=1)
        if row.strip() and not row.lstrip().startswith("#")
    ]


def _csv_lines(text: str, file: str) -> list[_Line]:
    reader = csv.DictReader(io.StringIO(text))
    fields = [f.strip().lower() for f in reader.fieldnames or []]
    if "number" not in fields:
        raise InputError(f"{file}: the CSV header must name a `number` column")
    unknown = sorted(set(fields) - {"number", "tenant", "pool"})
    if unknown:
        raise InputError(
            f"{file}: unknown CSV column {', '.join(unknown)} (known: number, tenant, pool)"
        )
    reader.fieldnames = fields
    out: list[_Line] = []
    for row in reader:
        number = (row.get("number") or "").strip()
        if not number and not any((v or "").strip() for v in row.values() if isinstance(v, str)):
            continue  # blank line
        out.append(
            _Line(
                reader.line_num,
                number,
                (row.get("tenant") or "").strip() or None,
                (row.get("pool") or "").strip() or None,
            )
        )
    return out


def _plan(
    lines: list[_Line],
    tenant: str | None,
    pool: str | None,
    policy: Policy,
    file: str,
    stir_shaken: bool,
) -> _Plan:
    """Normalise every line; any rejected line aborts the import before anything is written."""
    rejected: list[str] = []
    entries: list[InventoryEntry] = []
    seen: set[tuple[str, str]] = set()
    duplicates = 0
    for line in lines:
        owner = line.tenant or tenant
        if owner is None:
            rejected.append(f"line {line.lineno}: no tenant (give --tenant or a tenant column)")
            continue
        row_pool = line.pool or pool
        bad_name = next(
            (n for n in (owner, row_pool) if n is not None and not _NAME.match(n)), None
        )
        if bad_name is not None:
            rejected.append(
                f"line {line.lineno}: {shorten(bad_name)!r} is not a valid tenant or pool name"
            )
            continue
        e164, problem = _e164(line.number, owner, policy, stir_shaken)
        if e164 is None:
            rejected.append(f"line {line.lineno}: {shorten(line.number)!r} {problem}")
            continue
        if (e164, owner) in seen:
            duplicates += 1
            continue
        seen.add((e164, owner))
        entries.append(InventoryEntry(e164, owner, row_pool))
    if rejected:
        shown = "; ".join(rejected[:_MAX_SHOWN])
        more = f"; and {len(rejected) - _MAX_SHOWN} more" if len(rejected) > _MAX_SHOWN else ""
        raise InputError(
            f"{file}: {len(rejected)} line{'s' if len(rejected) != 1 else ''} rejected, "
            f"nothing imported: {shown}{more}"
        )
    if not entries:
        raise InputError(f"{file}: no numbers found, nothing imported")
    return _Plan(entries, duplicates)


async def _save(store: Store, plan: _Plan, source: str) -> ImportCounts:
    return await save_caller_ids(store, plan.entries, source)


# -- numbers -------------------------------------------------------------------------------


def _e164(
    raw: str, tenant: str, policy: Policy, digits_may_be_e164: bool
) -> tuple[str | None, str]:
    parsed = parse_number(raw, policy.region_for(tenant))
    if parsed.usable and parsed.e164:
        return parsed.e164, ""
    # stir_shaken.conf TNs are often E.164 digits without the +, e.g. [15551234567].
    cleaned = clean_dial_string(raw)
    if digits_may_be_e164 and cleaned is not None and cleaned.isdigit():
        retry = parse_number("+" + cleaned, None)
        if retry.usable and retry.e164:
            return retry.e164, ""
    return None, parsed.problem or "is not a valid number"


def _normalise(raw: str, tenant: str, policy: Policy, command: str) -> str:
    e164, problem = _e164(raw, tenant, policy, False)
    if e164 is None:
        raise InputError(f"{command}: {shorten(raw)!r} {problem}")
    return e164


def _check_name(value: str, option: str) -> None:
    if not _NAME.match(value):
        raise InputError(
            f"{option}: {shorten(value)!r} must be 1-64 letters, digits, '.', '_', '-' or '@', "
            "starting with a letter or digit"
        )


def _presentation_warning(e164: str, policy: Policy) -> str | None:
    """Tell the operator now when a number will never pass the caller-ID rules."""
    hit = policy.callerid.forbidden_range_for(e164)
    if hit is not None:
        return f"{e164} is {hit.label}: calls presenting it will be blocked (callerid.{hit.kind})"
    if parse_number(e164, None).number_type == "premium_rate":
        return f"{e164} is premium-rate: calls presenting it will be blocked (callerid.premium)"
    return None
