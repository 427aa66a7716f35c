"""What happened to a call, as the AMI listener (or a history import) records it."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, replace
from datetime import datetime, timedelta

# The disposition of a call the dialplan refused (Hangup(21) after the guard's block, or
# after the guard failed): it never left the PBX.
REJECTED = "REJECTED"
ANSWERED = "ANSWERED"
# AMDSTATUS of Asterisk's AMD() that says an answering machine took the call. Its others:
# HUMAN, NOTSURE, HANGUP.
AMD_MACHINE = "MACHINE"


def outranks(disposition: str | None, other: str | None) -> bool:
    """Whether `disposition` says more than `other` about one call, whichever came first.
    Dial(A&B) posts one Cdr per target for the dialling leg: the answered one must not give
    way to the target cancelled once the other answered (NO ANSWER, 0 s)."""
    return disposition == ANSWERED != other


@dataclass(frozen=True, slots=True)
class CallOutcome:
    """One outbound call attempt's outcome, keyed by the Uniqueid of the dialling channel.

    `disposition` is a CDR disposition: ANSWERED, NO ANSWER, BUSY, FAILED, CONGESTION,
    or REJECTED (a call the dialplan refused, Q.850 21, which gives no CDR).
    `ring_seconds` is the time from dial start to answer or to the end of an unanswered call.
    `amd` is the AMDSTATUS the dialplan reported (`DialguardAmd`), None when AMD did not run.
    `automated`: an imported call said to be automated (history's `automated` column); a
    recorded call's mark is its decision's (`decisions.automated`).
    """

    call_id: str
    linkedid: str | None = None
    number: str | None = None  # E.164 when known
    dialled: str | None = None  # the extension as dialled
    caller_id: str | None = None
    tenant: str | None = None
    campaign: str | None = None
    started_at: datetime | None = None
    answered_at: datetime | None = None
    ended_at: datetime | None = None
    disposition: str | None = None
    cause: int | None = None
    cause_txt: str | None = None
    billsec: int | None = None
    abandoned: bool = False
    source: str = "ami"
    amd: str | None = None
    automated: bool = False

    @property
    def placed(self) -> bool:
        """The call went out: anything but REJECTED. A call the guard blocked is no call
        made, so it counts for no detector, cap or breach."""
        return self.disposition != REJECTED

    @property
    def machine(self) -> bool:
        """AMD classed the answer as a machine; a false positive is a person hung up on."""
        return self.amd == AMD_MACHINE

    @property
    def answered(self) -> bool:
        return self.disposition == "ANSWERED" or self.answered_at is not None

    @property
    def ring_seconds(self) -> float | None:
        if self.started_at is None:
            return None
        end = self.answered_at or self.ended_at
        return None if end is None else (end - self.started_at).total_seconds()

    def merged(self, newer: CallOutcome) -> CallOutcome:
        """Fill this record's gaps from `newer`; known values are kept (idempotent merge)."""
        changes = {
            name: getattr(newer, name)
            for name in self.__dataclass_fields__
            if getattr(self, name) in (None, False) and getattr(newer, name) not in (None, False)
        }
        return replace(self, **changes) if changes else self


def placed_times(
    starts: Sequence[datetime],
    ends: Sequence[datetime],
    seconds: int | None,
    not_after: datetime | None = None,
) -> tuple[datetime | None, datetime | None]:
    """A call's (start, end) from the instants its local start and end times can be: one
    each, or two an hour (half an hour on Lord Howe) apart where a clock change repeats or
    skips the time. The pair the call's duration `seconds` fits (to a minute) wins, never
    ending before it starts; among pairs that fit alike, or without a duration, one ending
    no later than `not_after` (the event that reported it: another clock, so only a
    tie-break), then the latest (the later instant keeps a call in a cap's window longer).
    Empty sequences give None."""
    if not ends:
        allowed = [t for t in starts if not_after is None or t <= not_after]
        return (max(allowed) if allowed else min(starts, default=None)), None
    if not starts:
        allowed = [t for t in ends if not_after is None or t <= not_after]
        return None, (max(allowed) if allowed else min(ends))
    pairs = [(s, e) for s in starts for e in ends if s <= e] or [(min(starts), max(ends))]

    def late(end: datetime) -> bool:
        return not_after is not None and end > not_after

    if seconds is None:
        return min(pairs, key=lambda p: (late(p[1]), -p[1].timestamp(), -p[0].timestamp()))
    # Whole seconds: a duration of any size compares without a float.
    misfit = {p: abs((p[1] - p[0]) // _SECOND - seconds) for p in pairs}
    return min(
        pairs, key=lambda p: (misfit[p] > _FIT_SLACK_S, late(p[1]), misfit[p], -p[1].timestamp())
    )


def placed_answer(
    answers: Sequence[datetime],
    start: datetime | None,
    end: datetime | None,
    billsec: int | None,
    not_after: datetime | None = None,
) -> datetime | None:
    """A call's answer time among its readings (see `placed_times`), within the call once
    its start and end are placed: the one its billable seconds fit against the end; without
    them, the first after the start (ringing is short); without a start either, as
    `placed_times` takes a time alone."""
    within = [
        a for a in answers if (start is None or a >= start) and (end is None or a <= end)
    ] or list(answers)
    if end is not None and billsec is not None:
        return placed_times(within, [end], billsec, not_after)[0]
    if start is not None:
        return min(within, default=None)
    return placed_times(within, [end] if end is not None else [], None, not_after)[0]


_SECOND = timedelta(seconds=1)
_FIT_SLACK_S = 60  # CDR times are whole seconds, and Asterisk rounds Duration
