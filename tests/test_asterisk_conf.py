"""The shipped Asterisk samples use only routes, variables and events that dialguard has."""

from __future__ import annotations

import re
from pathlib import Path

from rules.numbers import is_emergency

REPO = Path(__file__).resolve().parents[1]
CONF = REPO / "asterisk-conf"


def _source(*packages: str) -> str:
    return "\n".join(
        path.read_text(encoding="utf-8") for pkg in packages for path in (REPO / pkg).rglob("*.py")
    )


def test_every_agi_route_in_the_dialplan_is_served() -> None:
    dialplan = (CONF / "extensions.conf").read_text(encoding="utf-8")
    routes = set(re.findall(r"agi://[^/]+/([A-Za-z0-9_-]+)", dialplan))
    agi_source = _source("agi")

    assert routes == {"check", "optout"}
    for route in routes:
        assert re.search(rf"[\"']{route}[\"']", agi_source), f"route {route} not in agi/"


def test_every_dialguard_variable_in_the_dialplan_is_read_or_set_by_dialguard() -> None:
    dialplan = (CONF / "extensions.conf").read_text(encoding="utf-8")
    variables = set(re.findall(r"\b_{0,2}(DIALGUARD_[A-Z_]+)", dialplan))
    # Variables the dialplan itself owns: the numbers it passes along and checked.
    dialplan_own = {"DIALGUARD_NUMBER", "DIALGUARD_CHECKED"}
    code = _source("agi", "ami_listener")

    assert {
        "DIALGUARD_VERDICT",
        "DIALGUARD_RULE",
        "DIALGUARD_REASON",
        "DIALGUARD_TENANT",
    } <= variables
    missing = sorted(v for v in variables - dialplan_own if v not in code)
    assert missing == []


def test_the_user_events_the_dialplan_raises_are_understood() -> None:
    dialplan = (CONF / "extensions.conf").read_text(encoding="utf-8")
    events = set(re.findall(r"UserEvent\((Dialguard[A-Za-z]+)", dialplan))
    listener = _source("ami_listener")

    assert {"DialguardOptOut", "DialguardAbandoned", "DialguardAmd"} <= events
    for event in events - {"DialguardReject"}:
        assert event in listener, f"{event} not handled by ami_listener/"


def test_the_amd_subroutine_reports_the_verdict_it_acts_on() -> None:
    from ami_listener.events import AMD_STATUSES, parse_user_event

    dialplan = (CONF / "extensions.conf").read_text(encoding="utf-8")
    amd = dialplan[dialplan.index("[sub-dialguard-amd]") :]
    raised = re.search(r"UserEvent\(DialguardAmd,([^)\n]*)\)", amd)
    assert raised is not None and amd.index("AMD()") < raised.start()
    headers = dict(h.split(": ", 1) for h in raised.group(1).split(","))
    assert headers["Status"] == "${AMDSTATUS}"
    # As the listener receives it once Asterisk has substituted the variables.
    event = {"Event": "UserEvent", "UserEvent": "DialguardAmd", **headers, "Status": "MACHINE"}
    mark = parse_user_event(event)
    assert mark is not None and getattr(mark, "status", None) == "MACHINE"
    assert '"${AMDSTATUS}" = "MACHINE"' in amd and "MACHINE" in AMD_STATUSES
    # A MACHINE verdict may be a person hung up on: it hears the identification message an
    # abandoned call gets before Dial() ends the call.
    machine = amd[amd.index("n(machine)") :]
    assert machine.index("Playback(custom/abandoned-call-identification)") < machine.index(
        "Set(GOSUB_RESULT=ABORT)"
    )


def test_the_dialplan_fails_closed() -> None:
    dialplan = (CONF / "extensions.conf").read_text(encoding="utf-8")

    assert '$["${AGISTATUS}" != "SUCCESS"]?reject' in dialplan
    assert '$["${DIALGUARD_VERDICT}" != "ALLOW"]?reject' in dialplan
    assert "Hangup(21)" in dialplan


def test_the_manager_user_is_read_only_with_call_cdr_user() -> None:
    manager = (CONF / "manager.conf").read_text(encoding="utf-8")
    user = manager.split("[dialguard]", 1)[1]

    assert re.search(r"^read\s*=\s*call,cdr,user\s*$", user, re.M)
    assert re.search(r"^write\s*=\s*$", user, re.M)


def _context(dialplan: str, name: str) -> str:
    start = dialplan.index(f"\n[{name}]\n")  # the context, not a comment naming it
    end = dialplan.find("\n[", start + 1)
    return dialplan[start : end if end >= 0 else None]


def _bounded(context: str) -> bool:
    """AGIEXITONHANGUP and a 3 s absolute timeout armed before the AGI and cleared after."""
    exit_on_hangup = context.index("Set(AGIEXITONHANGUP=yes)")
    armed = context.index("Set(TIMEOUT(absolute)=3)")
    agi = context.index("AGI(agi://")
    cleared = context.index("Set(TIMEOUT(absolute)=0)")
    return exit_on_hangup < armed < agi < cleared and "exten => T," in context


def test_the_check_is_bounded_in_time_and_a_timeout_rejects_the_call() -> None:
    # Asterisk has no FastAGI read timeout: a guard that accepts and hangs held the call.
    sub = _context((CONF / "extensions.conf").read_text(encoding="utf-8"), "sub-dialguard-check")
    assert _bounded(sub) and sub.index("Set(TIMEOUT(absolute)=0)") < sub.index("Return()")
    timeout_path = sub[sub.index("exten => T,") :]
    assert "Hangup(21)" in timeout_path and "Dial(" not in timeout_path


def test_the_opt_out_is_raised_before_its_bounded_agi() -> None:
    # A callee who hangs up during the AGI ends the dialplan there; a hung guard left the
    # callee in silence.
    ivr = _context((CONF / "extensions.conf").read_text(encoding="utf-8"), "dialguard-optout-ivr")
    assert _bounded(ivr)
    assert ivr.index("UserEvent(DialguardOptOut") < ivr.index("AGI(agi://")


# regulations.md 6.7: a person's call to these bypasses the guard and is never delayed.
EMERGENCY_NUMBERS = ("000", "106", "112", "911", "999", "110", "15", "17", "18", "115")


def test_a_persons_emergency_call_is_dialled_without_the_guard() -> None:
    # Every call went through the AGI, whose failure or 3 s bound hangs up with cause 21:
    # a guard that was down rejected a person's 000 call.
    dialplan = (CONF / "extensions.conf").read_text(encoding="utf-8")
    outbound = _context(dialplan, "outbound")
    for number in EMERGENCY_NUMBERS:
        assert f"exten => {number},1,Goto(dialguard-emergency,${{EXTEN}},1)" in outbound
    emergency = _context(dialplan, "dialguard-emergency")
    # Dialler traffic leaves for the checked route first; a person's call is dialled with
    # no AGI, Gosub or timeout before the Dial.
    to_check = emergency.index(
        'GotoIf($["${DIALGUARD_CAMPAIGN}${DIALGUARD_AUTOMATED}" != ""]?outbound-checked,'
    )
    dial = emergency.index("Dial(")
    assert to_check < dial
    assert not re.search(r"AGI\(|Gosub\(|TIMEOUT\(", emergency)
    checked = _context(dialplan, "outbound-checked")
    assert checked.index("Gosub(sub-dialguard-check,") < checked.index("Dial(")
    # The same numbers the rules know for emergency.person and emergency.campaign.
    regions = ("AU", "US", "GB", "DE", "FR")
    assert all(any(is_emergency(n, r) for r in regions) for n in EMERGENCY_NUMBERS)
