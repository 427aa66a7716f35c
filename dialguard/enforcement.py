"""Enforcement: run the abuse detectors over stored outcomes, keep flags, apply suspensions.

`Enforcer` is the `OutcomeObserver` the AMI listener calls after every outcome it stores,
and `sweep(now)` is what the daemon runs every minute. Cost per outcome is bounded:

- the breach check (suppressed or registered number) runs for that one call, immediately, so
  a campaign that breaches is suspended before its next check;
- the other detectors run over the outcome's tenant for their own windows (the widest short
  window, 72 h by default), at most once per `debounce` of call time per tenant, and, on
  the machine's clock, at most a `COST_SHARE`-th of the time: a busy tenant's window costs
  seconds, and the checks need the CPU more than a flag needs to be early. The sweep picks
  up what a debounced burst left;
- the 30-day abandoned-call rate is read for the outcome's campaign (or its tenant's calls
  without one) only when the outcome is an abandoned call or an answering-machine verdict
  (only those can raise the rate), and by the sweep for the campaigns and tenants with one
  in the window.

A suspension is a row in `suspensions`; `Store.facts_for` reads it on every check, so the next
call of a suspended tenant, campaign or caller ID is blocked (`suspension.*`). A finding
suspends only when its flag is new or has new evidence, so an operator's `unsuspend` holds
until the subject misbehaves again.
"""

from __future__ import annotations

import asyncio
import sqlite3
import time
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta

from dialguard.gcdefer import FULL_COLLECTIONS, release_in_steps
from dialguard.logs import get_logger
from dialguard.store import Store
from dialguard.store.flags import FlagStore
from dialguard.store.hotpath import is_lock_error
from rules.detectors import (
    Action,
    DetectorContext,
    DetectorPolicy,
    FlagFinding,
    outcome_time,
    run_detectors,
    tenant_of,
)
from rules.detectors import accumulate as accumulate_finding
from rules.outcomes import CallOutcome
from rules.policy import Policy

log = get_logger("dialguard.enforcement")

LONG_DETECTORS = frozenset({"abandoned_rate"})  # read only for their campaign, see above
CALL_DETECTORS = frozenset({"breach"})  # judged per call, immediately


def utc_now() -> datetime:
    return datetime.now(UTC)


@dataclass(frozen=True, slots=True)
class Applied:
    """What one finding did to the store."""

    finding: FlagFinding
    flag_id: int | None
    created: bool
    suspended: bool


# The first sweep completes outcomes from the decisions of this last while; later ones from
# the decision rows written since the sweep before.
COMPLETE_FIRST_LOOKBACK = timedelta(hours=1)

# A tenant's detectors wait, after a run, this many times what it took, less the run itself:
# at most a tenth of the time goes to them, however large the window (detector_stall.py).
COST_SHARE = 10


@dataclass
class Enforcer:
    store: Store
    policy: Policy
    clock: Callable[[], datetime] = utc_now
    debounce: timedelta = timedelta(seconds=10)
    timer: Callable[[], float] = time.monotonic  # what a tenant's run takes, and when
    _last_run: dict[str, datetime] = field(default_factory=dict, init=False, repr=False)
    _completed_id: int | None = field(default=None, init=False, repr=False)
    _not_before: dict[str, float] = field(default_factory=dict, init=False, repr=False)

    def __post_init__(self) -> None:
        self.flags = FlagStore(self.store)

    @property
    def detectors(self) -> DetectorPolicy:
        return self.policy.detectors

    # -- OutcomeObserver ---------------------------------------------------------------------

    async def outcome_recorded(self, outcome: CallOutcome) -> None:
        """Judge the new outcome: breach at once, the tenant's patterns when not debounced."""
        when = outcome_time(outcome) or self.clock()
        await self._judge([outcome], when, only=CALL_DETECTORS, accumulate=True)
        tenant, key = outcome.tenant, tenant_of(outcome)
        last = self._last_run.get(key)
        debounced = last is not None and last <= when < last + self.debounce  # call time
        started = self.timer()  # the cost share on this machine's clock: outcomes come in
        # as calls end, so their start times go back and forth
        if not debounced and started >= self._not_before.get(key, started):
            self._last_run[key] = when
            span = self._short_lookback()
            with FULL_COLLECTIONS.deferred():
                window = await self.flags.outcomes_for_tenant(tenant, when - span, when)
                await self._judge(window, when, only=self._short_detectors(), breaches=False)
                await _release(window)
            ended = self.timer()
            self._not_before[key] = ended + (COST_SHARE - 1) * (ended - started)
        if outcome.abandoned or outcome.machine:  # the campaign's rate, or the tenant's
            span = self.detectors.get("abandoned_rate").lookback
            with FULL_COLLECTIONS.deferred():
                window = await self.flags.outcomes_for_campaign(
                    tenant, outcome.campaign, when - span, when
                )
                await self._judge(window, when, only=LONG_DETECTORS, breaches=False)
                await _release(window)

    # -- periodic ----------------------------------------------------------------------------

    async def sweep(self, now: datetime | None = None) -> list[Applied]:
        """Run every enabled detector over every stored outcome in its window."""
        with FULL_COLLECTIONS.deferred():
            return await self._sweep(now or self.clock())

    async def _sweep(self, now: datetime) -> list[Applied]:
        short = self._short_detectors() | CALL_DETECTORS
        span = max(
            (self.detectors.get(d).lookback for d in short if self._enabled(d)),
            default=timedelta(0),
        )
        await self._complete_outcomes(now)
        window = await self.flags.outcomes_in(now - span, now)
        applied = await self._judge(window, now, short)
        await _release(window)
        if self._enabled("abandoned_rate"):
            lookback = self.detectors.get("abandoned_rate").lookback
            for tenant, campaign in await self.flags.campaigns_rated(now - lookback, now):
                window = await self.flags.outcomes_for_campaign(
                    tenant, campaign, now - lookback, now
                )
                applied += await self._judge(window, now, LONG_DETECTORS, breaches=False)
                await _release(window)
        return applied

    # -- internals ---------------------------------------------------------------------------

    async def _complete_outcomes(self, now: datetime) -> None:
        """Outcomes stored before their decision was committed get its tenant, campaign and
        number (FlagStore.complete_outcomes), from the decision rows written since the last
        sweep (at the first, those of the last hour). A locked database postpones it to the
        next sweep; the detectors still run."""
        try:
            after = self._completed_id
            if after is None:
                after = await self.flags.first_decision_since(now - COMPLETE_FIRST_LOOKBACK)
            written = await self.flags.decisions_written()
            await self.flags.complete_outcomes(after)
        except sqlite3.OperationalError as exc:
            if not is_lock_error(exc):
                raise
            log.warning("outcomes_completion_postponed", error=str(exc))
            return
        self._completed_id = written

    def _enabled(self, detector: str) -> bool:
        return self.detectors.get(detector).enabled

    def _short_detectors(self) -> frozenset[str]:
        return frozenset(self.detectors.detectors) - LONG_DETECTORS - CALL_DETECTORS

    def _short_lookback(self) -> timedelta:
        return max(
            (self.detectors.get(d).lookback for d in self._short_detectors() if self._enabled(d)),
            default=timedelta(0),
        )

    async def _context(
        self, outcomes: Sequence[CallOutcome], only: Iterable[str], breaches: bool
    ) -> DetectorContext:
        wanted = {d for d in only if self._enabled(d)}
        return DetectorContext(
            breaches=(
                await self.flags.breach_reasons(outcomes, self.policy)
                if breaches and "breach" in wanted
                else {}
            ),
            caller_id_pools=(
                await self.flags.caller_id_pools(tenant_of(o) for o in outcomes)
                if "callerid_pool" in wanted
                else {}
            ),
            guarded_call_ids=(
                await self.flags.guarded_call_ids(o.call_id for o in outcomes)
                if "unguarded" in wanted
                else None
            ),
        )

    async def _judge(
        self,
        outcomes: Sequence[CallOutcome],
        now: datetime,
        only: Iterable[str],
        breaches: bool = True,
        accumulate: bool = False,
    ) -> list[Applied]:
        """Run the detectors in `only`; with `accumulate`, findings add to their open flag's
        evidence instead of replacing it (the per-call path sees one call at a time)."""
        only = frozenset(only)
        if not outcomes:
            return []
        context = await self._context(outcomes, only, breaches)
        # On a thread: over a window of tens of thousands of outcomes the detectors run for
        # a second or more, and on the event loop every inline check in that time missed its
        # deadline (blocked as guard.timeout). What still holds the GIL long is deferred or
        # cut short: full garbage collections (dialguard/gcdefer.py) and long sorts
        # (rules.detectors.windows.sorted_in_steps); bench/detector_stall.py measures it.
        findings = await asyncio.to_thread(
            run_detectors, outcomes, now, self.detectors, context, only=only
        )
        applied = []
        for finding in findings:
            if accumulate:
                for flag in await self.flags.flags("open", finding.subject, finding.detector):
                    finding = accumulate_finding(finding, flag.call_ids, flag.callees)
            applied.append(await self.apply(finding))
        return applied

    async def apply(self, finding: FlagFinding) -> Applied:
        """Store the finding as a flag and suspend its subject when the policy says so."""
        written_at = self.clock()
        reason_for = None
        if finding.action is Action.SUSPEND and finding.suspendable:

            def reason_for(flag_id: int) -> str:
                return f"{finding.detector} flag {flag_id}: {finding.detail}"

        result, suspended = await self.flags.flag_and_suspend(finding, written_at, reason_for)
        if result.created:
            log.warning(
                "flag",
                flag_id=result.flag_id,
                subject=finding.subject,
                detector=finding.detector,
                measured=finding.measured,
                threshold=finding.threshold,
                detail=finding.detail,
            )
        if suspended:
            log.warning("suspend", subject=finding.subject, flag_id=result.flag_id)
        return Applied(finding, result.flag_id, result.created, suspended)


async def _release(window: list[CallOutcome]) -> None:
    """Free a detector window on a thread, in steps (`release_in_steps`), before the next
    full collection may come; a small one at once."""
    if len(window) < RELEASE_OFF_LOOP:
        window.clear()
    else:
        await asyncio.to_thread(release_in_steps, window)


RELEASE_OFF_LOOP = 500  # outcomes: fewer are freed on the loop, quicker than a thread hop
