"""The FastAGI server over real TCP on 127.0.0.1, driven by a fake Asterisk that speaks as the
recordings show. The service is a test double of the `GuardService` Protocol, except in the
last test, which runs the real `dialguard.guard.Guard` over a real SQLite store."""

from __future__ import annotations

import asyncio
import contextlib
import json
import socket
import sqlite3
import struct
import sys
import time
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
import structlog

from agi.routes import CALL_SETTINGS
from agi.server import AgiServer, start_agi_server
from dialguard.guard import Guard
from dialguard.store import Store, open_store
from dialguard.store.spool import OptOutSpool, PendingOptOuts, spool_path
from rules.facts import SuppressionEntry
from rules.models import CallAttempt, Decision, LineType, Purpose, Verdict
from rules.numbers import ParsedNumber, parse_number
from rules.policy import Policy, TenantSettings
from tests.agi.fake_asterisk import FakeAsterisk, env_lines, load_transcript, with_env

FIXTURES = Path(__file__).resolve().parents[3] / "shared" / "fixtures" / "asterisk-22"
DEADLINE_MS = 250


def allow_answered_env(**overrides: str | None) -> list[str]:
    lines = env_lines(load_transcript(FIXTURES / "allow-answered" / "agi-001-check.jsonl"))
    return with_env(lines, **overrides) if overrides else lines


def allowed(attempt: CallAttempt) -> Decision:
    return Decision(
        Verdict.ALLOW,
        None,
        "allowed: no rule blocks this call",
        "",
        None,
        attempt.caller_id,
        "AU",
        None,
        (),
    )


@dataclass
class FakeService:
    """A test double of `agi.service.GuardService` with controllable behaviour."""

    policy: Policy = field(
        default_factory=lambda: Policy(tenants={"acme": TenantSettings("acme", "AU")})
    )
    delay_s: float = 0.0
    error: Exception | None = None
    verdict: Verdict = Verdict.ALLOW
    checked: list[CallAttempt] = field(default_factory=list)
    recorded: list[tuple[CallAttempt, Decision, str]] = field(default_factory=list)
    opted_out: list[SuppressionEntry] = field(default_factory=list)
    events: list[str] = field(default_factory=list)

    async def check(self, attempt: CallAttempt) -> Decision:
        self.checked.append(attempt)
        await asyncio.sleep(self.delay_s)
        if self.error is not None:
            raise self.error
        if self.verdict is Verdict.BLOCK:
            return Decision(
                Verdict.BLOCK,
                "suppression.local",
                'on the "local" list\nsee log',
                "",
                None,
                None,
                None,
                None,
                (),
            )
        return allowed(attempt)

    async def record(
        self, attempt: CallAttempt, decision: Decision, latency_ms: float, source: str
    ) -> None:
        self.recorded.append((attempt, decision, source))

    async def opt_out(self, entry: SuppressionEntry) -> None:
        await asyncio.sleep(self.delay_s or 0.01)
        self.opted_out.append(entry)
        self.events.append("opt_out returned")

    async def tenants_reached(self, raw: str, at: datetime) -> list[str]:
        return []  # no call reached anyone: the real guard's answer is tested below

    def normalize(self, raw: str, tenant: str) -> ParsedNumber:
        return parse_number(raw, self.policy.region_for(tenant))


@pytest.fixture(name="service")
def _service() -> FakeService:
    return FakeService()


@pytest.fixture(name="server")
async def _server(service: FakeService) -> AsyncIterator[AgiServer]:
    server = await start_agi_server("127.0.0.1", 0, service, deadline_ms=DEADLINE_MS)
    try:
        yield server
    finally:
        await server.shutdown()


async def run_call(server: AgiServer, fake: FakeAsterisk) -> FakeAsterisk:
    await fake.run(server.port)
    return fake


async def run_call_under_policy(
    on_failure: Verdict, service: FakeService, fake: FakeAsterisk
) -> FakeAsterisk:
    server = await start_agi_server("127.0.0.1", 0, service, on_failure=on_failure)
    try:
        return await run_call(server, fake)
    finally:
        await server.shutdown()


def assert_blocked_as_bad_input(fake: FakeAsterisk, service: FakeService, reason: str) -> None:
    """Blocked with guard.error, never checked, and the decision recorded."""
    assert fake.set_variables["DIALGUARD_VERDICT"] == "BLOCK"
    assert fake.set_variables["DIALGUARD_RULE"] == "guard.error"
    assert reason in fake.set_variables["DIALGUARD_REASON"]
    assert service.checked == []
    assert service.recorded[0][1].rule == "guard.error"


# -- check ----------------------------------------------------------------------------------


async def test_recorded_check_allows_and_reads_the_settings(
    server: AgiServer, service: FakeService
) -> None:
    fake = await run_call(
        server,
        FakeAsterisk(
            allow_answered_env(),
            variables={"DIALGUARD_PURPOSE": "research", "DIALGUARD_CAMPAIGN": "spring"},
        ),
    )
    assert fake.closed_by_server
    assert fake.set_variables == {
        "DIALGUARD_VERDICT": "ALLOW",
        "DIALGUARD_RULE": "",
        "DIALGUARD_REASON": "allowed: no rule blocks this call",
    }
    [attempt] = service.checked
    # agi_arg_1 is the campaign name "spring" in the recording: the extension is dialled.
    assert attempt.destination == "61400000001"
    assert attempt.caller_id == "+61291234567"
    assert attempt.tenant == "acme"  # from ?tenant=acme, DIALGUARD_TENANT being unset
    assert attempt.campaign == "spring"
    assert attempt.purpose is Purpose.RESEARCH
    assert attempt.call_id == "1795859878.63"
    assert attempt.at.tzinfo is UTC
    # One command reads all seven call settings.
    assert fake.commands[0] == (
        "GET FULL VARIABLE ${DIALGUARD_TENANT}|${DIALGUARD_CAMPAIGN}|${DIALGUARD_PURPOSE}"
        "|${DIALGUARD_CALLEE_TZ}|${DIALGUARD_CALLEE_REGION}|${DIALGUARD_AUTOMATED}"
        "|${DIALGUARD_LINE_TYPE}"
    )
    assert attempt.line_type is None  # unset: unknown
    assert attempt.automated is False  # unset: a live call
    assert [c.split(" ", 2)[:2] for c in fake.commands[1:]] == [["SET", "VARIABLE"]] * 3


async def test_a_value_holding_the_separator_is_read_again_one_by_one(
    server: AgiServer, service: FakeService
) -> None:
    variables = {"DIALGUARD_TENANT": "acme", "DIALGUARD_CAMPAIGN": "spring|summer"}
    fake = await run_call(server, FakeAsterisk(allow_answered_env(), variables=variables))
    [attempt] = service.checked
    assert (attempt.tenant, attempt.campaign) == ("acme", "spring|summer")
    assert fake.commands[0].startswith("GET FULL VARIABLE ")
    assert fake.commands[1:8] == [f"GET VARIABLE {v}" for v, _ in CALL_SETTINGS.values()]


@pytest.mark.parametrize(
    ("route", "variables", "commands"),
    [
        ("check", {}, 4),  # GET FULL VARIABLE, then three SET VARIABLEs
        ("check", {"DIALGUARD_CAMPAIGN": "a|b"}, 11),  # and seven GET VARIABLEs between
        ("optout?tenant=acme", {}, 3),
    ],
)
async def test_no_command_waits_in_asterisks_buffer(
    server: AgiServer, route: str, variables: dict[str, str], commands: int
) -> None:
    # Asterisk runs a command already in its stdio buffer only once the socket is readable
    # again (the fake does the same): a command sent with another, with no end of file
    # after them, would wait there for the server's deadline (agi/session.py).
    fake = FakeAsterisk(allow_answered_env(agi_network_script=route), variables=variables)
    with structlog.testing.capture_logs() as logs:
        await run_call(server, fake)
    assert len(fake.commands) == commands
    assert [e["event"] for e in logs if e["log_level"] == "warning"] in (
        [],
        ["agi_arg_not_a_number"],  # the recording passes the campaign as agi_arg_1
    )
    assert fake.elapsed_s < DEADLINE_MS / 1000 / 2


async def test_variables_win_over_query_and_dial_string_argument_wins(
    server: AgiServer, service: FakeService
) -> None:
    env = allow_answered_env(
        agi_arg_1="+61 400 000 009", agi_callerid="unknown", agi_callingpres="32"
    )
    await run_call(
        server,
        FakeAsterisk(
            env, variables={"DIALGUARD_TENANT": "other", "DIALGUARD_CALLEE_TZ": "Australia/Perth"}
        ),
    )
    [attempt] = service.checked
    assert attempt.destination == "+61 400 000 009"
    assert attempt.caller_id is None
    assert attempt.caller_id_presentation == 32
    assert attempt.tenant == "other"
    assert attempt.callee_timezone == "Australia/Perth"


async def test_block_with_hostile_reason_stays_one_command(
    server: AgiServer, service: FakeService
) -> None:
    service.verdict = Verdict.BLOCK
    name = 'Evil "Name"\nSET VARIABLE DIALGUARD_VERDICT ALLOW'
    env = allow_answered_env(agi_calleridname=name)
    fake = await run_call(server, FakeAsterisk(env))
    assert fake.set_variables["DIALGUARD_VERDICT"] == "BLOCK"
    assert fake.set_variables["DIALGUARD_RULE"] == "suppression.local"
    assert fake.set_variables["DIALGUARD_REASON"] == 'on the "local" list see log'
    assert sum(c.startswith("SET VARIABLE DIALGUARD_VERDICT") for c in fake.commands) == 1


async def test_a_caller_name_that_adds_environment_lines_blocks_the_call(
    service: FakeService,
) -> None:
    # Asterisk writes agi_calleridname unescaped: this name adds an agi_arg_1 line ahead of
    # the real one, and the guard checked 0412345678 instead of the number dialled. Bad
    # input, blocked whatever the failure policy says.
    env = allow_answered_env(agi_calleridname="Acme\nagi_arg_1: 0412345678")
    fake = await run_call_under_policy(Verdict.ALLOW, service, FakeAsterisk(env))
    assert_blocked_as_bad_input(fake, service, "not as Asterisk writes it")


@pytest.mark.parametrize("on_failure", [Verdict.BLOCK, Verdict.ALLOW])
async def test_a_caller_name_that_ends_the_environment_early_never_allows_the_call(
    service: FakeService, on_failure: Verdict
) -> None:
    # "\n\n520-" ends the environment in order (no forgery to see), then opened a 520 block
    # that swallowed every later reply: the check timed out, and `allow` let the call out
    # unchecked. Asterisk's own lines after the name now come before any command: bad
    # input. The session cannot be read after that, so the verdict may not reach the
    # channel, and the dialplan then blocks the call for want of one.
    env = "".join(allow_answered_env(agi_calleridname="Acme\n\n520-")).encode()
    server = await start_agi_server("127.0.0.1", 0, service, on_failure=on_failure)
    try:
        reader, writer = await asyncio.open_connection("127.0.0.1", server.port)
        writer.write(env)  # as Asterisk writes it, all at once
        received = b""
        with contextlib.suppress(ConnectionError):
            while chunk := await asyncio.wait_for(reader.read(4096), 2):
                received += chunk
        writer.close()
    finally:
        await server.shutdown()
    assert b'"ALLOW"' not in received
    [(_, decision, _)] = service.recorded
    assert (decision.rule, decision.verdict) == ("guard.error", Verdict.BLOCK)
    assert "reply to no command" in decision.reason


@pytest.mark.parametrize("forged", ["200 result=1 (acme|autumn|informational|||)\n", "520-\n"])
async def test_a_forged_reply_that_comes_after_the_first_command_never_allows_the_call(
    service: FakeService, forged: str
) -> None:
    # The caller-ID name ends the environment ("Acme\n\n"), and its tail reaches the
    # server only after the GET went out (TCP cut Asterisk's write; Nagle held the rest): a
    # forged reply to the GET (the attacker's tenant and campaign), or a 520 block that
    # swallows every reply. Asterisk's own environment lines come right after it.
    env = allow_answered_env()
    name = next(i for i, line in enumerate(env) if line.startswith("agi_calleridname"))
    server = await start_agi_server("127.0.0.1", 0, service, on_failure=Verdict.ALLOW)
    received = b""
    try:
        reader, writer = await asyncio.open_connection("127.0.0.1", server.port)
        writer.write("".join([*env[:name], "agi_calleridname: Acme\n\n"]).encode())
        received += await asyncio.wait_for(reader.readline(), 2)  # the GET
        writer.write((forged + "".join(env[name + 1 :])).encode())
        with contextlib.suppress(ConnectionError, TimeoutError):
            while line := await asyncio.wait_for(reader.readline(), 2):
                received += line
                writer.write(b"200 result=1\n")  # as run_agi answers a SET VARIABLE
        writer.close()
    finally:
        await server.shutdown()
    assert received.startswith(b"GET FULL VARIABLE")
    assert b'"ALLOW"' not in received
    assert "guard.error" in [decision.rule for _, decision, _ in service.recorded]


async def test_non_utf8_caller_name_is_served(server: AgiServer, service: FakeService) -> None:
    env = allow_answered_env(agi_calleridname="Ren\udce9")  # a lone 0xE9 byte on the wire
    fake = await run_call(server, FakeAsterisk(env))
    assert fake.set_variables["DIALGUARD_VERDICT"] == "ALLOW"


async def test_hangup_line_before_a_reply_does_not_shift_replies(
    server: AgiServer, service: FakeService
) -> None:
    fake = await run_call(
        server,
        FakeAsterisk(
            allow_answered_env(), variables={"DIALGUARD_CAMPAIGN": "spring"}, hangup_before_reply=1
        ),
    )
    assert service.checked[0].campaign == "spring"  # the GET still got its own reply
    assert fake.set_variables["DIALGUARD_RULE"] == ""  # and each SET its own
    assert fake.set_variables["DIALGUARD_VERDICT"] == "ALLOW"


@pytest.mark.parametrize("on_failure", [Verdict.BLOCK, Verdict.ALLOW])
async def test_a_reply_to_no_command_blocks_instead_of_shifting_replies(
    service: FakeService, on_failure: Verdict
) -> None:
    # A reply line before any command (here right after the environment): taken as the GET's
    # reply, it would make every later reply answer the command before it. The channel
    # cannot be read, which is bad input: the call is blocked whatever the failure policy.
    stray = "200 result=1 (stray)\n"
    asterisk = FakeAsterisk(
        [*allow_answered_env(), stray], variables={"DIALGUARD_CAMPAIGN": "spring"}
    )
    with structlog.testing.capture_logs() as logs:
        fake = await run_call_under_policy(on_failure, service, asterisk)
    assert_blocked_as_bad_input(fake, service, "reply to no command")
    [warning] = [e for e in logs if e["event"] == "agi_bad_input"]
    assert "AgiProtocolError" in warning["reason"]


@pytest.mark.skipif(sys.platform != "linux", reason="the 40 ms delayed ACK is Linux's")
async def test_a_hangup_line_before_a_reply_does_not_hold_the_reply(server: AgiServer) -> None:
    # The HANGUP line comes in a write of its own, and with Nagle's algorithm on the reply
    # after it waits for our ACK, which Linux delays by 40 ms unless asked not to. The
    # fastest of three calls: the delay would hit every one, a busy machine only some.
    took = []
    for _ in range(3):
        env = allow_answered_env()
        fake = await run_call(server, FakeAsterisk(env, hangup_before_reply=0))
        assert fake.set_variables["DIALGUARD_VERDICT"] == "ALLOW"
        took.append(fake.elapsed_s)
    assert min(took) < 0.030


async def test_slow_service_times_out_and_blocks_within_the_deadline(
    server: AgiServer, service: FakeService
) -> None:
    service.delay_s = 5.0
    fake = await run_call(server, FakeAsterisk(allow_answered_env()))
    assert fake.set_variables["DIALGUARD_VERDICT"] == "BLOCK"
    assert fake.set_variables["DIALGUARD_RULE"] == "guard.timeout"
    # It said "within 200 ms", which read as a deadline setting of 200 where it is 250.
    assert fake.set_variables["DIALGUARD_REASON"] == (
        f"the guard did not decide within {DEADLINE_MS * 4 // 5} ms (of the {DEADLINE_MS} ms"
        " deadline)"
    )
    assert fake.elapsed_s < DEADLINE_MS / 1000 + 0.1
    await server.shutdown()  # waits for the background record
    [(attempt, decision, source)] = service.recorded
    assert (attempt.call_id, decision.rule, source) == ("1795859878.63", "guard.timeout", "agi")


async def test_raising_service_blocks_with_guard_error(
    server: AgiServer, service: FakeService
) -> None:
    service.error = RuntimeError("database is locked")
    fake = await run_call(server, FakeAsterisk(allow_answered_env()))
    assert fake.set_variables["DIALGUARD_VERDICT"] == "BLOCK"
    assert fake.set_variables["DIALGUARD_RULE"] == "guard.error"
    assert "RuntimeError" in fake.set_variables["DIALGUARD_REASON"]


async def test_failure_policy_allow_allows_and_logs_the_failure_rule(
    service: FakeService,
) -> None:
    service.error = RuntimeError("boom")
    server = await start_agi_server(
        "127.0.0.1", 0, service, deadline_ms=DEADLINE_MS, on_failure=Verdict.ALLOW
    )
    try:
        with structlog.testing.capture_logs() as logs:
            fake = await run_call(server, FakeAsterisk(allow_answered_env()))
    finally:
        await server.shutdown()
    assert fake.set_variables["DIALGUARD_VERDICT"] == "ALLOW"
    assert fake.set_variables["DIALGUARD_REASON"].startswith("allowed by failure policy")
    [line] = [e for e in logs if e["event"] == "guard_failure_policy"]
    assert (line["rule"], line["policy"], line["uniqueid"]) == (
        "guard.error",
        "allow",
        "1795859878.63",
    )
    assert service.recorded[0][1].verdict is Verdict.ALLOW


async def test_an_automated_call_is_read_from_its_channel_variable(
    server: AgiServer, service: FakeService
) -> None:
    for value, automated in (("yes", True), ("TRUE", True), ("1", True), ("no", False)):
        asterisk = FakeAsterisk(allow_answered_env(), variables={"DIALGUARD_AUTOMATED": value})
        await run_call(server, asterisk)
        assert service.checked[-1].automated is automated, value


async def test_an_automated_mark_that_cannot_be_read_blocks_as_bad_input(
    service: FakeService,
) -> None:
    # Read as a live call, a robocall would skip the consent its law asks for.
    asterisk = FakeAsterisk(allow_answered_env(), variables={"DIALGUARD_AUTOMATED": "maybe"})
    fake = await run_call_under_policy(Verdict.ALLOW, service, asterisk)
    assert_blocked_as_bad_input(fake, service, "'maybe'")


async def test_the_callee_s_line_type_is_read_from_its_channel_variable(
    server: AgiServer, service: FakeService
) -> None:
    for value, line_type in (
        ("landline", LineType.LANDLINE),
        ("Wireless", LineType.MOBILE),
        ("unknown", None),
        ("", None),
    ):
        asterisk = FakeAsterisk(allow_answered_env(), variables={"DIALGUARD_LINE_TYPE": value})
        await run_call(server, asterisk)
        assert service.checked[-1].line_type is line_type, value


async def test_a_line_type_that_cannot_be_read_blocks_as_bad_input(service: FakeService) -> None:
    # Read as unknown, a typo for "landline" would hold the call as a mobile without saying
    # why; read as anything else, it could let a robocall reach a mobile.
    asterisk = FakeAsterisk(allow_answered_env(), variables={"DIALGUARD_LINE_TYPE": "voip"})
    fake = await run_call_under_policy(Verdict.ALLOW, service, asterisk)
    assert_blocked_as_bad_input(fake, service, "DIALGUARD_LINE_TYPE 'voip'")


def url_env(query: str) -> list[str]:
    return allow_answered_env(
        agi_network_script=f"check?{query}",
        agi_request=f"agi://127.0.0.1:4573/check?{query}",
    )


@pytest.mark.parametrize(
    ("param", "value", "variable"),
    [
        ("line_type", "landline", "DIALGUARD_LINE_TYPE"),
        ("callee_tz", "Australia/Sydney", "DIALGUARD_CALLEE_TZ"),
        ("callee_timezone", "Australia/Sydney", "DIALGUARD_CALLEE_TZ"),
        ("callee_region", "AU-NSW", "DIALGUARD_CALLEE_REGION"),
    ],
)
@pytest.mark.parametrize("on_the_channel", ["unset", "cleared", "set"])
async def test_the_callee_s_settings_in_the_agi_url_are_refused(
    service: FakeService, param: str, value: str, variable: str, on_the_channel: str
) -> None:
    # A query parameter applies to every call of the route, and to each whose variable the
    # dialplan cleared (Set(VAR=) leaves ""): one "landline" there let every robocall of the
    # route reach mobiles, one region checked every callee's hours in that region's clock.
    own = {"DIALGUARD_LINE_TYPE": "mobile", "DIALGUARD_CALLEE_TZ": "Australia/Perth"}
    variables = {
        "unset": {},
        "cleared": {variable: ""},
        "set": {variable: own.get(variable, "AU-WA")},
    }[on_the_channel]
    asterisk = FakeAsterisk(url_env(f"tenant=acme&{param}={value}"), variables=variables)
    fake = await run_call_under_policy(Verdict.ALLOW, service, asterisk)
    assert_blocked_as_bad_input(
        fake, service, f"the AGI URL gives {param}, which describes one number: set {variable}"
    )


async def test_a_parameter_the_check_route_does_not_read_is_refused(service: FakeService) -> None:
    # Ignored, a misspelt campaign would make dialler traffic a person's call.
    asterisk = FakeAsterisk(url_env("tenant=acme&campain=spring"))
    fake = await run_call_under_policy(Verdict.ALLOW, service, asterisk)
    assert_blocked_as_bad_input(
        fake,
        service,
        "the AGI URL gives campain, which the check route does not read (it reads automated,"
        " campaign, purpose, tenant)",
    )


@pytest.mark.parametrize(
    ("query", "verdict", "rule"),
    [
        ("tenant=acme&campain=spring", "BLOCK", "emergency.campaign"),
        ("tenant=acme&Campaign=spring", "BLOCK", "emergency.campaign"),
        ("tenant=acme&automate=yes", "BLOCK", "emergency.automated"),
        ("tenant=acme&DIALGUARD_CAMPAIGN=spring", "BLOCK", "emergency.campaign"),
        ("tenant=acme&camp=spring", "BLOCK", "emergency.campaign"),
        ("tenant=acme&cmpgn=spring", "BLOCK", "emergency.campaign"),
        ("tenant=acme&dialguard_automated=yes", "BLOCK", "emergency.automated"),
        ("tenant=acme&debug=1", "ALLOW", None),  # close to no setting: a person's call
        ("tenant=acme&v=2", "ALLOW", None),
        ("tenant=acme&auto=answer", "ALLOW", None),  # `auto` starts autoanswer as well
    ],
)
async def test_an_unread_url_parameter_close_to_a_setting_counts_for_an_emergency_call(
    service: FakeService, query: str, verdict: str, rule: str | None
) -> None:
    # The route blocks every other call of such a URL as bad input, but decides a call to
    # 000 on its campaign alone: a misspelt ?campain= made a dialler's call to 000 a
    # person's emergency call, and allowed it.
    env = [
        "agi_extension: 000\n" if line.startswith("agi_extension:") else line
        for line in url_env(query)
    ]
    fake = await run_call_under_policy(Verdict.BLOCK, service, FakeAsterisk(env))
    assert fake.set_variables["DIALGUARD_VERDICT"] == verdict
    [(_, decision, _)] = service.recorded
    assert decision.rule == rule


async def test_the_route_s_settings_are_read_from_the_agi_url_when_the_channel_has_none(
    server: AgiServer, service: FakeService
) -> None:
    query = "tenant=acme&campaign=spring&purpose=research&automated=yes"
    await run_call(server, FakeAsterisk(url_env(query)))
    attempt = service.checked[-1]
    assert (attempt.tenant, attempt.campaign, attempt.purpose, attempt.automated) == (
        "acme",
        "spring",
        Purpose.RESEARCH,
        True,
    )
    # The channel's variable wins over the URL's.
    await run_call(server, FakeAsterisk(url_env(query), variables={"DIALGUARD_TENANT": "beta"}))
    assert service.checked[-1].tenant == "beta"


async def test_a_channel_tenant_in_another_case_than_the_settings_is_logged_once(
    server: AgiServer, service: FakeService
) -> None:
    # Matched exactly, DIALGUARD_TENANT=AcMe meets none of acme's lists or caller IDs.
    with structlog.testing.capture_logs() as logs:
        for _ in range(2):
            asterisk = FakeAsterisk(allow_answered_env(), variables={"DIALGUARD_TENANT": "AcMe"})
            await run_call(server, asterisk)
    [said] = [e for e in logs if e["event"] == "agi_tenant_near"]
    assert (said["tenant"], said["settings"]) == ("AcMe", ["acme"])
    assert service.checked[-1].tenant == "AcMe"  # decided as named


@pytest.mark.parametrize("blank", ["", " ", "  \t"])
async def test_a_blank_channel_variable_leaves_the_agi_url_s_setting_in_force(
    server: AgiServer, service: FakeService, blank: str
) -> None:
    # A variable of spaces hid the URL's campaign and robocall mark: a campaign's automated
    # call to 000 was then a person's emergency call, and allowed.
    variables = dict.fromkeys(("DIALGUARD_CAMPAIGN", "DIALGUARD_AUTOMATED"), blank)
    query = "tenant=acme&campaign=spring&automated=yes"
    await run_call(server, FakeAsterisk(url_env(query), variables=variables))
    attempt = service.checked[-1]
    assert (attempt.campaign, attempt.automated) == ("spring", True)


@pytest.mark.parametrize(("campaign", "verdict"), [(None, "ALLOW"), ("spring", "BLOCK")])
async def test_a_bad_line_type_does_not_block_a_person_s_emergency_call(
    service: FakeService, campaign: str | None, verdict: str
) -> None:
    # An emergency call is decided on its dial string and campaign alone (regulations.md 6.7).
    env = [
        "agi_extension: 000\n" if line.startswith("agi_extension:") else line
        for line in allow_answered_env()
    ]
    variables = {"DIALGUARD_LINE_TYPE": "voip", "DIALGUARD_CAMPAIGN": campaign}
    asterisk = FakeAsterisk(env, variables={k: v for k, v in variables.items() if v})
    fake = await run_call_under_policy(Verdict.BLOCK, service, asterisk)
    assert fake.set_variables["DIALGUARD_VERDICT"] == verdict
    [(_, decision, _)] = service.recorded
    assert decision.rule == ("emergency.campaign" if campaign else None)


@pytest.mark.parametrize(
    "variables",
    [
        {"DIALGUARD_AUTOMATED": "on"},
        {"DIALGUARD_AUTOMATED": "yes", "DIALGUARD_PURPOSE": "marketing"},
    ],
)
async def test_a_robocall_to_an_emergency_number_with_bad_input_is_blocked(
    service: FakeService, variables: dict[str, str]
) -> None:
    # Rebuilt from what could be read, the call lost its automated mark and was let through
    # as a person's emergency call.
    env = [
        "agi_extension: 000\n" if line.startswith("agi_extension:") else line
        for line in allow_answered_env()
    ]
    asterisk = FakeAsterisk(env, variables=variables)
    fake = await run_call_under_policy(Verdict.BLOCK, service, asterisk)
    assert fake.set_variables["DIALGUARD_VERDICT"] == "BLOCK"
    [(attempt, decision, _)] = service.recorded
    assert attempt.automated and decision.verdict is Verdict.BLOCK


async def test_unknown_purpose_blocks_even_under_allow_policy(service: FakeService) -> None:
    asterisk = FakeAsterisk(allow_answered_env(), variables={"DIALGUARD_PURPOSE": "spam"})
    fake = await run_call_under_policy(Verdict.ALLOW, service, asterisk)
    assert_blocked_as_bad_input(fake, service, "'spam'")


@pytest.mark.parametrize(
    ("variable", "value", "said"),
    [
        ("DIALGUARD_CALLEE_TZ", "America/LosAngeles", "'America/LosAngeles' is not an IANA zone"),
        ("DIALGUARD_CALLEE_TZ", "UTC", "'UTC' names no place"),  # a CRM's default
        ("DIALGUARD_CALLEE_TZ", "Factory", "'Factory' names no place"),  # tzdata's "unknown"
        ("DIALGUARD_CALLEE_REGION", "US-XX", "'US-XX' is not a state of US"),
        ("DIALGUARD_CALLEE_REGION", "Florida", "'Florida' is not a code such as US-FL"),
    ],
)
async def test_a_callee_address_that_cannot_be_read_blocks_as_bad_input(
    service: FakeService, variable: str, value: str, said: str
) -> None:
    # It was dropped without a word: the number's own location decided, which can allow a
    # call the address (05:30 in Los Angeles) would block.
    asterisk = FakeAsterisk(allow_answered_env(), variables={variable: value})
    fake = await run_call_under_policy(Verdict.ALLOW, service, asterisk)
    assert_blocked_as_bad_input(fake, service, said)


async def test_unknown_route_blocks_visibly(server: AgiServer, service: FakeService) -> None:
    env = allow_answered_env(agi_network_script="chek?tenant=acme")
    fake = await run_call(server, FakeAsterisk(env))
    assert fake.set_variables == {
        "DIALGUARD_VERDICT": "BLOCK",
        "DIALGUARD_RULE": "guard.error",
        "DIALGUARD_REASON": "unknown AGI route 'chek'",
    }
    assert service.checked == []


# -- optout ---------------------------------------------------------------------------------


async def test_optout_answers_ok_only_after_the_entry_is_durable(
    server: AgiServer, service: FakeService
) -> None:
    service.delay_s = 0.05
    env = allow_answered_env(agi_network_script="optout?tenant=acme")
    fake = FakeAsterisk(env, on_command=lambda c: service.events.append(c.split(" ")[2]))
    await run_call(server, fake)
    assert fake.set_variables["DIALGUARD_OPTOUT"] == "OK"
    assert service.events.index("opt_out returned") < service.events.index("DIALGUARD_OPTOUT")
    [entry] = service.opted_out
    assert (entry.number, entry.tenant, entry.campaign, entry.source) == (
        "+61400000001",
        "acme",
        None,
        "agi-optout",
    )


async def test_optout_of_an_unreadable_number_fails_visibly(
    server: AgiServer, service: FakeService
) -> None:
    env = allow_answered_env(agi_network_script="optout", agi_extension="s")
    fake = await run_call(server, FakeAsterisk(env))
    assert fake.set_variables["DIALGUARD_OPTOUT"] == "FAILED"
    assert "is not a telephone number" in fake.set_variables["DIALGUARD_OPTOUT_REASON"]
    assert service.opted_out == []


async def test_an_optout_is_recorded_whatever_its_url_gives_and_says_what_it_did_not_read(
    server: AgiServer, service: FakeService
) -> None:
    # Never refused: but a misspelt ?tennant= leaves it on the default tenant's list, so the
    # reason and the log say so.
    env = allow_answered_env(
        agi_network_script="optout?tennant=acme&campaign=spring", agi_arg_1="+61400000001"
    )
    with structlog.testing.capture_logs() as logs:
        fake = await run_call(server, FakeAsterisk(env))
    assert fake.set_variables["DIALGUARD_OPTOUT"] == "OK"
    assert fake.set_variables["DIALGUARD_OPTOUT_REASON"] == (
        "+61400000001 opted out of all calls from default; the AGI URL gives tennant, which"
        " the optout route does not read"
    )
    assert [(e.number, e.tenant) for e in service.opted_out] == [("+61400000001", "default")]
    [warning] = [e for e in logs if e["event"] == "agi_url_unread"]
    assert warning["params"] == "tennant"


@pytest.mark.parametrize(
    ("policy", "number"),
    [
        # Tenants are named: a call checked under "default" is still opted out there.
        (Policy(tenants={"acme": TenantSettings("acme", "AU")}), "+61400000001"),
        # Only the default tenant, whose region reads the national form.
        (Policy(default_region="AU"), "0400000001"),
    ],
)
async def test_an_optout_naming_no_tenant_is_the_default_tenants_as_for_the_check(
    policy: Policy, number: str
) -> None:
    service = FakeService(policy=policy)
    server = await start_agi_server("127.0.0.1", 0, service, deadline_ms=DEADLINE_MS)
    try:
        env = allow_answered_env(agi_network_script="optout", agi_arg_1=number)
        fake = await run_call(server, FakeAsterisk(env))
    finally:
        await server.shutdown()
    assert fake.set_variables["DIALGUARD_OPTOUT"] == "OK"
    assert [(e.number, e.tenant) for e in service.opted_out] == [("+61400000001", "default")]


async def test_an_optout_with_a_forged_environment_fails_for_the_fallback_to_record(
    server: AgiServer, service: FakeService
) -> None:
    # The contract's form has no argument: the number is agi_extension. This caller-ID name
    # adds an agi_arg_1, which would have opted out 0499999999 and answered OK, so the
    # dialplan skipped its UserEvent fallback and the callee stayed callable.
    env = allow_answered_env(
        agi_network_script="optout",
        agi_arg_1=None,
        agi_calleridname="Acme\nagi_arg_1: 0499999999",
    )
    fake = await run_call(server, FakeAsterisk(env))
    assert fake.set_variables["DIALGUARD_OPTOUT"] == "FAILED"
    assert "not as Asterisk writes it" in fake.set_variables["DIALGUARD_OPTOUT_REASON"]
    assert service.opted_out == []


# -- hazards --------------------------------------------------------------------------------


async def timed_check(server: AgiServer) -> FakeAsterisk:
    fake = await run_call(server, FakeAsterisk(allow_answered_env()))
    assert fake.set_variables["DIALGUARD_VERDICT"] == "ALLOW"
    # Well under the 250 ms a stalled loop would cost (slack for a busy 2-core machine).
    assert fake.elapsed_s < 0.2
    return fake


async def asterisk_drops_the_call_mid_check(how: str) -> list[dict[str, object]]:
    """Asterisk goes away while the guard decides: reset (a restart), or HANGUP and close
    (AGIEXITONHANGUP=yes). Returns what the server logged."""
    service = FakeService(delay_s=0.1)
    server = await start_agi_server("127.0.0.1", 0, service, deadline_ms=1000)
    with structlog.testing.capture_logs() as logs:
        reader, writer = await asyncio.open_connection("127.0.0.1", server.port)
        writer.write("".join(allow_answered_env()).encode())
        await reader.readline()  # GET FULL VARIABLE
        writer.write(b"200 result=1 (|||||)\n")
        await writer.drain()
        if how == "reset":
            linger = struct.pack("ii", 1, 0)  # close with a reset
            writer.get_extra_info("socket").setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, linger)
        else:
            writer.write(b"HANGUP\n")
        writer.close()
        await server.shutdown(grace_s=1.0)  # waits for the session
    return logs


@pytest.mark.parametrize("how", ["reset", "hangup-exit"])
async def test_asterisk_dropping_the_call_mid_check_is_one_warning(how: str) -> None:
    logs = await asterisk_drops_the_call_mid_check(how)
    events = [(e["event"], e["log_level"]) for e in logs if e["event"] != "agi_listening"]
    assert ("agi_session_aborted", "warning") in events
    assert all(level != "error" for _, level in events)


async def test_replies_that_never_come_end_at_the_deadline_with_the_verdict_sent(
    server: AgiServer,
) -> None:
    with structlog.testing.capture_logs() as logs:
        reader, writer = await asyncio.open_connection("127.0.0.1", server.port)
        writer.write("".join(allow_answered_env()).encode())
        await reader.readline()  # GET FULL VARIABLE
        writer.write(b"200 result=1 (acme||||||)\n")
        sets = [await reader.readline() for _ in range(3)]  # and never answered
        assert await reader.read() == b""  # end of file right after them
        await server.shutdown()  # waits for the session's deadline
        writer.close()
    assert [s.split(b" ")[2] for s in sets] == [
        b"DIALGUARD_VERDICT",
        b"DIALGUARD_RULE",
        b"DIALGUARD_REASON",
    ]
    [deadline] = [e for e in logs if e["event"] == "agi_session_deadline"]
    assert deadline["variables_sent"] is True


async def _stalled_session(server: AgiServer, before_stall_s: float) -> bytes:
    """Everything the server sends to a call that never answers a command, when the event
    loop stalls past the whole deadline `before_stall_s` after the environment is sent."""
    sock = socket.create_connection(("127.0.0.1", server.port))
    loop = asyncio.get_running_loop()
    received = b""
    try:
        await asyncio.sleep(0.02)  # accepted: the deadline runs from here
        sock.sendall("".join(allow_answered_env()).encode())
        await asyncio.sleep(before_stall_s)
        time.sleep(DEADLINE_MS / 1000 + 0.05)  # noqa: ASYNC251  (the stall, on purpose)
        sock.setblocking(False)
        while chunk := await asyncio.wait_for(loop.sock_recv(sock, 4096), 1):
            received += chunk
    finally:
        sock.close()
    return received


@pytest.mark.parametrize("before_stall_s", [0.0, DEADLINE_MS / 1000 * 0.6])
async def test_a_loop_stalled_past_the_deadline_still_sends_the_failure_verdict(
    server: AgiServer, service: FakeService, before_stall_s: float
) -> None:
    # The deadlines come due together after a stall longer than the whole budget (as under
    # overload): with the environment not yet read, or while the check waits for a reply.
    # The session's own deadline used to cancel the route before it could send the failure
    # policy's verdict: the call ended with none and no record. Asterisk never times out a
    # FastAGI read, so the connection must end either way.
    received = await _stalled_session(server, before_stall_s)
    assert b'SET VARIABLE DIALGUARD_VERDICT "BLOCK"' in received
    assert b'SET VARIABLE DIALGUARD_RULE "guard.timeout"' in received
    await server.shutdown()  # waits for the background record
    assert [decision.rule for _, decision, _ in service.recorded] == ["guard.timeout"]


async def test_peer_closing_mid_header_does_not_stall_others(server: AgiServer) -> None:
    with structlog.testing.capture_logs() as logs:
        _, writer = await asyncio.open_connection("127.0.0.1", server.port)
        writer.write("".join(allow_answered_env()[:5]).encode())
        await writer.drain()
        writer.close()
        await timed_check(server)
        await asyncio.sleep(0.02)
    assert any(e["event"] == "agi_env_incomplete" for e in logs)


async def test_garbage_and_oversize_headers_close_only_that_connection(
    server: AgiServer, service: FakeService
) -> None:
    with structlog.testing.capture_logs() as logs:
        reader, writer = await asyncio.open_connection("127.0.0.1", server.port)
        writer.write(b"\x16\x03\x01 not agi at all\n\n")
        reader2, writer2 = await asyncio.open_connection("127.0.0.1", server.port)
        writer2.write(b"x" * 70_000)
        await timed_check(server)
        assert await asyncio.wait_for(reader.read(), 1) == b""  # closed, nothing sent
        assert await asyncio.wait_for(reader2.read(), 1) == b""
        writer.close()
        writer2.close()
    events = {e["event"] for e in logs}
    assert {"agi_not_asterisk", "agi_env_too_large"} <= events
    assert len(service.checked) == 1


async def test_header_that_never_ends_is_cut_at_the_deadline(server: AgiServer) -> None:
    started = time.perf_counter()
    reader, writer = await asyncio.open_connection("127.0.0.1", server.port)
    writer.write("".join(allow_answered_env()[:-1]).encode())  # never the blank line
    await timed_check(server)
    assert await asyncio.wait_for(reader.read(), 1) == b""
    assert time.perf_counter() - started < DEADLINE_MS / 1000 + 0.1
    writer.close()


async def test_many_concurrent_checks(service: FakeService) -> None:
    # A generous deadline: this is about sessions not mixing, not about time.
    server = await start_agi_server("127.0.0.1", 0, service, deadline_ms=5000)
    try:
        fakes = [FakeAsterisk(allow_answered_env(agi_uniqueid=f"1.{i}")) for i in range(50)]
        await asyncio.gather(*(f.run(server.port) for f in fakes))
    finally:
        await server.shutdown()
    assert all(f.set_variables["DIALGUARD_VERDICT"] == "ALLOW" for f in fakes)
    assert sorted(a.call_id or "" for a in service.checked) == sorted(f"1.{i}" for i in range(50))


# -- the real guard -------------------------------------------------------------------------


async def call_the_real_guard(store: Store, policy: Policy, fake: FakeAsterisk) -> FakeAsterisk:
    """One call to a server in front of the real guard and store, then the server stopped."""
    server = await start_agi_server("127.0.0.1", 0, Guard(store, policy), deadline_ms=2000)
    try:
        return await run_call(server, fake)
    finally:
        await server.shutdown()


async def test_real_guard_records_the_recorded_call(store: Store, policy: Policy) -> None:
    fake = await call_the_real_guard(store, policy, FakeAsterisk(allow_answered_env()))
    assert fake.set_variables["DIALGUARD_VERDICT"] in {"ALLOW", "BLOCK"}
    row = await store.decision_for_call("1795859878.63")
    assert row is not None
    assert row["source"] == "agi" and row["tenant"] == "acme"
    assert row["number"] == "+61400000001"
    assert row["verdict"] == fake.set_variables["DIALGUARD_VERDICT"].lower()
    assert (row["rule"] or "") == fake.set_variables["DIALGUARD_RULE"]
    assert json.loads(row["decision_json"])["inputs"]["call_id"] == "1795859878.63"


@pytest.mark.parametrize(
    "argument", ["0412777001#", "PJSIP/0412777001@carrier", "tel:+61412777001", "(04) 1277 7001x"]
)
async def test_a_first_argument_meant_as_a_number_is_decided_not_swapped_for_the_extension(
    store: Store, policy: Policy, argument: str
) -> None:
    # Read as a campaign name, it was ignored and the extension, a number on no list, was
    # checked and allowed: the verdict was another number's.
    await store.add_suppression(
        SuppressionEntry("+61412777001", "acme", None, "asked", "cli", datetime.now(UTC))
    )
    env = allow_answered_env(agi_extension="61400000001", agi_arg_1=argument)
    fake = await call_the_real_guard(store, policy, FakeAsterisk(env))
    assert fake.set_variables["DIALGUARD_VERDICT"] == "BLOCK"
    assert fake.set_variables["DIALGUARD_RULE"] == "number.invalid"
    assert repr(argument) in fake.set_variables["DIALGUARD_REASON"]


async def test_an_optout_whose_argument_and_extension_are_both_unreadable_names_both(
    store: Store, policy: Policy
) -> None:
    # It said "the number 's' is not a telephone number", naming the IVR's extension only.
    env = allow_answered_env(
        agi_network_script="optout?tenant=acme", agi_extension="s", agi_arg_1="anonymous"
    )
    fake = await call_the_real_guard(store, policy, FakeAsterisk(env))
    assert fake.set_variables["DIALGUARD_OPTOUT"] == "FAILED"
    reason = fake.set_variables["DIALGUARD_OPTOUT_REASON"]
    assert "'anonymous'" in reason and "'s'" in reason, reason
    assert await store.fetchall("SELECT number FROM suppressions") == []


async def test_an_optout_whose_argument_does_not_read_records_the_extension(
    store: Store, policy: Policy
) -> None:
    # The check blocks such an argument; the opt-out answered FAILED and recorded nothing,
    # a request lost whenever the AMI listener could not recover it.
    env = allow_answered_env(
        agi_network_script="optout?tenant=acme",
        agi_extension="61412777001",
        agi_arg_1="0412777001#",
    )
    with structlog.testing.capture_logs() as logs:
        fake = await call_the_real_guard(store, policy, FakeAsterisk(env))
    assert fake.set_variables["DIALGUARD_OPTOUT"] == "OK"
    assert fake.set_variables["DIALGUARD_OPTOUT_REASON"] == (
        "+61412777001 opted out of all calls from acme"
        " (the extension's: the first argument '0412777001#' is not one)"
    )
    rows = await store.fetchall("SELECT number, tenant FROM suppressions")
    assert [tuple(r) for r in rows] == [("+61412777001", "acme")]
    assert [e["arg"] for e in logs if e["event"] == "agi_optout_arg_unreadable"] == ["0412777001#"]


async def test_a_call_blocked_for_bad_input_is_recorded_under_its_number(
    store: Store, policy: Policy
) -> None:
    # Recorded with no number, it was found by `log --number` only under the dial string
    # exactly as Asterisk passed it.
    bad_purpose = FakeAsterisk(allow_answered_env(), variables={"DIALGUARD_PURPOSE": "lunch"})
    fake = await call_the_real_guard(store, policy, bad_purpose)
    assert fake.set_variables["DIALGUARD_RULE"] == "guard.error"
    row = await store.decision_for_call("1795859878.63")
    assert row is not None
    assert (row["rule"], row["number"], row["dialled"]) == (
        "guard.error",
        "+61400000001",
        "61400000001",
    )


async def test_real_guard_optout_is_durable_before_ok(store: Store, policy: Policy) -> None:
    env = allow_answered_env(agi_network_script="optout?tenant=acme")
    fake = await call_the_real_guard(store, policy, FakeAsterisk(env))
    assert fake.set_variables["DIALGUARD_OPTOUT"] == "OK"
    rows = await store.fetchall("SELECT number, tenant, campaign, source FROM suppressions")
    assert [tuple(r) for r in rows] == [("+61400000001", "acme", "", "agi-optout")]


async def test_real_guard_optout_naming_no_tenant_is_for_the_tenants_whose_calls_reached_it(
    store: Store,
) -> None:
    # The IVR runs on the callee's leg, which need not inherit DIALGUARD_TENANT: filed under
    # "default", the opt-out left the tenant that called going on calling.
    policy = Policy(
        tenants={t: TenantSettings(t, "AU") for t in ("acme", "beta", "gamma", "delta")}
    )
    guard, now = Guard(store, policy), datetime.now(UTC)
    for tenant, verdict, hours_ago in (
        ("acme", Verdict.ALLOW, 0.1),
        ("beta", Verdict.ALLOW, 3),
        ("gamma", Verdict.BLOCK, 0.1),  # a blocked call reached nobody
        ("delta", Verdict.ALLOW, 25),  # more than a day ago
    ):
        at = now - timedelta(hours=hours_ago)
        attempt = CallAttempt("0400000001", "+61291234567", at, tenant=tenant, call_id=tenant)
        decision = Decision(verdict, None, "r", "", "+61400000001", None, "AU", None, ())
        await guard.record(attempt, decision, 1.0)
    env = allow_answered_env(agi_network_script="optout", agi_arg_1="0400000001")
    fake = await call_the_real_guard(store, policy, FakeAsterisk(env))
    assert fake.set_variables["DIALGUARD_OPTOUT"] == "OK"
    assert fake.set_variables["DIALGUARD_OPTOUT_REASON"] == (
        "+61400000001 opted out of all calls from acme, beta (the channel names no tenant:"
        " those whose calls reached it in the last day, or every tenant when none did or they"
        " cannot be looked up)"
    )
    rows = await store.fetchall("SELECT tenant FROM suppressions WHERE number = '+61400000001'")
    assert sorted(row[0] for row in rows) == ["acme", "beta"]


async def test_real_guard_optout_naming_no_tenant_that_no_call_reached_is_every_tenant_s(
    store: Store,
) -> None:
    # A person who calls back days later, or a call only blocked: filed under "default", the
    # tenant whose call it was went on calling. Every tenant that reads it, the strictest.
    au = {t: TenantSettings(t, "AU") for t in ("acme", "beta")}
    policy = Policy(tenants={"hk": TenantSettings("hk", "HK"), **au}, default_region="AU")
    guard, now = Guard(store, policy), datetime.now(UTC)
    for tenant, verdict, hours_ago in (("acme", Verdict.BLOCK, 0.1), ("beta", Verdict.ALLOW, 25)):
        at = now - timedelta(hours=hours_ago)
        attempt = CallAttempt("0400000001", "+61291234567", at, tenant=tenant, call_id=tenant)
        decision = Decision(verdict, None, "r", "", "+61400000001", None, "AU", None, ())
        await guard.record(attempt, decision, 1.0)
    env = allow_answered_env(agi_network_script="optout", agi_arg_1="0400000001")
    with structlog.testing.capture_logs() as logs:
        fake = await call_the_real_guard(store, policy, FakeAsterisk(env))
    assert fake.set_variables["DIALGUARD_OPTOUT"] == "OK"
    rows = await store.fetchall("SELECT number, tenant FROM suppressions ORDER BY tenant")
    assert [tuple(r) for r in rows] == [
        ("+61400000001", "acme"),
        ("+61400000001", "beta"),
        ("+61400000001", "default"),
    ]  # hk's region reads 0400000001 as no number
    assert fake.set_variables["DIALGUARD_OPTOUT_REASON"] == (
        "+61400000001 opted out of all calls from acme, beta, default (the channel names no"
        " tenant: those whose calls reached it in the last day, or every tenant when none did"
        " or they cannot be looked up)"
    )
    assert any(e["event"] == "optout_no_recent_call" for e in logs)


async def test_real_guard_optout_naming_no_tenant_reaches_a_tenant_the_settings_do_not_name(
    store: Store,
) -> None:
    # "Every tenant that reads it" was the settings' tenants: one only a channel names (it
    # reads numbers as "default" does), whose call was two days ago, went on calling.
    policy = Policy(tenants={"acme": TenantSettings("acme", "AU")}, default_region="AU")
    guard = Guard(store, policy)
    at = datetime.now(UTC) - timedelta(days=2)
    attempt = CallAttempt("0400000001", "+61291234567", at, tenant="zeta", call_id="z")
    decision = Decision(Verdict.ALLOW, None, "r", "", "+61400000001", None, "AU", None, ())
    await guard.record(attempt, decision, 1.0)
    env = allow_answered_env(agi_network_script="optout", agi_arg_1="0400000001")
    fake = await call_the_real_guard(store, policy, FakeAsterisk(env))
    assert fake.set_variables["DIALGUARD_OPTOUT"] == "OK"
    rows = await store.fetchall("SELECT tenant FROM suppressions ORDER BY tenant")
    assert [row[0] for row in rows] == ["acme", "default", "zeta"]


async def test_real_guard_optout_whose_tenant_lookup_fails_is_every_tenant_s(
    store: Store,
) -> None:
    # The lookup's failure answered FAILED and wrote nothing; then, the default tenant's
    # alone, and the tenant that called went on calling. Every tenant, the strictest.
    await store.conn.execute("ALTER TABLE decisions RENAME TO decisions_gone")  # reads fail
    au = {t: TenantSettings(t, "AU") for t in ("acme", "beta")}
    policy = Policy(tenants={"hk": TenantSettings("hk", "HK"), **au}, default_region="AU")
    env = allow_answered_env(agi_network_script="optout", agi_arg_1="0400000001")
    with structlog.testing.capture_logs() as logs:
        fake = await call_the_real_guard(store, policy, FakeAsterisk(env))
    assert fake.set_variables["DIALGUARD_OPTOUT"] == "OK"
    # Each tenant that reads the number (hk's region reads 0400000001 as no number).
    rows = await store.fetchall("SELECT number, tenant FROM suppressions ORDER BY tenant")
    assert [tuple(r) for r in rows] == [
        ("+61400000001", "acme"),
        ("+61400000001", "beta"),
        ("+61400000001", "default"),
    ]
    assert fake.set_variables["DIALGUARD_OPTOUT_REASON"].startswith(
        "+61400000001 opted out of all calls from acme, beta, default"
    )
    assert any(e["event"] == "optout_lookup_failed" for e in logs)


async def test_real_guard_optout_for_several_tenants_writes_each_on_its_own(store: Store) -> None:
    # One tenant's write that fails does not keep the others' from landing.
    policy = Policy(tenants={t: TenantSettings(t, "AU") for t in ("acme", "beta")})
    guard = Guard(store, policy)
    for tenant in ("acme", "beta"):
        attempt = CallAttempt("0400000001", "+61291234567", datetime.now(UTC), tenant=tenant)
        decision = Decision(Verdict.ALLOW, None, "r", "", "+61400000001", None, "AU", None, ())
        await guard.record(attempt, decision, 1.0)
    await store.conn.execute(
        "CREATE TEMP TRIGGER refuse BEFORE INSERT ON main.suppressions"
        " WHEN NEW.tenant = 'beta' BEGIN SELECT RAISE(ABORT, 'refused'); END"
    )
    env = allow_answered_env(agi_network_script="optout", agi_arg_1="0400000001")
    with structlog.testing.capture_logs() as logs:
        fake = await call_the_real_guard(store, policy, FakeAsterisk(env))
    assert fake.set_variables["DIALGUARD_OPTOUT"] == "FAILED"  # not every entry landed
    rows = await store.fetchall("SELECT tenant FROM suppressions")
    assert [row[0] for row in rows] == ["acme"]
    [lost] = [e for e in logs if e["event"] == "optout_not_recorded"]
    assert lost["tenant"] == "beta"


@contextlib.asynccontextmanager
async def optout_under_a_write_lock(
    tmp_path: Path, policy: Policy, pending: bool = False
) -> AsyncIterator[tuple[Store, AgiServer, sqlite3.Connection]]:
    """A real guard's opt-out asked while another connection holds the write lock (an
    import): the store gives up on a lock after 50 ms, as `serve` after half the deadline.
    Yields the store, the server and the lock holder, after the route has answered FAILED
    (not durable within the deadline: not acknowledged). `pending`: the guard keeps the
    opt-outs it gives up, as `serve`'s does."""
    store = await open_store(tmp_path / "locked.sqlite3", busy_timeout_ms=50)
    holder = sqlite3.connect(tmp_path / "locked.sqlite3", isolation_level=None)
    guard = Guard(store, policy, PendingOptOuts(store) if pending else None)
    server = await start_agi_server("127.0.0.1", 0, guard, deadline_ms=250)
    try:
        holder.execute("BEGIN IMMEDIATE")
        env = allow_answered_env(agi_network_script="optout?tenant=acme")
        fake = await run_call(server, FakeAsterisk(env))
        assert fake.set_variables["DIALGUARD_OPTOUT"] == "FAILED"
        yield store, server, holder
    finally:
        holder.close()
        await server.shutdown()
        if guard.pending is not None:
            await guard.pending.close()
        await store.close()


async def test_real_guard_optout_during_a_write_lock_lands_once_the_lock_is_gone(
    tmp_path: Path, policy: Policy
) -> None:
    # It failed on a second's lock and was never written.
    with structlog.testing.capture_logs() as logs:
        async with optout_under_a_write_lock(tmp_path, policy) as (store, _, holder):
            holder.execute("COMMIT")
            for _ in range(100):
                rows = await store.fetchall("SELECT number, tenant, source FROM suppressions")
                if rows:
                    break
                await asyncio.sleep(0.05)
            assert [tuple(r) for r in rows] == [("+61400000001", "acme", "agi-optout")]
    assert any(e["event"] == "agi_write_waiting_for_lock" for e in logs)


async def test_an_optout_still_locked_out_at_shutdown_is_logged_for_the_operator(
    tmp_path: Path, policy: Policy
) -> None:
    # The retrying write outlived the server untracked, then failed on the closed store
    # with nothing but asyncio's "exception was never retrieved".
    async with optout_under_a_write_lock(tmp_path, policy) as (_, server, _):
        with structlog.testing.capture_logs() as logs:
            await server.shutdown(grace_s=0.2)
        [lost] = [e for e in logs if e["event"] == "optout_not_recorded"]
        assert lost["number"] == "+61400000001"
        assert lost["import_line"].startswith("+61400000001,acme,agi-optout,20")
        assert asyncio.all_tasks() == {asyncio.current_task()}  # nothing left running


async def test_an_optout_still_locked_out_at_shutdown_is_kept_for_the_next_start(
    tmp_path: Path, policy: Policy
) -> None:
    # Logged for adding by hand, it was lost unless an operator did; `serve` now spools it
    # and writes it at its next start.
    async with optout_under_a_write_lock(tmp_path, policy, pending=True) as (store, server, _):
        with structlog.testing.capture_logs() as logs:
            await server.shutdown(grace_s=0.2)
        [entry] = OptOutSpool(spool_path(store.path)).read().entries
        assert (entry.number, entry.tenant, entry.source) == ("+61400000001", "acme", "agi-optout")
        assert [e["event"] for e in logs if e["log_level"] == "error"] == []
        assert any(e["event"] == "optout_pending_at_stop" for e in logs)


async def test_campaign_name_as_first_argument_warns_once(
    server: AgiServer, service: FakeService
) -> None:
    with structlog.testing.capture_logs() as logs:
        await run_call(server, FakeAsterisk(allow_answered_env()))
    warnings = [e for e in logs if e["event"] == "agi_arg_not_a_number"]
    assert [(w["arg"], w["used"], w["log_level"]) for w in warnings] == [
        ("spring", "agi_extension", "warning")
    ]
