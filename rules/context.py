"""What every rule receives: the call, the parsed numbers, the location, the facts, the policy,
and the decision's instant on the callee's clocks."""

from __future__ import annotations

from dataclasses import dataclass

from rules.facts import Facts
from rules.location import CalleeLocation, LocalView
from rules.models import CallAttempt
from rules.numbers import ParsedNumber
from rules.policy import Policy


@dataclass(frozen=True, slots=True)
class RuleContext:
    attempt: CallAttempt
    policy: Policy
    region: str | None  # the tenant's region, used to read national-format numbers
    destination: ParsedNumber
    caller_id: ParsedNumber | None
    location: CalleeLocation
    facts: Facts
    local: LocalView  # `attempt.at` in each of `location.timezones`
