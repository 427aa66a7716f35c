"""The Enforcer over a real SQLite store: the recorded campaign burst, an ordinary campaign,
a breach that suspends a campaign and the guard's next check blocked by it."""

from __future__ import annotations

import itertools
import sqlite3
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from dialguard.daemon import sweep_wait
from dialguard.enforcement import COST_SHARE, Enforcer
from dialguard.guard import Guard
from dialguard.store import Store, open_store
from dialguard.store.flags import FlagStore
from rules.engine import prepare
from rules.facts import SuppressionEntry
from rules.models import CallAttempt, Verdict
from rules.outcomes import CallOutcome
from rules.policy import Policy, TenantSettings
from tests.store.test_facts_cache import import_au_dncr


def burst_outcomes(fixtures_dir: Path) -> list[CallOutcome]:
    """The `Dial` leg's Cdr of each call in the recording (times are the PBX's, UTC)."""
    text = (fixtures_dir / "campaign-burst" / "ami.txt").read_text(encoding="utf-8")
    outcomes = []
    for block in text.replace("\r\n", "\n").split("\n\n"):
        fields = dict(line.split(": ", 1) for line in block.split("\n") if ": " in line)
        if fields.get("Event") != "Cdr" or fields.get("LastApplication") != "Dial":
            continue

        def when(name: str, fields: dict[str, str] = fields) -> datetime | None:
            value = fields.get(name, "")
            return datetime.fromisoformat(value).replace(tzinfo=UTC) if value else None

        outcomes.append(
            CallOutcome(
                call_id=fields["UniqueID"],
                number="+" + fields["Destination"],
                dialled=fields["Destination"],
                caller_id=fields["Source"],
                tenant="acme",
                campaign="winter",  # agi_arg_1 of the recorded AGI sessions
                started_at=when("StartTime"),
                answered_at=when("AnswerTime"),
                ended_at=when("EndTime"),
                disposition=fields["Disposition"],
                billsec=int(fields["BillableSeconds"]),
            )
        )
    return sorted(outcomes, key=lambda o: o.ended_at or datetime.min.replace(tzinfo=UTC))


def judging_every_outcome(store: Store, policy: Policy) -> Enforcer:
    """No debounce, and runs that cost nothing by the Enforcer's timer: every outcome is
    judged however long the detectors take on this machine."""
    return Enforcer(store, policy, debounce=timedelta(0), timer=lambda: 0.0)


async def replay(store: Store, enforcer: Enforcer, outcomes: list[CallOutcome]) -> None:
    for outcome in outcomes:
        await store.upsert_outcome(outcome)
        await enforcer.outcome_recorded(outcome)


async def open_flags(store: Store) -> dict[tuple[str, str], list[str]]:
    return {(f.subject, f.detector): list(f.call_ids) for f in await FlagStore(store).flags("open")}


async def test_the_recording_has_seven_calls(fixtures_dir: Path) -> None:
    outcomes = burst_outcomes(fixtures_dir)
    assert len(outcomes) == 7
    assert sum(o.number == "+61400000005" for o in outcomes) == 5
    assert len({o.caller_id for o in outcomes}) == 5


async def test_campaign_burst_raises_repeat_and_rotation_flags(
    store: Store, policy: Policy, fixtures_dir: Path
) -> None:
    outcomes = burst_outcomes(fixtures_dir)
    await replay(store, judging_every_outcome(store, policy), outcomes)
    flags = await open_flags(store)
    assert set(flags) == {
        ("campaign:acme/winter", "repeat_callee"),
        ("campaign:acme/winter", "callerid_rotation"),
    }
    to_five = sorted(o.call_id for o in outcomes if o.number == "+61400000005")
    assert flags[("campaign:acme/winter", "repeat_callee")] == to_five
    [rotation] = await FlagStore(store).flags("open", detector="callerid_rotation")
    assert rotation.measured == 5 and rotation.threshold == 2
    assert rotation.callees == ("+61400000005",) and rotation.citation
    # Seven attempts are far below the 100 the short-call ratio needs: the sample guard holds.
    assert await FlagStore(store).suspensions() == []


async def test_replaying_twice_updates_the_open_flags(
    store: Store, policy: Policy, fixtures_dir: Path
) -> None:
    outcomes = burst_outcomes(fixtures_dir)
    enforcer = judging_every_outcome(store, policy)
    await replay(store, enforcer, outcomes)
    first = {(f.subject, f.detector): f.id for f in await FlagStore(store).flags(None)}
    await replay(store, enforcer, outcomes)
    second = {(f.subject, f.detector): f.id for f in await FlagStore(store).flags(None)}
    assert first == second and len(second) == 2


async def test_a_debounced_burst_is_completed_by_the_sweep(
    store: Store, policy: Policy, fixtures_dir: Path
) -> None:
    outcomes = burst_outcomes(fixtures_dir)
    enforcer = Enforcer(store, policy)  # default debounce: only the first call is judged
    await replay(store, enforcer, outcomes)
    assert await open_flags(store) == {}
    last = max(o.ended_at for o in outcomes if o.ended_at)
    applied = await enforcer.sweep(last + timedelta(minutes=1))
    assert {(a.finding.subject, a.finding.detector) for a in applied} == {
        ("campaign:acme/winter", "repeat_callee"),
        ("campaign:acme/winter", "callerid_rotation"),
    }


async def test_a_tenant_whose_detectors_are_slow_is_judged_less_often(
    store: Store, policy: Policy, fixtures_dir: Path
) -> None:
    # By this timer each run takes a second, so the tenant waits ten seconds of call time
    # (COST_SHARE) before the next: longer than the whole 3-second burst. The sweep still
    # finds what the burst did.
    ticks = itertools.count()
    enforcer = Enforcer(store, policy, debounce=timedelta(0), timer=lambda: float(next(ticks)))
    outcomes = burst_outcomes(fixtures_dir)
    await replay(store, enforcer, outcomes)
    assert await open_flags(store) == {}
    last = max(o.ended_at for o in outcomes if o.ended_at)
    applied = await enforcer.sweep(last + timedelta(minutes=1))
    assert {a.finding.detector for a in applied} == {"repeat_callee", "callerid_rotation"}


@pytest.mark.parametrize(
    ("took_s", "wait_s"),
    [(0.0, 60.0), (0.5, 60.0), (6.0, 60.0), (7.5, 75.0), (30.0, 300.0), (3600.0, 600.0)],
)
def test_the_sweep_waits_ten_times_what_it_took_within_a_minute_and_ten(
    took_s: float, wait_s: float
) -> None:
    # serve's minute sweep over every outcome: a slow one yields the CPU to the checks, but
    # it still runs at least every ten minutes, since it catches what per-call runs skipped.
    assert sweep_wait(took_s, COST_SHARE) == pytest.approx(wait_s)


async def test_an_acknowledged_flag_is_not_reopened_by_the_same_calls(
    store: Store, policy: Policy, fixtures_dir: Path
) -> None:
    outcomes = burst_outcomes(fixtures_dir)
    enforcer = judging_every_outcome(store, policy)
    await replay(store, enforcer, outcomes)
    flags = FlagStore(store)
    for flag in await flags.flags("open"):
        await flags.close_flag(flag.id, "acknowledged", "known test burst", datetime.now(UTC))
    await replay(store, enforcer, outcomes)
    assert await flags.flags("open") == []


async def test_an_ordinary_campaign_raises_no_flag(store: Store, policy: Policy) -> None:
    start = datetime(2026, 11, 27, 1, 0, tzinfo=UTC)
    outcomes = []
    for i in range(20):
        begun = start + timedelta(minutes=3 * i)
        answered = i % 4 != 0
        outcomes.append(
            CallOutcome(
                call_id=f"ord{i}",
                number=f"+614{12_000_000 + 7919 * i:08d}",
                caller_id="+61291234567",
                tenant="acme",
                campaign="autumn",
                started_at=begun,
                answered_at=begun + timedelta(seconds=9) if answered else None,
                ended_at=begun + timedelta(seconds=(9 + 70) if answered else 25),
                disposition="ANSWERED" if answered else "NO ANSWER",
                billsec=70 if answered else 0,
            )
        )
    enforcer = judging_every_outcome(store, policy)
    await replay(store, enforcer, outcomes)
    await enforcer.sweep(start + timedelta(hours=2))
    assert await open_flags(store) == {}


async def test_a_call_centre_s_calls_without_a_campaign_have_an_abandoned_rate(
    store: Store, policy: Policy
) -> None:
    # regulations.md 3.2 measures it "per campaign or per call centre": calls without a
    # campaign were never measured, by the sweep or when an abandoned one was recorded.
    start = datetime(2026, 11, 27, 9, 0, tzinfo=UTC)
    outcomes = answers(None, start, 25, prefix="+44207", caller_id="+442079460000", every=5)
    outcomes = [replace(o, abandoned=i < 5) for i, o in enumerate(outcomes)]
    enforcer = judging_every_outcome(store, policy)
    await replay(store, enforcer, outcomes)
    flags = await open_flags(store)
    assert len(flags[("tenant:acme", "abandoned_rate")]) == 5, flags


def answers(
    campaign: str | None,
    start: datetime,
    count: int,
    *,
    prefix: str = "+1202",
    caller_id: str = "+12025550100",
    every: int = 1,
    **kw: object,
) -> list[CallOutcome]:
    """`count` answered one-minute calls of acme's to different numbers, `every` minutes."""
    return [
        CallOutcome(
            call_id=f"{campaign}{start:%d}-{i}",
            number=f"{prefix}{2_000_000 + 7919 * i:07d}",
            caller_id=caller_id,
            tenant="acme",
            campaign=campaign,
            started_at=start + timedelta(minutes=every * i),
            answered_at=start + timedelta(minutes=every * i, seconds=5),
            ended_at=start + timedelta(minutes=every * i, seconds=65),
            disposition="ANSWERED",
            billsec=60,
            **kw,  # type: ignore[arg-type]
        )
        for i in range(count)
    ]


async def test_answering_machine_verdicts_raise_the_abandoned_rate(
    store: Store, policy: Policy
) -> None:
    # No call was abandoned, but 10 of 110 answers were AMD machine verdicts, counted as
    # abandoned live answers by default (Ofcom: false positives are people hung up on).
    # The rate was read only when an abandoned call was recorded, and swept only for
    # campaigns with one: nothing was flagged.
    now = datetime.now(UTC)
    live = answers("spring", now - timedelta(days=10), 100)
    machines = answers("spring", now - timedelta(hours=1), 10, amd="MACHINE")
    enforcer = judging_every_outcome(store, policy)
    await replay(store, enforcer, live + machines)
    flags = await open_flags(store)
    assert len(flags[("campaign:acme/spring", "abandoned_rate")]) == 10, flags
    # The sweep finds such a campaign too.
    for outcome in answers("autumn", now - timedelta(days=10), 100) + answers(
        "autumn", now - timedelta(hours=1), 10, amd="MACHINE"
    ):
        await store.upsert_outcome(outcome)
    await enforcer.sweep(now)
    assert ("campaign:acme/autumn", "abandoned_rate") in await open_flags(store)


async def opted_out_and_called(store: Store) -> CallOutcome:
    """acme's callee +61400000009 opted out three days ago; campaign winter calls them now."""
    await store.add_suppression(
        SuppressionEntry(
            "+61400000009", "acme", None, "asked not to be called", "cli",
            datetime.now(UTC) - timedelta(days=3),
        )
    )  # fmt: skip
    called = datetime.now(UTC) + timedelta(seconds=1)
    return CallOutcome(
        call_id="b1",
        number="+61400000009",
        caller_id="+61291234567",
        tenant="acme",
        campaign="winter",
        started_at=called,
        answered_at=called + timedelta(seconds=5),
        ended_at=called + timedelta(seconds=30),
        disposition="ANSWERED",
        billsec=25,
    )


async def test_a_breach_suspends_the_campaign_and_the_next_check_is_blocked(
    store: Store, policy: Policy
) -> None:
    breach = await opted_out_and_called(store)
    enforcer = Enforcer(store, policy)
    await replay(store, enforcer, [breach])
    [flag] = await FlagStore(store).flags("open", detector="breach")
    assert flag.subject == "campaign:acme/winter" and flag.call_ids == ("b1",)
    assert "opted out" in flag.detail
    [suspension] = await FlagStore(store).suspensions()
    assert suspension.subject == "campaign:acme/winter" and suspension.flag_id == flag.id

    attempt = CallAttempt(
        "+61400000123", "+61291234567", datetime.now(UTC) + timedelta(seconds=2), "acme", "winter"
    )
    decision = await Guard(store, policy).evaluate(attempt)
    assert decision.verdict is Verdict.BLOCK and decision.rule == "suspension.campaign"

    # A second breach adds to the same flag; lifting the suspension holds until new evidence.
    await FlagStore(store).unsuspend("campaign:acme/winter", "reviewed", datetime.now(UTC))
    await enforcer.sweep(datetime.now(UTC) + timedelta(minutes=1))
    assert await FlagStore(store).suspensions() == []
    again = CallOutcome(**{**_fields(breach), "call_id": "b2"})
    await replay(store, enforcer, [again])
    [flag] = await FlagStore(store).flags("open", detector="breach")
    assert flag.call_ids == ("b1", "b2") and flag.measured == 2
    assert [s.subject for s in await FlagStore(store).suspensions()] == ["campaign:acme/winter"]


async def test_a_call_into_a_suppressed_range_around_the_guard_is_a_breach(
    store: Store, policy: Policy
) -> None:
    outcome = await opted_out_and_called(store)
    await store.write("DELETE FROM suppressions")  # the number's own entry: the range alone
    await store.add_suppression(
        SuppressionEntry(
            "+614000000*", None, None, "a client's block", "cli",
            datetime.now(UTC) - timedelta(days=3),
        )
    )  # fmt: skip
    await replay(store, Enforcer(store, policy), [outcome])
    [flag] = await FlagStore(store).flags("open", detector="breach")
    assert flag.call_ids == ("b1",) and "suppressed range +614000000*" in flag.detail


async def test_a_suppression_stored_after_the_call_is_no_breach(
    store: Store, policy: Policy
) -> None:
    called = datetime.now(UTC) - timedelta(hours=1)
    outcome = CallOutcome(
        call_id="late", number="+61400000009", tenant="acme", campaign="winter",
        started_at=called, ended_at=called + timedelta(seconds=20), disposition="NO ANSWER",
    )  # fmt: skip
    await store.add_suppression(
        SuppressionEntry("+61400000009", None, None, "", "cli", called - timedelta(days=1))
    )
    await replay(store, Enforcer(store, policy), [outcome])
    assert await FlagStore(store).flags("open", detector="breach") == []


async def test_calls_the_guard_blocked_are_no_calls_made(store: Store, policy: Policy) -> None:
    # The guard blocks every redial to an opted-out number; the dialplan refuses each
    # (Hangup(21)) and the listener stores a REJECTED outcome with the decision's campaign.
    # That is the guard working: no breach, no repeat-call flag, no suspension, no attempt
    # for the frequency caps. Only the call that did go out counts.
    await store.add_suppression(
        SuppressionEntry(
            "+61400000009", "acme", None, "asked not to be called", "cli",
            datetime.now(UTC) - timedelta(days=3),
        )
    )  # fmt: skip
    start = datetime.now(UTC) - timedelta(minutes=10)
    refused = [
        CallOutcome(
            call_id=f"r{i}", number="+61400000009", caller_id="+61291234567", tenant="acme",
            campaign="winter", started_at=start + timedelta(minutes=i),
            ended_at=start + timedelta(minutes=i, seconds=1), disposition="REJECTED", cause=21,
        )
        for i in range(5)
    ]  # fmt: skip
    enforcer = Enforcer(store, policy)
    await replay(store, enforcer, refused)
    await enforcer.sweep(datetime.now(UTC))
    assert await open_flags(store) == {}
    assert await FlagStore(store).suspensions() == []

    placed = CallOutcome(**{**_fields(refused[0]), "call_id": "p1", "disposition": "NO ANSWER"})
    await store.upsert_outcome(placed)
    attempt = CallAttempt("+61400000009", "+61291234567", datetime.now(UTC), "acme", "winter")
    facts = await store.facts_for(prepare(attempt, policy).query)
    assert [a.call_id for a in facts.attempts] == ["p1"]


def _fields(outcome: CallOutcome) -> dict[str, object]:
    return {name: getattr(outcome, name) for name in outcome.__dataclass_fields__}


async def test_a_suspension_that_cannot_be_written_leaves_no_flag_so_the_next_run_suspends(
    store: Store, policy: Policy
) -> None:
    # Written apart, the flag kept its evidence when the suspension failed (a database locked
    # past the busy timeout), and no later run saw anything new to suspend for.
    breach = await opted_out_and_called(store)
    await store.upsert_outcome(breach)
    refuse = "CREATE TRIGGER refuse BEFORE INSERT ON suspensions BEGIN SELECT RAISE(ABORT, 'disk full'); END"
    await store.write(refuse, ())
    enforcer = Enforcer(store, policy)
    with pytest.raises(Exception, match="disk full"):
        await enforcer.outcome_recorded(breach)
    assert await FlagStore(store).flags("open") == []

    await store.write("DROP TRIGGER refuse", ())
    await enforcer.sweep(datetime.now(UTC) + timedelta(minutes=1))
    [suspension] = await FlagStore(store).suspensions()
    assert suspension.subject == "campaign:acme/winter"


async def test_a_campaign_suspended_for_one_tenant_does_not_block_anothers_of_that_name(
    store: Store,
) -> None:
    # `campaign:winter` blocked every tenant with a campaign called winter, and the detectors
    # pooled their calls. A tenant's campaign is `campaign:TENANT/NAME` now; the contract's
    # `campaign:NAME` (an operator's) still blocks every tenant's.
    policy = Policy(tenants={name: TenantSettings(name, "AU") for name in ("acme", "globex")})
    breach = await opted_out_and_called(store)
    await replay(store, Enforcer(store, policy), [breach])
    assert [s.subject for s in await FlagStore(store).suspensions()] == ["campaign:acme/winter"]

    async def rule(tenant: str) -> str | None:
        at = datetime.now(UTC) + timedelta(seconds=2)
        attempt = CallAttempt("+61400000123", "+61291234567", at, tenant, "winter")
        return (await Guard(store, policy).evaluate(attempt)).rule

    assert await rule("acme") == "suspension.campaign"
    assert await rule("globex") != "suspension.campaign"
    await FlagStore(store).suspend("campaign:winter", "every tenant's", datetime.now(UTC))
    assert await rule("globex") == "suspension.campaign"


async def test_a_campaign_name_with_a_slash_is_never_another_tenants_campaign(
    store: Store,
) -> None:
    # globex's campaign "acme/winter" read `campaign:acme/winter` (every tenant's form) as
    # its own name, and was blocked by acme's winter suspension.
    policy = Policy(tenants={name: TenantSettings(name, "AU") for name in ("acme", "globex")})
    await FlagStore(store).suspend("campaign:acme/winter", "acme's", datetime.now(UTC))
    at = datetime.now(UTC) + timedelta(seconds=2)
    guard = Guard(store, policy)
    theirs = await guard.evaluate(
        CallAttempt("+61400000123", "+61291234567", at, "globex", "acme/winter")
    )
    assert theirs.rule != "suspension.campaign"
    ours = await guard.evaluate(CallAttempt("+61400000123", "+61291234567", at, "acme", "winter"))
    assert ours.rule == "suspension.campaign"


async def blocked_call_decided_after_its_outcome(
    store: Store, policy: Policy, call_id: str, dialled: str, at: datetime
) -> None:
    """acme's campaign winter calls `dialled` at `at`: the outcome (refused at once) is
    stored, without a tenant, before the guard's decision for it is committed."""
    await store.upsert_outcome(
        CallOutcome(
            call_id=call_id, dialled=dialled, started_at=at, ended_at=at,
            disposition="REJECTED", cause=21,
        )
    )  # fmt: skip
    attempt = CallAttempt(dialled, "+61291234567", at, "acme", "winter", call_id=call_id)
    await Guard(store, policy).check(attempt)
    await store.flush()


async def test_the_sweep_completes_an_outcome_recorded_before_its_decision(
    tmp_path: Path, policy: Policy
) -> None:
    # A `serve --workers` worker commits its decision some milliseconds after answering; a
    # call it blocked ends at once, and its outcome was stored without a tenant for good.
    store = await open_store(tmp_path / "sweep.sqlite3", busy_timeout_ms=50)
    holder = sqlite3.connect(tmp_path / "sweep.sqlite3", isolation_level=None)
    try:
        now = datetime.now(UTC)
        await blocked_call_decided_after_its_outcome(store, policy, "w.1", "0400000077", now)
        enforcer = Enforcer(store, policy)
        window = (now - timedelta(minutes=1), now + timedelta(minutes=1))

        # Another process holds the write lock (an import): put off, and the sweep goes on.
        holder.execute("BEGIN IMMEDIATE")
        assert await enforcer.sweep(now + timedelta(minutes=1)) == []
        holder.execute("ROLLBACK")
        [outcome] = await store.outcomes_between(*window)
        assert outcome.tenant is None

        await enforcer.sweep(now + timedelta(minutes=2))
        [outcome] = await store.outcomes_between(*window)
        assert (outcome.tenant, outcome.campaign, outcome.number) == (
            "acme",
            "winter",
            "+61400000077",
        )
    finally:
        holder.close()
        await store.close()


async def test_a_call_to_a_cocos_island_number_on_the_dncr_is_a_breach(
    store: Store, policy: Policy, tmp_path: Path
) -> None:
    # The check applies the DNCR to +61 8 9162 numbers (phonenumbers calls them CC); the
    # breach detector looked them up on no register at all.
    await import_au_dncr(store, tmp_path, "+61891621234")
    now = datetime.now(UTC)
    call = CallOutcome(
        call_id="cc1", number="+61891621234", tenant="acme", campaign="winter",
        started_at=now, ended_at=now + timedelta(seconds=30), disposition="ANSWERED",
    )  # fmt: skip
    reasons = await FlagStore(store).breach_reasons([call], policy)
    assert "cc1" in reasons


async def test_a_decision_committed_long_after_its_call_still_completes_its_outcome(
    store: Store, policy: Policy
) -> None:
    # Its records held back by a lock, a worker commits a decision of half an hour ago after
    # a sweep has run: completing from the decision times since that sweep missed it.
    now = datetime.now(UTC)
    enforcer = Enforcer(store, policy)
    await enforcer.sweep(now)
    called = now - timedelta(minutes=30)
    await blocked_call_decided_after_its_outcome(store, policy, "late.1", "0400000078", called)
    await enforcer.sweep(now + timedelta(minutes=1))
    [outcome] = await store.outcomes_between(called - timedelta(minutes=1), now)
    assert (outcome.tenant, outcome.campaign) == ("acme", "winter")
