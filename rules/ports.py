"""The ports: what the rules need filled by the outside (the store, built by `dialguard`).

`agi` and `ami_listener` receive objects satisfying these Protocols; they never see SQL.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Protocol

from rules.facts import Facts, SuppressionEntry
from rules.models import CallAttempt, Decision
from rules.outcomes import CallOutcome


@dataclass(frozen=True, slots=True)
class FactQuery:
    """What the store must look up for one call."""

    number: str | None  # E.164 of the destination, None when unparseable
    tenant: str
    campaign: str | None
    caller_id: str | None  # E.164 of the presented caller ID
    registers: Sequence[str]  # registers whose membership to test for `number`
    caller_id_registers: Sequence[str]  # registers to test for `caller_id` (e.g. dno)
    attempts_since: datetime  # earliest prior attempt any rule may count


class FactSource(Protocol):
    async def facts_for(self, query: FactQuery) -> Facts: ...


class DecisionLog(Protocol):
    async def record_decision(
        self, attempt: CallAttempt, decision: Decision, latency_ms: float, source: str
    ) -> None: ...


class OptOutPending(Exception):
    """The opt-out could not be written now, and is not lost: it is kept (in a spool file
    beside the database) and written as soon as the database takes it, by this process or at
    `serve`'s next start. Not in force until then."""


class SuppressionWriter(Protocol):
    async def add_suppression(self, entry: SuppressionEntry) -> None:
        """Returns only once the entry is durable (committed). May raise `OptOutPending`."""
        ...


class OutcomeSink(Protocol):
    async def upsert_outcome(self, outcome: CallOutcome) -> None:
        """Insert or merge the outcome keyed by `call_id`; replays must not double it."""
        ...

    async def outcomes_between(self, start: datetime, end: datetime) -> Sequence[CallOutcome]: ...


class OutcomeObserver(Protocol):
    """Told about every outcome the listener records (the abuse detectors implement it)."""

    async def outcome_recorded(self, outcome: CallOutcome) -> None: ...


# -- AMI listener ports (appended) ------------------------------------------------------


@dataclass(frozen=True, slots=True)
class DecisionSummary:
    """What the guard decided for one call (by Asterisk Uniqueid), as the listener needs it."""

    call_id: str
    tenant: str
    campaign: str | None
    number: str | None  # E.164 of the destination, None when it could not be parsed
    verdict: str


class ListenerSink(OutcomeSink, SuppressionWriter, Protocol):
    """Everything the AMI listener writes to or reads from (the store fills it)."""

    async def decision_summary(self, call_id: str) -> DecisionSummary | None:
        """The latest decision recorded for `call_id` (the Uniqueid the AGI saw), or None."""
        ...

    async def log_event(self, kind: str, detail: dict[str, Any]) -> None:
        """Record an operational event (e.g. `ami_gap`) in the events table."""
        ...
