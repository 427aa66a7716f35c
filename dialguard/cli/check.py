"""`dialguard check`: the AGI route's decision as a dry run that records nothing."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any, TypeVar

import click

from dialguard.cli.app import (
    AppContext,
    InputError,
    cli,
    emit_json,
    parse_when,
    pass_app,
    scope_name,
    silence_stdout,
)
from dialguard.guard import dry_run_guard
from rules.location import address_problems
from rules.models import CallAttempt, Decision, LineType, Purpose, line_type_from_text
from rules.numbers import is_emergency
from rules.policy import Policy

F = TypeVar("F", bound=Callable[..., Any])


def call_options(command: F) -> F:
    """The options that describe the call, shared by `check` and `scrub`."""
    for option in reversed(
        (
            click.option(
                "--caller-id", required=True, help="The caller ID the call would present."
            ),
            click.option("--tenant", callback=scope_name, default="default", show_default=True),
            click.option(
                "--campaign",
                callback=scope_name,
                default=None,
                help="A campaign makes this dialler traffic.",
            ),
            click.option(
                "--purpose",
                type=click.Choice([p.value for p in Purpose], case_sensitive=False),  # as AGI
                default="telemarketing",
                show_default=True,
            ),
            click.option(
                "--automated",
                is_flag=True,
                help="A prerecorded or artificial voice, or an automated calling system"
                " (DIALGUARD_AUTOMATED=yes).",
            ),
            click.option(
                "--line-type",
                callback=_line_type,
                default=None,
                help="The callee's line as your number data says, as DIALGUARD_LINE_TYPE"
                " reads it: mobile (wireless, cell, cellular) or landline (wireline, fixed,"
                " fixed_line). It decides where the number does not tell (a US number, which"
                " unknown holds as a possible mobile); mobile also makes any number a mobile"
                " for the rules about mobiles. A VoIP line: leave it unknown.",
            ),
        )
    ):
        command = option(command)
    return command


def _line_type(ctx: click.Context, param: click.Parameter, value: str | None) -> LineType | None:
    """`--line-type` read with every word DIALGUARD_LINE_TYPE takes (`wireless`, `unknown`)."""
    if value is None:
        return None
    try:
        return line_type_from_text(value)
    except ValueError as exc:
        raise click.BadParameter(str(exc)) from None


def callee_address_problems(
    number: str, tenant: str, zone: str | None, region: str | None, policy: Policy, *names: str
) -> list[str]:
    """What is wrong with a callee's address, each named (`names`: the zone's and the
    region's), as the AGI route refuses it; none for an emergency call, which is decided on
    its dial string and campaign alone."""
    if is_emergency(number, policy.region_for(tenant)):
        return []
    return [f"{names[0]}: {p}" for p in address_problems(zone, None, policy)] + [
        f"{names[1]}: {p}" for p in address_problems(None, region, policy)
    ]


@cli.command()
@click.argument("number")
@call_options
@click.option("--callee-timezone", default=None, help="Known customer time zone (IANA).")
@click.option("--callee-region", default=None, help="Known customer region, e.g. US-FL, AU-NSW.")
@click.option(
    "--caller-id-presentation",
    type=int,
    default=0,
    show_default=True,
    help="Asterisk agi_callingpres value (32 and up: restricted).",
)
@click.option("--at", "at_text", default=None, help="Decision clock, ISO-8601 (default: now).")
@click.option("--json", "as_json", is_flag=True, help="Print the decision as JSON.")
@pass_app
def check(
    app: AppContext,
    number: str,
    caller_id: str,
    tenant: str,
    campaign: str | None,
    purpose: str,
    automated: bool,
    line_type: LineType | None,
    callee_timezone: str | None,
    callee_region: str | None,
    caller_id_presentation: int,
    at_text: str | None,
    as_json: bool,
) -> None:
    """Decide whether NUMBER may be called, exactly as the AGI route would. Exit 0 allow, 1 block."""
    at = parse_when(at_text, "--at") or datetime.now(UTC)
    attempt = CallAttempt(
        destination=number,
        caller_id=caller_id,
        at=at,
        tenant=tenant,  # read as the AGI route reads its channel variables (scope_name)
        campaign=campaign,
        purpose=Purpose(purpose),
        automated=automated,
        line_type=line_type,
        caller_id_presentation=caller_id_presentation,
        callee_timezone=callee_timezone,
        callee_region=callee_region,
    )
    policy = app.settings.policy
    problems = callee_address_problems(
        number,
        tenant,
        callee_timezone,
        callee_region,
        policy,
        "--callee-timezone",
        "--callee-region",
    )
    if problems:  # the AGI route blocks such a call as bad input
        raise InputError("; ".join(problems))
    decision = app.run(lambda store: dry_run_guard(store, policy).evaluate(attempt))
    try:
        if as_json:
            emit_json(decision.as_dict())
        else:
            _print(decision)
    except BrokenPipeError:
        silence_stdout()  # the reader went away (`| head -1`): the status still tells
    raise SystemExit(0 if decision.allowed else 1)


def _print(decision: Decision) -> None:
    """The decision, in one write."""
    verdict = decision.verdict.value.upper()
    rule = f" [{decision.rule}]" if decision.rule else ""
    lines = [f"{verdict}{rule}: {decision.reason}"]
    if decision.local_time is not None:
        lines.append(f"  callee local time: {decision.local_time.isoformat()}")
    if decision.context.get("line_type"):
        lines.append(f"  line type: {decision.context['line_type']} (as the call says)")
    lines += (f"  {f.verdict.value:5} {f.rule}: {f.reason}" for f in decision.findings)
    click.echo("\n".join(lines))
