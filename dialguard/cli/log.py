"""`dialguard log`: decisions and call outcomes, newest first, joined by call_id."""

from __future__ import annotations

import click

from dialguard.cli.app import AppContext, cli, emit_json, fail, parse_when, pass_app, scope_name
from dialguard.store.logs import LogFilter, log_entries
from rules.numbers import clean_dial_string, is_emergency, parse_number, shorten


@cli.command("log")
@click.option("--since", default=None, help="Only entries from this instant (ISO-8601).")
@click.option(
    "--number",
    default=None,
    help="Only this number (read in the tenant's region); an emergency number or short code"
    " as dialled.",
)
@click.option("--tenant", callback=scope_name, default=None)
@click.option("--verdict", type=click.Choice(["allow", "block"]), default=None)
@click.option(
    "--rule", default=None, help="Only decisions taken by this rule id, or by any rule of a family."
)
@click.option("--limit", type=click.IntRange(1, 100_000), default=50, show_default=True)
@click.option(
    "--outcomes/--decisions",
    "only",
    default=None,
    help="Only call outcomes, or only decisions (default: both).",
)
@click.option("--json", "as_json", is_flag=True)
@pass_app
def log_(
    app: AppContext,
    since: str | None,
    number: str | None,
    tenant: str | None,
    verdict: str | None,
    rule: str | None,
    limit: int,
    only: bool | None,
    as_json: bool,
) -> None:
    """Show decisions (with the outcome of each allowed call) and call outcomes."""
    e164: str | None = None
    dialled: tuple[str, ...] = ()
    if number is not None:
        policy = app.settings.policy
        region = policy.region_for(tenant) if tenant else policy.default_region
        parsed = parse_number(number, region)
        e164 = parsed.e164
        cleaned = clean_dial_string(number)
        if e164 is None and not _short_code(cleaned, region):
            fail(f"--number {shorten(number)!r} {parsed.problem}")
        if cleaned is not None:
            # A decision with no E.164 number (an emergency number, a short code, a call
            # decided by the failure policy) is found by its dial string.
            dialled = tuple(dict.fromkeys((number.strip(), cleaned)))
    if only is True and (verdict or rule):
        fail("--verdict and --rule select decisions; they cannot be used with --outcomes")
    f = LogFilter(
        since=parse_when(since, "--since"),
        number=e164,
        dialled=dialled,
        tenant=tenant,
        verdict=verdict,
        rule=rule,
        limit=limit,
        decisions=only is not True,
        outcomes=only is not False,
    )
    entries = app.run(lambda store: log_entries(store, f))
    if as_json:
        emit_json(entries)
        return
    for e in entries:
        if e["kind"] == "decision":
            head = f"{e['at']}  {e['verdict'].upper():5} {e['number']} tenant={e['tenant']}"
            if e["campaign"]:
                head += f" campaign={e['campaign']}"
            head += f" [{e['rule'] or '-'}] {e['reason']}"
        else:
            head = f"{e['at']}  CALL  {e['number']} tenant={e['tenant'] or '-'} ({e['source']})"
        if e["disposition"] is not None:
            head += f"  -> {e['disposition']} {e['billsec'] or 0}s"
            if e["abandoned"]:
                head += " abandoned"
            if e["amd"]:
                head += f" amd={e['amd']}"
        click.echo(head)
    if not entries:
        click.echo("no entries", err=True)


# The most digits a short code has (emergency numbers, directory and service codes): longer
# dial strings that cannot be read are mistakes, refused as before.
_SHORT_CODE_DIGITS = 6


def _short_code(cleaned: str | None, region: str | None) -> bool:
    if cleaned is None:
        return False
    return is_emergency(cleaned, region) or len(cleaned.lstrip("+")) <= _SHORT_CODE_DIGITS
