"""The call lifecycle tracker: AMI events in, `CallOutcome` records out. No I/O, no clock.

How a call is read from the events (as the Asterisk 22 recordings show them):
- Channels are grouped by the `Linkedid` they were first seen with (`Newchannel`, or a
  `DialBegin` naming them); a call ends when the last live channel of its group hangs up.
- The *attempt* leg is the caller side of a `DialBegin` that carries a caller block
  (`Uniqueid`) and a `DialString`: the channel that ran the AGI check and `Dial()`. Its
  `Uniqueid` is the outcome's `call_id` (the guard's decision log uses the same id), its
  `Exten` is the dialled number, its `CallerIDNum` the presented caller ID. A `DialBegin`
  without a caller block (AMI Originate) only marks its destination as a dialled leg.
- The outcome's disposition, billsec and times come from the `Cdr` whose `UniqueID` is the
  attempt leg (`LastApplication: Dial`); CDR times are local Asterisk time, converted to UTC
  with the configured zone. Without a CDR the disposition is mapped from `DialEnd`'s
  `DialStatus` (`DIAL_STATUS_DISPOSITION`, chosen to equal what cdr.conf's defaults write).
- A channel that hangs up with Q.850 cause 21 (Call Rejected), never dialled and was never
  dialled itself, is a call the dialplan refused (blocked, AGI down, no verdict): it gives an
  outcome with disposition `REJECTED`, keyed by its own `Uniqueid`. Asterisk writes no CDR
  for it.
- The cause is the `Hangup` `Cause`/`Cause-txt` of the attempt leg. `SoftHangupRequest` is
  never read: its `Cause` is a bitmask, not Q.850.

Outcomes are emitted when the call ends, and again (merged) when later information arrives
for it (a late `Cdr`, a `DialguardAbandoned` or `DialguardAmd` mark) only if that changes
the record, so a replayed stream never produces a different or doubled record. Calls whose end never arrives
are closed by `sweep(now)` after `stale_after`.

Event time is the `Timestamp` header (manager.conf `timestampevents = yes`) when present,
otherwise the `now` the caller passes with the event.

An Asterisk restart while the AMI link was down ends every call that was up. The read-only
manager user gets no `Shutdown` or `FullyBooted` event (they are `system` class), so the
tracker reads it from the `Uniqueid`s instead: Asterisk numbers channels `<epoch>.<n>` with
`n` counting up from 0 since it started. The caller says when the link dropped
(`link_lost`); if the first channel seen after that has an `n` well below the highest seen
before, Asterisk started again in between, and the calls open at the drop are closed at
once with what is known, instead of at the stale sweep hours later.
"""

from __future__ import annotations

import re
from collections import OrderedDict
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta, tzinfo

from ami_listener.events import (
    AbandonMark,
    AmdMark,
    Event,
    header_value,
    parse_chanvariables,
    parse_user_event,
)
from rules.outcomes import REJECTED, CallOutcome, outranks, placed_answer, placed_times

# DialEnd DialStatus -> CDR disposition, as cdr.c's dial_status_to_disposition does it with
# the default cdr.conf (congestion = no -> FAILED; canceldispositionenabled = no -> NO ANSWER).
DIAL_STATUS_DISPOSITION: Mapping[str, str] = {
    "ANSWER": "ANSWERED",
    "BUSY": "BUSY",
    "NOANSWER": "NO ANSWER",
    "CANCEL": "NO ANSWER",
    "ABORT": "NO ANSWER",
    "CONGESTION": "FAILED",
    "CHANUNAVAIL": "FAILED",
}

# A Uniqueid's channel counter: `1795859878.62` (or `<systemname>-1795859878.62`) -> 62.
# Asterisk writes its clock (time(), ten digits) before the dot; an id an application
# assigned (Originate ChannelId, ARI channelId: `campaign-7.3`) has no such counter.
_UNIQUEID_COUNTER = re.compile(r"(?:^|-)\d{10,}\.(\d+)$")
# How far below the highest counter seen a new channel's must be to mean a restart. Channels
# are numbered as they are allocated, and their Newchannel events can come a few out of
# order; a restart drops the counter to near 0.
RESTART_COUNTER_MARGIN = 32

CALL_REJECTED_CAUSE = 21  # Q.850 CALL_REJECTED: the dialplan's Hangup(21)

_UNKNOWN = "<unknown>"
_TRACKED_VARIABLES = ("DIALGUARD_TENANT", "DIALGUARD_CAMPAIGN")


@dataclass(slots=True)
class _Cdr:
    disposition: str | None
    billsec: int | None
    start: datetime | None
    answer: datetime | None
    end: datetime | None
    destination: str | None
    source: str | None


@dataclass(slots=True)
class _Attempt:
    call_id: str
    linkedid: str | None
    dialled: str | None = None
    caller_id: str | None = None
    tenant: str | None = None
    campaign: str | None = None
    began_at: datetime | None = None
    answered_at: datetime | None = None
    ended_at: datetime | None = None
    dial_status: str | None = None
    cause: int | None = None
    cause_txt: str | None = None
    cdr: _Cdr | None = None
    abandoned: bool = False
    amd: str | None = None  # AMDSTATUS from DialguardAmd
    rejected: bool = False
    legs: list[str] = field(default_factory=list)  # Local hops it dialled on through
    targets: set[str] = field(default_factory=set)  # the channels it dialled, by name
    refused: set[str] = field(default_factory=set)  # those a route refused (cause 21)

    @property
    def refused_everywhere(self) -> bool:
        """Every channel it dialled was a Local route that refused the call before dialling
        on (the guard blocked it there), and nothing answered: a refused call. Dial(A&B),
        or a fall-through to another Dial, that reached someone is a call placed."""
        answered = (
            self.answered_at is not None
            or self.dial_status == "ANSWER"
            or (self.cdr is not None and self.cdr.disposition == "ANSWERED")
        )
        return bool(self.targets) and self.targets <= self.refused and not answered

    def outcome(self) -> CallOutcome:
        cdr = self.cdr
        if self.rejected or self.refused_everywhere:
            disposition: str | None = REJECTED
        elif cdr is not None and cdr.disposition:
            disposition = cdr.disposition
        else:
            disposition = DIAL_STATUS_DISPOSITION.get(self.dial_status or "")
        billsec = cdr.billsec if cdr is not None else (0 if self.rejected else None)
        return CallOutcome(
            call_id=self.call_id,
            linkedid=self.linkedid,
            dialled=self.dialled or (cdr.destination if cdr else None),
            caller_id=self.caller_id or (cdr.source if cdr else None),
            tenant=self.tenant,
            campaign=self.campaign,
            started_at=(cdr.start if cdr and cdr.start else None) or self.began_at,
            answered_at=(cdr.answer if cdr and cdr.answer else None) or self.answered_at,
            ended_at=(cdr.end if cdr and cdr.end else None) or self.ended_at,
            disposition=disposition,
            cause=self.cause,
            cause_txt=self.cause_txt,
            billsec=billsec,
            abandoned=self.abandoned,
            amd=self.amd,
        )


@dataclass(slots=True)
class _Channel:
    linkedid: str
    exten: str | None
    seen_at: datetime


@dataclass(slots=True)
class _Call:
    """The channels sharing one Linkedid."""

    linkedid: str
    last_seen: datetime
    live: set[str] = field(default_factory=set)
    attempts: dict[str, _Attempt] = field(default_factory=dict)
    dests: set[str] = field(default_factory=set)  # legs something dialled
    rejected: dict[str, _Attempt] = field(default_factory=dict)  # cause-21 hang-ups
    # Local channels (their `;1` half) that an attempt leg dialled: the `;2` half dialling
    # on is the same attempt going through one more route, not a call of its own.
    hops: dict[str, str] = field(default_factory=dict)  # `;1` name -> the attempt's uid


def _get(event: Mapping[str, object], key: str) -> str | None:
    """A header from a lower-cased event; first value if repeated; empty -> None."""
    return header_value(event.get(key))


def _better_cdr(known: _Cdr | None, new: _Cdr) -> _Cdr:
    """The Cdr that tells how the attempt went: the latest, unless the one known outranks it
    (Dial(A&B) posts one per target, in dial order, cdr.c)."""
    if known is not None and outranks(known.disposition, new.disposition):
        return known
    return new


def _local_half(channel: str | None, half: str) -> str:
    """`Local/N@ctx-0000001f;1` for half "1" of a Local channel's name; "" for other channels."""
    if channel is None or not channel.lower().startswith("local/") or channel[-2:-1] != ";":
        return ""
    return f"{channel[:-1]}{half}"


def _caller(value: str | None) -> str | None:
    return None if value is None or value == _UNKNOWN else value


def _int(value: str | None) -> int | None:
    if value is None:
        return None
    try:
        return int(value)
    except ValueError:
        return None


class CallTracker:
    """Feed it AMI events in arrival order; it returns the outcomes each event completes."""

    def __init__(
        self,
        *,
        asterisk_tz: tzinfo | None = None,
        stale_after: timedelta = timedelta(hours=4),
        max_open_calls: int = 50_000,
        max_finished: int = 20_000,
    ) -> None:
        """`asterisk_tz`: the zone Asterisk writes CDR times in (None: this machine's local
        zone). `max_open_calls` bounds memory: beyond it the oldest call is closed early with
        what is known. `max_finished` recent outcomes are kept to merge late `Cdr`s."""
        self.asterisk_tz = asterisk_tz
        self.stale_after = stale_after
        self.max_open_calls = max_open_calls
        self.max_finished = max_finished
        self._calls: OrderedDict[str, _Call] = OrderedDict()
        self._channels: dict[str, _Channel] = {}
        self._attempt_call: dict[str, str] = {}  # attempt uniqueid -> its call's linkedid
        self._finished: OrderedDict[str, tuple[_Attempt, CallOutcome]] = OrderedDict()
        self._hop_legs: OrderedDict[str, None] = OrderedDict()  # see `_Call.hops`
        self._evicted: list[CallOutcome] = []  # closed early to bound memory, for `feed`
        self._highest_counter: int | None = None  # of the Uniqueids seen since the start
        self._open_at_drop: set[str] | None = None  # Linkedids open when the link dropped
        self.restarts = 0  # Asterisk restarts noticed (see the module docstring)
        self._handlers: dict[str, Callable[[Mapping[str, object], datetime], list[CallOutcome]]] = {
            "newchannel": self._on_newchannel,
            "dialbegin": self._on_dial_begin,
            "dialend": self._on_dial_end,
            "hangup": self._on_hangup,
            "cdr": self._on_cdr,
            "userevent": self._on_user_event,
        }

    # -- public --------------------------------------------------------------------------

    @property
    def open_calls(self) -> int:
        return len(self._calls)

    def attempts_of(self, linkedid: str) -> list[str]:
        """The attempt legs (call_ids) of the call with this Linkedid, open or recently ended,
        each followed by the Local hops it dialled on through."""
        call = self._calls.get(linkedid)
        if call is not None and call.attempts:
            return [leg for a in call.attempts.values() for leg in (a.call_id, *a.legs)]
        ended = [a for a, _ in self._finished.values() if a.linkedid == linkedid][-3:]
        return [leg for a in ended for leg in (a.call_id, *a.legs)]

    def legs_of(self, call_id: str) -> list[str]:
        """The Local hops the attempt `call_id` dialled on through (see `_Call.hops`)."""
        linkedid = self._attempt_call.get(call_id)
        call = self._calls.get(linkedid) if linkedid is not None else None
        attempt = call.attempts.get(call_id) if call is not None else None
        if attempt is None:
            entry = self._finished.get(call_id)
            attempt = entry[0] if entry is not None else None
        return list(attempt.legs) if attempt is not None else []

    def feed(self, event: Event, now: datetime) -> list[CallOutcome]:
        """Apply one event (header -> value, any key case). Never raises on odd input."""
        name = event.get("Event", event.get("event"))
        if isinstance(name, list):
            name = name[0] if name else None
        if not isinstance(name, str):
            return []
        handler = self._handlers.get(name.lower())
        if handler is None:
            return []
        lowered = {str(k).lower(): v for k, v in event.items()}
        stamp = _get(lowered, "timestamp")
        at = now
        if stamp is not None:
            try:
                at = datetime.fromtimestamp(float(stamp), UTC)
            except (ValueError, OverflowError, OSError):
                at = now
        out = handler(lowered, at)
        if self._evicted:
            out, self._evicted = [*self._evicted, *out], []
        return out

    def link_lost(self) -> None:
        """The AMI link dropped: the first channel seen after it tells whether Asterisk
        restarted meanwhile. Call it in event order (after the last event before the drop)."""
        self._open_at_drop = set(self._calls)

    def sweep(self, now: datetime) -> list[CallOutcome]:
        """Close calls with no event for `stale_after` (their end was lost, e.g. in an AMI
        gap) and emit them with what is known."""
        cutoff = now - self.stale_after
        stale = [call for call in self._calls.values() if call.last_seen < cutoff]
        out: list[CallOutcome] = []
        for call in stale:
            out.extend(self._finish(call))
        return out

    # -- handlers ------------------------------------------------------------------------

    def _call_for(self, linkedid: str, at: datetime) -> _Call:
        call = self._calls.get(linkedid)
        if call is None:
            call = self._calls[linkedid] = _Call(linkedid, at)
            if len(self._calls) > self.max_open_calls:
                # Bounded memory: close the oldest call with what is known; a later event
                # for it still merges through the finished list.
                oldest = next(iter(self._calls.values()))
                self._evicted.extend(self._finish(oldest))
        call.last_seen = at
        return call

    def _register(self, uid: str, linkedid: str, exten: str | None, at: datetime) -> _Call:
        channel = self._channels.get(uid)
        if channel is None:
            channel = self._channels[uid] = _Channel(linkedid, exten, at)
        call = self._call_for(channel.linkedid, at)
        call.live.add(uid)
        return call

    def _on_newchannel(self, event: Mapping[str, object], at: datetime) -> list[CallOutcome]:
        uid, lid = _get(event, "uniqueid"), _get(event, "linkedid")
        if uid is None:
            return []
        out = self._after_restart(uid)
        self._register(uid, lid or uid, _get(event, "exten"), at)
        return out

    def _after_restart(self, uid: str) -> list[CallOutcome]:
        """The calls open at the link's drop, closed, when `uid` (the first channel since)
        shows that Asterisk restarted in between; else nothing."""
        match = _UNIQUEID_COUNTER.search(uid)
        if match is None:
            return []
        counter = int(match.group(1))
        highest, open_at_drop = self._highest_counter, self._open_at_drop
        # Half the highest counter at most: after a restart soon after the last one (a few
        # dozen channels), a margin of 32 took no counter for a restart, and the calls up at
        # the drop stayed open until the stale sweep, hours later.
        restarted = (
            open_at_drop is not None
            and highest is not None
            and counter + min(RESTART_COUNTER_MARGIN, highest // 2) < highest
        )
        self._open_at_drop = None  # the first channel after the drop decides
        if not restarted:
            self._highest_counter = counter if highest is None else max(highest, counter)
            return []
        self.restarts += 1
        self._highest_counter = counter  # Asterisk counts from 0 again
        out: list[CallOutcome] = []
        for linkedid in open_at_drop or ():
            call = self._calls.get(linkedid)
            if call is not None:
                out.extend(self._finish(call))
        return out

    def _on_dial_begin(self, event: Mapping[str, object], at: datetime) -> list[CallOutcome]:
        uid, dest = _get(event, "uniqueid"), _get(event, "destuniqueid")
        lid = _get(event, "linkedid") or _get(event, "destlinkedid") or uid or dest
        if lid is None:
            return []
        if uid is not None and _get(event, "dialstring") is not None:
            call = self._register(uid, lid, _get(event, "exten"), at)
            channel = _get(event, "channel") or ""
            hop = _local_half(channel, "1") if channel.endswith(";2") else ""
            onward = _local_half(_get(event, "destchannel"), "1")
            origin = call.hops.get(hop) if hop else None
            if origin is not None and uid not in call.attempts:
                # Dial(Local/N@route) from an attempt, and the route dials on: the same call
                # going one route further, not an attempt of its own (its Cdr neither, nor
                # its hang-up). The guard may have checked either leg: the listener looks
                # for the decision under both (`legs_of`).
                self._remember_hop(uid)
                call.dests.add(uid)
                if origin in call.attempts:
                    call.attempts[origin].legs.append(uid)
                if onward:
                    call.hops[onward] = origin
                if dest is not None:
                    self._register(dest, _get(event, "destlinkedid") or lid, None, at)
                    call.dests.add(dest)
                return []
            if onward:
                call.hops[onward] = uid
            attempt = call.attempts.get(uid)
            if attempt is None:
                attempt = call.attempts[uid] = _Attempt(uid, call.linkedid, began_at=at)
                self._finished.pop(uid, None)  # a replay starts the attempt afresh
            attempt.targets.add(_get(event, "destchannel") or dest or "")
            self._attempt_call[uid] = call.linkedid
            attempt.dialled = attempt.dialled or _get(event, "exten")
            attempt.caller_id = _caller(_get(event, "calleridnum")) or attempt.caller_id
            self._apply_variables(attempt, event)
        if dest is not None:
            call = self._register(dest, _get(event, "destlinkedid") or lid, None, at)
            call.dests.add(dest)
        return []

    def _on_dial_end(self, event: Mapping[str, object], at: datetime) -> list[CallOutcome]:
        uid, status = _get(event, "uniqueid"), _get(event, "dialstatus")
        dest = _get(event, "destuniqueid")
        if dest is not None and dest in self._channels:
            self._call_for(self._channels[dest].linkedid, at).dests.add(dest)
        if uid is None or status is None:
            return []
        attempt = self._open_attempt(uid)
        if attempt is None:
            # After the call's last Hangup (events a little out of order, and no Cdr to
            # follow: CDRs off, or lost in a gap): an answered call was recorded unanswered.
            # Answered no later than it ended.
            return self._late(uid, lambda a: _set_dial_status(a, status, min(at, a.ended_at or at)))
        _set_dial_status(attempt, status, at)
        return []

    def _on_hangup(self, event: Mapping[str, object], at: datetime) -> list[CallOutcome]:
        uid = _get(event, "uniqueid")
        if uid is None:
            return []
        cause, cause_txt = _int(_get(event, "cause")), _get(event, "cause-txt")
        channel = self._channels.pop(uid, None)
        lid = channel.linkedid if channel is not None else _get(event, "linkedid")
        call = self._calls.get(lid) if lid is not None else None
        if call is None:
            return self._late(uid, lambda a: _set_end(a, cause, cause_txt, at))
        call.last_seen = at
        call.live.discard(uid)
        attempt = call.attempts.get(uid)
        if attempt is not None:
            _set_end(attempt, cause, cause_txt, at)
            self._apply_variables(attempt, event)
        elif cause == CALL_REJECTED_CAUSE and (refused := self._refused_hop(call, uid, event)):
            # A phone dialled Local/N@outbound and the route refused the call there, before
            # dialling (the guard blocked it on this leg): unless the attempt reached someone
            # else, it is the refused call, decided on this leg.
            origin, target = refused
            origin.refused.add(target)
            origin.legs.append(uid)
            call.dests.add(uid)
        elif cause == CALL_REJECTED_CAUSE:
            call.rejected[uid] = _Attempt(
                uid,
                call.linkedid,
                dialled=(channel.exten if channel else None) or _get(event, "exten"),
                caller_id=_caller(_get(event, "calleridnum")),
                began_at=channel.seen_at if channel else at,
                ended_at=at,
                cause=cause,
                cause_txt=cause_txt,
                rejected=True,
            )
            self._apply_variables(call.rejected[uid], event)
        if not call.live:
            return self._finish(call)
        return []

    def _on_cdr(self, event: Mapping[str, object], at: datetime) -> list[CallOutcome]:
        uid = _get(event, "uniqueid")
        if uid is None:
            return []
        # A call's times placed together: where a clock change repeats or skips a local
        # time, its end and its duration tell which reading each time is.
        not_after = at + CDR_CLOCK_SLACK
        billsec = _int(_get(event, "billableseconds"))
        start, end = placed_times(
            self._cdr_readings(_get(event, "starttime")),
            self._cdr_readings(_get(event, "endtime")),
            _int(_get(event, "duration")),
            not_after,
        )
        answer = placed_answer(
            self._cdr_readings(_get(event, "answertime")), start, end, billsec, not_after
        )
        cdr = _Cdr(
            disposition=_get(event, "disposition"),
            billsec=billsec,
            start=start,
            answer=answer,
            end=end,
            destination=_get(event, "destination"),
            source=_caller(_get(event, "source")),
        )
        attempt = self._open_attempt(uid)
        if attempt is not None:
            attempt.cdr = _better_cdr(attempt.cdr, cdr)
            return []
        if uid in self._hop_legs:
            return []  # the attempt that dialled the route has its own Cdr
        if uid in self._finished:
            return self._late(uid, lambda a: setattr(a, "cdr", _better_cdr(a.cdr, cdr)))
        if (_get(event, "lastapplication") or "").lower() == "dial":
            # A dialling leg we never saw begin (listener started mid-call, or an AMI gap):
            # the CDR alone still says who was called and how it ended.
            return [self._emit(_Attempt(uid, None, cdr=cdr))]
        return []

    def _on_user_event(self, event: Mapping[str, object], at: datetime) -> list[CallOutcome]:
        mark = parse_user_event(event)
        if isinstance(mark, AbandonMark):
            return self._mark(mark, at, _set_abandoned)
        if isinstance(mark, AmdMark):
            status = mark.status
            return self._mark(mark, at, lambda attempt: _set_amd(attempt, status))
        return []

    # -- helpers -------------------------------------------------------------------------

    def _open_attempt(self, uid: str | None) -> _Attempt | None:
        if uid is None:
            return None
        lid = self._attempt_call.get(uid)
        call = self._calls.get(lid) if lid is not None else None
        return call.attempts.get(uid) if call is not None else None

    def _apply_variables(self, attempt: _Attempt, event: Mapping[str, object]) -> None:
        raw = event.get("chanvariable")
        if raw is None:
            return
        variables = parse_chanvariables(raw if isinstance(raw, str | list) else None)
        attempt.tenant = attempt.tenant or variables.get("DIALGUARD_TENANT") or None
        attempt.campaign = attempt.campaign or variables.get("DIALGUARD_CAMPAIGN") or None

    def _cdr_readings(self, text: str | None) -> list[datetime]:
        """The instants a CDR time can be (`local_readings` on `asterisk_tz`); none when
        it cannot be read."""
        if text is None:
            return []
        try:
            return local_readings(datetime.fromisoformat(text), self.asterisk_tz)
        except (ValueError, OverflowError):  # 0001-01-01 east of UTC: before year 1 in UTC
            return []

    def _finish(self, call: _Call) -> list[CallOutcome]:
        self._calls.pop(call.linkedid, None)
        for uid in call.live:
            self._channels.pop(uid, None)
        out: list[CallOutcome] = []
        for uid, attempt in call.attempts.items():
            self._attempt_call.pop(uid, None)
            out.append(self._emit(attempt))
        for uid, attempt in call.rejected.items():
            if uid not in call.attempts and uid not in call.dests:
                out.append(self._emit(attempt))
        return out

    def _refused_hop(
        self, call: _Call, uid: str, event: Mapping[str, object]
    ) -> tuple[_Attempt, str] | None:
        """The attempt whose Local channel this `;2` leg is, when it never dialled on, and
        the name of the channel it dialled (the `;1` half)."""
        name = _get(event, "channel") or ""
        if uid in call.dests or not name.endswith(";2"):
            return None
        target = _local_half(name, "1")
        origin = call.attempts.get(call.hops.get(target, ""))
        return (origin, target) if origin is not None else None

    def _remember_hop(self, uid: str) -> None:
        self._hop_legs[uid] = None
        while len(self._hop_legs) > self.max_finished:
            self._hop_legs.popitem(last=False)

    def _emit(self, attempt: _Attempt) -> CallOutcome:
        outcome = attempt.outcome()
        self._finished[attempt.call_id] = (attempt, outcome)
        self._finished.move_to_end(attempt.call_id)
        while len(self._finished) > self.max_finished:
            self._finished.popitem(last=False)
        return outcome

    def _late(self, uid: str, update: Callable[[_Attempt], object]) -> list[CallOutcome]:
        """Apply information that arrives after the call was emitted; re-emit if it changed."""
        entry = self._finished.get(uid)
        if entry is None:
            return []
        attempt, before = entry
        update(attempt)
        after = attempt.outcome()
        if after == before:
            return []
        self._finished[uid] = (attempt, after)
        return [after]

    def _mark(
        self, mark: AbandonMark | AmdMark, at: datetime, apply: Callable[[_Attempt], None]
    ) -> list[CallOutcome]:
        """Apply a mark to the attempts of the call it names: by its channel's ids, else by
        the callee's number (an open call, or one that ended moments before)."""
        lid = mark.linkedid
        if mark.uniqueid is not None and mark.uniqueid in self._channels:
            lid = self._channels[mark.uniqueid].linkedid
        call = self._calls.get(lid) if lid is not None else None
        if call is not None and call.attempts:
            for attempt in call.attempts.values():
                apply(attempt)
            call.last_seen = at
            return []
        finished = [
            uid
            for uid, (attempt, _) in self._finished.items()
            if (lid is not None and attempt.linkedid == lid) or uid == mark.uniqueid
        ]
        if not finished and mark.number is not None:
            digits = _digits(mark.number)
            for call in reversed(self._calls.values()):
                matches = [
                    a
                    for a in call.attempts.values()
                    if _same_number(a.dialled, digits) and _same_scope(a, mark)
                ]
                if matches:
                    for attempt in matches:
                        apply(attempt)
                    return []
            finished = [
                uid
                for uid, (attempt, outcome) in reversed(self._finished.items())
                if _same_number(outcome.dialled, digits)
                and _same_scope(attempt, mark)
                and attempt.ended_at is not None
                and abs(at - attempt.ended_at) <= MARK_WINDOW
            ][:1]
        out: list[CallOutcome] = []
        for uid in finished:
            out.extend(self._late(uid, apply))
        return out


def local_readings(value: datetime, tz: tzinfo | None) -> list[datetime]:
    """The instants a CDR time can be, in UTC, earliest first. Without an offset it is local
    (on `tz`, else this machine's zone), and a local time that a clock change repeats or
    skips has two readings; `history import` reads cdr_csv's the same way. Out of range:
    ValueError or OverflowError (OSError from the C library for this machine's zone)."""
    if value.tzinfo is not None:
        return [value.astimezone(UTC)]
    if tz is not None:
        readings = [value.replace(tzinfo=tz, fold=fold) for fold in (0, 1)]
    else:  # a naive time with a fold is read as this machine's local time
        readings = [value.replace(fold=fold) for fold in (0, 1)]
    return sorted({r.astimezone(UTC) for r in readings})


# How far a CDR time may be after the event that carries it (clocks, rounding) and still be
# a reading of it.
CDR_CLOCK_SLACK = timedelta(minutes=1)


# A mark no id ties to a call is matched by the callee's number alone only to a call that
# ended moments before (a dialler marks a call as it gives up on it): an older call to the
# same callee, perhaps another tenant's, would otherwise take the blame in its abandon rate
# (or its AMD lock).
MARK_WINDOW = timedelta(minutes=5)


def _set_abandoned(attempt: _Attempt) -> None:
    attempt.abandoned = True


def _set_amd(attempt: _Attempt, status: str) -> None:
    attempt.amd = status


def _same_scope(attempt: _Attempt, mark: AbandonMark | AmdMark) -> bool:
    """No tenant or campaign that both name differs."""
    return all(
        not (mine and theirs) or mine == theirs
        for mine, theirs in ((attempt.tenant, mark.tenant), (attempt.campaign, mark.campaign))
    )


def _set_dial_status(attempt: _Attempt, status: str, at: datetime) -> None:
    if attempt.dial_status != "ANSWER":  # Dial(A&B): the others end CANCEL after it
        attempt.dial_status = status.upper()
    if attempt.dial_status == "ANSWER" and attempt.answered_at is None:
        attempt.answered_at = at


def _set_end(attempt: _Attempt, cause: int | None, cause_txt: str | None, at: datetime) -> None:
    attempt.cause = cause if cause is not None else attempt.cause
    attempt.cause_txt = cause_txt or attempt.cause_txt
    attempt.ended_at = attempt.ended_at or at


def _digits(text: str) -> str:
    return "".join(ch for ch in text if ch.isdigit())


def _same_number(dialled: str | None, digits: str) -> bool:
    """The same subscriber whatever the prefix form (0..., 61..., +61...): the last 8
    digits agree and one digit string ends with the other's national part."""
    if dialled is None or len(digits) < 6:
        return False
    mine = _digits(dialled)
    if len(mine) < 6:
        return False
    return mine[-8:] == digits[-8:] and (mine.endswith(digits[-9:]) or digits.endswith(mine[-9:]))
