"""The listener end to end: real panoramisk, real TCP on 127.0.0.1, real SQLite store, the
recorded Asterisk 22 bytes served by a fake AMI."""

from __future__ import annotations

import asyncio
import json
import re
import sqlite3
from collections.abc import AsyncIterator, Callable, Mapping
from datetime import UTC, datetime
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from structlog.testing import capture_logs

import ami_listener.listener as listener_module
from ami_listener.listener import AmiListener
from dialguard.guard import Guard
from dialguard.store import Store, open_store
from dialguard.store.patient import PatientSink
from dialguard.store.spool import OptOutSpool, PendingOptOuts, spool_path
from rules.models import CallAttempt, Decision, Verdict
from rules.numbers import ParsedNumber, parse_number
from rules.outcomes import CallOutcome
from rules.policy import Policy, TenantSettings
from tests.ami_listener.fake_ami import FakeAmi, Session, split_recording
from tests.store.conftest import fill_to_the_brim

START = datetime(2026, 11, 27, 22, 0, tzinfo=UTC)
END = datetime(2026, 11, 29, tzinfo=UTC)


def au_numbers(raw: str, tenant: str) -> ParsedNumber:
    return parse_number(raw, "AU")


def make_listener(store: Store, port: int, **options: Any) -> AmiListener:
    settings: dict[str, Any] = {
        "host": "127.0.0.1",
        "port": port,
        "username": "dialguard",
        "secret": "s3cret",
        "normalize": au_numbers,
        "reconnect_min_s": 0.05,
        "reconnect_max_s": 0.4,
        "ping_interval_s": 30.0,
        "asterisk_tz": ZoneInfo("Australia/Sydney"),
    }
    settings.update(options)
    return AmiListener(store, **settings)


@pytest.fixture(name="serve")
async def _serve() -> AsyncIterator[Callable[..., Any]]:
    started: list[tuple[FakeAmi, AmiListener]] = []

    async def serve(
        store: Store, sessions: list[Session], **options: Any
    ) -> tuple[FakeAmi, AmiListener]:
        fake = FakeAmi(sessions, answer_ping=options.pop("answer_ping", True))
        port = await fake.start()
        listener = make_listener(store, port, **options)
        started.append((fake, listener))
        await listener.start()
        return fake, listener

    yield serve
    for fake, listener in started:
        await listener.close()
        await fake.stop()


async def until(condition: Callable[[], bool], limit_s: float = 3.0) -> None:
    """Poll a condition spread over several objects (fake server, listener, store)."""
    async with asyncio.timeout(limit_s):
        while not condition():  # noqa: ASYNC110
            await asyncio.sleep(0.01)


async def settled(listener: AmiListener, fake: FakeAmi, logins: int = 1) -> None:
    """Every byte served so far has been read and applied (loopback: drained = delivered
    to the socket; the short sleeps let the client read it)."""
    await until(lambda: fake.streamed >= logins and listener.connected.is_set())
    seen = -1
    async with asyncio.timeout(3.0):
        while seen != listener.events_seen:
            seen = listener.events_seen
            await asyncio.sleep(0.05)
            await listener.wait_idle()


def recording(fixtures_dir: Path, name: str, **kw: Any) -> Session:
    return Session.recording(fixtures_dir / name / "ami.txt", **kw)


async def test_outcomes_are_stored(serve: Any, store: Store, fixtures_dir: Path) -> None:
    fake, listener = await serve(store, [recording(fixtures_dir, "campaign-burst")])
    await settled(listener, fake)
    outcomes = await store.outcomes_between(START, END)
    assert len(outcomes) == 7
    first = next(o for o in outcomes if o.call_id == "1795859938.93")
    assert (first.disposition, first.billsec, first.number) == ("ANSWERED", 1, "+61400000005")
    assert fake.logins[0]["username"] == "dialguard"
    assert fake.logins[0]["events"] == "call,cdr,user,system"


async def test_replay_never_doubles(serve: Any, store: Store, fixtures_dir: Path) -> None:
    closing = recording(fixtures_dir, "campaign-burst", close_at_end=True)
    fake, listener = await serve(
        store, [closing, closing, recording(fixtures_dir, "campaign-burst")]
    )
    await until(lambda: listener.connections >= 3)
    await settled(listener, fake, logins=3)
    assert listener.outcomes_recorded >= 21  # the same 7 calls, three times
    rows = await store.fetchall("SELECT call_id FROM outcomes")
    assert len(rows) == 7


async def test_decision_enriches_outcome(serve: Any, store: Store, fixtures_dir: Path) -> None:
    await record_decision(store, "1795859878.63", "acme", "spring")
    fake, listener = await serve(store, [recording(fixtures_dir, "allow-answered")])
    await settled(listener, fake)
    [outcome] = await store.outcomes_between(START, END)
    assert (outcome.tenant, outcome.campaign, outcome.number) == ("acme", "spring", "+61400000001")


async def test_blocked_call_stored_as_rejected(
    serve: Any, store: Store, fixtures_dir: Path
) -> None:
    fake, listener = await serve(store, [recording(fixtures_dir, "block-rejected")])
    await settled(listener, fake)
    row = await store.fetchone("SELECT * FROM outcomes")
    assert row is not None
    assert (row["call_id"], row["disposition"], row["cause"]) == ("1795859887.67", "REJECTED", 21)


def recorded_optout_with(fixtures_dir: Path, number_line: bytes) -> Session:
    """The recorded opt-out session with its UserEvent's `Number:` line replaced."""
    raw = (fixtures_dir / "optout-userevent" / "ami.txt").read_bytes()
    assert raw.count(b"Number: 61400000006\r\n") == 1
    return Session(raw.replace(b"Number: 61400000006\r\n", number_line))


async def test_an_amd_verdict_from_the_answered_leg_is_stored_on_the_call(
    serve: Any, store: Store, fixtures_dir: Path
) -> None:
    # The recorded callee-leg UserEvent, renamed as [sub-dialguard-amd] raises it: the real
    # framing and ids, another name and a Status (no recording with AMD() exists).
    raw = (fixtures_dir / "optout-userevent" / "ami.txt").read_bytes()
    event = b"UserEvent: OptOutRequest\r\nNumber: 61400000006\r\n"
    assert raw.count(event) == 1
    amd = b"UserEvent: DialguardAmd\r\nNumber: 61400000006\r\nStatus: MACHINE\r\n"
    fake, listener = await serve(store, [Session(raw.replace(event, amd))])
    await settled(listener, fake)
    rows = await store.fetchall("SELECT call_id, amd FROM outcomes")
    assert [(r["call_id"], r["amd"]) for r in rows] == [("1795859911.81", "MACHINE")]
    assert await store.fetchall("SELECT * FROM suppressions") == []


async def test_optout_without_decision_goes_to_default_tenant(
    serve: Any, store: Store, fixtures_dir: Path
) -> None:
    fake, listener = await serve(store, [recording(fixtures_dir, "optout-userevent")])
    await settled(listener, fake)
    rows = await store.fetchall("SELECT * FROM suppressions")
    assert [(r["number"], r["tenant"], r["campaign"], r["source"]) for r in rows] == [
        ("+61400000006", "default", "", "ami-userevent")
    ]


async def test_optout_takes_the_tenant_of_the_decision(
    serve: Any, store: Store, fixtures_dir: Path
) -> None:
    # The UserEvent comes from the callee leg; the decision is logged for the attempt leg.
    await record_decision(store, "1795859911.81", "acme", None)
    fake, listener = await serve(store, [recording(fixtures_dir, "optout-userevent")])
    await settled(listener, fake)
    rows = await store.fetchall("SELECT number, tenant, campaign FROM suppressions")
    assert [tuple(r) for r in rows] == [("+61400000006", "acme", "")]


async def test_an_optout_whose_header_names_another_tenant_is_recorded_for_both(
    serve: Any, store: Store, fixtures_dir: Path
) -> None:
    # The decision's tenant won and the header's was dropped without a word; the person
    # asked not to be called, so both tenants are told.
    await record_decision(store, "1795859911.81", "acme", None)
    named = recorded_optout_with(fixtures_dir, b"Number: 61400000006\r\nTenant: other\r\n")
    with capture_logs() as logs:
        fake, listener = await serve(store, [named])
        await settled(listener, fake)
    rows = await store.fetchall("SELECT number, tenant FROM suppressions ORDER BY tenant")
    assert [tuple(r) for r in rows] == [("+61400000006", "acme"), ("+61400000006", "other")]
    assert any(e["event"] == "ami_optout_two_tenants" for e in logs)


async def test_an_optout_for_two_tenants_writes_the_second_when_the_first_is_refused(
    serve: Any, store: Store, fixtures_dir: Path
) -> None:
    # The first tenant's write that failed left the second tenant's unwritten.
    await record_decision(store, "1795859911.81", "acme", None)
    await store.conn.execute(
        "CREATE TEMP TRIGGER refuse BEFORE INSERT ON main.suppressions"
        " WHEN NEW.tenant = 'acme' BEGIN SELECT RAISE(ABORT, 'refused'); END"
    )
    named = recorded_optout_with(fixtures_dir, b"Number: 61400000006\r\nTenant: other\r\n")
    with capture_logs() as logs:
        fake, listener = await serve(store, [named])
        await settled(listener, fake)
    rows = await store.fetchall("SELECT number, tenant FROM suppressions")
    assert [tuple(r) for r in rows] == [("+61400000006", "other")]
    [lost] = [e for e in logs if e["event"] == "ami_optout_not_recorded"]
    assert lost["tenant"] == "acme"


async def test_an_optout_and_an_outcome_wait_out_a_locked_database(
    serve: Any, tmp_path: Path, fixtures_dir: Path
) -> None:
    # `serve` opens the store with a busy timeout of half the AGI deadline; another process
    # holding the write lock longer than that used to cost the opt-out for good.
    path = tmp_path / "dialguard.sqlite3"
    store = await open_store(path, busy_timeout_ms=20)
    other = sqlite3.connect(path, isolation_level=None)
    other.execute("BEGIN IMMEDIATE")  # another process's write transaction
    try:
        with capture_logs() as logs:
            sink = PatientSink(store, first_delay_s=0.01, max_delay_s=0.05)
            fake, listener = await serve(sink, [recording(fixtures_dir, "optout-userevent")])
            await until(lambda: any(e["event"] == "ami_write_waiting_for_lock" for e in logs))
            await asyncio.sleep(0.3)  # fifteen busy timeouts
            other.execute("COMMIT")
            await settled(listener, fake)
        rows = await store.fetchall("SELECT number, tenant, source FROM suppressions")
        assert [tuple(r) for r in rows] == [("+61400000006", "default", "ami-userevent")]
        assert len(await store.fetchall("SELECT 1 FROM outcomes")) >= 1
        assert listener.handler_errors == 0
        done = [e for e in logs if e["event"] == "ami_write_done_after_lock"]
        assert done and done[0]["write"] == "add_suppression" and done[0]["waited_s"] >= 0.3
    finally:
        other.close()
        await store.close()


async def test_an_optout_waits_out_a_full_database_and_lands_once_there_is_room(
    serve: Any, tmp_path: Path, fixtures_dir: Path
) -> None:
    # One "database or disk is full" (or an I/O error) used to lose the opt-out for good: the
    # listener gave up on any error but a lock, and the event was gone.
    store = await open_store(tmp_path / "dialguard.sqlite3")
    try:
        await fill_to_the_brim(store)
        with capture_logs() as logs:
            sink = PatientSink(store, first_delay_s=0.01, max_delay_s=0.05)
            fake, listener = await serve(sink, [recording(fixtures_dir, "optout-userevent")])
            await until(lambda: any(e["event"] == "ami_write_waiting_for_database" for e in logs))
            await asyncio.sleep(0.2)
            await store.conn.execute("PRAGMA max_page_count = 1073741823")  # room again
            await settled(listener, fake)
        rows = await store.fetchall("SELECT tenant FROM suppressions WHERE number = '+61400000006'")
        assert [row[0] for row in rows] == ["default"]
        assert len(await store.fetchall("SELECT 1 FROM outcomes")) >= 1
        [waiting] = [e for e in logs if e["event"] == "ami_write_waiting_for_database"]
        assert waiting["log_level"] == "error" and "full" in waiting["error"]
        [done] = [e for e in logs if e["event"] == "ami_write_done_after_database"]
        assert done["write"] == "add_suppression" and done["waited_s"] >= 0.2
    finally:
        await store.close()


async def test_an_optout_for_two_tenants_waits_a_failing_database_out_once_for_both(
    serve: Any, tmp_path: Path, fixtures_dir: Path
) -> None:
    # Written one tenant after another, each waited the failing database out for up to
    # MAX_FAILING_S (5 minutes) before the next began, the event reader stopped all along.
    store = await open_store(tmp_path / "dialguard.sqlite3")
    try:
        await record_decision(store, "1795859911.81", "acme", None)
        await store.flush()
        await fill_to_the_brim(store)
        named = recorded_optout_with(fixtures_dir, b"Number: 61400000006\r\nTenant: other\r\n")
        with capture_logs() as logs:
            sink = PatientSink(store, first_delay_s=0.01, max_delay_s=0.02, max_failing_s=0.3)
            fake, listener = await serve(sink, [named])
            await settled(listener, fake)
        said = [
            e["event"]
            for e in logs
            if e.get("write") == "add_suppression" and e["event"].startswith("ami_write")
        ]
        # Both waits began before either was given up: one wait for the two.
        assert said == ["ami_write_waiting_for_database"] * 2 + ["ami_write_given_up"] * 2
        lost = sorted(e["tenant"] for e in logs if e["event"] == "ami_optout_not_recorded")
        assert lost == ["acme", "other"]
    finally:
        await store.close()


async def test_an_optout_given_up_for_two_tenants_is_kept_and_lands_once_there_is_room(
    serve: Any, tmp_path: Path, fixtures_dir: Path
) -> None:
    # Given up, it was logged for adding by hand, and lost unless an operator did.
    store = await open_store(tmp_path / "dialguard.sqlite3")
    pending = PendingOptOuts(store, first_delay_s=0.01, max_delay_s=0.05)
    try:
        await record_decision(store, "1795859911.81", "acme", None)
        await store.flush()
        await fill_to_the_brim(store)
        named = recorded_optout_with(fixtures_dir, b"Number: 61400000006\r\nTenant: other\r\n")
        with capture_logs() as logs:
            sink = PatientSink(
                store, first_delay_s=0.01, max_delay_s=0.02, max_failing_s=0.2, pending=pending
            )
            fake, listener = await serve(sink, [named])
            await settled(listener, fake)
            kept = OptOutSpool(spool_path(store.path)).read().entries
            assert sorted(e.tenant or "" for e in kept) == ["acme", "other"]
            await store.conn.execute("PRAGMA max_page_count = 1073741823")  # room again
            async with asyncio.timeout(5):
                await pending.landed()
        rows = await store.fetchall("SELECT tenant FROM suppressions WHERE number = '+61400000006'")
        assert sorted(row[0] for row in rows) == ["acme", "other"]
        assert not spool_path(store.path).exists()
        assert not [e for e in logs if e["event"] == "ami_optout_not_recorded"]
        assert listener.handler_errors == 0  # kept is not failed
    finally:
        await pending.close()
        await store.close()


@pytest.mark.parametrize("decided", ["1795894678.34", "1795894678.36"])
async def test_a_call_through_a_local_hop_is_one_outcome_under_the_decided_leg(
    serve: Any, store: Store, decided: str
) -> None:
    # Recorded from Asterisk 22.10.1: leg .34 dials Local/N@carrier-hop, whose leg .36 dials
    # the callee. The guard checked .34 (a route, then a trunk context), or .36 (a phone
    # that dialled Local/N@outbound, where the check runs): one outcome, the decided leg's.
    await record_decision(store, decided, "acme", "spring")
    live = Path(__file__).resolve().parents[1] / "data" / "asterisk-22-live" / "local-hop.ami.txt"
    fake, listener = await serve(store, [Session.recording(live)], asterisk_tz=UTC)
    await settled(listener, fake)
    rows = await store.fetchall(
        "SELECT call_id, tenant, campaign, disposition, billsec FROM outcomes"
    )
    assert [tuple(r) for r in rows] == [(decided, "acme", "spring", "ANSWERED", 2)]


@pytest.mark.parametrize(
    ("recording_name", "decided", "disposition"),
    [("phone-allowed", "1795898491.3", "ANSWERED"), ("phone-blocked", "1795898501.13", "REJECTED")],
)
async def test_a_phone_call_checked_in_its_local_route_is_one_outcome_under_that_leg(
    serve: Any, store: Store, recording_name: str, decided: str, disposition: str
) -> None:
    # Recorded from Asterisk 22.10.1: a phone dials Local/N@outbound, and the guard decides
    # on the route's leg. Blocked, that leg never dials: the phone's leg was a placed call.
    await record_decision(store, decided, "acme", "spring")
    live = Path(__file__).resolve().parents[1] / "data" / "asterisk-22-live"
    session = Session.recording(live / f"{recording_name}.ami.txt")
    fake, listener = await serve(store, [session], asterisk_tz=UTC)
    await settled(listener, fake)
    rows = await store.fetchall("SELECT call_id, tenant, disposition FROM outcomes")
    assert [tuple(r) for r in rows] == [(decided, "acme", disposition)]


async def test_restart_reconnects_and_logs_the_gap(
    serve: Any, store: Store, fixtures_dir: Path
) -> None:
    sessions = [
        recording(fixtures_dir, "asterisk-restart", close_at_end=True),
        recording(fixtures_dir, "allow-answered"),
    ]
    with capture_logs() as logs:
        fake, listener = await serve(store, sessions)
        await until(lambda: listener.connections >= 2)
        await settled(listener, fake, logins=2)
    assert len(fake.accepted_at) == 2
    gaps = await store.fetchall("SELECT * FROM events WHERE kind = 'ami_gap'")
    assert len(gaps) == 1
    detail = json.loads(gaps[0]["detail"])
    assert set(detail) == {"start", "end", "seconds"} and detail["seconds"] >= 0.04
    lost = [entry for entry in logs if entry["event"] == "ami_disconnected"]
    assert "Shutdown" in lost[0]["reason"]
    assert len(await store.outcomes_between(START, END)) == 1


async def test_calls_up_when_asterisk_restarted_unseen_are_recorded_when_it_is_back(
    serve: Any, store: Store, fixtures_dir: Path
) -> None:
    # The link drops while a callee rings (allow-noanswer cut before its DialEnd), and the
    # next session is the one recorded after Asterisk restarted: its first channel's
    # counter (4) is below the ringing call's (73). The read-only user saw no Shutdown.
    data = (fixtures_dir / "allow-noanswer" / "ami.txt").read_bytes()
    ringing = Session(data[: data.index(b"Event: DialEnd")], close_at_end=True)
    sessions = [ringing, recording(fixtures_dir, "agi-silent-close")]
    with capture_logs() as logs:
        fake, listener = await serve(store, sessions)
        await until(lambda: listener.connections >= 2)
        await settled(listener, fake, logins=2)
        await until(lambda: listener.outcomes_recorded >= 2)
    rows = await store.fetchall("SELECT call_id, number, disposition FROM outcomes")
    assert sorted(tuple(r) for r in rows) == [
        ("1795859897.73", "+61400000003", None),  # closed at once, not at the 4-hour sweep
        ("1795861147.5", "+61400000001", "REJECTED"),
    ]
    assert listener.tracker.open_calls == 0
    [restart] = [e for e in logs if e["event"] == "ami_asterisk_restarted"]
    assert restart["closed_calls"] == 1


def two_ringing_calls(fixtures_dir: Path, **kw: Any) -> Session:
    """allow-noanswer cut before its DialEnd, its events played twice: the second time as
    another call (ids .82-.85), so that both ring when the session ends."""
    data = (fixtures_dir / "allow-noanswer" / "ami.txt").read_bytes()
    ringing = data[: data.index(b"Event: DialEnd")]
    events = ringing[ringing.index(b"Event: Newchannel") :]
    again = re.sub(rb"1795859897\.7(\d)", rb"1795859897.8\1", events)
    return Session(ringing + again, **kw)


async def refuse_outcome(store: Store, call_id: str) -> None:
    """The store refuses this call's outcome, as SQLite refuses a record it cannot take (a
    constraint): a real SQLite error that no wait cures, on the store's own connection."""
    await store.conn.execute(
        "CREATE TEMP TRIGGER refuse BEFORE INSERT ON main.outcomes"
        f" WHEN NEW.call_id = '{call_id}' BEGIN SELECT RAISE(ABORT, 'refused'); END"
    )


async def test_an_outcome_the_store_refuses_does_not_drop_the_others_the_event_closed(
    serve: Any, store: Store, fixtures_dir: Path
) -> None:
    # Asterisk restarted while two calls rang: the first event after closes both. The first
    # outcome's failure dropped the second, which the tracker had already let go of.
    await refuse_outcome(store, "1795859897.73")
    sessions = [
        two_ringing_calls(fixtures_dir, close_at_end=True),
        recording(fixtures_dir, "agi-silent-close"),
    ]
    with capture_logs() as logs:
        fake, listener = await serve(store, sessions)
        await until(lambda: listener.connections >= 2)
        await settled(listener, fake, logins=2)
        await until(lambda: listener.outcomes_recorded >= 2)
    rows = await store.fetchall("SELECT call_id FROM outcomes ORDER BY call_id")
    assert [r[0] for r in rows] == ["1795859897.83", "1795861147.5"]
    [restart] = [e for e in logs if e["event"] == "ami_asterisk_restarted"]
    assert restart["closed_calls"] == 2
    [failed] = [e for e in logs if e["event"] == "ami_callback_failed"]
    assert failed["callback"] == "outcome" and "refused" in failed["error"]


async def test_the_stale_call_sweep_outlives_an_outcome_the_store_refuses(
    serve: Any, store: Store, fixtures_dir: Path
) -> None:
    # One failed write ended the sweep task: no stale call was closed again while the
    # process lived, and closing the listener raised the old error.
    await refuse_outcome(store, "1795859897.73")
    fake, listener = await serve(
        store, [two_ringing_calls(fixtures_dir)], stale_after_s=0.0, sweep_interval_s=0.05
    )
    await settled(listener, fake)
    await until(lambda: listener.tracker.open_calls == 0)
    await until(lambda: listener.outcomes_recorded >= 1)
    rows = await store.fetchall("SELECT call_id FROM outcomes")
    assert [r[0] for r in rows] == ["1795859897.83"]
    [sweeper] = [t for t in listener._tasks if t.get_name() == "ami-sweep"]
    await asyncio.sleep(0.15)  # three more sweeps
    assert not sweeper.done()


async def test_login_failed_retries_with_backoff(
    serve: Any, store: Store, fixtures_dir: Path
) -> None:
    with capture_logs() as logs:
        fake, listener = await serve(store, [recording(fixtures_dir, "login-failed")])
        await until(lambda: len(fake.accepted_at) >= 4)
    errors = [entry for entry in logs if entry["log_level"] == "error"]
    assert len(errors) == 1
    assert errors[0]["event"] == "ami_login_failed"
    assert errors[0]["message"] == "Authentication failed"
    assert "secret" not in errors[0]
    gaps = [b - a for a, b in zip(fake.accepted_at, fake.accepted_at[1:], strict=False)]
    assert gaps[0] >= 0.04  # no spinning
    assert gaps[2] > gaps[0] * 1.5  # backing off
    assert listener.connections == 0 and listener.login_failures >= 3


async def test_split_utf8_character_survives(serve: Any, store: Store) -> None:
    event = (
        "Event: NewCallerid\r\nPrivilege: call,all\r\nChannel: PJSIP/a-1\r\n"
        "CallerIDNum: 100\r\nCallerIDName: Café\r\nUniqueid: 1.1\r\nLinkedid: 1.1\r\n\r\n"
    ).encode()
    head = b"Asterisk Call Manager/11.0.0\r\nResponse: Success\r\nMessage: Authentication accepted\r\n\r\n"
    split = event.index("é".encode()) + 1  # between the two bytes of é
    seen: list[Mapping[str, Any]] = []

    async def capture(event: Mapping[str, Any]) -> None:
        seen.append(event)

    fake, listener = await serve(store, [Session(head + event, split_at=(split,))])
    listener.add_handler("NewCallerid", capture)
    await settled(listener, fake)
    await until(lambda: bool(seen))
    assert seen[0]["calleridname"] == "Café"


async def test_raising_callbacks_do_not_drop_the_connection(
    serve: Any, store: Store, fixtures_dir: Path
) -> None:
    class FailingObserver:
        async def outcome_recorded(self, outcome: CallOutcome) -> None:
            raise RuntimeError("detector bug")

    async def broken(event: Mapping[str, Any]) -> None:
        raise ValueError("handler bug")

    fake, listener = await serve(
        store, [recording(fixtures_dir, "campaign-burst")], observer=FailingObserver()
    )
    listener.add_handler("*", broken)
    await settled(listener, fake)
    assert len(await store.outcomes_between(START, END)) == 7
    assert listener.handler_errors > 7
    assert listener.connected.is_set() and len(fake.accepted_at) == 1


async def test_ping_watchdog_aborts_a_silent_link(
    serve: Any, store: Store, fixtures_dir: Path
) -> None:
    fake, listener = await serve(
        store,
        [recording(fixtures_dir, "allow-answered")],
        answer_ping=False,
        ping_interval_s=0.05,
        ping_timeout_s=0.05,
    )
    await until(lambda: len(fake.accepted_at) >= 2)
    assert listener.connections >= 1


async def test_close_stops_reconnecting(store: Store) -> None:
    fake = FakeAmi([])
    port = await fake.start()
    await fake.stop()  # nothing listens: every connect is refused
    listener = make_listener(store, port, reconnect_min_s=0.01, reconnect_max_s=0.02)
    await listener.start()
    await asyncio.sleep(0.1)
    await listener.close()
    tasks = [t for t in asyncio.all_tasks() if t.get_name().startswith("ami-")]
    assert tasks == []


async def record_decision(store: Store, call_id: str, tenant: str, campaign: str | None) -> None:
    attempt = CallAttempt(
        destination="61400000001",
        caller_id="+61291234567",
        at=START,
        tenant=tenant,
        campaign=campaign,
        call_id=call_id,
    )
    number = "+61400000006" if call_id == "1795859911.81" else "+61400000001"
    decision = Decision(Verdict.ALLOW, None, "allowed", "", number, None, "AU", None, ())
    await store.record_decision(attempt, decision, 1.0, "agi")


def joined_at_the_optout(fixtures_dir: Path) -> Session:
    """optout-userevent as a listener that connects while the call is up sees it: from the
    UserEvent on (`serve` started, or restarted, during the call)."""
    banner, login, body = split_recording(
        (fixtures_dir / "optout-userevent" / "ami.txt").read_bytes()
    )
    start = body.rfind(b"\r\n\r\n", 0, body.index(b"Event: UserEvent")) + 4
    return Session(banner + login + body[start:])


@pytest.mark.parametrize("lookup", [True, False])
async def test_an_optout_on_a_call_begun_unseen_is_for_the_tenants_whose_calls_reached_it(
    serve: Any, store: Store, fixtures_dir: Path, lookup: bool
) -> None:
    # Neither leg of the call has a decision the listener can find, and the event names no
    # tenant: filed under "default", the tenant that called went on calling.
    policy = Policy(tenants={"acme": TenantSettings("acme", "AU")})
    guard = Guard(store, policy)
    attempt = CallAttempt(
        "0400000006", "+61291234567", datetime.now(UTC), tenant="acme", call_id="1"
    )
    decision = Decision(Verdict.ALLOW, None, "allowed", "", "+61400000006", None, "AU", None, ())
    await guard.record(attempt, decision, 1.0)
    options = {"tenants_reached": guard.tenants_reached} if lookup else {}
    fake, listener = await serve(store, [joined_at_the_optout(fixtures_dir)], **options)
    await settled(listener, fake)
    rows = await store.fetchall("SELECT number, tenant FROM suppressions")
    assert [tuple(r) for r in rows] == [("+61400000006", "acme" if lookup else "default")]


async def test_an_optout_on_a_call_no_tenant_s_call_reached_is_for_every_tenant_that_reads_it(
    serve: Any, store: Store, fixtures_dir: Path
) -> None:
    # No decision for the call, none for the number in the last day: filed under "default",
    # the tenant that called (more than a day ago, or unseen) went on calling.
    au = {t: TenantSettings(t, "AU") for t in ("acme", "beta")}
    policy = Policy(tenants={"us": TenantSettings("us", "US"), **au})
    guard = Guard(store, policy)
    fake, listener = await serve(
        store,
        [joined_at_the_optout(fixtures_dir)],
        tenants_reached=guard.tenants_reached,
        normalize=guard.normalize,
    )
    await settled(listener, fake)
    rows = await store.fetchall("SELECT number, tenant FROM suppressions ORDER BY tenant")
    assert [tuple(r) for r in rows] == [("+61400000006", "acme"), ("+61400000006", "beta")]


async def test_an_optout_whose_tenant_lookup_fails_is_for_the_tenants_that_read_its_number(
    serve: Any, store: Store, fixtures_dir: Path
) -> None:
    # The lookup's failure gave every tenant, the first of which (a US one) could not read
    # the number: the opt-out was rejected and nothing written. And a decision that could
    # not be read lost it before that.
    await store.conn.execute("ALTER TABLE decisions RENAME TO decisions_gone")  # reads fail
    policy = Policy(tenants={t: TenantSettings(t, r) for t, r in (("us", "US"), ("acme", "AU"))})
    guard = Guard(store, policy)
    fake, listener = await serve(
        store,
        [joined_at_the_optout(fixtures_dir)],
        tenants_reached=guard.tenants_reached,
        normalize=guard.normalize,  # each tenant's region, as `serve` passes it
    )
    await settled(listener, fake)
    rows = await store.fetchall("SELECT number, tenant FROM suppressions")
    assert [tuple(r) for r in rows] == [("+61400000006", "acme")]


def optout_event(uniqueid: str, linkedid: str, number: str, extra: bytes = b"") -> bytes:
    """A DialguardOptOut UserEvent as Asterisk writes it, `extra` header lines at its end."""
    return (
        b"Event: UserEvent\r\nPrivilege: user,all\r\nChannel: Local/x;2\r\n"
        + f"Uniqueid: {uniqueid}\r\nLinkedid: {linkedid}\r\n".encode()
        + f"UserEvent: DialguardOptOut\r\nNumber: {number}\r\n".encode()
        + extra
        + b"\r\n"
    )


async def test_a_user_event_with_a_body_key_named_event_is_applied_and_keeps_the_link(
    serve: Any, store: Store, fixtures_dir: Path
) -> None:
    # panoramisk makes a repeated key a list and calls `.lower()` on `Event` inside
    # data_received: the exception dropped the link with everything read in that chunk,
    # the opt-out included. Asterisk writes its own `Event:` first.
    raw = (fixtures_dir / "allow-answered" / "ami.txt").read_bytes()
    optout = optout_event("1795859878.65", "1795859878.62", "61400000001", b"Event: survey\r\n")
    cut = raw.index(b"Event: DialBegin")
    fake, listener = await serve(store, [Session(raw[:cut] + optout + raw[cut:])])
    await settled(listener, fake)
    rows = await store.fetchall("SELECT number FROM suppressions")
    assert [r["number"] for r in rows] == ["+61400000001"]
    assert len(await store.outcomes_between(START, END)) == 1
    assert len(fake.accepted_at) == 1  # one connection: the link was never dropped


class SlowDetectors:
    """An observer that takes as long as a detector run over a large window."""

    def __init__(self) -> None:
        self.seen: list[str] = []

    async def outcome_recorded(self, outcome: CallOutcome) -> None:
        await asyncio.sleep(0.3)
        self.seen.append(outcome.call_id)


async def test_an_optout_is_recorded_while_the_detectors_judge_earlier_calls(
    serve: Any, store: Store, fixtures_dir: Path
) -> None:
    # The detectors were awaited in line: an opt-out behind seven outcomes waited for seven
    # runs, and every check meanwhile allowed calls to the callee who had opted out.
    raw = (fixtures_dir / "campaign-burst" / "ami.txt").read_bytes()
    optout = optout_event("1795859999.99", "1795859999.98", "61400000009")
    cut = raw.index(b"Response: Goodbye")  # the recording ends with the logoff
    detectors = SlowDetectors()
    fake, listener = await serve(
        store, [Session(raw[:cut] + optout + raw[cut:])], observer=detectors
    )

    async def opted_out() -> bool:
        return bool(await store.fetchall("SELECT number FROM suppressions"))

    async with asyncio.timeout(1.0):
        while not await opted_out():  # noqa: ASYNC110 (a table polled, not an event)
            await asyncio.sleep(0.02)
    assert len(detectors.seen) < 7  # the opt-out did not wait for their runs
    await settled(listener, fake)
    assert len(detectors.seen) == 7  # and every outcome still reaches them, in order


async def test_detectors_far_behind_leave_the_oldest_outcomes_to_their_sweep(
    serve: Any, store: Store, fixtures_dir: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # The queue to the detectors is bounded: every outcome is stored, and the sweep reads
    # the ones dropped from it.
    monkeypatch.setattr(listener_module, "MAX_OBSERVING", 3)
    held = asyncio.Event()

    class StuckDetectors(SlowDetectors):
        async def outcome_recorded(self, outcome: CallOutcome) -> None:
            await held.wait()
            self.seen.append(outcome.call_id)

    detectors = StuckDetectors()
    with capture_logs() as logs:
        fake, listener = await serve(
            store, [recording(fixtures_dir, "campaign-burst")], observer=detectors
        )
        await until(lambda: listener.outcomes_recorded == 7)
        held.set()
        await settled(listener, fake)
    assert len(await store.outcomes_between(START, END)) == 7
    assert len(detectors.seen) == 4  # the first, taken before the queue filled, and 3 queued
    assert [e["event"] for e in logs].count("ami_detectors_lagging") == 1
    [caught_up] = [e for e in logs if e["event"] == "ami_detectors_caught_up"]
    assert caught_up["left_to_sweep"] == 3


async def test_an_optout_whose_number_is_unreadable_takes_the_number_the_guard_decided(
    serve: Any, store: Store, fixtures_dir: Path
) -> None:
    # The UserEvent is the dialplan's fallback when the AGI opt-out failed: the last
    # chance to record the callee, who pressed the key whatever the dialler put in Number.
    await record_decision(store, "1795859911.81", "acme", "spring")
    forged = recorded_optout_with(fixtures_dir, b"Number: unknown\r\n")
    with capture_logs() as logs:
        fake, listener = await serve(store, [forged])
        await settled(listener, fake)
    rows = await store.fetchall("SELECT number, tenant FROM suppressions")
    assert [tuple(r) for r in rows] == [("+61400000006", "acme")]
    assert any(e["event"] == "ami_optout_number_unreadable" for e in logs)


async def test_a_caller_id_presented_in_national_form_is_stored_in_e164(
    serve: Any, store: Store, fixtures_dir: Path
) -> None:
    # The guard reads caller IDs in the tenant's region; outcomes must name them the same
    # way, or a pool detector flags an owned number and a caller-ID suspension never matches.
    await record_decision(store, "1795859878.63", "acme", "winter")
    raw = (fixtures_dir / "allow-answered" / "ami.txt").read_bytes()
    national = raw.replace(b": +61291234567\r\n", b": 0291234567\r\n")
    assert national != raw
    fake, listener = await serve(store, [Session(national)])
    await settled(listener, fake)
    [outcome] = await store.outcomes_between(START, END)
    assert (outcome.tenant, outcome.caller_id) == ("acme", "+61291234567")


async def test_optouts_queued_behind_a_failing_write_are_kept_at_stop(
    serve: Any, tmp_path: Path, fixtures_dir: Path
) -> None:
    # Behind an opt-out waiting out a full database the others sit in the queue: serve's stop
    # dropped them without a word (only the write in progress was kept).
    store = await open_store(tmp_path / "dialguard.sqlite3")
    pending = PendingOptOuts(store, first_delay_s=0.01, max_delay_s=0.05)
    await fill_to_the_brim(store)
    banner, login, _ = split_recording((fixtures_dir / "optout-userevent" / "ami.txt").read_bytes())
    events = b"".join(
        optout_event(f"1.{n}", f"1.{n}", f"040000001{n}", b"Tenant: acme\r\n") for n in range(3)
    )
    sink = PatientSink(store, first_delay_s=0.01, max_delay_s=0.05, pending=pending)
    try:
        _, listener = await serve(sink, [Session(banner + login + events)])
        for _ in range(100):  # the first write waits out the full database; two queued
            if len(listener._queue) == 2:
                break
            await asyncio.sleep(0.02)
        assert len(listener._queue) == 2
        await listener.close()  # serve's stop
        await pending.close()
        spooled = {e.number for e in OptOutSpool(spool_path(store.path)).read().entries}
    finally:
        await store.close()
    assert spooled == {"+61400000010", "+61400000011", "+61400000012"}


async def test_optouts_queued_behind_a_lock_are_all_kept_at_stop_at_once(
    serve: Any, tmp_path: Path, fixtures_dir: Path
) -> None:
    # Each queued opt-out was given a write of 0.5 s at the stop, 3 s in all: behind an
    # import's lock the later ones were neither written nor spooled.
    store = await open_store(tmp_path / "dialguard.sqlite3", busy_timeout_ms=20)
    pending = PendingOptOuts(store, first_delay_s=0.01, max_delay_s=0.05)
    banner, login, _ = split_recording((fixtures_dir / "optout-userevent" / "ami.txt").read_bytes())
    numbers = [f"04000000{n:02d}" for n in range(10)]
    events = b"".join(
        optout_event(f"1.{n}", f"1.{n}", number, b"Tenant: acme\r\n")
        for n, number in enumerate(numbers)
    )
    sink = PatientSink(store, first_delay_s=0.01, max_delay_s=0.05, pending=pending)
    other = sqlite3.connect(store.path, isolation_level=None)
    try:
        other.execute("BEGIN IMMEDIATE")  # an import holds the write lock
        _, listener = await serve(sink, [Session(banner + login + events)])
        for _ in range(100):
            if len(listener._queue) == 9:
                break
            await asyncio.sleep(0.02)
        started = asyncio.get_running_loop().time()
        await listener.close()
        took = asyncio.get_running_loop().time() - started
        await pending.close()
        spooled = {e.number for e in OptOutSpool(spool_path(store.path)).read().entries}
    finally:
        other.close()
        await store.close()
    assert spooled == {"+614" + number[2:] for number in numbers}
    assert took < 2
