"""The guard service: the same decision for the AGI route and `dialguard check`.

It runs the pure engine between two store calls (facts in, decision out) and writes the
canonical log line for every decision. Deadlines and the failure policy for the inline path
are applied by the AGI layer around `check`, which is why failures surface as exceptions here.
"""

from __future__ import annotations

import contextlib
import time
from dataclasses import dataclass, replace
from datetime import UTC, datetime, timedelta

from dialguard.logs import get_logger, per_call_logger
from dialguard.store import Store
from dialguard.store.patient import PatientSink
from dialguard.store.spool import PendingOptOuts
from rules.engine import decide, prepare
from rules.facts import Facts, SuppressionEntry
from rules.models import CallAttempt, Decision
from rules.numbers import ParsedNumber, parse_number, shorten
from rules.policy import Policy

log = get_logger("dialguard.decision")

# How far back an opt-out from a channel that names no tenant looks for the calls that
# reached its number: a call the IVR runs in is minutes old; a day covers any call.
OPTOUT_LOOKBACK = timedelta(days=1)
_EVER = datetime(1970, 1, 1, tzinfo=UTC)


def dry_run_guard(store: Store, policy: Policy) -> Guard:
    """A guard for the dry runs (`check`, `scrub`) that holds the opt-outs `serve` keeps in
    its spool, as serve's checks do (read once; an unreadable spool is left out: `status`
    says so)."""
    pending = PendingOptOuts(store)
    with contextlib.suppress(OSError):
        pending.refresh()
    return Guard(store, policy, pending)


@dataclass
class Guard:
    store: Store
    policy: Policy
    # Keeps the opt-outs whose write is given up (`serve`); None: they are only logged.
    pending: PendingOptOuts | None = None

    async def evaluate(self, attempt: CallAttempt) -> Decision:
        """Decide without recording (the dry run of `dialguard check`)."""
        prepared = prepare(attempt, self.policy)
        if prepared.emergency:  # decided on the dial string and the campaign alone
            return decide(prepared, Facts())
        facts = await self.store.facts_for(prepared.query)
        if self.pending is not None and (kept := self.pending.for_number(prepared.query.number)):
            # Opt-outs kept for want of a database are held as if written.
            facts = replace(facts, suppressions=(*facts.suppressions, *kept))
        return decide(prepared, facts)

    async def check(self, attempt: CallAttempt, source: str = "agi") -> Decision:
        """Decide and record the decision. The record is queued for the store's writer
        (store/hotpath.py), which commits it within some 20 ms: this process's next check
        counts an allowed call at once, other processes (serve --workers) once committed.

        A call to an emergency number never reads the store, and a store that cannot record
        it does not change its verdict: a person's emergency call is never blocked by the
        guard failing (regulations.md 6.7), and campaign traffic to one is always blocked.
        """
        started = time.perf_counter()
        decision = await self.evaluate(attempt)
        latency_ms = (time.perf_counter() - started) * 1000
        if not _is_emergency(decision):
            await self.record(attempt, decision, latency_ms, source)
            return decision
        try:
            await self.record(attempt, decision, latency_ms, source)
        except Exception as exc:
            log.error("emergency_record_failed", uniqueid=attempt.call_id, error=repr(exc)[:300])
            log_decision(attempt, decision, latency_ms, source)
        return decision

    async def record(
        self, attempt: CallAttempt, decision: Decision, latency_ms: float, source: str = "agi"
    ) -> None:
        await self.store.record_decision(attempt, decision, latency_ms, source)
        log_decision(attempt, decision, latency_ms, source)

    def normalize(self, raw: str, tenant: str) -> ParsedNumber:
        """Parse a number the way the tenant's region reads national formats."""
        return parse_number(raw, self.policy.region_for(tenant))

    async def tenants_reached(self, raw: str, at: datetime) -> list[str]:
        """The tenants whose allowed calls reached the number `raw` (as each reads it) in the
        `OPTOUT_LOOKBACK` before `at`, the latest first; when none did, or that cannot be
        looked up, every tenant that reads the number.

        Whose opt-out it is when the channel that asks names no tenant: the IVR runs on the
        callee's leg, which need not have inherited DIALGUARD_TENANT, and an opt-out filed
        under "default" left the tenant that called going on calling. A person who calls back
        days later, or a lookup that fails, names no caller: every tenant is the strictest
        reading (one number too many on the lists is the safe side), and the opt-out is then
        written for each (the writes wait a failing database out)."""
        readings = {t: self.normalize(raw, t).e164 for t in (*self.policy.tenants, "default")}
        every_reading = [tenant for tenant, number in readings.items() if number] or ["default"]
        numbers = sorted({number for number in readings.values() if number})

        async def callers(since: datetime) -> list[str] | None:
            """The tenants whose allowed calls reached the number since `since`, each as it
            reads it (one not in the settings reads it as "default" does); None when that
            cannot be looked up."""
            try:
                found = await self.store.tenants_that_reached(numbers, since)
            except Exception as exc:
                log.warning("optout_lookup_failed", number=shorten(raw), error=repr(exc)[:300])
                return None
            return [t for t, n in found if readings.get(t, readings["default"]) == n]

        reached = await callers(at - OPTOUT_LOOKBACK)
        if reached:
            return list(dict.fromkeys(reached))
        if reached is not None:
            # And every tenant whose call ever reached it: one the channel names but the
            # settings do not was left calling.
            ever = await callers(_EVER) or []
            every_reading = list(dict.fromkeys((*every_reading, *ever)))
            log.info("optout_no_recent_call", number=shorten(raw), tenants=len(every_reading))
        return every_reading

    async def opt_out(self, entry: SuppressionEntry) -> None:
        """Record an opt-out; returns once it is durable.

        A locked or failing database is waited out, as the AMI listener's writes are
        (`PatientSink`): the store gives up on a lock after half the AGI deadline, and an
        opt-out that failed on a second's lock (an import) was never retried. The AGI route
        answers FAILED at its deadline, while this write goes on in the background until it
        lands. After minutes of a failing database it is given up: kept by `pending` (spooled
        and retried, `OptOutPending`), or without it raised and logged."""
        sink = PatientSink(self.store, writer="agi", pending=self.pending)
        await sink.add_suppression(entry)
        log.info(
            "optout",
            number=entry.number,
            tenant=entry.tenant,
            campaign=entry.campaign,
            source=entry.source,
        )


def _is_emergency(decision: Decision) -> bool:
    """A decision of the emergency rule, which is its only finding (rules.engine.decide)."""
    return any(f.rule.startswith("emergency.") for f in decision.findings[:1])


def log_decision(attempt: CallAttempt, decision: Decision, latency_ms: float, source: str) -> None:
    """The canonical line: one per decision, everything an operator greps for."""
    per_call_logger("dialguard.decision").info(
        "decision",
        uniqueid=attempt.call_id,
        tenant=attempt.tenant,
        campaign=attempt.campaign,
        number=decision.number or shorten(attempt.destination),
        caller_id=attempt.caller_id,
        verdict=decision.verdict.value,
        rule=decision.rule,
        reason=decision.reason,
        latency_ms=round(latency_ms, 3),
        source=source,
    )
