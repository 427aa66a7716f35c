"""Where the callee is: country, candidate regions and IANA time zones.

Placeholder for issue 3, which infers regions and zones from the number. Until then the
location is the number's country plus whatever the caller supplied.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from zoneinfo import ZoneInfo

from rules.models import CallAttempt
from rules.numbers import ParsedNumber
from rules.policy import Policy


@dataclass(frozen=True, slots=True)
class CalleeLocation:
    """Every place the callee may be. Rules must allow the call in all of them.

    `source` says how it was found: `customer` (given with the call), `number` (inferred),
    or `unknown`.
    """

    country: str | None
    regions: tuple[str, ...] = ()
    timezones: tuple[str, ...] = ()
    source: str = "unknown"

    def local_times(self, at: datetime) -> tuple[datetime, ...]:
        return tuple(at.astimezone(ZoneInfo(tz)) for tz in self.timezones)


def locate(attempt: CallAttempt, destination: ParsedNumber, policy: Policy) -> CalleeLocation:
    regions = (attempt.callee_region,) if attempt.callee_region else ()
    zones = (attempt.callee_timezone,) if attempt.callee_timezone else ()
    source = "customer" if (regions or zones) else ("number" if destination.country else "unknown")
    return CalleeLocation(destination.country, regions, zones, source)
