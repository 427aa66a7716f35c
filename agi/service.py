"""What the FastAGI routes need from the guard, as a Protocol.

`agi` must not import `dialguard` (dependencies point dialguard -> agi -> rules), so the
routes are written against this Protocol; `dialguard.guard.Guard` implements it.
"""

from __future__ import annotations

from datetime import datetime
from typing import Protocol

from rules.facts import SuppressionEntry
from rules.models import CallAttempt, Decision
from rules.numbers import ParsedNumber
from rules.policy import Policy


class GuardService(Protocol):
    policy: Policy

    async def check(self, attempt: CallAttempt) -> Decision:
        """Decide the call and record the decision (committed behind the answer, within
        milliseconds; counted at once by this process's next check)."""
        ...

    async def record(
        self, attempt: CallAttempt, decision: Decision, latency_ms: float, source: str
    ) -> None:
        """Record a decision taken outside `check` (the failure policy's)."""
        ...

    async def opt_out(self, entry: SuppressionEntry) -> None:
        """Add a suppression entry; returns only once it is durable. Raises `OptOutPending`
        when it cannot be written now but is kept to be written later (not in force yet)."""
        ...

    async def tenants_reached(self, raw: str, at: datetime) -> list[str]:
        """The tenants whose allowed calls reached the number `raw` in the day before `at`,
        the latest first: whose opt-out it is when the channel names no tenant."""
        ...

    def normalize(self, raw: str, tenant: str) -> ParsedNumber:
        """Parse a number as the tenant's region reads it."""
        ...
