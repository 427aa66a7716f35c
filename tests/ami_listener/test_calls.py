"""The call tracker against every recorded Asterisk 22 AMI session."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from ami_listener.calls import CallTracker
from ami_listener.events import parse_chanvariables, parse_user_event
from rules.outcomes import CallOutcome
from tests.ami_listener.recordings import load, parse_ami

SYDNEY = ZoneInfo("Australia/Sydney")
LIVE = Path(__file__).resolve().parents[1] / "data" / "asterisk-22-live"  # see its README
NOW = datetime(2026, 11, 27, 23, 0, tzinfo=UTC)


def run(
    events: list[dict[str, str | list[str]]], tracker: CallTracker | None = None
) -> list[CallOutcome]:
    tracker = tracker or CallTracker(asterisk_tz=SYDNEY)
    out: list[CallOutcome] = []
    for event in events:
        out.extend(tracker.feed(event, NOW))
    return out


def test_allow_answered(fixtures_dir: Path) -> None:
    tracker = CallTracker(asterisk_tz=SYDNEY)
    [outcome] = run(load(fixtures_dir, "allow-answered"), tracker)
    assert outcome.call_id == "1795859878.63"
    assert outcome.linkedid == "1795859878.62"
    assert outcome.dialled == "61400000001"
    assert outcome.caller_id == "+61291234567"
    assert outcome.disposition == "ANSWERED"
    assert (outcome.billsec, outcome.cause, outcome.cause_txt) == (2, 16, "Normal Clearing")
    # CDR local time 2026-11-28 09:57:58 in Sydney (AEDT, +11) is 22:57:58 UTC the day before.
    assert outcome.started_at == datetime(2026, 11, 27, 22, 57, 58, tzinfo=UTC)
    assert outcome.answered_at == outcome.started_at
    assert outcome.ended_at == datetime(2026, 11, 27, 22, 58, 0, tzinfo=UTC)
    assert tracker.open_calls == 0


def live(name: str) -> list[dict[str, str | list[str]]]:
    return parse_ami((LIVE / f"{name}.ami.txt").read_bytes())


def test_a_route_dialling_on_through_a_local_channel_is_one_attempt() -> None:
    # The checked leg Dial()s Local/N@carrier-hop, whose ;2 half dials the callee: that
    # second DialBegin is the same call one route further, not a second attempt (it had no
    # decision, no tenant, and counted as another call to the number).
    outcomes = run(live("local-hop"), CallTracker(asterisk_tz=UTC))
    assert {o.call_id for o in outcomes} == {"1795894678.34"}
    final = outcomes[-1]
    assert (final.dialled, final.disposition, final.billsec) == ("12127365031", "ANSWERED", 2)


def test_a_local_hop_refused_with_cause_21_is_no_second_call() -> None:
    # The trunk context ends with Hangup(${HANGUPCAUSE}) after a carrier's 403: cause 21 on
    # the hop's leg is not a call the guard blocked.
    events = live("local-hop")
    for event in events:
        if event["Event"] == "Hangup" and event.get("Uniqueid") == "1795894678.36":
            event["Cause"] = "21"
    assert {o.call_id for o in run(events, CallTracker(asterisk_tz=UTC))} == {"1795894678.34"}


def phone_through_local_route(alice: str | None) -> list[dict[str, str | list[str]]]:
    """A phone dials Local/N@outbound (and, with `alice`, PJSIP/alice too, who ends with that
    DialStatus); the route's ;2 leg runs the check, is blocked and hangs up with cause 21
    before dialling."""
    route, phone = "Local/12127365031@outbound-00000001", "PJSIP/agent-00000001"
    leg = {"Channel": phone, "Uniqueid": "9.1", "Linkedid": "9.1", "Exten": "12127365031"}
    events: list[dict[str, str | list[str]]] = [
        {"Event": "Newchannel", **leg},
        {"Event": "DialBegin", **leg, "CallerIDNum": "+12127365001", "DestChannel": f"{route};1",
         "DestUniqueid": "9.2", "DestLinkedid": "9.1", "DialString": "12127365031@outbound"},
        {"Event": "Newchannel", "Channel": f"{route};2", "Uniqueid": "9.3", "Linkedid": "9.1"},
        {"Event": "Hangup", "Channel": f"{route};2", "Uniqueid": "9.3", "Linkedid": "9.1",
         "Cause": "21"},
        {"Event": "Hangup", "Channel": f"{route};1", "Uniqueid": "9.2", "Linkedid": "9.1",
         "Cause": "21"},
        {"Event": "DialEnd", **leg, "DestChannel": f"{route};1", "DestUniqueid": "9.2",
         "DialStatus": "CONGESTION"},
    ]  # fmt: skip
    if alice is not None:
        events[2:2] = [
            {"Event": "DialBegin", **leg, "DestChannel": "PJSIP/alice-00000002",
             "DestUniqueid": "9.4", "DestLinkedid": "9.1", "DialString": "alice"}
        ]  # fmt: skip
        events += [
            {"Event": "DialEnd", **leg, "DestChannel": "PJSIP/alice-00000002",
             "DestUniqueid": "9.4", "DialStatus": alice},
            {"Event": "Hangup", "Channel": "PJSIP/alice-00000002", "Uniqueid": "9.4",
             "Linkedid": "9.1", "Cause": "16"},
        ]  # fmt: skip
    return [*events, {"Event": "Hangup", **leg, "Cause": "16"}]


@pytest.mark.parametrize(
    ("alice", "disposition"),
    [
        # Only the route, which refused: one refused call, decided on the route's leg (the
        # phone's leg used to be stored as a placed call beside it).
        (None, "REJECTED"),
        # Dial(PJSIP/alice&Local/N@outbound): the call reached alice, so it was placed.
        ("ANSWER", "ANSWERED"),
        ("NOANSWER", "NO ANSWER"),
    ],
)
def test_a_phone_call_refused_in_its_local_route(alice: str | None, disposition: str) -> None:
    tracker = CallTracker(asterisk_tz=UTC)
    [outcome] = run(phone_through_local_route(alice), tracker)
    assert (outcome.call_id, outcome.disposition) == ("9.1", disposition)
    assert outcome.placed is (disposition != "REJECTED")
    assert tracker.legs_of("9.1") == ["9.3"]  # where the listener finds the decision


def test_a_parallel_dial_keeps_the_answered_cdr() -> None:
    # Dial(A&B): one Cdr per target, ANSWERED then NO ANSWER (the target cancelled).
    [outcome] = run(live("parallel-dial"), CallTracker(asterisk_tz=UTC))
    assert (outcome.call_id, outcome.disposition, outcome.billsec) == (
        "1795894688.44",
        "ANSWERED",
        2,
    )


def test_asterisk_zone_is_a_setting(fixtures_dir: Path) -> None:
    [outcome] = run(load(fixtures_dir, "allow-answered"), CallTracker(asterisk_tz=UTC))
    assert outcome.started_at == datetime(2026, 11, 28, 9, 57, 58, tzinfo=UTC)


def test_busy_noanswer_congestion(fixtures_dir: Path) -> None:
    [busy] = run(load(fixtures_dir, "allow-busy"))
    [noanswer] = run(load(fixtures_dir, "allow-noanswer"))
    [congestion] = run(load(fixtures_dir, "allow-congestion"))
    assert (busy.call_id, busy.disposition, busy.billsec) == ("1795859891.69", "BUSY", 0)
    assert (noanswer.disposition, noanswer.answered_at) == ("NO ANSWER", None)
    # cdr.conf congestion = no (the default, and the recording): the CDR says FAILED.
    assert (congestion.call_id, congestion.disposition) == ("1795859905.77", "FAILED")
    assert noanswer.ring_seconds == 4.0


def test_dial_status_is_used_without_a_cdr(fixtures_dir: Path) -> None:
    events = [e for e in load(fixtures_dir, "allow-busy") if e["Event"] != "Cdr"]
    [busy] = run(events)
    assert (busy.disposition, busy.billsec, busy.cause) == ("BUSY", None, 16)


def test_blocked_call_is_rejected(fixtures_dir: Path) -> None:
    [outcome] = run(load(fixtures_dir, "block-rejected"))
    assert outcome.call_id == "1795859887.67"  # the AGI channel, not the Originate leg
    assert (outcome.disposition, outcome.cause, outcome.cause_txt) == (
        "REJECTED",
        21,
        "Call Rejected",
    )
    assert outcome.dialled == "61400000001"
    assert outcome.caller_id == "+61291234567"


def test_fail_closed_rejections_are_recorded(fixtures_dir: Path) -> None:
    [unreachable] = run(load(fixtures_dir, "agi-unreachable"))
    [silent] = run(load(fixtures_dir, "agi-silent-close"))
    assert (unreachable.call_id, unreachable.disposition) == ("1795859933.91", "REJECTED")
    assert (silent.call_id, silent.disposition) == ("1795861147.5", "REJECTED")


def _through_first(events: list[dict[str, str | list[str]]], name: str) -> int:
    """The length of `events` up to and including the first `name` event."""
    return next(i for i, e in enumerate(events) if e.get("Event") == name) + 1


@pytest.mark.parametrize(
    ("dropped", "next_session", "restarted"),
    [
        (True, "agi-silent-close", True),  # recorded after Asterisk restarted: counter 4
        (True, "campaign-burst", False),  # recorded before the restart: counter 92 on
        (False, "agi-silent-close", False),  # no drop: the link saw every event
    ],
)
def test_a_restart_during_a_link_drop_closes_the_calls_that_were_up(
    fixtures_dir: Path, dropped: bool, next_session: str, restarted: bool
) -> None:
    # allow-noanswer (channel counter 72-75), cut while the callee rings: the call is open
    # when the link drops. The read-only user gets no Shutdown; the counter tells.
    ringing = load(fixtures_dir, "allow-noanswer")
    ringing = ringing[: _through_first(ringing, "DialEnd") - 1]
    tracker = CallTracker(asterisk_tz=SYDNEY)
    assert run(ringing, tracker) == [] and tracker.open_calls == 1
    if dropped:
        tracker.link_lost()
    after = load(fixtures_dir, next_session)
    first_channel = _through_first(after, "Newchannel")
    at_once = run(after[:first_channel], tracker)
    later = run(after[first_channel:], tracker)
    cut = [o for o in at_once + later if o.call_id == "1795859897.73"]
    assert tracker.restarts == int(restarted)
    if restarted:
        [closed] = [o for o in at_once if o.call_id == "1795859897.73"]
        assert (closed.dialled, closed.disposition, closed.ended_at) == ("61400000003", None, None)
        assert tracker.open_calls == 0
    else:
        assert cut == [] and tracker.open_calls == 1  # left to the stale sweep


def renumbered(
    events: list[dict[str, str | list[str]]], old: str, new: str
) -> list[dict[str, str | list[str]]]:
    def swap(value: str | list[str]) -> str | list[str]:
        return (
            value.replace(old, new)
            if isinstance(value, str)
            else [v.replace(old, new) for v in value]
        )

    return [{key: swap(value) for key, value in event.items()} for event in events]


@pytest.mark.parametrize(
    ("counter", "restarted"), [("1795859897.1", True), ("1795859897.0", False)]
)
def test_a_restart_soon_after_the_last_is_told_by_a_low_counter_too(
    fixtures_dir: Path, counter: str, restarted: bool
) -> None:
    # Asterisk had made only a dozen channels (.12-.15, or .2-.5) when the link dropped and
    # it restarted: its first new channel (.4) is below them, but not by 32, and the ringing
    # call stayed open until the stale sweep. Below .5 by one is no restart (events a few
    # out of order).
    ringing = load(fixtures_dir, "allow-noanswer")
    ringing = renumbered(ringing[: _through_first(ringing, "DialEnd") - 1], "1795859897.7", counter)
    tracker = CallTracker(asterisk_tz=SYDNEY)
    run(ringing, tracker)
    tracker.link_lost()
    after = load(fixtures_dir, "agi-silent-close")
    run(after[: _through_first(after, "Newchannel")], tracker)
    assert tracker.restarts == int(restarted)


def test_a_dial_end_after_the_call_s_last_hangup_still_tells_it_was_answered(
    fixtures_dir: Path,
) -> None:
    # With no Cdr to follow (CDRs off, or lost in a gap), an answered call whose DialEnd came
    # after its last Hangup was recorded unanswered: a short or abandoned call to the
    # detectors.
    events = [e for e in load(fixtures_dir, "allow-answered") if e.get("Event") != "Cdr"]
    dial_end = next(e for e in events if e.get("Event") == "DialEnd")
    events = [e for e in events if e is not dial_end] + [dial_end]
    outcomes = [o for o in run(events) if o.call_id == "1795859878.63"]
    assert (outcomes[0].disposition, outcomes[0].answered_at) == (None, None)
    assert (outcomes[-1].disposition, outcomes[-1].answered_at) == ("ANSWERED", NOW)


def test_an_assigned_channel_id_after_a_drop_is_no_restart(fixtures_dir: Path) -> None:
    # An Originate ChannelId or ARI channelId such as `campaign-7.3` is no channel counter.
    ringing = load(fixtures_dir, "allow-noanswer")
    ringing = ringing[: _through_first(ringing, "DialEnd") - 1]
    tracker = CallTracker(asterisk_tz=SYDNEY)
    run(ringing, tracker)
    tracker.link_lost()
    assigned = {"Event": "Newchannel", "Uniqueid": "campaign-7.3", "Linkedid": "campaign-7.3"}
    assert run([assigned], tracker) == []
    assert tracker.restarts == 0 and tracker.open_calls == 2


def test_hangup_during_agi_is_no_attempt(fixtures_dir: Path) -> None:
    tracker = CallTracker()
    assert run(load(fixtures_dir, "hangup-during-agi"), tracker) == []
    assert tracker.open_calls == 0


def test_other_recordings(fixtures_dir: Path) -> None:
    [bad] = run(load(fixtures_dir, "agi-bad-commands"))
    assert (bad.call_id, bad.disposition, bad.billsec) == ("1795859917.85", "ANSWERED", 2)
    [optout] = run(load(fixtures_dir, "optout-userevent"))
    assert (optout.call_id, optout.dialled, optout.disposition) == (
        "1795859911.81",
        "61400000006",
        "ANSWERED",
    )
    assert run(load(fixtures_dir, "asterisk-restart")) == []
    assert run(load(fixtures_dir, "login-failed")) == []


def test_campaign_burst(fixtures_dir: Path) -> None:
    outcomes = run(load(fixtures_dir, "campaign-burst"))
    assert len(outcomes) == 7
    assert len({o.call_id for o in outcomes}) == 7
    answered = [o for o in outcomes if o.disposition == "ANSWERED"]
    assert len(answered) == 5
    assert {o.dialled for o in answered} == {"61400000005"}
    assert len({o.caller_id for o in answered}) == 5
    assert all(o.billsec is not None and o.billsec <= 2 for o in answered)
    others = sorted((o.dialled, o.disposition) for o in outcomes if o not in answered)
    assert others == [("61400000002", "BUSY"), ("61400000004", "FAILED")]


def test_replay_gives_the_same_outcomes(fixtures_dir: Path) -> None:
    events = load(fixtures_dir, "campaign-burst")
    tracker = CallTracker(asterisk_tz=SYDNEY)
    first = run(events, tracker)
    second = run(events, tracker)
    assert first == second
    assert tracker.open_calls == 0


def test_late_cdr_updates_once(fixtures_dir: Path) -> None:
    events = load(fixtures_dir, "allow-busy")
    cdr = next(e for e in events if e["Event"] == "Cdr")
    tracker = CallTracker(asterisk_tz=SYDNEY)
    [early] = run([e for e in events if e is not cdr], tracker)
    assert early.billsec is None
    [late] = tracker.feed(cdr, NOW)
    assert late.call_id == early.call_id and late.billsec == 0
    assert late.disposition == "BUSY" and late.started_at is not None
    assert tracker.feed(cdr, NOW) == []  # the same CDR again changes nothing


def test_timestamp_header_is_the_event_time(fixtures_dir: Path) -> None:
    events = [dict(e) for e in load(fixtures_dir, "allow-busy") if e["Event"] != "Cdr"]
    for event in events:
        event["Timestamp"] = "1795859891.500000"
    [outcome] = run(events)
    assert outcome.started_at == datetime.fromtimestamp(1795859891.5, UTC)


def test_sweep_closes_calls_whose_end_was_lost(fixtures_dir: Path) -> None:
    events = load(fixtures_dir, "allow-answered")
    cut = next(i for i, e in enumerate(events) if e["Event"] == "DialEnd")
    tracker = CallTracker(stale_after=timedelta(hours=4))
    assert run(events[: cut + 1], tracker) == []
    assert tracker.sweep(NOW + timedelta(hours=1)) == []
    [outcome] = tracker.sweep(NOW + timedelta(hours=5))
    assert (outcome.call_id, outcome.disposition, outcome.ended_at) == (
        "1795859878.63",
        "ANSWERED",
        None,
    )
    assert tracker.open_calls == 0


def test_memory_is_bounded(fixtures_dir: Path) -> None:
    tracker = CallTracker(max_open_calls=10, max_finished=5)
    for n in range(100):
        tracker.feed({"Event": "Newchannel", "Uniqueid": f"1.{n}", "Linkedid": f"1.{n}"}, NOW)
    assert tracker.open_calls <= 10
    assert len(tracker._finished) <= 5


def test_a_call_closed_early_to_bound_memory_still_gives_its_outcome() -> None:
    tracker = CallTracker(max_open_calls=1)
    refused = [
        {"Event": "Newchannel", "Uniqueid": "1.2", "Linkedid": "1.1", "Exten": "61400000001"},
        {"Event": "Newchannel", "Uniqueid": "1.1", "Linkedid": "1.1", "Exten": "61400000001"},
        {"Event": "Hangup", "Uniqueid": "1.2", "Linkedid": "1.1", "Cause": "21"},
    ]
    assert run(refused, tracker) == []  # 1.1 is still up
    opens_another = {"Event": "Newchannel", "Uniqueid": "2.1", "Linkedid": "2.1"}
    [outcome] = tracker.feed(opens_another, NOW)  # the oldest call is closed with what is known
    assert (outcome.call_id, outcome.disposition, outcome.cause) == ("1.2", "REJECTED", 21)
    assert tracker.open_calls == 1


# The dialler's mark for the answered call of the `allow-answered` recording.
ABANDONED_MARK = {
    "Event": "UserEvent",
    "UserEvent": "DialguardAbandoned",
    "Uniqueid": "1795859878.65",
    "Linkedid": "1795859878.62",
    "Number": "61400000001",
}


def test_abandoned_mark_by_linkedid(fixtures_dir: Path) -> None:
    events = load(fixtures_dir, "allow-answered")
    mark = ABANDONED_MARK
    cut = next(i for i, e in enumerate(events) if e["Event"] == "DialEnd")
    [outcome] = run([*events[:cut], mark, *events[cut:]])
    assert outcome.abandoned
    # After the call ended, the mark updates the recorded outcome by number.
    tracker = CallTracker()
    [before] = run(events, tracker)
    [after] = tracker.feed({**mark, "Uniqueid": "", "Linkedid": ""}, NOW)
    assert not before.abandoned and after.abandoned and after.call_id == before.call_id


def test_an_abandoned_mark_matched_by_number_alone_takes_only_a_call_just_ended(
    fixtures_dir: Path,
) -> None:
    # Matched by number at any distance, a mark for a call the tracker never saw blamed an
    # earlier call to the same callee, perhaps another tenant's, in its abandoned rate.
    events = load(fixtures_dir, "allow-answered")
    unknown = {**ABANDONED_MARK, "Uniqueid": "1795999999.5", "Linkedid": "1795999999.4"}
    tracker = CallTracker()
    run(events, tracker)
    assert tracker.feed(unknown, NOW + timedelta(hours=5)) == []
    [marked] = tracker.feed(unknown, NOW + timedelta(minutes=1))
    assert marked.abandoned


# AMD's verdict on the same call, as [sub-dialguard-amd] raises it on the answered leg.
AMD_MARK = {
    **ABANDONED_MARK,
    "UserEvent": "DialguardAmd",
    "Status": "MACHINE",
    "Cause": "INITIALSILENCE-2500-5000",
}


def test_amd_verdict_is_stored_on_the_call(fixtures_dir: Path) -> None:
    events = load(fixtures_dir, "allow-answered")
    cut = next(i for i, e in enumerate(events) if e["Event"] == "DialEnd")
    [outcome] = run([*events[:cut], AMD_MARK, *events[cut:]])
    assert outcome.amd == "MACHINE" and outcome.machine and not outcome.abandoned
    # A verdict that arrives after the call ended updates the recorded outcome, once.
    tracker = CallTracker()
    [before] = run(events, tracker)
    [after] = tracker.feed({**AMD_MARK, "Status": "human"}, NOW)
    assert before.amd is None and after.amd == "HUMAN" and not after.machine
    assert tracker.feed({**AMD_MARK, "Status": "human"}, NOW) == []  # a replay changes nothing


def test_amd_event_without_a_status_is_ignored(fixtures_dir: Path) -> None:
    # ${AMDSTATUS} is empty when AMD() did not run before the UserEvent: no verdict to keep.
    tracker = CallTracker()
    run(load(fixtures_dir, "allow-answered"), tracker)
    for status in ("", "maybe"):
        assert parse_user_event({**AMD_MARK, "Status": status}) is None
        assert tracker.feed({**AMD_MARK, "Status": status}, NOW) == []


def test_user_event_parsing() -> None:
    optout = parse_user_event(
        {
            "Event": "UserEvent",
            "UserEvent": "OptOutRequest",
            "Number": "61400000006",
            "Campaign": "",
        }
    )
    assert optout is not None and optout.number == "61400000006" and optout.campaign is None
    contract = parse_user_event(
        {"event": "UserEvent", "userevent": "DialguardOptOut", "Tenant": "acme", "Number": "x"}
    )
    assert contract is not None and contract.tenant == "acme"
    assert parse_user_event({"Event": "UserEvent", "UserEvent": "Other"}) is None
    assert parse_user_event({"Event": "Hangup"}) is None


def test_chanvariable_string_or_list() -> None:
    assert parse_chanvariables("DIALGUARD_VERDICT=BLOCK") == {"DIALGUARD_VERDICT": "BLOCK"}
    assert parse_chanvariables(["A=1", "B=x=y", "junk", "C="]) == {"A": "1", "B": "x=y", "C": ""}
    assert parse_chanvariables(None) == {}


def test_tenant_from_channel_variables(fixtures_dir: Path) -> None:
    events = [dict(e) for e in load(fixtures_dir, "allow-answered")]
    for event in events:
        if event["Event"] == "DialBegin" and "Uniqueid" in event:
            event["ChanVariable"] = ["DIALGUARD_TENANT=acme", "DIALGUARD_CAMPAIGN=spring"]
    [outcome] = run(events)
    assert (outcome.tenant, outcome.campaign) == ("acme", "spring")


_NAMES = st.sampled_from(
    ["Newchannel", "DialBegin", "DialEnd", "Hangup", "Cdr", "UserEvent", "VarSet", "", "hangup"]
)
_KEYS = st.sampled_from(
    ["Uniqueid", "Linkedid", "DestUniqueid", "DialString", "DialStatus", "Cause", "Exten",
     "UniqueID", "Timestamp", "StartTime", "BillableSeconds", "UserEvent", "ChanVariable",
     "LastApplication", "Number", "CallerIDNum"]
)  # fmt: skip
_VALUES = st.one_of(
    st.sampled_from(["1.1", "1.2", "21", "ANSWER", "Dial", "DialguardAbandoned", "x=y"]),
    st.text(max_size=12),
    st.lists(st.text(max_size=5), max_size=3),
)


@settings(max_examples=60, deadline=None)
@given(st.lists(st.tuples(_NAMES, st.dictionaries(_KEYS, _VALUES, max_size=8)), max_size=40))
def test_garbage_never_raises(stream: list[tuple[str, dict[str, object]]]) -> None:
    tracker = CallTracker(max_open_calls=5, max_finished=5)
    for name, headers in stream:
        tracker.feed({"Event": name, **headers}, NOW)  # type: ignore[dict-item]
    tracker.sweep(NOW + timedelta(days=1))
    assert tracker.open_calls == 0


@settings(
    max_examples=20, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(st.randoms(use_true_random=False))
def test_interleaved_recordings_never_raise(fixtures_dir: Path, rnd: object) -> None:
    import random

    assert isinstance(rnd, random.Random)
    events = load(fixtures_dir, "allow-answered") + load(fixtures_dir, "block-rejected")
    rnd.shuffle(events)
    tracker = CallTracker()
    outcomes = run(events, tracker)
    assert {o.call_id for o in outcomes} <= {e.get("Uniqueid") for e in events} | {
        e.get("UniqueID") for e in events
    }
    tracker.sweep(NOW + timedelta(days=1))
    assert tracker.open_calls == 0


def test_a_cdr_time_before_year_one_in_utc_is_unknown_not_an_error() -> None:
    # 0001-01-01 in Sydney is in year 0 in UTC: astimezone raised out of feed.
    tracker = CallTracker(asterisk_tz=SYDNEY)
    cdr = {"Event": "Cdr", "UniqueID": "1.5", "LastApplication": "Dial"}
    [outcome] = tracker.feed({**cdr, "StartTime": "0001-01-01 00:00:00"}, NOW)
    assert outcome.call_id == "1.5" and outcome.started_at is None


def test_dial_to_two_targets_answered_by_one_is_answered_without_a_cdr() -> None:
    # Dial(A&B): B's DialEnd (CANCEL) came after A's ANSWER and replaced it, so without a Cdr
    # the answered call was stored as NO ANSWER (the guard's "conversation" fact).
    leg = {
        "Channel": "PJSIP/agent-1",
        "Uniqueid": "1795859000.1",
        "Linkedid": "1795859000.1",
        "Exten": "61400000001",
        "CallerIDNum": "+61291234567",
    }

    def dest(n: str) -> dict[str, str]:
        return {"DestUniqueid": f"1795859000.{n}", "DestLinkedid": "1795859000.1"}

    events = [
        {"Event": "Newchannel", **leg},
        {"Event": "DialBegin", **leg, **dest("2"), "DestChannel": "PJSIP/a-2", "DialString": "a"},
        {"Event": "DialBegin", **leg, **dest("3"), "DestChannel": "PJSIP/b-3", "DialString": "b"},
        {"Event": "DialEnd", **leg, **dest("2"), "DialStatus": "ANSWER"},
        {"Event": "DialEnd", **leg, **dest("3"), "DialStatus": "CANCEL"},
        {"Event": "Hangup", "Uniqueid": "1795859000.3", "Linkedid": "1795859000.1", "Cause": "26"},
        {"Event": "Hangup", "Uniqueid": "1795859000.2", "Linkedid": "1795859000.1", "Cause": "16"},
        {"Event": "Hangup", **leg, "Cause": "16"},
    ]
    [outcome] = run(events)
    assert outcome.disposition == "ANSWERED" and outcome.answered_at is not None


def test_a_cdr_time_a_clock_change_repeats_is_read_as_the_event_allows() -> None:
    # 01:30 on 25 October 2026 happens twice in London. The Cdr is written when the call
    # ends, so its start is the later reading not after the event: Python's first reading
    # (BST) put a call made in the second 01:30 an hour early.
    def started(timestamp: datetime) -> datetime | None:
        cdr = {
            "Event": "Cdr",
            "Uniqueid": "1795000000.1",
            "LastApplication": "Dial",
            "Destination": "442071234567",
            "Disposition": "NO ANSWER",
            "StartTime": "2026-10-25 01:30:00",
            "EndTime": "2026-10-25 01:30:40",
            "Timestamp": f"{timestamp.timestamp():.6f}",
        }
        [outcome] = CallTracker(asterisk_tz=ZoneInfo("Europe/London")).feed(cdr, NOW)
        return outcome.started_at

    second = datetime(2026, 10, 25, 1, 31, tzinfo=UTC)  # 01:31 GMT
    first = datetime(2026, 10, 25, 0, 31, tzinfo=UTC)  # 01:31 BST
    assert started(second) == datetime(2026, 10, 25, 1, 30, tzinfo=UTC)
    assert started(first) == datetime(2026, 10, 25, 0, 30, tzinfo=UTC)


def test_a_call_spanning_a_clock_change_starts_before_it_ends() -> None:
    # 70 minutes from 01:10 BST to 01:20 GMT (Duration 4,200 s): read alone, each time took
    # its later reading, and the call started an hour late (4,195 s billed in 10 minutes).
    cdr = {
        "Event": "Cdr",
        "Uniqueid": "1795000000.2",
        "LastApplication": "Dial",
        "Destination": "442071234567",
        "Disposition": "ANSWERED",
        "StartTime": "2026-10-25 01:10:00",
        "AnswerTime": "2026-10-25 01:10:05",
        "EndTime": "2026-10-25 01:20:00",
        "Duration": "4200",
        "BillableSeconds": "4195",
        "Timestamp": f"{datetime(2026, 10, 25, 1, 20, 30, tzinfo=UTC).timestamp():.6f}",
    }
    [outcome] = CallTracker(asterisk_tz=ZoneInfo("Europe/London")).feed(cdr, NOW)
    assert outcome.started_at == datetime(2026, 10, 25, 0, 10, tzinfo=UTC)
    assert outcome.ended_at == datetime(2026, 10, 25, 1, 20, tzinfo=UTC)
