"""Frequency caps: FL 3 per 24 h per subject, Regulation F 7 in 7 days and the conversation
lock, France 4 per 30 days and the 60-day refusal lock, Ofcom 72 h after an abandoned call
and 24 h after an answering-machine verdict."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest

from rules.checks.frequency import merged_attempts
from rules.engine import decide, prepare
from rules.facts import CallerIdRecord, Facts, PriorAttempt
from rules.jurisdictions import from_settings
from rules.models import CallAttempt, Decision, Finding, FindingVerdict, LineType, Purpose
from rules.policy import Policy

AT = datetime(2026, 6, 10, 16, 0, tzinfo=UTC)  # Wed, noon in Florida


def decide_with(
    number: str,
    prior: list[PriorAttempt],
    *,
    campaign: str = "roofing",
    purpose: Purpose = Purpose.TELEMARKETING,
    at: datetime = AT,
) -> Decision:
    attempt = CallAttempt(
        number, "+61291234567", at, tenant="acme", campaign=campaign, purpose=purpose
    )
    return decide(prepare(attempt, Policy()), Facts(attempts=tuple(prior)))


def calls(
    n: int, *, hours_apart: float, campaign: str = "roofing", **kw: object
) -> list[PriorAttempt]:
    return [
        PriorAttempt(
            AT - timedelta(hours=hours_apart * (i + 1)),
            "acme",
            campaign,
            None,
            "decision",
            f"c{i}-{campaign}",
            **kw,  # type: ignore[arg-type]
        )
        for i in range(n)
    ]


def verdict(decision: Decision, rule: str) -> FindingVerdict:
    return next(f.verdict for f in decision.findings if f.rule == rule)


FL = "+13055550100"


def test_florida_fourth_call_in_24_hours_on_one_subject_is_blocked() -> None:
    assert verdict(decide_with(FL, calls(2, hours_apart=5)), "frequency.us-fl-same-subject") is (
        FindingVerdict.ALLOW
    )
    fourth = decide_with(FL, calls(3, hours_apart=5))
    assert verdict(fourth, "frequency.us-fl-same-subject") is FindingVerdict.BLOCK


def test_florida_fourth_call_for_another_campaign_is_allowed() -> None:
    decision = decide_with(FL, calls(3, hours_apart=5, campaign="solar"))
    assert verdict(decision, "frequency.us-fl-same-subject") is FindingVerdict.ALLOW


def test_florida_calls_older_than_24_hours_no_longer_count() -> None:
    old = [
        *calls(2, hours_apart=5),
        PriorAttempt(AT - timedelta(hours=24, seconds=1), "acme", "roofing", None, "history"),
    ]
    assert verdict(decide_with(FL, old), "frequency.us-fl-same-subject") is FindingVerdict.ALLOW


def test_a_call_seen_as_decision_and_outcome_counts_once() -> None:
    same = [
        PriorAttempt(AT - timedelta(hours=1), "acme", "roofing", None, "decision", "u1"),
        PriorAttempt(
            AT - timedelta(hours=1), "acme", "roofing", None, "outcome", "u1", "ANSWERED", 30, True
        ),
        PriorAttempt(AT - timedelta(hours=2), "acme", "roofing", None, "history"),
        PriorAttempt(AT - timedelta(hours=3), "acme", "roofing", None, "history"),
    ]
    assert len(merged_attempts(same)) == 3
    assert merged_attempts(same)[-1].conversation
    assert verdict(decide_with(FL, same), "frequency.us-fl-same-subject") is FindingVerdict.BLOCK
    assert (
        verdict(decide_with(FL, same[:3]), "frequency.us-fl-same-subject") is FindingVerdict.ALLOW
    )


def test_a_channel_that_dials_the_number_again_makes_two_attempts() -> None:
    # A dialplan retrying after BUSY checks twice under one uniqueid: two attempts.
    retried = [
        PriorAttempt(AT - timedelta(hours=2), "acme", "roofing", None, "decision", "u1"),
        PriorAttempt(AT - timedelta(hours=2) + timedelta(seconds=30), "acme", "roofing", None,
                     "decision", "u1"),
        PriorAttempt(AT - timedelta(hours=2), "acme", "roofing", None, "outcome", "u1", "BUSY"),
        PriorAttempt(AT - timedelta(hours=1), "acme", "roofing", None, "decision", "u2"),
    ]  # fmt: skip
    merged = merged_attempts(retried)
    assert len(merged) == 3
    assert sorted(a.disposition or "" for a in merged) == ["", "", "BUSY"]  # into the first
    assert verdict(decide_with(FL, retried), "frequency.us-fl-same-subject") is (
        FindingVerdict.BLOCK
    )


def test_one_decision_seen_committed_and_queued_counts_once() -> None:
    at = AT - timedelta(hours=1, microseconds=123_456)
    queued = PriorAttempt(at, "acme", "roofing", None, "decision", "u1")
    stored = replace(queued, at=at + timedelta(microseconds=1))  # read back from epoch seconds
    assert len(merged_attempts([stored, queued])) == 1


NY = "+12125550100"


def test_regulation_f_eighth_call_in_seven_days_is_blocked() -> None:
    seven = calls(7, hours_apart=20, campaign="debt-42")
    decision = decide_with(NY, seven, campaign="debt-42", purpose=Purpose.DEBT_COLLECTION)
    assert verdict(decision, "frequency.us-reg-f-7-in-7") is FindingVerdict.BLOCK
    six = decide_with(NY, seven[:6], campaign="debt-42", purpose=Purpose.DEBT_COLLECTION)
    assert verdict(six, "frequency.us-reg-f-7-in-7") is FindingVerdict.ALLOW
    other_debt = decide_with(NY, seven, campaign="debt-43", purpose=Purpose.DEBT_COLLECTION)
    assert verdict(other_debt, "frequency.us-reg-f-7-in-7") is FindingVerdict.ALLOW


def test_regulation_f_no_call_within_seven_days_after_a_conversation() -> None:
    talked = calls(1, hours_apart=6 * 24, campaign="debt-42", conversation=True)
    decision = decide_with(NY, talked, campaign="debt-42", purpose=Purpose.DEBT_COLLECTION)
    assert verdict(decision, "frequency.us-reg-f-after-conversation") is FindingVerdict.BLOCK
    later = decide_with(
        NY,
        talked,
        campaign="debt-42",
        purpose=Purpose.DEBT_COLLECTION,
        at=AT + timedelta(days=1, seconds=1),
    )
    assert verdict(later, "frequency.us-reg-f-after-conversation") is FindingVerdict.ALLOW


def test_reg_f_does_not_apply_to_telemarketing() -> None:
    decision = decide_with(NY, calls(9, hours_apart=1))
    assert not any(f.rule.startswith("frequency.us-reg-f") for f in decision.findings)


FR = "+33145678901"


def test_france_fifth_attempt_in_30_days_is_blocked_for_any_campaign_of_the_professional() -> None:
    four = [
        *calls(2, hours_apart=24 * 6, campaign="a"),
        *calls(2, hours_apart=24 * 7, campaign="b"),
    ]
    decision = decide_with(FR, four, campaign="c")
    assert verdict(decision, "frequency.fr-four-in-30-days") is FindingVerdict.BLOCK
    assert verdict(decide_with(FR, four[:3], campaign="c"), "frequency.fr-four-in-30-days") is (
        FindingVerdict.ALLOW
    )


def test_france_60_days_after_a_refusal() -> None:
    # AT is 18:00 on 10 June in Paris: a refusal on 11 April (60 days before) still locks,
    # one late on 10 April no longer does.
    def refused_at(day: int, hour: int, minute: int) -> list[PriorAttempt]:
        when = datetime(2026, 4, day, hour, minute, tzinfo=PARIS).astimezone(UTC)
        return [PriorAttempt(when, "acme", "a", None, "outcome", "r1", refused=True)]

    locked = decide_with(FR, refused_at(11, 0, 0))
    assert verdict(locked, "frequency.fr-refusal-lock") is FindingVerdict.BLOCK
    expired = decide_with(FR, refused_at(10, 23, 59))
    assert verdict(expired, "frequency.fr-refusal-lock") is FindingVerdict.ALLOW


PARIS = ZoneInfo("Europe/Paris")


def test_the_french_refusal_lock_is_60_days_on_the_callee_s_clock() -> None:
    # Refused at 15:00 CEST on 4 Sep. Counted as 1,440 hours the lock ended at 14:00 CET on
    # 3 Nov, the 60th day, and the call at 14:30 that day was allowed; a period of 60 days
    # ends at the end of its last day, midnight on the callee's clock.
    refused_at = datetime(2026, 9, 4, 15, 0, tzinfo=PARIS)
    refusal = [PriorAttempt(refused_at, "acme", "a", None, "outcome", "r1", refused=True)]

    def lock(at: datetime) -> Finding:
        decision = decide_with(FR, refusal, at=at.astimezone(UTC))  # as the guard's clock is
        return next(f for f in decision.findings if f.rule == "frequency.fr-refusal-lock")

    blocked = lock(datetime(2026, 11, 3, 14, 30, tzinfo=PARIS))
    assert blocked.verdict is FindingVerdict.BLOCK
    assert "until 2026-11-03 23:00 UTC" in blocked.reason  # midnight in Paris
    last = datetime(2026, 11, 3, 23, 59, 59, tzinfo=PARIS)
    assert lock(last).verdict is FindingVerdict.BLOCK
    assert lock(datetime(2026, 11, 4, 0, 0, tzinfo=PARIS)).verdict is FindingVerdict.ALLOW


def test_a_calendar_lock_ends_at_the_day_s_first_instant_where_midnight_is_skipped_or_repeated() -> (
    None
):
    # The Azores skip midnight in March and repeat it in October. The start of a day was
    # taken an hour early where it is skipped (a whole extra day blocked) and at the second
    # reading where it is repeated (an hour late).
    azores = ZoneInfo("Atlantic/Azores")

    def lock(refused: datetime, at: datetime) -> Finding:
        prior = [PriorAttempt(refused, "acme", "a", None, "outcome", "r1", refused=True)]
        attempt = CallAttempt(
            FR,
            "+61291234567",
            at.astimezone(UTC),
            tenant="acme",
            campaign="roofing",
            callee_timezone="Atlantic/Azores",
        )
        decision = decide(prepare(attempt, Policy()), Facts(attempts=tuple(prior)))
        return next(f for f in decision.findings if f.rule == "frequency.fr-refusal-lock")

    # Refused in the evening of 27 March: locked through 26 May, the 60th day after.
    march = datetime(2026, 3, 27, 20, 0, tzinfo=azores)
    assert lock(march, datetime(2026, 5, 26, 23, 0, tzinfo=azores)).verdict is FindingVerdict.BLOCK
    assert lock(march, datetime(2026, 5, 27, 12, 0, tzinfo=azores)).verdict is FindingVerdict.ALLOW
    # Refused on 25 August at noon: locked through 24 October; 25 October starts at the
    # first of its two midnights, 00:00 UTC.
    august = datetime(2026, 8, 25, 12, 0, tzinfo=azores)
    blocked = lock(august, datetime(2026, 10, 24, 23, 30, tzinfo=azores))
    assert blocked.verdict is FindingVerdict.BLOCK
    assert "until 2026-10-25 00:00 UTC" in blocked.reason
    after = datetime(2026, 10, 25, 0, 30, tzinfo=UTC)
    assert lock(august, after).verdict is FindingVerdict.ALLOW


def test_the_french_four_in_30_days_counts_calendar_days_across_the_clock_change() -> None:
    first = datetime(2026, 9, 30, 15, 0, tzinfo=PARIS)
    four = [
        PriorAttempt(first + timedelta(minutes=i), "acme", "a", None, "outcome", f"c{i}")
        for i in range(4)
    ]
    at = datetime(2026, 10, 30, 14, 20, tzinfo=PARIS)  # 29 days 23 h 20 min by the clock
    utc = at.astimezone(UTC)
    assert verdict(decide_with(FR, four, at=utc), "frequency.fr-four-in-30-days") is (
        FindingVerdict.BLOCK
    )
    # 30 October is 30 days after the calls' date all day; from the 31st they no longer count.
    last = datetime(2026, 10, 30, 23, 59, tzinfo=PARIS).astimezone(UTC)
    assert verdict(decide_with(FR, four, at=last), "frequency.fr-four-in-30-days") is (
        FindingVerdict.BLOCK
    )
    next_day = datetime(2026, 10, 31, 0, 0, tzinfo=PARIS).astimezone(UTC)
    assert verdict(decide_with(FR, four, at=next_day), "frequency.fr-four-in-30-days") is (
        FindingVerdict.ALLOW
    )


def test_uk_72_hours_after_an_abandoned_call() -> None:
    abandoned = [
        PriorAttempt(AT - timedelta(hours=71), "acme", "x", None, "outcome", "a1", "ABANDONED")
    ]
    assert verdict(
        decide_with("+442079460000", abandoned), "frequency.gb-ofcom-after-abandoned"
    ) is (FindingVerdict.BLOCK)
    expired = [
        PriorAttempt(AT - timedelta(hours=73), "acme", "x", None, "outcome", "a1", "ABANDONED")
    ]
    assert (
        verdict(decide_with("+442079460000", expired), "frequency.gb-ofcom-after-abandoned")
        is FindingVerdict.ALLOW
    )


def test_the_uk_lock_is_the_number_s_whoever_abandoned_the_call() -> None:
    # regulations.md 6.4 keys it on the number: another tenant's abandoned call let this one
    # call straight away. An override can read it per caller again.
    other_tenant = [
        PriorAttempt(AT - timedelta(hours=71), "globex", "x", None, "outcome", "a1", "ABANDONED")
    ]
    decision = decide_with("+442079460000", other_tenant)
    found = next(f for f in decision.findings if f.rule == "frequency.gb-ofcom-after-abandoned")
    assert found.verdict is FindingVerdict.BLOCK and "by any tenant" in found.reason
    packs, errors = from_settings(
        {"GB": {"caps": [{"name": "ofcom-after-abandoned", "scope": "tenant"}]}}
    )
    assert errors == []
    attempt = CallAttempt("+442079460000", "+61291234567", AT, tenant="acme", campaign="c")
    policy = Policy(jurisdictions=packs)
    per_caller = decide(prepare(attempt, policy), Facts(attempts=tuple(other_tenant)))
    assert verdict(per_caller, "frequency.gb-ofcom-after-abandoned") is FindingVerdict.ALLOW


def test_uk_24_hours_after_an_answering_machine_verdict() -> None:
    # Ofcom: a call AMD classed as a machine (false positives are people) is repeated within
    # 24 h only with a live operator; the guard cannot see one, so it blocks, for any tenant.
    def machine(hours: float, tenant: str = "globex", **kw: object) -> PriorAttempt:
        return PriorAttempt(
            AT - timedelta(hours=hours), tenant, "x", None, "outcome", "m1", "ANSWERED",
            machine=True, **kw,  # type: ignore[arg-type]
        )  # fmt: skip

    rule = "frequency.gb-ofcom-after-amd"
    locked = decide_with("+442079460000", [machine(23)])
    found = next(f for f in locked.findings if f.rule == rule)
    assert found.verdict is FindingVerdict.BLOCK
    assert "answering-machine verdict" in found.reason and "by any tenant" in found.reason
    assert verdict(decide_with("+442079460000", [machine(25)]), rule) is FindingVerdict.ALLOW
    # A human verdict, or an answer AMD did not judge, sets no lock.
    human = [PriorAttempt(AT - timedelta(hours=1), "acme", "x", None, "outcome", "h", "ANSWERED")]
    assert verdict(decide_with("+442079460000", human), rule) is FindingVerdict.ALLOW
    # The same call seen as the guard's decision and as its outcome keeps the verdict.
    decision = PriorAttempt(AT - timedelta(hours=2), "globex", "x", None, "decision", "m1")
    assert verdict(decide_with("+442079460000", [decision, machine(2)]), rule) is (
        FindingVerdict.BLOCK
    )
    # A deployment whose diallers always reserve an operator removes the cap.
    packs, errors = from_settings({"GB": {"caps": [{"name": "ofcom-after-amd", "remove": True}]}})
    assert errors == []
    attempt = CallAttempt("+442079460000", "+61291234567", AT, tenant="acme", campaign="c")
    removed = decide(prepare(attempt, Policy(jurisdictions=packs)), Facts(attempts=(machine(1),)))
    assert all(f.rule != rule for f in removed.findings)


def test_a_person_s_call_is_not_held_by_ofcom_s_locks() -> None:
    # A call without a campaign is a person dialling: the live operator Ofcom asks for is on
    # the line. Both locks blocked an agent's follow-up call for a day (or three).
    prior = [
        PriorAttempt(AT - timedelta(hours=2), "acme", "x", None, "outcome", "m", "ANSWERED",
                     machine=True),
        PriorAttempt(AT - timedelta(hours=3), "acme", "x", None, "outcome", "a", "ABANDONED"),
    ]  # fmt: skip
    rules = ("frequency.gb-ofcom-after-amd", "frequency.gb-ofcom-after-abandoned")
    person = CallAttempt("+442079460000", "+61291234567", AT, tenant="acme", campaign=None)
    decision = decide(prepare(person, Policy()), Facts(attempts=tuple(prior)))
    for rule in rules:
        found = next(f for f in decision.findings if f.rule == rule)
        assert found.verdict is FindingVerdict.ALLOW and "a person's call" in found.reason
    dialler = decide_with("+442079460000", prior)
    assert all(verdict(dialler, rule) is FindingVerdict.BLOCK for rule in rules)
    # An override holds a person's calls too; a value that is no boolean is refused by name.
    packs, errors = from_settings(
        {"GB": {"caps": [{"name": "ofcom-after-amd", "person_calls_exempt": False}]}}
    )
    assert errors == []
    held = decide(prepare(person, Policy(jurisdictions=packs)), Facts(attempts=tuple(prior)))
    assert verdict(held, rules[0]) is FindingVerdict.BLOCK
    _, errors = from_settings(
        {"GB": {"caps": [{"name": "ofcom-after-amd", "person_calls_exempt": 1}]}}
    )
    assert errors == [
        "jurisdictions.GB.caps.ofcom-after-amd.person_calls_exempt: must be true or false"
    ]


def test_a_french_cap_counts_this_tenant_s_calls_only() -> None:
    # D.223-9 counts per professional: another tenant's calls are not this one's.
    others = [
        PriorAttempt(AT - timedelta(days=d), "globex", "a", None, "outcome", f"g{d}")
        for d in range(1, 6)
    ]
    assert verdict(decide_with(FR, others), "frequency.fr-four-in-30-days") is FindingVerdict.ALLOW


async def test_the_store_feeds_outcomes_history_refusals_and_abandons_to_the_caps(store) -> None:  # type: ignore[no-untyped-def]
    from rules.facts import SuppressionEntry
    from rules.outcomes import CallOutcome
    from rules.ports import FactQuery

    start = AT - timedelta(days=3)
    await store.upsert_outcome(
        CallOutcome(
            "u1",
            number=FR,
            tenant="acme",
            campaign="a",
            started_at=start,
            ended_at=start + timedelta(minutes=2),
            disposition="ANSWERED",
            billsec=90,
        )
    )
    await store.upsert_outcome(
        CallOutcome(
            "u2",
            number=FR,
            tenant="acme",
            campaign="a",
            started_at=start - timedelta(days=1),
            disposition="ANSWERED",
            billsec=5,
            abandoned=True,
        )
    )
    await store.upsert_outcome(
        CallOutcome(
            "m1",
            number=FR,
            tenant="acme",
            campaign="a",
            started_at=start - timedelta(hours=1),
            disposition="ANSWERED",
            billsec=20,
            amd="MACHINE",
        )
    )
    await store.upsert_outcome(
        CallOutcome(
            "h1",
            number=FR,
            tenant="acme",
            started_at=start - timedelta(days=2),
            disposition="NO ANSWER",
            source="history",
        )
    )
    # The callee refused during call u1 (an opt-out that expired after a day): the FR
    # 60-day lock outlives the opt-out.
    await store.add_suppression(
        SuppressionEntry(
            FR,
            "acme",
            None,
            "refused",
            "agi",
            start + timedelta(minutes=1),
            start + timedelta(days=1),
        )
    )
    facts = await store.facts_for(FactQuery(FR, "acme", "a", None, [], [], AT - timedelta(days=61)))
    by_id = {a.call_id: a for a in facts.attempts}
    assert by_id["u1"].refused and by_id["u1"].conversation and by_id["u1"].source == "outcome"
    assert by_id["u2"].disposition == "ABANDONED" and not by_id["u2"].refused
    assert by_id["h1"].source == "history" and not by_id["h1"].conversation
    assert by_id["m1"].machine and not by_id["u1"].machine and not by_id["u2"].machine
    decision = decide_with(FR, list(facts.attempts), campaign="b")
    assert verdict(decision, "frequency.fr-refusal-lock") is FindingVerdict.BLOCK
    assert verdict(decision, "suppression.list") is FindingVerdict.ALLOW


# -- TRACED: exempt automated calls, 3 per tenant and number in any 30 days --------------------

TRACED = "frequency.us-traced-exempt-prerecorded"
IOWA = "+15155550100"  # no state table of its own: the federal rules alone


def robocall(
    prior: list[PriorAttempt],
    *,
    automated: bool = True,
    purpose: Purpose = Purpose.INFORMATIONAL,
    consents: tuple[object, ...] = (),
    campaign: str = "reminders",
    line_type: LineType | None = LineType.LANDLINE,
) -> Decision:
    # A residential line, which TRACED's caps are about: to a mobile, an automated call
    # needs consent whatever the count (consent tcpa-wireless).
    attempt = CallAttempt(
        IOWA,
        "+13195550100",
        AT,
        tenant="acme",
        campaign=campaign,
        purpose=purpose,
        automated=automated,
        line_type=line_type,
    )
    facts = Facts(
        attempts=tuple(prior),
        consents=consents,  # type: ignore[arg-type]
        caller_id_records=(CallerIdRecord("+13195550100", "acme"),),
        tenant_has_inventory=True,
    )
    return decide(prepare(attempt, Policy()), facts)


def robocalls(
    days_ago: list[float], *, tenant: str = "acme", automated: bool = True
) -> list[PriorAttempt]:
    return [
        PriorAttempt(
            AT - timedelta(days=d),
            tenant,
            "reminders",
            "informational",
            "decision",
            f"r{i}-{tenant}",
            automated=automated,
        )
        for i, d in enumerate(days_ago)
    ]


def test_traced_blocks_a_fourth_automated_call_within_30_days() -> None:
    assert verdict(robocall(robocalls([1, 10])), TRACED) is FindingVerdict.ALLOW
    fourth = robocall(robocalls([1, 10, 29.9]))
    assert verdict(fourth, TRACED) is FindingVerdict.BLOCK
    assert fourth.rule == TRACED
    reason = next(f.reason for f in fourth.findings if f.rule == TRACED)
    assert "3 automated calls" in reason


def test_a_robocall_to_a_line_of_unknown_type_is_held_for_consent_before_any_count() -> None:
    # To a line that may be a mobile, the first robocall needs consent already: the
    # consent rule decides (it ranks before frequency), and TRACED's count still runs.
    first = robocall([], line_type=None)
    assert first.rule == "consent.us-tcpa-wireless"
    fourth = robocall(robocalls([1, 10, 29.9]), line_type=None)
    assert fourth.rule == "consent.us-tcpa-wireless"
    assert verdict(fourth, TRACED) is FindingVerdict.BLOCK


def test_traced_window_is_30_calendar_days_on_the_callee_s_clock() -> None:
    # AT is Wed 10 June, 11:00 in Iowa (CDT): a call on the callee's 11 May still counts,
    # one on 10 May no longer does.
    def robocall_at(local: datetime) -> PriorAttempt:
        return PriorAttempt(local, "acme", "x", None, "decision", f"{local}", automated=True)

    chicago = ZoneInfo("America/Chicago")
    may_11 = robocall_at(datetime(2026, 5, 11, 0, 0, tzinfo=chicago))
    may_10 = robocall_at(datetime(2026, 5, 10, 23, 59, tzinfo=chicago))
    assert verdict(robocall([*robocalls([1, 10]), may_11]), TRACED) is FindingVerdict.BLOCK
    assert verdict(robocall([*robocalls([1, 10]), may_10]), TRACED) is FindingVerdict.ALLOW


def test_traced_counts_days_not_hours_across_the_autumn_clock_change() -> None:
    # 29 local days, but 720 h 40 min: the hour the clocks went back must not free a call.
    chicago = ZoneInfo("America/Chicago")
    prior = [
        PriorAttempt(datetime(2026, m, d, h, 10, tzinfo=chicago), "acme", "r", None,
                     "decision", f"p{m}{d}", automated=True)
        for m, d, h in ((10, 5, 0), (10, 20, 12), (11, 1, 12))
    ]  # fmt: skip
    attempt = CallAttempt(
        IOWA,
        "+13195550100",
        datetime(2026, 11, 3, 23, 50, tzinfo=chicago),
        tenant="acme",
        campaign="r",
        purpose=Purpose.RESEARCH,
        automated=True,
    )
    facts = Facts(
        attempts=tuple(prior),
        caller_id_records=(CallerIdRecord("+13195550100", "acme"),),
        tenant_has_inventory=True,
    )
    assert verdict(decide(prepare(attempt, Policy()), facts), TRACED) is FindingVerdict.BLOCK


def test_automated_informational_calls_are_also_held_to_one_a_day() -> None:
    daily = "frequency.us-traced-hipaa-daily"
    today = [
        PriorAttempt(AT - timedelta(hours=23), "acme", "r", None, "decision", "t", automated=True)
    ]
    assert verdict(robocall(today), daily) is FindingVerdict.BLOCK
    assert verdict(robocall(robocalls([1.01])), daily) is FindingVerdict.ALLOW
    research = robocall(today, purpose=Purpose.RESEARCH)
    assert all(f.rule != daily for f in research.findings)


def test_traced_counts_automated_calls_only_and_holds_automated_calls_only() -> None:
    live = robocalls([1, 2, 3], automated=False)
    assert verdict(robocall(live), TRACED) is FindingVerdict.ALLOW
    # A live call is not held by the cap at all, however many robocalls came before.
    decision = robocall(robocalls([1, 2, 3]), automated=False)
    assert all(f.rule != TRACED for f in decision.findings)


def test_traced_counts_the_tenant_s_calls_of_every_campaign_and_no_other_tenant_s() -> None:
    mixed = [
        PriorAttempt(AT - timedelta(days=d), "acme", c, None, "outcome", f"m{d}", automated=True)
        for d, c in ((1, "a"), (2, "b"), (3, None))
    ]
    assert verdict(robocall(mixed), TRACED) is FindingVerdict.BLOCK
    assert verdict(robocall(robocalls([1, 2, 3], tenant="globex")), TRACED) is (
        FindingVerdict.ALLOW
    )


def test_traced_is_lifted_by_prior_express_consent_only() -> None:
    from rules.facts import ConsentKind, ConsentRecord

    def consent(kind: ConsentKind) -> tuple[ConsentRecord, ...]:
        return (ConsentRecord(IOWA, "acme", kind, AT - timedelta(days=90)),)

    many = robocalls([1, 2, 3])
    for kind in (ConsentKind.EXPRESS, ConsentKind.EXPRESS_WRITTEN):
        lifted = robocall(many, consents=consent(kind))
        assert verdict(lifted, TRACED) is FindingVerdict.ALLOW
        assert "lifts" in next(f.reason for f in lifted.findings if f.rule == TRACED)
    business = robocall(many, consents=consent(ConsentKind.EBR_PURCHASE))
    assert verdict(business, TRACED) is FindingVerdict.BLOCK


def test_traced_leaves_automated_telemarketing_to_the_written_consent_rule() -> None:
    decision = robocall(robocalls([1, 2, 3]), purpose=Purpose.TELEMARKETING)
    assert all(f.rule != TRACED for f in decision.findings)
    assert verdict(decision, "consent.us-tcpa-prerecorded") is FindingVerdict.BLOCK


def test_a_call_seen_as_automated_by_any_source_stays_automated_when_merged() -> None:
    decided = PriorAttempt(AT, "acme", "a", None, "decision", "u1", automated=True)
    recorded = PriorAttempt(AT, "acme", "a", None, "outcome", "u1", disposition="ANSWERED")
    for pair in ((decided, recorded), (recorded, decided)):
        [merged] = merged_attempts(pair)
        assert merged.automated


@pytest.mark.parametrize(
    ("setting", "error"),
    [
        ({"lifted_by": ["express", "verbal"]}, "lifted_by: must list consent kinds"),
        # A table's keys read as kinds: `{ express = false }` lifted the cap by express.
        ({"lifted_by": {"express": False, "ebr-purchase": False}}, "lifted_by: must list"),
        ({"lifted_by": "express"}, "lifted_by: must list"),
        ({"automated": 1}, "automated: must be true or false"),
    ],
)
def test_cap_settings_for_automated_calls_are_checked(
    setting: dict[str, object], error: str
) -> None:
    _, errors = from_settings({"US": {"caps": [{"name": "traced-exempt-prerecorded", **setting}]}})
    assert len(errors) == 1 and f"traced-exempt-prerecorded.{error}" in errors[0], errors


async def test_a_refusal_under_the_tenant_named_in_another_case_locks_the_number(store) -> None:  # type: ignore[no-untyped-def]
    # The IVR's opt-out names the tenant as its channel does (`ACME`), the outcome as the
    # dialler's (`acme`): the refusal was not seen, and the 60-day lock not taken.
    from rules.facts import SuppressionEntry
    from rules.outcomes import CallOutcome
    from rules.ports import FactQuery

    start = AT - timedelta(days=3)
    outcome = CallOutcome(
        "u1", number=FR, tenant="acme", campaign="a", started_at=start,
        ended_at=start + timedelta(minutes=2), disposition="ANSWERED", billsec=90,
    )  # fmt: skip
    await store.upsert_outcome(outcome)
    refusal = SuppressionEntry(
        FR, "ACME", None, "refused", "agi", start + timedelta(minutes=1), start + timedelta(days=1)
    )
    await store.add_suppression(refusal)
    facts = await store.facts_for(FactQuery(FR, "acme", "a", None, [], [], AT - timedelta(days=61)))
    [attempt] = facts.attempts
    assert attempt.refused
