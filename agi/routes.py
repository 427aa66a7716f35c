"""The FastAGI routes: `check` (decide the call) and `optout` (record the callee's opt-out).

Contract (shared/docs/architecture.md, "FastAGI"): the dialplan dials only when AGISTATUS is
SUCCESS and DIALGUARD_VERDICT is ALLOW, so every path here that cannot decide properly still
sets an explicit BLOCK (or, for the guard's own failures, the declared failure policy).
Bad input never allows a call, whatever the failure policy says.
"""

from __future__ import annotations

import asyncio
import difflib
import re
from collections.abc import Awaitable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Protocol

import structlog

from agi.protocol import AgiProtocolError, AgiRequest
from agi.service import GuardService
from agi.session import AgiSession, Budget
from rules.engine import decide, failure_decision, number_as_read, prepare
from rules.facts import Facts, SuppressionEntry, to_add_by_hand
from rules.location import address_problems
from rules.models import (
    CallAttempt,
    Decision,
    Finding,
    FindingVerdict,
    Purpose,
    Verdict,
    automated_at_strictest,
    automated_from_text,
    line_type_from_text,
    purpose_from_text,
)
from rules.numbers import ParsedNumber, is_dial_string, shorten
from rules.policy import Policy
from rules.ports import OptOutPending

log = structlog.get_logger("agi")

SOURCE = "agi"
OPTOUT_SOURCE = "agi-optout"
OPTOUT_REASON = "IVR opt-out keypress"
INPUT_CITATION = "dialguard AGI contract (architecture.md, FastAGI): bad input blocks"

# Setting -> (channel variable, query parameter of the AGI URL used when the variable is unset;
# empty: none). The URL's query is the route's, so it names only what all of its calls share.
CALL_SETTINGS: Mapping[str, tuple[str, str]] = {
    "tenant": ("DIALGUARD_TENANT", "tenant"),
    "campaign": ("DIALGUARD_CAMPAIGN", "campaign"),
    "purpose": ("DIALGUARD_PURPOSE", "purpose"),
    # The callee's three describe one number, so never from the URL (see url_problem).
    "callee_timezone": ("DIALGUARD_CALLEE_TZ", ""),
    "callee_region": ("DIALGUARD_CALLEE_REGION", ""),
    "automated": ("DIALGUARD_AUTOMATED", "automated"),
    "line_type": ("DIALGUARD_LINE_TYPE", ""),
}
URL_SETTINGS = frozenset(param for _, param in CALL_SETTINGS.values() if param)
# The callee's settings as a URL would misname them, and the variable each belongs in.
CALLEE_PARAMS: Mapping[str, str] = {
    "callee_tz": "DIALGUARD_CALLEE_TZ",
    "callee_timezone": "DIALGUARD_CALLEE_TZ",
    "callee_region": "DIALGUARD_CALLEE_REGION",
    "line_type": "DIALGUARD_LINE_TYPE",
}
OPTOUT_SETTINGS = ("tenant", "campaign")
OPTOUT_URL_SETTINGS = frozenset(CALL_SETTINGS[name][1] for name in OPTOUT_SETTINGS)


class Spawn(Protocol):
    """Runs a background job the server waits for on shutdown (`AgiServer._spawn`)."""

    def __call__(self, job: Awaitable[None], *, bounded: bool = True) -> None: ...


@dataclass(frozen=True, slots=True)
class RouteContext:
    service: GuardService
    policy: Policy  # the service's policy with the server's on_failure/deadline applied
    budget: Budget
    spawn: Spawn  # runs a bounded background job the server waits for on shutdown


class BadInput(ValueError):
    """The channel handed us something we cannot decide on: the message says what."""


async def dispatch(session: AgiSession, ctx: RouteContext) -> None:
    route = session.request.route
    if route == "check":
        await handle_check(session, ctx)
    elif route == "optout":
        await handle_optout(session, ctx)
    else:
        await handle_unknown(session, route)


# -- check ----------------------------------------------------------------------------------


async def handle_check(session: AgiSession, ctx: RouteContext) -> None:
    request = session.request
    at = datetime.now(UTC)
    destination = destination_of(request)
    # The attempt as far as the environment tells is built only when a failure needs it.
    attempt: CallAttempt | None = None
    variables: Mapping[str, str | None] | None = None
    try:
        async with asyncio.timeout_at(ctx.budget.decide_by):
            try:
                if request.forged is not None:
                    # Which number or caller ID the call has cannot be told: not even an
                    # emergency call is decided on it (see protocol.env_forgery).
                    raise _forged(request)
                variables = await session.get_variables(v for v, _ in CALL_SETTINGS.values())
                attempt = build_attempt(request, variables, at, destination)
                if attempt.tenant not in ctx.policy.tenants:
                    _warn_of_a_near_tenant(attempt.tenant, ctx.policy)
                problems = address_problems(
                    attempt.callee_timezone, attempt.callee_region, ctx.policy
                )
                if problems:
                    raise BadInput("; ".join(problems))
            except (BadInput, AgiProtocolError, ValueError) as exc:
                # Asterisk's side cannot be read (a reply to no command, a reply line over
                # the limit, an unexpected answer): bad input, which blocks whatever the
                # failure policy says, not the guard failing. Except a call to an emergency
                # number whose campaign is known: that needs nothing else.
                reason = str(exc) if isinstance(exc, BadInput) else _unreadable(exc)
                attempt = provisional_attempt(request, at, destination, variables or {})
                emergency = variables is not None and emergency_decision(attempt, ctx.policy)
                decision = _bad_input(ctx, attempt, reason, emergency or None)
            else:
                decision = await ctx.service.check(attempt)
    except TimeoutError:
        decision = _apply_failure_policy(
            ctx,
            attempt or provisional_attempt(request, at, destination),
            "guard.timeout",
            f"the guard did not decide within {_ms(ctx)}",
        )
    except ConnectionError:
        raise  # Asterisk is gone: nobody to tell
    except Exception as exc:
        decision = _apply_failure_policy(
            ctx,
            attempt or provisional_attempt(request, at, destination),
            "guard.error",
            f"the guard failed: {type(exc).__name__}",
        )
        log.warning("agi_check_error", uniqueid=request.uniqueid, error=repr(exc)[:300])
    if session.failed and decision.verdict is Verdict.ALLOW:
        # Asterisk's side became unreadable after the variables were read (lines no command
        # asked for): what the decision rested on may be forged. Never an ALLOW then.
        reason = (
            "Asterisk's side could not be read after the check: an AGI line no command asked for"
        )
        attempt = attempt or provisional_attempt(request, at, destination)
        decision = _bad_input(ctx, attempt, reason)
    await session.finish(verdict_variables(decision))


def verdict_variables(decision: Decision) -> dict[str, str]:
    return {
        "DIALGUARD_VERDICT": "ALLOW" if decision.allowed else "BLOCK",
        "DIALGUARD_RULE": decision.rule or "",
        "DIALGUARD_REASON": decision.reason,
    }


def destination_of(request: AgiRequest) -> str:
    """The first AGI argument when it is meant as a number, else `agi_extension`.

    The recorded dialplan passes the campaign name as `agi_arg_1` (a comma in the AGI URL),
    so a first argument such as `spring` is not an error, only a reason to look at the
    extension. One that starts as a number does, or is a channel's or a URI's dial string
    (`0412345678#`, `PJSIP/0412345678@trunk`, `tel:+61...`), was meant as the destination:
    it is decided as given, and blocks as `number.invalid` when it cannot be read. Read as a
    campaign name, the extension was checked in its place and could allow a call to a number
    on a suppression list.
    """
    first = request.args[0] if request.args else ""
    if first.strip() and (is_dial_string(first) or _MEANT_AS_A_NUMBER.match(first)):
        return first.strip()
    if first:
        log.warning(
            "agi_arg_not_a_number",
            uniqueid=request.uniqueid,
            arg=first[:64],
            used="agi_extension",
        )
    return (request.get("agi_extension") or "").strip()


# Starts as a number, a short code or a bracketed area code does; or holds a channel's `/`,
# a SIP URI's `@` or a URI scheme's `:`.
_MEANT_AS_A_NUMBER = re.compile(r"\s*[0-9+(*#]|[^/@:]*[/@:]")


def caller_id_of(request: AgiRequest) -> str | None:
    value = (request.get("agi_callerid") or "").strip()
    return None if value in ("", "unknown") else value


def provisional_attempt(
    request: AgiRequest,
    at: datetime,
    destination: str | None = None,
    variables: Mapping[str, str | None] | None = None,
) -> CallAttempt:
    """The attempt as far as the environment (and the channel variables, when read) tells,
    for failures before a whole attempt could be built. Never raises."""
    if destination is None:
        destination = destination_of(request)
    variables = variables or {}
    try:
        return build_attempt(request, variables, at, destination)
    except BadInput:
        # A URL parameter the route does not read counts here as the setting it is close to
        # (`?campain=spring`, `?Campaign=`): the campaign it names makes a call to 000 a
        # campaign's, blocked, not a person's emergency call. (`?debug=1` is close to none.)
        near = _near_settings(request.params)
        automated = automated_at_strictest(_automated_mark(request, variables))
        return CallAttempt(
            destination=destination,
            caller_id=caller_id_of(request),
            at=at,
            tenant=_setting(request, variables, "tenant") or near.get("tenant") or "default",
            campaign=_setting(request, variables, "campaign") or near.get("campaign"),
            call_id=request.uniqueid,
            automated=automated or automated_at_strictest(near.get("automated", "no")),
        )


def _near_settings(params: Mapping[str, str]) -> dict[str, str]:
    """The unread URL parameters that look like one of the route's settings, by it."""
    near: dict[str, str] = {}
    for name, value in params.items():
        setting = _setting_like(name)
        if name not in URL_SETTINGS and setting is not None and value.strip():
            near.setdefault(setting, value.strip())
    return near


def _setting_like(name: str) -> str | None:
    """The route's setting a parameter's name looks like: the variable's name
    (`DIALGUARD_CAMPAIGN`), the name and more (`campaign_id`), its first half or more, and
    four letters at least (`camp`, `autom`; not `auto`, which starts `autoanswer` too), or
    a close spelling (`campain`, `cmpgn`); None for any other (`debug`)."""
    key = name.casefold().strip().removeprefix("dialguard_").replace("-", "_")
    for setting in sorted(URL_SETTINGS):
        if key.startswith(setting):
            return setting
        if len(key) >= max(4, (len(setting) + 1) // 2) and setting.startswith(key):
            return setting
    close = difflib.get_close_matches(key, URL_SETTINGS, 1, 0.75)
    return close[0] if close else None


def emergency_decision(attempt: CallAttempt, policy: Policy) -> Decision | None:
    """The emergency rule's decision when the call is to an emergency number (a person's
    allowed, a campaign's blocked: regulations.md 6.7), else None. Reads no store."""
    try:
        prepared = prepare(attempt, policy)
    except Exception:  # an attempt built from bad input: no emergency call can be told
        return None
    return decide(prepared, Facts()) if prepared.emergency else None


def build_attempt(
    request: AgiRequest,
    variables: Mapping[str, str | None],
    at: datetime,
    destination: str | None = None,
) -> CallAttempt:
    purpose_text = _setting(request, variables, "purpose")
    try:
        purpose = purpose_from_text(purpose_text) if purpose_text else Purpose.TELEMARKETING
    except ValueError as exc:
        raise BadInput(str(exc)) from None
    automated_text = _automated_mark(request, variables)
    try:
        automated = automated_from_text(automated_text)
    except ValueError:
        # Bad input blocks: a robocall read as a live call would skip its consent rule.
        raise BadInput(
            f"DIALGUARD_AUTOMATED {shorten(automated_text)!r} is not yes or no"
        ) from None
    if request.params and not URL_SETTINGS.issuperset(request.params):
        raise BadInput(url_problem(request.params))
    line_text = _setting(request, variables, "line_type") or ""
    try:
        line_type = line_type_from_text(line_text)
    except ValueError:
        # Bad input blocks: a typo for landline must not read as one, nor as unknown.
        raise BadInput(
            f"DIALGUARD_LINE_TYPE {shorten(line_text)!r} is not mobile or landline"
        ) from None
    pres_text = (request.get("agi_callingpres") or "0").strip()
    try:
        presentation = int(pres_text)
    except ValueError:
        raise BadInput(f"agi_callingpres {pres_text!r} is not a number") from None
    return CallAttempt(
        destination=destination_of(request) if destination is None else destination,
        caller_id=caller_id_of(request),
        at=at,
        tenant=_setting(request, variables, "tenant") or "default",
        campaign=_setting(request, variables, "campaign"),
        purpose=purpose,
        caller_id_presentation=presentation,
        callee_timezone=_setting(request, variables, "callee_timezone"),
        callee_region=_setting(request, variables, "callee_region"),
        call_id=request.uniqueid,
        automated=automated,
        line_type=line_type,
    )


_NEAR_TENANTS_SAID: set[str] = set()


def _warn_of_a_near_tenant(tenant: str, policy: Policy) -> None:
    """Logged once per name (`agi_tenant_near`): a channel's tenant that is not in the
    settings but differs from one that is only in case. A tenant's settings, consents and
    caller IDs are matched exactly, so DIALGUARD_TENANT=ACME is read in the default tenant's
    region and meets none of acme's consents or caller IDs (the lists that block hold it)."""
    if tenant in _NEAR_TENANTS_SAID:
        return
    if near := policy.tenants_like(tenant):
        if len(_NEAR_TENANTS_SAID) < 1024:  # bounded: a name past that is logged each time
            _NEAR_TENANTS_SAID.add(tenant)
        log.warning("agi_tenant_near", tenant=shorten(tenant), settings=near)


def url_problem(params: Mapping[str, str]) -> str:
    """Why the check route refuses its URL's query: a parameter it does not read, or one of
    the callee's.

    A query parameter applies to every call of the route, and to each one whose variable is
    cleared (`Set(DIALGUARD_LINE_TYPE=)`): one `landline` there would let every robocall of
    the route reach mobiles, and one callee region would check every callee's hours in it.
    A parameter it does not read is a typo (`?campain=spring` would make dialler traffic a
    person's call), and is refused rather than ignored.
    """
    for name in params:
        if name in CALLEE_PARAMS:
            return (
                f"the AGI URL gives {name}, which describes one number: set"
                f" {CALLEE_PARAMS[name]} on the channel for each number instead"
            )
    return (
        f"the AGI URL gives {_unread_params(params, URL_SETTINGS)}, which the check route does"
        f" not read (it reads {', '.join(sorted(URL_SETTINGS))})"
    )


def _unread_params(params: Mapping[str, str], read: frozenset[str]) -> str:
    """The query parameters a route does not read, named for a reason ("" when none)."""
    return shorten(", ".join(sorted(name for name in params if name not in read)))


def input_error_decision(attempt: CallAttempt, reason: str, policy: Policy) -> Decision:
    """Bad input blocks regardless of the failure policy: it is not the guard failing."""
    sentence = f"the call cannot be checked: {reason}"
    return Decision(
        verdict=Verdict.BLOCK,
        rule="guard.error",
        reason=sentence,
        citation=INPUT_CITATION,
        number=number_as_read(attempt, policy),
        caller_id=attempt.caller_id,
        jurisdiction=None,
        local_time=None,
        findings=(Finding("guard.error", FindingVerdict.BLOCK, sentence, INPUT_CITATION),),
    )


def _unreadable(exc: Exception) -> str:
    return f"Asterisk's reply could not be read ({type(exc).__name__}: {str(exc)[:120]})"


def _automated_mark(request: AgiRequest, variables: Mapping[str, str | None]) -> str:
    """DIALGUARD_AUTOMATED as given, lower case; unset is "no" (a live call)."""
    return (_setting(request, variables, "automated") or "no").lower()


def _setting(request: AgiRequest, variables: Mapping[str, str | None], name: str) -> str | None:
    """The channel's variable, else the URL's parameter; blank counts as unset in both. A
    variable of spaces hid the URL's value: `?campaign=spring` with DIALGUARD_CAMPAIGN=" "
    made a campaign's call to 000 a person's emergency call, and allowed it."""
    variable, param = CALL_SETTINGS[name]
    value = (variables.get(variable) or "").strip()
    if not value and param:
        value = (request.params.get(param) or "").strip()
    return value or None


def _apply_failure_policy(
    ctx: RouteContext, attempt: CallAttempt, rule: str, reason: str
) -> Decision:
    decision = failure_decision(attempt, ctx.policy, rule, reason)
    log.warning(
        "guard_failure_policy",
        uniqueid=attempt.call_id,
        rule=rule,
        policy=ctx.policy.on_failure.value,
        verdict=decision.verdict.value,
        reason=reason,
    )
    _record_later(ctx, attempt, decision)
    return decision


def _bad_input(
    ctx: RouteContext, attempt: CallAttempt, reason: str, decision: Decision | None = None
) -> Decision:
    """Bad input, logged and recorded: blocked whatever the failure policy
    (`input_error_decision`), unless `decision` (the emergency rule's) decides it."""
    decision = decision or input_error_decision(attempt, reason, ctx.policy)
    log.warning("agi_bad_input", uniqueid=attempt.call_id, reason=reason)
    _record_later(ctx, attempt, decision)
    return decision


def _forged(request: AgiRequest) -> BadInput:
    return BadInput(
        f"the AGI environment is not as Asterisk writes it ({request.forged}):"
        " a line break in the caller-ID name?"
    )


def _record_later(ctx: RouteContext, attempt: CallAttempt, decision: Decision) -> None:
    latency_ms = ctx.budget.elapsed_ms()
    ctx.spawn(ctx.service.record(attempt, decision, latency_ms, SOURCE))


def _ms(ctx: RouteContext) -> str:
    """The time the decision had, and the budget it is part of: the rest of `deadline_ms`
    is kept to answer Asterisk (a reason of "200 ms" read as a setting of 250 ignored)."""
    budget = ctx.budget
    decide = round((budget.decide_by - budget.started) * 1000)
    return f"{decide} ms (of the {round((budget.end - budget.started) * 1000)} ms deadline)"


# -- optout ---------------------------------------------------------------------------------


async def handle_optout(session: AgiSession, ctx: RouteContext) -> None:
    """Record a tenant-wide opt-out for the callee; answer OK only once it is durable.

    The number is the first AGI argument when it is meant as one (`destination_of`), else
    `agi_extension`:
    on an outbound campaign leg the IVR runs on the callee's channel, whose extension is the
    dialled number (the caller ID there is ours, never the person opting out).
    """
    request = session.request
    status, reason = "FAILED", ""
    try:
        if request.forged is not None:
            # Whose number it is cannot be told: FAILED. The DialguardOptOut UserEvent, which
            # the sample IVR raises before the AGI, records it from the channel's own ids.
            raise _forged(request)
        async with asyncio.timeout_at(ctx.budget.decide_by):
            variables = await session.get_variables(
                CALL_SETTINGS[name][0] for name in OPTOUT_SETTINGS
            )
            raw = destination_of(request)
            named = _setting(request, variables, "tenant")
            # A channel that names no tenant (an IVR on a leg that did not inherit it): the
            # tenants whose calls reached the number, else every tenant that reads it. The
            # sample IVR's UserEvent, raised beside this route, records it for the tenant
            # whose call it was too (the AMI listener reads the guard's decision).
            tenants = [named] if named else await _tenants_reached(ctx, raw, request)
            entries: list[SuppressionEntry] = []
            readings = [(tenant, *_optout_number(request, ctx, tenant, raw)) for tenant in tenants]
            why = readings[0][2]  # the first tenant's: what the reason says
            reason = why
            for tenant, parsed, _ in readings:
                if parsed.e164 is None:
                    continue  # a tenant that cannot read it; FAILED only when none can
                entries.append(
                    SuppressionEntry(
                        number=parsed.e164,
                        tenant=tenant,
                        campaign=None,
                        reason=OPTOUT_REASON,
                        source=OPTOUT_SOURCE,
                        requested_at=datetime.now(UTC),
                    )
                )
            # Each write on its own, all started at once: one that fails does not keep the
            # others from landing. Shielded: an opt-out that is slow (a locked database)
            # must still land after we answer FAILED at the deadline; the server keeps it
            # running, and `_until_durable` logs one that fails for an operator.
            writes = [asyncio.ensure_future(_until_durable(ctx.service, e)) for e in entries]
            for write in writes:
                ctx.spawn(write, bounded=False)
            if writes:
                landed = asyncio.gather(*writes)
                # Read here when the answer went first (the deadline): each write logged its
                # own failure, and an unread one would be logged again as never retrieved.
                landed.add_done_callback(lambda done: done.cancelled() or done.exception())
                await asyncio.shield(landed)
            if entries:
                status = "OK"
                numbers = {entry.number for entry in entries}
                recorded = ", ".join(
                    entry.tenant or "" if len(numbers) == 1 else f"{entry.tenant} ({entry.number})"
                    for entry in entries
                )
                reason = f"{entries[0].number if len(numbers) == 1 else 'the number'} opted out"
                reason += f" of all calls from {recorded}"
                if not named and tenants != ["default"]:
                    reason += (
                        " (the channel names no tenant: those whose calls reached it in the"
                        " last day, or every tenant when none did or they cannot be looked up)"
                    )
                if why:  # the extension stood in for an argument that did not read
                    reason += f" ({why})"
                if unread := _unread_params(request.params, OPTOUT_URL_SETTINGS):
                    # Recorded all the same (an opt-out is never refused), but a misspelt
                    # ?tennant= put it on the default tenant's list: said, and logged.
                    reason += f"; the AGI URL gives {unread}, which the optout route does not"
                    reason += " read"
                    log.warning("agi_url_unread", uniqueid=request.uniqueid, params=unread)
    except BadInput as exc:
        reason = str(exc)
    except TimeoutError:
        reason = f"the opt-out was not confirmed within {_ms(ctx)}"
    except ConnectionError:
        raise
    except Exception as exc:
        reason = f"the opt-out could not be recorded: {type(exc).__name__}"
    if status != "OK":
        log.warning("agi_optout_failed", uniqueid=request.uniqueid, reason=reason)
    await session.finish({"DIALGUARD_OPTOUT": status, "DIALGUARD_OPTOUT_REASON": reason})


async def _tenants_reached(ctx: RouteContext, raw: str, request: AgiRequest) -> list[str]:
    """Whose opt-out it is when the channel names no tenant: every tenant whose allowed call
    reached the number in the last day, else every tenant that reads it (the guard's
    `tenants_reached`). A lookup that fails here (a failing database) gives every tenant in
    the settings and the default one: the opt-out is written for each, and the writes wait
    the database out."""
    try:
        return await ctx.service.tenants_reached(raw, datetime.now(UTC)) or ["default"]
    except Exception as exc:  # every tenant: one number too many on the lists is the safe side
        log.warning("agi_optout_lookup_failed", uniqueid=request.uniqueid, error=repr(exc)[:300])
        return list(dict.fromkeys((*ctx.policy.tenants, "default")))  # those that read it count


def _optout_number(
    request: AgiRequest, ctx: RouteContext, tenant: str, raw: str
) -> tuple[ParsedNumber, str]:
    """The number to opt out, and why it cannot be read or why another was taken.

    `raw` is the first argument meant as a number, else the extension (`destination_of`).
    Unlike the check, which blocks a number it cannot read, an opt-out whose argument does
    not read falls back to the extension too: one number too many on the list is the safe
    side, and failing lost the request when the AMI listener could not recover it."""
    first = request.args[0].strip() if request.args else ""
    extension = (request.get("agi_extension") or "").strip()
    parsed = ctx.service.normalize(raw, tenant)
    if parsed.e164 is not None:
        return parsed, ""
    if not first or not extension or first == extension:
        return parsed, f"the number {shorten(raw)!r} {parsed.problem or 'cannot be read'}"
    # Both were there: `raw` is the argument (then try the extension) or the extension.
    on_extension = parsed
    if raw == first:
        on_extension = ctx.service.normalize(extension, tenant)
        if on_extension.e164 is not None:
            log.warning("agi_optout_arg_unreadable", arg=shorten(first), used="agi_extension")
            return on_extension, (
                f"the extension's: the first argument {shorten(first)!r} is not one"
            )
    return parsed, (
        f"the first argument {shorten(first)!r} is not a number to opt out, and the"
        f" extension {shorten(extension)!r} {on_extension.problem or 'cannot be read'}"
    )


async def _until_durable(service: GuardService, entry: SuppressionEntry) -> None:
    """The opt-out's write, which waits out a locked database (Guard.opt_out). When it fails,
    or dialguard stops first, the number is logged for an operator to add by hand, unless
    the guard kept it to write later (`OptOutPending`: it said so itself)."""
    try:
        await service.opt_out(entry)
    except BaseException as exc:
        if isinstance(exc, OptOutPending) or isinstance(exc.__cause__, OptOutPending):
            raise  # a cancellation marked so: kept for the next start
        log.error(
            "optout_not_recorded",
            number=entry.number,
            tenant=entry.tenant,
            error="dialguard stopped first"
            if isinstance(exc, asyncio.CancelledError)
            else repr(exc)[:300],
            **to_add_by_hand(entry),
        )
        raise


# -- unknown --------------------------------------------------------------------------------


async def handle_unknown(session: AgiSession, route: str) -> None:
    """A typo in the dialplan's AGI URL fails closed, visibly."""
    reason = f"unknown AGI route {route!r}" if route else "the AGI URL names no route"
    log.warning("agi_unknown_route", uniqueid=session.request.uniqueid, route=route[:64])
    await session.finish(
        {"DIALGUARD_VERDICT": "BLOCK", "DIALGUARD_RULE": "guard.error", "DIALGUARD_REASON": reason}
    )
