"""`dialguard flags`, `suspend`, `unsuspend`, `suspensions` and `detect`.

`dialguard flags` lists abuse flags (open ones by default); `flags ack ID --note TEXT` and
`flags dismiss ID --note TEXT` close one with the operator's note. `suspend SUBJECT` blocks a
tenant, campaign or caller ID from its next check on; `unsuspend` lifts it.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, datetime

import click

from dialguard.cli.app import (
    AppContext,
    InputError,
    cli,
    emit_json,
    is_terminal,
    parse_when,
    pass_app,
    scope_name,
)
from dialguard.enforcement import Enforcer
from dialguard.store import Store
from dialguard.store.flags import FlagRecord, FlagStore, SuspensionRecord
from rules.detectors import SPECS
from rules.facts import campaign_subject
from rules.numbers import parse_number, shorten
from rules.policy import Policy

SUBJECT_KINDS = ("tenant", "campaign", "callerid")


def _form(kind: str) -> str:
    return f"{kind}:NUMBER" if kind in ("callerid", "callee") else f"{kind}:NAME"


def parse_subject(text: str, policy: Policy, tenant: str | None, *, callee: bool = False) -> str:
    """`tenant:NAME`, `campaign:NAME` or `callerid:NUMBER` (NUMBER normalised to E.164 in the
    tenant's region or the default region); `callee:NUMBER` too when `callee` is True.

    With `tenant`, `campaign:NAME` is that tenant's campaign, `campaign:TENANT/NAME`, as the
    detectors name it; without, every tenant's campaign of that name (or, with a `/`, the
    campaign of the tenant before it)."""
    kinds = (*SUBJECT_KINDS, "callee") if callee else SUBJECT_KINDS
    kind, sep, name = text.strip().partition(":")
    name = name.strip()
    # A name may hold spaces: the check route takes `DIALGUARD_CAMPAIGN="spring sale"`, and
    # a suspension of it must be possible to lift.
    owner, slash, own_name = name.partition("/")
    if kind == "campaign" and not tenant and slash and not (owner.strip() and own_name.strip()):
        name = ""  # `campaign:acme/` or `campaign:/spring`: a tenant or a name is missing
    if not sep or kind not in kinds or not name:
        raise InputError(
            f"subject {shorten(text)!r} must be {', '.join(_form(k) for k in kinds[:-1])} or "
            f"{_form(kinds[-1])}"
        )
    if kind in ("callerid", "callee"):
        region = policy.region_for(tenant) if tenant else policy.default_region
        number = parse_number(name, region)
        if number.e164 is None:
            raise InputError(f"subject {shorten(text)!r}: the number {number.problem}")
        name = number.e164
    if kind == "campaign" and tenant:
        return campaign_subject(tenant, name)
    return f"{kind}:{name}"


# -- flags ----------------------------------------------------------------------------------


@cli.group(invoke_without_command=True)
@click.option(
    "--status",
    type=click.Choice(["open", "acknowledged", "dismissed", "all"]),
    default="open",
    show_default=True,
)
@click.option(
    "--subject", default=None, help="tenant:NAME, campaign:NAME, callerid:NUMBER, callee:NUMBER."
)
@click.option("--detector", default=None, help=f"One of: {', '.join(SPECS)}.")
@click.option(
    "--tenant",
    callback=scope_name,
    default=None,
    help="Whose campaign:NAME, and the region of a callerid/callee subject.",
)
@click.option("--json", "as_json", is_flag=True, help="Print the flags as JSON.")
@click.pass_context
def flags(
    ctx: click.Context,
    status: str,
    subject: str | None,
    detector: str | None,
    tenant: str | None,
    as_json: bool,
) -> None:
    """Abuse flags raised from call outcomes (open ones unless --status says otherwise)."""
    if ctx.invoked_subcommand is not None:
        return
    app = ctx.find_object(AppContext)
    assert app is not None
    if detector is not None and detector not in SPECS:
        raise InputError(
            f"--detector: {shorten(detector)!r} is not a detector ({', '.join(SPECS)})"
        )
    wanted = parse_subject(subject, app.settings.policy, tenant, callee=True) if subject else None

    async def body(store: Store) -> list[FlagRecord]:
        records = await FlagStore(store).flags(
            None if status == "all" else status,
            None if wanted is None or wanted.startswith("callee:") else wanted,
            detector,
        )
        if wanted is not None and wanted.startswith("callee:"):
            number = wanted.split(":", 1)[1]
            records = [r for r in records if number in r.callees]
        return records

    records = app.run(body)
    if as_json:
        emit_json([r.as_dict() for r in records])
        return
    _print_flags(records)


@flags.command("ack")
@click.argument("flag_id", type=click.IntRange(1, 2**63 - 1))
@click.option("--note", required=True, help="What the operator found or did.")
@pass_app
def ack(app: AppContext, flag_id: int, note: str) -> None:
    """Acknowledge flag FLAG_ID (reviewed; the subject stays as it is)."""
    _close(app, flag_id, "acknowledged", note)


@flags.command("dismiss")
@click.argument("flag_id", type=click.IntRange(1, 2**63 - 1))
@click.option("--note", required=True, help="Why the flag is not a problem.")
@pass_app
def dismiss(app: AppContext, flag_id: int, note: str) -> None:
    """Dismiss flag FLAG_ID as a false alarm."""
    _close(app, flag_id, "dismissed", note)


def _close(app: AppContext, flag_id: int, status: str, note: str) -> None:
    if not note.strip():
        raise InputError("--note: give the reason in words")

    async def body(store: Store) -> FlagRecord:
        try:
            return await FlagStore(store).close_flag(
                flag_id, status, note.strip(), datetime.now(UTC)
            )
        except ValueError as exc:
            raise InputError(str(exc)) from None

    record = app.run(body)
    click.echo(f"flag {record.id} ({record.subject}, {record.detector}) {record.status}")


# -- suspensions ----------------------------------------------------------------------------


@cli.command()
@click.argument("subject")
@click.option("--reason", required=True, help="Why, in one sentence (shown on every block).")
@click.option(
    "--tenant",
    callback=scope_name,
    default=None,
    help="Whose campaign:NAME (default: every tenant's), and the region of a callerid:NUMBER.",
)
@pass_app
def suspend(app: AppContext, subject: str, reason: str, tenant: str | None) -> None:
    """Suspend SUBJECT (tenant:NAME, campaign:[TENANT/]NAME or callerid:NUMBER): its next check
    is blocked."""
    canonical = parse_subject(subject, app.settings.policy, tenant)
    if not reason.strip():
        raise InputError("--reason: give the reason in words")

    async def body(store: Store) -> tuple[bool, list[str]]:
        flags = FlagStore(store)
        added = await flags.suspend(canonical, reason.strip(), datetime.now(UTC))
        return added, await flags.suspended_like(canonical)

    added, like = app.run(body)
    if added:
        click.echo(f"{canonical} suspended: {reason.strip()}")
    else:
        click.echo(f"{canonical} was already suspended")
    _say_held_by(like, "already holds its calls")


@cli.command()
@click.argument("subject")
@click.option("--reason", default="lifted by an operator", show_default=True)
@click.option(
    "--tenant",
    callback=scope_name,
    default=None,
    help="Whose campaign:NAME (default: every tenant's), and the region of a callerid:NUMBER.",
)
@pass_app
def unsuspend(app: AppContext, subject: str, reason: str, tenant: str | None) -> None:
    """Lift the suspension of SUBJECT."""
    canonical = parse_subject(subject, app.settings.policy, tenant)

    async def body(store: Store) -> tuple[bool, list[str]]:
        flags = FlagStore(store)
        lifted = await flags.unsuspend(canonical, reason.strip(), datetime.now(UTC))
        return lifted, await flags.suspended_like(canonical)

    lifted, like = app.run(body)
    if not lifted:
        # A suspension named in another case holds the same calls: say which to lift.
        held = f"; {', '.join(like)} is, and holds its calls" if like else ""
        raise InputError(f"{canonical} is not suspended{held}")
    click.echo(f"{canonical} unsuspended")
    _say_held_by(like, "still holds its calls: unsuspend it too")


def _say_held_by(like: list[str], what: str) -> None:
    """Warn of suspensions named in another case, which hold the same calls (the check
    folds the case of ASCII letters: rules.facts.folded)."""
    for subject in like:
        click.echo(f"dialguard: warning: {subject} {what}", err=True)


@cli.command()
@click.option("--json", "as_json", is_flag=True, help="Print the suspensions as JSON.")
@pass_app
def suspensions(app: AppContext, as_json: bool) -> None:
    """Active suspensions."""
    records = app.run(lambda store: FlagStore(store).suspensions())
    if as_json:
        emit_json([r.as_dict() for r in records])
        return
    _print_suspensions(records)


@cli.command()
@click.option("--at", "at_text", default=None, help="Evaluate as of this instant (default: now).")
@click.option("--json", "as_json", is_flag=True, help="Print what the run did as JSON.")
@pass_app
def detect(app: AppContext, at_text: str | None, as_json: bool) -> None:
    """Run every enabled detector over the stored outcomes now (e.g. after `history import`);
    flags and suspensions are written as the daemon would write them."""
    at = parse_when(at_text, "--at") or datetime.now(UTC)
    policy = app.settings.policy
    applied = app.run(lambda store: Enforcer(store, policy).sweep(at))
    rows = [
        {
            "flag_id": a.flag_id,
            "created": a.created,
            "suspended": a.suspended,
            "subject": a.finding.subject,
            "detector": a.finding.detector,
            "measured": a.finding.measured,
            "threshold": a.finding.threshold,
            "detail": a.finding.detail,
        }
        for a in applied
    ]
    if as_json:
        emit_json(rows)
        return
    if not rows:
        click.echo("no detector found anything")
    for row in rows:
        state = "new" if row["created"] else ("closed" if row["flag_id"] is None else "updated")
        extra = "; suspended" if row["suspended"] else ""
        click.echo(f"{state} flag {row['flag_id'] or '-'}: {row['detail']}{extra}")


# -- output -----------------------------------------------------------------------------------


def _print_flags(records: Sequence[FlagRecord]) -> None:
    if not records:
        click.echo("no flags")
        return
    if is_terminal():
        from dialguard.cli.tables import print_table

        headers = (
            "id",
            "status",
            "subject",
            "detector",
            "measured",
            "threshold",
            "calls",
            "detail",
        )
        rows = [
            (
                str(r.id), r.status, r.subject, r.detector, f"{r.measured:g}",
                f"{r.threshold:g}", str(len(r.call_ids)), r.detail,
            )
            for r in records
        ]  # fmt: skip
        print_table(headers, rows, whole={"id", "subject"})
        return
    for r in records:
        note = f" [note: {r.note}]" if r.note else ""
        click.echo(
            f"{r.id}\t{r.status}\t{r.subject}\t{r.detector}\t{r.measured:g}/{r.threshold:g}\t"
            f"{len(r.call_ids)} calls\t{r.detail}{note}"
        )


def _print_suspensions(records: Sequence[SuspensionRecord]) -> None:
    if not records:
        click.echo("no suspensions")
        return
    if is_terminal():
        from dialguard.cli.tables import print_table

        rows = [
            (r.subject, f"{r.created_at:%Y-%m-%d %H:%M}", str(r.flag_id or ""), r.reason)
            for r in records
        ]
        print_table(("subject", "since (UTC)", "flag", "reason"), rows, whole={"subject"})
        return
    for r in records:
        click.echo(f"{r.subject}\t{r.created_at:%Y-%m-%d %H:%M}\t{r.flag_id or '-'}\t{r.reason}")
