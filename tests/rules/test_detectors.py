"""The abuse detectors at their threshold boundaries, their settings, and their properties."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime, timedelta

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from rules.detectors import (
    SPECS,
    Action,
    DetectorContext,
    DetectorPolicy,
    FlagFinding,
    accumulate,
    from_settings,
    run_detectors,
)
from rules.outcomes import CallOutcome

NOW = datetime(2026, 11, 28, 12, 0, tzinfo=UTC)
POLICY = DetectorPolicy()
EMPTY = DetectorContext()


def call(
    n: int,
    number: str = "+61400000001",
    *,
    caller_id: str = "+61291234567",
    campaign: str | None = "spring",
    tenant: str = "acme",
    ago: float = 60.0,
    answered: bool = True,
    billsec: int = 60,
    ring: float = 5.0,
    disposition: str | None = None,
    abandoned: bool = False,
    amd: str | None = None,
) -> CallOutcome:
    started = NOW - timedelta(seconds=ago)
    return CallOutcome(
        call_id=f"c{n}",
        number=number,
        caller_id=caller_id,
        tenant=tenant,
        campaign=campaign,
        started_at=started,
        answered_at=started + timedelta(seconds=ring) if answered else None,
        ended_at=started + timedelta(seconds=ring + (billsec if answered else 0)),
        disposition=disposition or ("ANSWERED" if answered else "NO ANSWER"),
        billsec=billsec if answered else 0,
        abandoned=abandoned,
        amd=amd,
    )


def spread(count: int, start: int = 0, **kwargs: object) -> list[CallOutcome]:
    """`count` calls to different, non-consecutive numbers."""
    return [
        call(start + i, f"+614{10_000_000 + 37 * (start + i):08d}", **kwargs)  # type: ignore[arg-type]
        for i in range(count)
    ]


def run(
    detector: str, outcomes: list[CallOutcome], context: DetectorContext = EMPTY
) -> list[FlagFinding]:
    return run_detectors(outcomes, NOW, POLICY, context, only=[detector])


# -- repeated attempts ---------------------------------------------------------------------


def test_repeat_callee_flags_the_fourth_call_to_one_number_in_24_hours() -> None:
    three = [call(i) for i in range(3)]
    assert run("repeat_callee", three) == []
    [finding] = run("repeat_callee", [*three, call(3)])
    assert finding.subject == "campaign:acme/spring"
    assert (finding.measured, finding.threshold) == (4, 3)
    assert finding.evidence == ("c0", "c1", "c2", "c3")
    assert finding.callees == ("+61400000001",)
    assert "+61400000001 4 times" in finding.detail
    assert finding.window_end == NOW and finding.window_start == NOW - timedelta(hours=24)


def test_repeat_callee_ignores_calls_outside_the_window() -> None:
    old = [call(i, ago=25 * 3600) for i in range(5)]
    assert run("repeat_callee", [*old, call(9)]) == []


def test_repeat_callee_per_tenant_catches_calls_spread_over_campaigns() -> None:
    outcomes = [call(i, campaign=f"c{i % 2}") for i in range(4)]
    [finding] = run("repeat_callee", outcomes)
    assert finding.subject == "tenant:acme"
    assert finding.measured == 4


# -- short calls, answer profile -------------------------------------------------------------


def _short_mix(attempts: int, short: int) -> list[CallOutcome]:
    return [call(i, f"+6140000{i:04d}", billsec=2 if i < short else 60) for i in range(attempts)]


def test_short_calls_at_exactly_20_percent_of_100_is_not_flagged() -> None:
    assert run("short_calls", _short_mix(100, 20)) == []


def test_short_calls_above_20_percent_of_100_is_flagged_on_the_caller_id() -> None:
    # The caller ID; its campaign is not flagged again for the same calls.
    [finding] = run("short_calls", _short_mix(100, 21))
    assert finding.subject == "callerid:+61291234567"
    assert finding.measured == pytest.approx(0.21)
    assert finding.threshold == pytest.approx(0.20)
    assert len(finding.evidence) == 21


@pytest.mark.parametrize("caller_ids", [[""], [f"+6129123456{n}" for n in range(5)]])
def test_short_calls_withheld_or_spread_over_caller_ids_are_flagged_on_the_campaign(
    caller_ids: list[str],
) -> None:
    # Keyed on the caller ID alone, withheld calls were dropped, and five caller IDs of 90
    # calls each stayed under the 100-call sample: 450 one-second calls raised nothing.
    calls = [
        call(
            i,
            f"+614{10_000_000 + 37 * i:08d}",
            caller_id=caller_ids[i % len(caller_ids)] or None,
            billsec=1,
        )  # type: ignore[arg-type]
        for i in range(450 if len(caller_ids) > 1 else 120)
    ]
    findings = run("short_calls", calls)
    assert [f.subject for f in findings] == ["campaign:acme/spring"]
    assert run("answer_profile", calls)[-1].subject == "campaign:acme/spring"


def test_a_campaign_is_judged_on_the_calls_no_flagged_caller_id_explains() -> None:
    # Flagged on both its caller ID and its campaign for the same calls, a campaign with one
    # caller ID raised two flags with the same evidence (and, suspending, two suspensions).
    flagged = _short_mix(100, 50)
    withheld = [
        replace(c, call_id=f"w{i}", caller_id=None) for i, c in enumerate(_short_mix(120, 60))
    ]
    findings = run("short_calls", [*flagged, *withheld])
    assert [f.subject for f in findings] == ["callerid:+61291234567", "campaign:acme/spring"]
    assert all(e.startswith("w") for e in findings[1].evidence)


def test_a_suspending_short_calls_suspends_a_campaign_and_only_flags_a_whole_tenant() -> None:
    # Calls without a campaign are the tenant's, a person's among them: as for a breach, an
    # operator decides on suspending the whole tenant.
    policy, errors = from_settings({"short_calls": {"action": "suspend"}})
    assert errors == []
    withheld = [replace(c, caller_id=None) for c in _short_mix(100, 50)]
    with_campaign = run_detectors(withheld, NOW, policy, EMPTY, only=["short_calls"])
    assert {f.subject: f.action for f in with_campaign} == {"campaign:acme/spring": Action.SUSPEND}
    without = [replace(c, campaign=None) for c in withheld]
    findings = run_detectors(without, NOW, policy, EMPTY, only=["short_calls"])
    assert {f.subject: f.action for f in findings} == {"tenant:acme": Action.FLAG}


def test_short_calls_small_sample_guard_holds_at_99_attempts() -> None:
    assert run("short_calls", _short_mix(99, 50)) == []


def test_short_call_boundary_is_6_seconds() -> None:
    at_six = [call(i, f"+6140000{i:04d}", billsec=6 if i < 50 else 60) for i in range(100)]
    assert run("short_calls", at_six) == []


def test_answer_profile_flags_a_low_answer_seizure_ratio() -> None:
    calls = [call(i, f"+6140000{i:04d}", answered=i < 9) for i in range(100)]
    [finding] = run("answer_profile", calls)
    assert finding.subject == "callerid:+61291234567"
    assert finding.measured == pytest.approx(0.09)
    calls = [call(i, f"+6140000{i:04d}", answered=i < 10) for i in range(100)]
    assert run("answer_profile", calls) == []


def test_answer_profile_flags_a_short_average_duration() -> None:
    [finding] = run("answer_profile", [call(i, f"+6140000{i:04d}", billsec=9) for i in range(100)])
    assert "average" in finding.detail and finding.measured == 9


# -- abandoned calls ------------------------------------------------------------------------


def _abandon_mix(
    answered: int, abandoned: int, prefix: str, ago: float = 60.0
) -> list[CallOutcome]:
    return [call(i, f"{prefix}{i:07d}", abandoned=i < abandoned, ago=ago) for i in range(answered)]


def test_abandoned_rate_3_percent_is_allowed_and_above_is_flagged() -> None:
    assert run("abandoned_rate", _abandon_mix(100, 3, "+1202")) == []
    [finding] = run("abandoned_rate", _abandon_mix(1000, 31, "+1202"))
    assert finding.subject == "campaign:acme/spring"
    assert finding.measured == pytest.approx(0.031)
    assert "US rule" in finding.detail


def test_abandoned_rate_window_is_30_days_in_the_us_and_24_hours_in_the_uk() -> None:
    two_days = 2 * 86400.0
    assert run("abandoned_rate", _abandon_mix(100, 10, "+1202", ago=two_days))
    assert run("abandoned_rate", _abandon_mix(100, 10, "+44207", ago=two_days)) == []
    [uk] = run("abandoned_rate", _abandon_mix(100, 10, "+44207"))
    assert "Ofcom" in uk.detail and uk.window_start == NOW - timedelta(hours=24)
    [au] = run("abandoned_rate", _abandon_mix(100, 10, "+61400", ago=two_days))
    assert "house policy" in au.detail


def _amd_share(share: float) -> DetectorPolicy:
    policy, errors = from_settings({"abandoned_rate": {"amd_false_positive_share": share}})
    assert errors == []
    return policy


def _with_machines(calls: list[CallOutcome], machines: int) -> list[CallOutcome]:
    """The first `machines` calls that were not abandoned, as AMD's machine verdicts."""
    marked = [c for c in calls if not c.abandoned][:machines]
    return [replace(c, amd="MACHINE") if c in marked else c for c in calls]


def test_answering_machines_are_no_live_answers_in_the_us_rate() -> None:
    # 2 abandoned of 100 answers is 2 %; with 40 of them machines, 2 of 60 live answers is
    # 3.3 %: the US rule counts calls answered by a live person (47 CFR 64.1200(a)(7)).
    calls = _abandon_mix(100, 2, "+1202")
    assert run("abandoned_rate", calls) == []
    no_estimate = _amd_share(0.0)
    [finding] = run_detectors(
        _with_machines(calls, 40), NOW, no_estimate, EMPTY, only=["abandoned_rate"]
    )
    assert finding.measured == pytest.approx(2 / 60)
    assert "of 60 live answers" in finding.detail and "false positives" not in finding.detail
    # Human and not-sure verdicts are live answers.
    human = [replace(c, amd="HUMAN") for c in calls]
    assert run_detectors(human, NOW, no_estimate, EMPTY, only=["abandoned_rate"]) == []


def test_amd_false_positives_count_as_abandoned_at_the_estimated_share() -> None:
    # Ofcom: AMD's false positives are abandoned calls; the share is the operator's estimate.
    calls = _with_machines(_abandon_mix(200, 1, "+44207"), 100)  # 1 abandoned, 100 machines
    estimate = _amd_share(0.05)
    [finding] = run_detectors(calls, NOW, estimate, EMPTY, only=["abandoned_rate"])
    assert finding.measured == pytest.approx((1 + 5) / (100 + 5))
    assert "an estimated 5 AMD false positives (5% of 100" in finding.detail
    assert len(finding.evidence) == 101  # the abandoned call and the machine verdicts
    # By default every machine verdict counts (Ofcom names no figure): 101 of 200.
    [strict] = run("abandoned_rate", calls)
    assert strict.measured == pytest.approx(101 / 200)
    # A share of 0.01 gives 2 of 101: under 3 %.
    low = _amd_share(0.01)
    assert run_detectors(calls, NOW, low, EMPTY, only=["abandoned_rate"]) == []


# -- ring time, one ring -----------------------------------------------------------------------


def test_ring_time_boundary_is_15_seconds() -> None:
    assert run("ring_time", [call(1, answered=False, ring=15.0)]) == []
    [finding] = run("ring_time", [call(1, answered=False, ring=14.9)])
    assert finding.measured == pytest.approx(14.9) and finding.threshold == 15
    busy = call(2, answered=False, ring=1.0, disposition="BUSY")
    assert run("ring_time", [busy]) == []


def test_one_ring_needs_five_short_rings_making_half_the_unanswered() -> None:
    brief = [call(i, f"+6140000{i:04d}", answered=False, ring=3) for i in range(5)]
    long = [call(10 + i, f"+6140001{i:04d}", answered=False, ring=20) for i in range(5)]
    assert run("one_ring", brief[:4]) == []
    [finding] = run("one_ring", [*brief, *long])
    assert finding.measured == 5
    assert run("one_ring", [*brief, *long, call(99, "+61400099999", answered=False, ring=20)]) == []


# -- caller-ID rotation --------------------------------------------------------------------------


def test_rotation_toward_one_callee_beyond_two_caller_ids_is_flagged() -> None:
    two = [call(i, caller_id=f"+6129123456{i}") for i in range(2)]
    assert run("callerid_rotation", [*two, call(5, caller_id="+61291234560")]) == []
    [finding] = run("callerid_rotation", [*two, call(2, caller_id="+61291234562")])
    assert finding.measured == 3 and finding.callees == ("+61400000001",)


def test_pool_rotation_within_the_declared_pool_is_not_flagged() -> None:
    pool = frozenset({"+61291234560", "+61291234561"})
    context = DetectorContext(caller_id_pools={"acme": {"main": pool}})
    inside = [call(i, f"+614{i:08d}", caller_id=f"+6129123456{i % 2}") for i in range(0, 60, 3)]
    assert run("callerid_pool", inside, context) == []
    beyond = [*inside, call(99, "+61499999999", caller_id="+61299999999")]
    [finding] = run("callerid_pool", beyond, context)
    assert finding.evidence == ("c99",) and finding.measured == 1


def test_pool_named_after_the_campaign_is_its_declared_pool() -> None:
    context = DetectorContext(
        caller_id_pools={
            "acme": {"spring": frozenset({"+61291234560"}), "": frozenset({"+61291234561"})}
        }
    )
    [finding] = run("callerid_pool", [call(1, caller_id="+61291234561")], context)
    assert "outside its declared pool" in finding.detail


def test_without_inventory_unique_caller_ids_over_90_percent_are_flagged() -> None:
    unique = [call(i, f"+614{i:08d}", caller_id=f"+612912{i:05d}") for i in range(0, 60, 3)]
    assert run("callerid_pool", unique[:19]) == []  # under the 20-attempt guard
    [finding] = run("callerid_pool", unique)
    assert finding.measured == 1.0


# -- sequential dialling, repeat after abandoned ------------------------------------------------


def test_four_consecutive_numbers_are_fine_five_are_a_run() -> None:
    four = [call(i, f"+6140000000{i}") for i in range(1, 5)]
    assert run("sequential", four) == []
    [finding] = run("sequential", [*four, call(5, "+61400000005")])
    assert finding.measured == 5 and len(finding.evidence) == 5


def test_a_run_walked_across_a_tenants_campaigns_is_the_tenants() -> None:
    # Per campaign only, alternating the same list over two campaigns hid every run.
    spread = [call(i, f"+6140000000{i}", campaign="a" if i % 2 else "b") for i in range(1, 7)]
    [finding] = run("sequential", spread)
    assert finding.subject == "tenant:acme" and finding.measured == 6
    # A campaign that walked the run itself takes the flag, and the tenant no second one.
    own = [call(i, f"+6140000000{i}", campaign="a") for i in range(1, 7)]
    assert [
        f.subject for f in run("sequential", [*own, call(9, "+61400000009", campaign="b")])
    ] == ["campaign:acme/a"]
    # Only the calls in a campaign's own run are its: a run across campaigns that touches
    # another of its calls is the tenant's.
    side = [call(i, f"+614000000{i:02d}", campaign="a") for i in (*range(1, 6), 20, 21)]
    side += [call(i, f"+614000000{i:02d}", campaign="b") for i in (22, 23, 24)]
    assert sorted((f.subject, f.measured) for f in run("sequential", side)) == [
        ("campaign:acme/a", 5),
        ("tenant:acme", 5),
    ]
    # Another tenant's calls are no part of the run.
    other = [
        call(i, f"+6140000000{i}", tenant="acme" if i % 2 else "globex", campaign=None)
        for i in range(1, 7)
    ]
    assert run("sequential", other) == []


def test_uk_repeat_within_72_hours_of_an_abandoned_call_is_flagged() -> None:
    first = call(1, "+442071234567", abandoned=True, ago=50 * 3600)
    assert run("repeat_after_abandoned", [first, call(2, "+442071234567", ago=60)])
    assert run("repeat_after_abandoned", [first, call(3, "+61400000001", ago=60)]) == []
    late = call(1, "+442071234567", abandoned=True, ago=80 * 3600)
    assert run("repeat_after_abandoned", [late, call(2, "+442071234567", ago=60)]) == []


def test_a_person_s_call_after_an_abandoned_call_is_no_repeat() -> None:
    # Ofcom allows a repeat when a live operator is there, and a call without a campaign
    # is a person's: it flagged, and could suspend, the whole tenant.
    first = call(1, "+442071234567", abandoned=True, ago=5 * 3600)
    person = call(2, "+442071234567", ago=60, campaign=None)
    assert run("repeat_after_abandoned", [first, person]) == []


def test_uk_repeat_within_24_hours_of_an_answering_machine_verdict_is_flagged() -> None:
    first = call(1, "+442071234567", amd="MACHINE", ago=20 * 3600)
    [finding] = run("repeat_after_amd", [first, call(2, "+442071234567", ago=60)])
    assert "answering-machine verdict" in finding.detail and finding.evidence == ("c2",)
    late = call(1, "+442071234567", amd="MACHINE", ago=25 * 3600)
    assert run("repeat_after_amd", [late, call(2, "+442071234567", ago=60)]) == []
    human = call(1, "+442071234567", amd="HUMAN", ago=20 * 3600)
    assert run("repeat_after_amd", [human, call(2, "+442071234567", ago=60)]) == []
    person = call(2, "+442071234567", ago=60, campaign=None)
    assert run("repeat_after_amd", [first, person]) == []
    # An abandoned call is the other detector's, with its 72 h.
    abandoned = call(1, "+442071234567", abandoned=True, ago=20 * 3600)
    assert run("repeat_after_amd", [abandoned, call(2, "+442071234567", ago=60)]) == []


# -- breach, unguarded -------------------------------------------------------------------------


def test_breach_is_always_flagged_and_suspends_the_campaign() -> None:
    context = DetectorContext(breaches={"c1": ("it had opted out (global, 2026-11-01)",)})
    [finding] = run("breach", [call(1), call(2, "+61400000002")], context)
    assert finding.action is Action.SUSPEND and finding.suspendable
    assert finding.evidence == ("c1",) and finding.subject == "campaign:acme/spring"
    assert "opted out" in finding.detail


def test_a_breach_without_a_campaign_flags_the_tenant_without_suspending_it() -> None:
    context = DetectorContext(breaches={"c1": ("it was on the register",)})
    [finding] = run("breach", [call(1, campaign=None)], context)
    assert finding.subject == "tenant:acme" and finding.action is Action.FLAG


def test_accumulate_counts_the_calls_of_the_open_flag() -> None:
    context = DetectorContext(breaches={"c2": ("it had opted out",)})
    [finding] = run("breach", [call(2)], context)
    merged = accumulate(finding, ("c1",), ("+61400000009",))
    assert merged.evidence == ("c1", "c2") and merged.measured == 2


def test_unguarded_is_off_by_default_and_flags_calls_the_guard_never_allowed() -> None:
    context = DetectorContext(guarded_call_ids=frozenset({"c1"}))
    assert run("unguarded", [call(1), call(2)], context) == []
    policy, errors = from_settings({"unguarded": {"enabled": True}})
    assert errors == []
    [finding] = run_detectors([call(1), call(2)], NOW, policy, context, only=["unguarded"])
    assert finding.evidence == ("c2",)


# -- an ordinary campaign ----------------------------------------------------------------------


def test_an_ordinary_campaign_raises_nothing() -> None:
    ordinary = spread(20, billsec=95, ring=8)
    ordinary += [
        call(50 + i, f"+614{20_000_000 + 91 * i:08d}", answered=False, ring=20) for i in range(5)
    ]
    assert run_detectors(ordinary, NOW, POLICY, EMPTY) == []


# -- settings ----------------------------------------------------------------------------------


def test_settings_override_thresholds_and_actions() -> None:
    policy, errors = from_settings(
        {"repeat_callee": {"max_attempts": 5, "window_hours": 48, "action": "suspend"}}
    )
    assert errors == []
    repeat = policy.get("repeat_callee")
    assert repeat.count("max_attempts") == 5 and repeat.action is Action.SUSPEND
    assert repeat.lookback == timedelta(hours=48)
    assert (
        run_detectors([call(i) for i in range(5)], NOW, policy, EMPTY, only=["repeat_callee"]) == []
    )


def test_every_bad_key_is_named() -> None:
    _, errors = from_settings(
        {
            "nosuch": {},
            "repeat_callee": {"max_attempts": 0, "colour": "red", "action": "ban"},
            "short_calls": {"max_ratio": 1.5, "enabled": "yes", "min_attempts": 2.5},
            "ring_time": 7,
        }
    )
    joined = "\n".join(errors)
    for key in (
        "detectors.nosuch:",
        "detectors.repeat_callee.max_attempts:",
        "detectors.repeat_callee.colour:",
        "detectors.repeat_callee.action:",
        "detectors.short_calls.max_ratio:",
        "detectors.short_calls.enabled:",
        "detectors.short_calls.min_attempts:",
        "detectors.ring_time:",
    ):
        assert key in joined
    assert len(errors) == 8


def test_every_detector_cites_its_basis() -> None:
    for spec in SPECS.values():
        assert spec.citation and spec.summary and spec.params


# -- properties --------------------------------------------------------------------------------

_times = st.datetimes(
    min_value=datetime(2026, 10, 1), max_value=datetime(2026, 11, 29), timezones=st.just(UTC)
)
_outcomes = st.builds(
    CallOutcome,
    call_id=st.sampled_from([f"id{i}" for i in range(12)]),
    number=st.one_of(
        st.none(),
        st.sampled_from(
            [
                "+12025550100",
                "+442071234567",
                "+61400000001",
                "+61400000002",
                "+61400000003",
                "+61400000004",
                "+61400000005",
                "garbage",
            ]
        ),
    ),
    caller_id=st.one_of(
        st.none(), st.sampled_from(["+61291234567", "+61291234568", "+61291234569"])
    ),
    tenant=st.one_of(st.none(), st.sampled_from(["acme", "beta"])),
    campaign=st.one_of(st.none(), st.sampled_from(["spring", "winter"])),
    started_at=st.one_of(st.none(), _times),
    answered_at=st.one_of(st.none(), _times),
    ended_at=st.one_of(st.none(), _times),
    disposition=st.one_of(st.none(), st.sampled_from(["ANSWERED", "NO ANSWER", "BUSY", "FAILED"])),
    billsec=st.one_of(st.none(), st.integers(-5, 500)),
    abandoned=st.booleans(),
)
_loose = from_settings(
    {
        "short_calls": {"min_attempts": 1},
        "answer_profile": {"min_attempts": 1},
        "callerid_pool": {"min_attempts": 1},
        "one_ring": {"min_calls": 1},
        "sequential": {"min_run": 2},
        "unguarded": {"enabled": True},
    }
)[0]


@settings(max_examples=60, deadline=None)
@given(outcomes=st.lists(_outcomes, max_size=15), seed=st.randoms(use_true_random=False))
def test_detectors_never_raise_and_ignore_input_order(
    outcomes: list[CallOutcome], seed: object
) -> None:
    context = DetectorContext(
        breaches={"id1": ("it had opted out",)},
        caller_id_pools={"acme": {"": frozenset({"+61291234567"})}},
        guarded_call_ids=frozenset({"id2"}),
    )
    findings = run_detectors(outcomes, NOW, _loose, context)
    shuffled = list(outcomes)
    seed.shuffle(shuffled)  # type: ignore[attr-defined]
    assert run_detectors(shuffled, NOW, _loose, context) == findings
    assert len({(f.subject, f.detector) for f in findings}) == len(findings)
    for f in findings:
        assert f.evidence == tuple(sorted(f.evidence)) and f.detail
