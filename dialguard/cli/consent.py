"""`dialguard consent`: consent and existing-business-relationship records per tenant.

Numbers are normalised to E.164 with the tenant's region. Dates are ISO-8601 (a bare date is
read on the side that blocks: see `dialguard.cli.app`). A revocation keeps the record and
dates its end, so decisions at an earlier `--at` still see it.
"""

from __future__ import annotations

from datetime import UTC, datetime

import click

from dialguard.cli.app import (
    FIRST_MIDNIGHT,
    LAST_MIDNIGHT,
    AppContext,
    InputError,
    cli,
    date_alone,
    emit_json,
    not_in_the_future,
    parse_when,
    pass_app,
    scope_name,
)
from dialguard.store import Store
from dialguard.store.consents import add_consent, list_consents, revoke_consents
from rules.facts import ConsentKind, ConsentRecord
from rules.numbers import parse_number, shorten
from rules.policy import Policy

_KINDS = [k.value for k in ConsentKind]


@cli.group()
def consent() -> None:
    """Consent and relationship records (express, EBR, contract, non-objection, out-of-hours)."""


@consent.command("add")
@click.argument("number")
@click.option("--tenant", callback=scope_name, required=True)
@click.option("--kind", required=True, type=click.Choice(_KINDS))
@click.option(
    "--date",
    "date_text",
    required=True,
    help="When it was given (the purchase or inquiry for an EBR).",
)
@click.option(
    "--campaign", callback=scope_name, default=None, help="Limit the consent to one campaign."
)
@click.option("--expires", default=None, help="When it lapses (e.g. ES: 2 years).")
@click.option("--note", default="", help="Where the proof is kept.")
@pass_app
def add(
    app: AppContext,
    number: str,
    tenant: str,
    kind: str,
    date_text: str,
    campaign: str | None,
    expires: str | None,
    note: str,
) -> None:
    """Record that NUMBER gave TENANT consent (or has a relationship) of KIND."""
    granted = parse_when(date_text, "--date", day_starts=LAST_MIDNIGHT)
    expires_at = parse_when(expires, "--expires", day_starts=FIRST_MIDNIGHT)
    assert granted is not None
    if not_begun(date_text, datetime.now(UTC)):
        # Recorded ahead, it took effect on its date over any withdrawal made before then.
        raise InputError(
            f"--date {shorten(date_text)!r} is in the future: give the date the consent was given"
        )
    if expires_at is not None and expires_at <= granted:
        raise InputError(
            f"--expires: {expires} is not after --date {date_text} (a date alone starts a"
            " consent once that day has begun everywhere, and ends it once the expiry day has"
            " begun anywhere: give date-times to be exact)"
        )
    record = ConsentRecord(
        _e164(number, tenant, app.settings.policy),
        tenant,
        ConsentKind(kind),
        granted,
        campaign or None,
        expires_at,
        granted_on=date_alone(date_text),  # an EBR's months end from its first beginning
    )

    async def body(store: Store) -> int:
        return await add_consent(store, record, note)

    ident = app.run(body)
    scope = f", campaign {campaign}" if campaign else ""
    click.echo(f"recorded {kind} consent #{ident} for {record.number} (tenant {tenant}{scope})")


def not_begun(date_text: str, now: datetime) -> bool:
    """Whether a consent's `--date` has begun nowhere yet at `now`: a date alone begins at
    UTC+14 (read at its last start, UTC-12, today's date there was refused from 10:00 to
    12:00 UTC)."""
    earliest = parse_when(date_text, "--date", day_starts=FIRST_MIDNIGHT)
    return earliest is not None and earliest > now


@consent.command("revoke")
@click.argument("number")
@click.option("--tenant", callback=scope_name, required=True)
@click.option("--kind", default=None, type=click.Choice(_KINDS), help="Only this kind.")
@click.option(
    "--campaign",
    callback=scope_name,
    default=None,
    help="Only records for this campaign (a consent for all the tenant's campaigns stays in"
    " force: revoke without --campaign to withdraw it).",
)
@click.option("--date", "date_text", default=None, help="When it was withdrawn (default: now).")
@pass_app
def revoke(
    app: AppContext,
    number: str,
    tenant: str,
    kind: str | None,
    campaign: str | None,
    date_text: str | None,
) -> None:
    """Withdraw NUMBER's consent records for TENANT (all kinds unless --kind)."""
    now = datetime.now(UTC)
    # Dated ahead, a withdrawal would leave the consent in force until then.
    what = "the consent was withdrawn"
    at = not_in_the_future(date_text, "--date", now, what=what, day_starts=FIRST_MIDNIGHT)
    e164 = _e164(number, tenant, app.settings.policy)
    count = app.run(
        lambda store: revoke_consents(
            store, e164, tenant, at, ConsentKind(kind) if kind else None, campaign, now=now
        )
    )
    if count == 0:
        raise InputError(
            f"no consent for {e164} and tenant {tenant} was given and left unrevoked by that time"
        )
    click.echo(f"revoked {count} consent record{'s' if count != 1 else ''} for {e164}")


@consent.command("list")
@click.option("--tenant", callback=scope_name, default=None)
@click.option("--number", default=None)
@click.option("--json", "as_json", is_flag=True)
@pass_app
def list_(app: AppContext, tenant: str | None, number: str | None, as_json: bool) -> None:
    """List consent records."""
    e164 = _e164(number, tenant or "default", app.settings.policy) if number else None
    rows = app.run(lambda store: list_consents(store, tenant, e164))
    if as_json:
        emit_json([row.as_dict() for row in rows])
        return
    now = datetime.now(UTC)
    for row in rows:
        r = row.record
        state = "in force" if r.in_force(now) else "not in force"
        scope = f" campaign {r.campaign}" if r.campaign else ""
        until = f" until {r.expires_at:%Y-%m-%d}" if r.expires_at else ""
        revoked = f" revoked {r.revoked_at:%Y-%m-%d}" if r.revoked_at else ""
        click.echo(
            f"#{row.id} {r.number} {r.tenant}{scope} {r.kind.value} from {r.granted_at:%Y-%m-%d}"
            f"{until}{revoked} ({state})"
        )
    if not rows:
        click.echo("no consent records")


def _e164(number: str, tenant: str, policy: Policy) -> str:
    parsed = parse_number(number, policy.region_for(tenant))
    if parsed.e164 is None or not parsed.valid:
        raise InputError(f"{shorten(number)!r} {parsed.problem}")
    return parsed.e164
