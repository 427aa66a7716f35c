"""The canonical decision line: one JSON object per decision, and no secrets in any line."""

from __future__ import annotations

import contextvars
import io
import json
from datetime import UTC, datetime, timedelta

import pytest
import structlog
from hypothesis import given
from hypothesis import strategies as st

from dialguard.guard import Guard, log_decision
from dialguard.logs import bind_worker, configure_logging, get_logger, utc_stamp
from dialguard.store import Store
from rules.engine import failure_decision
from rules.models import CallAttempt
from rules.policy import Policy


@pytest.fixture(autouse=True)
def _restore_logging() -> object:
    yield
    structlog.reset_defaults()


async def test_each_decision_writes_one_canonical_json_line(store: Store, policy: Policy) -> None:
    stream = io.StringIO()
    configure_logging("info", stream)
    attempt = CallAttempt(
        "0412345678",
        "+61291234567",
        datetime(2026, 11, 30, 0, tzinfo=UTC),
        tenant="acme",
        campaign="spring",
        call_id="1795859878.63",
    )

    decision = await Guard(store, policy).check(attempt)

    lines = [json.loads(line) for line in stream.getvalue().splitlines()]
    decisions = [line for line in lines if line["event"] == "decision"]
    assert len(decisions) == 1
    line = decisions[0]
    assert line["uniqueid"] == "1795859878.63"
    assert (line["tenant"], line["number"]) == ("acme", "+61412345678")
    assert (line["verdict"], line["rule"]) == (decision.verdict.value, decision.rule)
    assert isinstance(line["latency_ms"], float)


def test_secrets_never_reach_a_log_line() -> None:
    stream = io.StringIO()
    configure_logging("debug", stream)

    get_logger("test").info("ami_login", username="dialguard", secret="s3cret", password="pw")

    assert "s3cret" not in stream.getvalue()
    assert "pw" not in json.loads(stream.getvalue())["password"]


def test_the_decision_line_follows_every_new_configuration() -> None:
    """The decision logger is bound once for speed, yet a new configuration (or a test's
    capture) takes effect from the next line."""
    attempt = CallAttempt("+61412345678", None, datetime(2026, 11, 30, tzinfo=UTC), call_id="u1")
    decision = failure_decision(attempt, Policy(), "guard.error", "test")
    first, second = io.StringIO(), io.StringIO()
    configure_logging("info", first)
    log_decision(attempt, decision, 1.0, "agi")
    with structlog.testing.capture_logs() as captured:
        log_decision(attempt, decision, 1.0, "agi")
    configure_logging("info", second)
    log_decision(attempt, decision, 1.0, "agi")

    assert [json.loads(line)["event"] for line in first.getvalue().splitlines()] == ["decision"]
    assert [entry["event"] for entry in captured] == ["decision"]
    assert [json.loads(line)["uniqueid"] for line in second.getvalue().splitlines()] == ["u1"]


@pytest.mark.parametrize(
    ("fields", "expected"),
    [
        # orjson writes these; the fallback (json.dumps) writes what orjson cannot.
        ({"reason": "Saturday 09:00", "n": 3}, {"reason": "Saturday 09:00", "n": 3}),
        ({"reason": "Île-de-France, 祝日"}, {"reason": "Île-de-France, 祝日"}),
        ({"count": 2**70}, {"count": 2**70}),
        (
            {"when": datetime(2026, 11, 30, tzinfo=UTC)},
            {"when": "datetime.datetime(2026, 11, 30, 0, 0, tzinfo=datetime.timezone.utc)"},
        ),
    ],
    ids=["plain", "not-ascii", "past-64-bits", "no-json-type"],
)
def test_every_log_line_is_one_line_of_ascii_json(
    fields: dict[str, object], expected: dict[str, object]
) -> None:
    """Lines go to journald or a file in any locale: ASCII whatever the text (json.dumps's
    escapes), a value orjson refuses (an integer past 64 bits) is still written, and both
    encoders write the same compact form."""
    stream = io.StringIO()
    configure_logging("info", stream)

    get_logger("test").info("event", **fields)

    text = stream.getvalue()
    assert text.isascii() and text.count("\n") == 1
    line = json.loads(text)
    assert {key: line[key] for key in expected} == expected
    # One spelling for every line, whichever encoder wrote it: compact, for grep.
    assert text.rstrip("\n") == json.dumps(line, separators=(",", ":"))


@given(st.integers(min_value=0, max_value=253_402_300_799_999_999))  # to 9999-12-31
def test_a_line_is_stamped_as_structlogs_iso_utc_stamper_writes_it(micros: int) -> None:
    at = datetime(1970, 1, 1, tzinfo=UTC) + timedelta(microseconds=micros)
    assert utc_stamp(micros) == at.isoformat().replace("+00:00", "Z")


def test_a_line_carries_its_worker_level_and_time_after_the_call_s_own_keys() -> None:
    stream = io.StringIO()
    configure_logging("info", stream)

    def log_as_worker() -> None:
        bind_worker(2)
        get_logger("test").warn("slow", took_ms=3)

    contextvars.copy_context().run(log_as_worker)  # a context of its own, as a worker's
    get_logger("test").info("other")

    first, second = (json.loads(line) for line in stream.getvalue().splitlines())
    assert list(first) == ["took_ms", "event", "worker", "level", "timestamp"]
    assert (first["worker"], first["level"]) == (2, "warning")
    stamped = datetime.fromisoformat(first["timestamp"])
    assert abs(stamped - datetime.now(UTC)) < timedelta(seconds=60)
    assert "worker" not in second
