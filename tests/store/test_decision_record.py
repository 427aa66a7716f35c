"""The stored audit record: inputs, every finding, verdict, rule, the deciding citation."""

from __future__ import annotations

import asyncio
import json
import sqlite3
from datetime import UTC, datetime

import pytest

from dialguard.store import Store
from dialguard.store.facts import decision_row
from rules.models import CallAttempt, Decision, Finding, FindingVerdict, LineType, Verdict

AT = datetime(2026, 3, 2, 1, 0, tzinfo=UTC)
ATTEMPT = CallAttempt("0412345678", "+61291234567", AT, tenant="acme", call_id="c1")
FINDINGS = (
    Finding("callerid.valid", FindingVerdict.ALLOW, "valid", "FCC 2017 order", unverified=True),
    Finding(
        "suppression.list",
        FindingVerdict.BLOCK,
        "opted out",
        "regulations.md 2.1",
        details={"entry": "tenant"},
    ),
    Finding("hours.au-telemarketing", FindingVerdict.SKIP, "not telemarketing"),
)


async def stored(store: Store, decision: Decision) -> dict[str, object]:
    await store.record_decision(ATTEMPT, decision, 1.5, "agi")
    row = await store.decision_for_call("c1")
    assert row is not None
    assert ": " not in row["decision_json"]  # compact
    record: dict[str, object] = json.loads(row["decision_json"])
    return record


async def test_a_block_keeps_every_finding_and_the_deciding_citation(store: Store) -> None:
    decision = Decision(
        Verdict.BLOCK,
        "suppression.list",
        "opted out",
        "regulations.md 2.1",
        "+61412345678",
        "+61291234567",
        "AU",
        None,
        FINDINGS,
    )
    record = await stored(store, decision)
    assert (record["verdict"], record["rule"], record["citation"]) == (
        "block",
        "suppression.list",
        "regulations.md 2.1",
    )
    assert record["findings"] == [
        {"rule": "callerid.valid", "verdict": "allow", "reason": "valid", "unverified": True},
        {
            "rule": "suppression.list",
            "verdict": "block",
            "reason": "opted out",
            "citation": "regulations.md 2.1",
            "details": {"entry": "tenant"},
        },
        {"rule": "hours.au-telemarketing", "verdict": "skip", "reason": "not telemarketing"},
    ]
    inputs = record["inputs"]
    assert isinstance(inputs, dict)
    assert (inputs["destination"], inputs["call_id"], inputs["at"]) == (
        "0412345678",
        "c1",
        AT.isoformat(),
    )


async def test_an_allow_stores_no_finding_citation(store: Store) -> None:
    decision = Decision(
        Verdict.ALLOW, None, "allowed", "", "+61412345678", None, "AU", None, FINDINGS[:1]
    )
    record = await stored(store, decision)
    assert record["findings"] == [
        {"rule": "callerid.valid", "verdict": "allow", "reason": "valid", "unverified": True}
    ]


async def test_a_call_s_decision_waits_for_its_own_record_only(store: Store) -> None:
    decision = Decision(Verdict.ALLOW, None, "allowed", "", "+61412345678", None, "AU", None, ())
    lock = sqlite3.connect(store.path, isolation_level=None)
    lock.execute("BEGIN IMMEDIATE")  # the writer cannot commit until this ends
    try:
        await store.record_decision(ATTEMPT, decision, 1.0, "agi")
        assert await asyncio.wait_for(store.decision_for_call("other"), 1.0) is None
        waiting = asyncio.ensure_future(store.decision_for_call("c1"))
        await asyncio.sleep(0.1)
        assert not waiting.done()
    finally:
        lock.execute("ROLLBACK")
        lock.close()
    row = await asyncio.wait_for(waiting, 5.0)
    assert row is not None and row["call_id"] == "c1"


@pytest.mark.parametrize("reason", ["why", 'Île-de-France: 祝日 "quoted"'])
def test_a_finding_s_json_is_reused_but_its_citation_follows_the_decision(reason: str) -> None:
    """The same finding objects (constants built at import) in two decisions, deciding in one:
    the record's content is `Decision.as_dict()` without the other findings' citations, as
    json.dumps(default=str) reads it (a date as its str(), any text)."""
    for rule in ("suppression.list", "callerid.valid", None):
        decision = Decision(
            Verdict.ALLOW if rule is None else Verdict.BLOCK,
            rule,
            reason,
            "a citation",
            "+61412345678",
            "+61291234567",
            "AU",
            AT,
            FINDINGS,
            {"tenant": "acme", "local_times": {"Australia/Sydney": AT}, "regions": []},
        )
        expected = decision.as_dict()
        findings = expected["findings"]
        assert isinstance(findings, list)
        for finding in findings:
            if finding["rule"] != rule:
                finding.pop("citation", None)
        record = json.loads(str(decision_row(ATTEMPT, decision, 1.0, "agi")[-1]))
        assert record.pop("inputs")["call_id"] == "c1"
        assert record == json.loads(json.dumps(expected, default=str))


def test_a_record_is_written_whatever_number_the_environment_held() -> None:
    """`agi_callingpres` is read as an int of any size: the record's JSON (orjson, 64-bit
    integers) must still be written, or the check fails on its own record."""
    attempt = CallAttempt("+61412345678", None, AT, call_id="c2", caller_id_presentation=2**70)
    decision = Decision(Verdict.BLOCK, "guard.error", "x", "", None, None, None, None, ())

    record = json.loads(str(decision_row(attempt, decision, 1.0, "agi")[-1]))

    assert record["inputs"]["caller_id_presentation"] == 2**70


async def test_the_inputs_say_whether_the_call_was_automated_and_to_which_line(
    store: Store,
) -> None:
    robocall = CallAttempt(
        "0412345678", "+61291234567", AT, tenant="acme", call_id="c2", automated=True,
        line_type=LineType.LANDLINE,
    )  # fmt: skip
    decision = Decision(Verdict.ALLOW, None, "allowed", "", None, None, None, None, ())
    await store.record_decision(robocall, decision, 1.0, "agi")
    await store.record_decision(ATTEMPT, decision, 1.0, "agi")
    marks = {}
    for call_id in ("c1", "c2"):
        row = await store.decision_for_call(call_id)
        assert row is not None
        inputs = json.loads(row["decision_json"])["inputs"]
        marks[call_id] = (inputs["automated"], inputs["line_type"])
    assert marks == {"c1": (False, None), "c2": (True, "landline")}
