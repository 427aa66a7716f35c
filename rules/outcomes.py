"""What happened to a call, as the AMI listener (or a history import) records it."""

from __future__ import annotations

from dataclasses import dataclass, replace
from datetime import datetime

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
