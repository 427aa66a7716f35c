"""Opt-outs given up for want of a database are not lost: spooled beside it, retried in the
background until they land, written at `serve`'s next start. A real SQLite file made full for
real (SQLITE_FULL) and a real spool file."""

from __future__ import annotations

import asyncio
import json
import resource
import tempfile
from datetime import UTC, datetime, timedelta, timezone
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from structlog.testing import capture_logs

from dialguard.store import Store, open_store
from dialguard.store.patient import PatientSink
from dialguard.store.spool import OptOutSpool, PendingOptOuts, SpoolContents, spool_path
from rules.facts import SuppressionEntry
from rules.ports import OptOutPending

AT = datetime(2026, 11, 30, 9, 15, 30, 123456, tzinfo=UTC)


def opt_out(n: int = 1, tenant: str | None = "acme") -> SuppressionEntry:
    return SuppressionEntry(f"+6140000000{n}", tenant, None, "IVR", "ami-userevent", AT)


def keeper(store: Store) -> PendingOptOuts:
    return PendingOptOuts(store, first_delay_s=0.01, max_delay_s=0.02)


def patient(store: Store, pending: PendingOptOuts) -> PatientSink:
    return PatientSink(
        store, first_delay_s=0.01, max_delay_s=0.02, max_failing_s=0.1, pending=pending
    )


async def room_again(store: Store) -> None:
    await store.conn.execute("PRAGMA max_page_count = 1073741823")


async def listed(store: Store, number: str) -> list[tuple[str, str]]:
    rows = await store.fetchall(
        "SELECT number, tenant FROM suppressions WHERE number = ? ORDER BY tenant", (number,)
    )
    return [(row[0], row[1]) for row in rows]


async def test_an_optout_given_up_is_spooled_beside_the_database(full: Store) -> None:
    # Given up after MAX_FAILING_S, it was only logged for adding by hand: lost unless an
    # operator read the log.
    pending = keeper(full)
    with capture_logs() as logs, pytest.raises(OptOutPending):
        await patient(full, pending).add_suppression(opt_out())
    await pending.close()
    spool = spool_path(full.path)
    assert spool == full.path.with_name("dialguard.sqlite3.pending-optouts.jsonl")
    [line] = spool.read_bytes().splitlines()
    assert json.loads(line)["number"] == "+61400000001" and "full" in json.loads(line)["error"]
    assert OptOutSpool(spool).read().entries == [opt_out()]
    [said] = [e for e in logs if e["event"] == "optout_pending"]
    assert said["log_level"] == "error" and said["spool"] == str(spool)
    assert await listed(full, "+61400000001") == []


async def test_the_background_retry_lands_it_once_the_database_takes_writes(full: Store) -> None:
    pending = keeper(full)
    with pytest.raises(OptOutPending):
        await patient(full, pending).add_suppression(opt_out())
    try:
        await asyncio.sleep(0.1)  # some retries on the full database
        assert pending.waiting == [opt_out()]
        with capture_logs() as logs:
            await room_again(full)
            async with asyncio.timeout(5):
                await pending.landed()
    finally:
        await pending.close()
    assert await listed(full, "+61400000001") == [("+61400000001", "acme")]
    assert pending.waiting == []
    assert not spool_path(full.path).exists()  # taken out once written
    assert [e["event"] for e in logs] == ["optout_pending_landed"]


async def test_an_optout_whose_spool_cannot_be_written_is_logged_and_still_retried(
    full: Store,
) -> None:
    # The spool path is a folder: no file can be made there.
    spool_path(full.path).mkdir()
    pending = keeper(full)
    try:
        with capture_logs() as logs, pytest.raises(OptOutPending):
            await patient(full, pending).add_suppression(opt_out())
        [failed] = [e for e in logs if e["event"] == "optout_spool_failed"]
        assert failed["import_line"].startswith("+61400000001,acme,ami-userevent,2026-11-30")
        await room_again(full)
        async with asyncio.timeout(5):
            await pending.landed()
    finally:
        await pending.close()
    assert await listed(full, "+61400000001") == [("+61400000001", "acme")]


async def test_an_optout_cut_short_by_a_stop_is_spooled(full: Store) -> None:
    pending = keeper(full)
    sink = PatientSink(full, first_delay_s=0.01, max_delay_s=0.02, pending=pending)
    write = asyncio.create_task(sink.add_suppression(opt_out()))
    await asyncio.sleep(0.1)  # waiting out the full database
    with capture_logs() as logs:
        write.cancel()
        with pytest.raises(asyncio.CancelledError) as stopped:
            await write
    await pending.close()
    assert isinstance(stopped.value.__cause__, OptOutPending)  # the caller says: kept
    assert OptOutSpool(spool_path(full.path)).read().entries == [opt_out()]
    assert [e["event"] for e in logs] == ["optout_pending_at_stop"]


async def test_a_write_the_database_refuses_is_not_spooled(store: Store) -> None:
    # A constraint fails however long one waits: logged for adding by hand, as before.
    await store.conn.execute(
        "CREATE TEMP TRIGGER refuse BEFORE INSERT ON main.suppressions"
        " BEGIN SELECT RAISE(ABORT, 'refused'); END"
    )
    pending = keeper(store)
    with pytest.raises(Exception, match="refused"):
        await PatientSink(store, pending=pending).add_suppression(opt_out())
    await pending.close()
    assert not spool_path(store.path).exists()


# -- the start-up replay -------------------------------------------------------------------


async def test_replay_writes_the_spooled_optouts_and_clears_the_spool(store: Store) -> None:
    spool = OptOutSpool(spool_path(store.path))
    spool.append(opt_out(1), "database or disk is full")
    spool.append(opt_out(2, tenant=None), "database or disk is full")
    pending = keeper(store)
    with capture_logs() as logs:
        await pending.replay()
    await pending.close()
    assert await listed(store, "+61400000001") == [("+61400000001", "acme")]
    assert await listed(store, "+61400000002") == [("+61400000002", "")]
    assert not spool.path.exists()
    [said] = [e for e in logs if e["event"] == "optouts_replayed"]
    assert (said["written"], said["already_held"], said["waiting"]) == (2, 0, 0)


async def test_a_torn_last_line_is_skipped_with_a_warning(store: Store) -> None:
    # dialguard stopped while writing the line: the entries before it are written.
    spool = OptOutSpool(spool_path(store.path))
    spool.append(opt_out(1), "full")
    with spool.path.open("ab") as file:
        file.write(b'{"number": "+6140000000')
    pending = keeper(store)
    with capture_logs() as logs:
        await pending.replay()
    await pending.close()
    assert await listed(store, "+61400000001") == [("+61400000001", "acme")]
    [torn] = [e for e in logs if e["event"] == "optout_spool_torn_line"]
    assert torn["log_level"] == "warning" and torn["line"] == '{"number": "+6140000000'
    assert not spool.path.exists()


@pytest.mark.parametrize(
    ("fragment", "tenant"),
    [
        (b'{"number": "+61400000009", "tenant": "acme", "campaign": null, "reason": "IV', "acme"),
        (b'{"number": "+61400000009", "tena', None),  # its tenant unread: every tenant's
    ],
)
async def test_a_torn_line_that_names_its_number_is_written_as_an_optout(
    store: Store, fragment: bytes, tenant: str | None
) -> None:
    # The line cut short was the only record of the opt-out (`optout_pending` is logged
    # after the append), and the replay deleted it.
    spool = OptOutSpool(spool_path(store.path))
    spool.path.write_bytes(fragment)
    pending = keeper(store)
    with capture_logs() as logs:
        await pending.replay()
    await pending.close()
    assert await listed(store, "+61400000009") == [("+61400000009", tenant or "")]
    [torn] = [e for e in logs if e["event"] == "optout_spool_torn_line"]
    assert "its number is written as an opt-out of" in torn["detail"]
    assert not spool.path.exists()


async def test_a_torn_line_whose_optout_cannot_land_stays_for_the_next_start(full: Store) -> None:
    spool = OptOutSpool(spool_path(full.path))
    fragment = b'{"number": "+61400000009", "tenant": "acme", "camp'
    spool.path.write_bytes(fragment)
    pending = keeper(full)
    await pending.replay()
    await pending.close()
    assert spool.path.read_bytes() == fragment


async def test_a_line_nested_too_deep_for_json_is_unreadable_not_a_crash(store: Store) -> None:
    # json.loads raised RecursionError: `status` printed a traceback and `serve` hung.
    spool = OptOutSpool(spool_path(store.path))
    spool.path.write_bytes(b"[" * 5000 + b"\n")
    spool.append(opt_out(1), "full")
    assert spool.read().unreadable == [(1, "[" * 5000)]
    pending = keeper(store)
    await pending.replay()
    await pending.close()
    assert await listed(store, "+61400000001") == [("+61400000001", "acme")]


async def test_a_line_appended_after_a_torn_one_still_reads(tmp_path: Path) -> None:
    spool = OptOutSpool(tmp_path / "spool.jsonl")
    spool.path.write_bytes(b'{"number": "+61')  # torn, and never replayed
    spool.append(opt_out(1), "full")
    contents = spool.read()
    assert contents.entries == [opt_out(1)]
    assert contents.unreadable == [(1, '{"number": "+61')] and contents.torn is None


async def test_an_unreadable_line_stays_in_the_spool_for_the_operator(store: Store) -> None:
    spool = OptOutSpool(spool_path(store.path))
    spool.path.write_bytes(b"\nnot json\n")  # an operator's edit
    spool.append(opt_out(1), "full")
    pending = keeper(store)
    with capture_logs() as logs:
        await pending.replay()
    await pending.close()
    assert await listed(store, "+61400000001") == [("+61400000001", "acme")]
    assert spool.path.read_bytes() == b"not json\n"
    [bad] = [e for e in logs if e["event"] == "optout_spool_line_unreadable"]
    assert (bad["line_number"], bad["line"], bad["log_level"]) == (2, "not json", "error")


async def test_replaying_an_optout_the_list_holds_adds_nothing(store: Store) -> None:
    # A write that landed after all (the stop came as it committed), or a spool left behind
    # when it could not be cleared: one entry, one event, however often it is replayed.
    await store.add_suppression(opt_out(1))
    spool = OptOutSpool(spool_path(store.path))
    for _ in range(2):
        spool.append(opt_out(1), "full")
        spool.append(opt_out(1), "full")
        pending = keeper(store)
        with capture_logs() as logs:
            await pending.replay()
        await pending.close()
        [said] = [e for e in logs if e["event"] == "optouts_replayed"]
        assert (said["written"], said["already_held"]) == (0, 1)
    assert await listed(store, "+61400000001") == [("+61400000001", "acme")]
    events = await store.fetchall("SELECT 1 FROM events WHERE kind = 'suppression.add'")
    assert len(events) == 1
    assert not spool.path.exists()


async def test_replay_writes_an_optout_the_list_holds_for_less(store: Store) -> None:
    # Held until a date, or asked later than the spooled request: written, so that the
    # list ends up as the request left it.
    await store.add_suppression(
        SuppressionEntry("+61400000001", "acme", None, "CRM", "cli", AT, AT + timedelta(days=30))
    )
    spool = OptOutSpool(spool_path(store.path))
    spool.append(opt_out(1), "full")
    pending = keeper(store)
    await pending.replay()
    await pending.close()
    row = await store.fetchone("SELECT expires_at, source FROM suppressions")
    assert row is not None and tuple(row) == (None, "ami-userevent")


async def test_replay_on_a_failing_database_leaves_them_to_the_background_retry(
    full: Store,
) -> None:
    spool = OptOutSpool(spool_path(full.path))
    spool.append(opt_out(1), "full")
    spool.append(opt_out(2), "full")
    pending = keeper(full)
    try:
        await pending.replay()
        assert pending.waiting == [opt_out(1), opt_out(2)]
        assert len(spool.read().entries) == 2
        await room_again(full)
        async with asyncio.timeout(5):
            await pending.landed()
    finally:
        await pending.close()
    assert await listed(full, "+61400000002") == [("+61400000002", "acme")]
    assert not spool.path.exists()


# -- the file --------------------------------------------------------------------------------


def test_a_spool_that_cannot_be_rewritten_stands_as_it_was(tmp_path: Path) -> None:
    spool = OptOutSpool(tmp_path / "spool.jsonl")
    spool.append(opt_out(1), "full")
    spool.append(opt_out(2), "full")
    limit = resource.getrlimit(resource.RLIMIT_FSIZE)
    resource.setrlimit(resource.RLIMIT_FSIZE, (10, limit[1]))  # no file may pass 10 bytes
    try:
        with pytest.raises(OSError):
            spool.remove([opt_out(1)])
    finally:
        resource.setrlimit(resource.RLIMIT_FSIZE, limit)
    assert spool.read().entries == [opt_out(1), opt_out(2)]
    assert [path.name for path in tmp_path.iterdir()] == ["spool.jsonl"]


def test_a_line_the_disk_has_no_room_for_leaves_no_part_of_it(tmp_path: Path) -> None:
    # The database fails for a full disk, most often, and the spool shares it. A partial
    # line left behind read as a line that does not read, on every start after.
    spool = OptOutSpool(tmp_path / "spool.jsonl")
    spool.append(opt_out(1), "full")
    room = spool.path.stat().st_size + 10  # the file may grow by 10 bytes more
    limit = resource.getrlimit(resource.RLIMIT_FSIZE)
    resource.setrlimit(resource.RLIMIT_FSIZE, (room, limit[1]))
    try:
        with pytest.raises(OSError):
            spool.append(opt_out(2), "full")
    finally:
        resource.setrlimit(resource.RLIMIT_FSIZE, limit)
    assert spool.read() == SpoolContents([opt_out(1)], [], None)


OFFSETS = st.sampled_from([UTC, timezone(timedelta(hours=14)), timezone(-timedelta(hours=12))])
INSTANTS = st.datetimes(timezones=OFFSETS)
ENTRIES = st.builds(
    SuppressionEntry,
    number=st.text(min_size=1),
    tenant=st.none() | st.text(),
    campaign=st.none() | st.text(),
    reason=st.text(),
    source=st.text(),
    requested_at=INSTANTS,
    expires_at=st.none() | INSTANTS,
)


@settings(max_examples=60, deadline=None)
@given(st.lists(ENTRIES, max_size=6), st.data())
def test_the_spool_gives_back_what_it_was_given_and_takes_out_only_what_landed(
    entries: list[SuppressionEntry], data: st.DataObject
) -> None:
    # Any text (a newline, a quote, a lone surrogate) and any offset.
    with tempfile.TemporaryDirectory() as folder:
        spool = OptOutSpool(Path(folder) / "spool.jsonl")
        for entry in entries:
            spool.append(entry, "database or disk is full")
        contents = spool.read()
        assert contents.entries == entries
        assert (contents.unreadable, contents.torn) == ([], None)
        landed = data.draw(
            st.lists(st.sampled_from(entries), unique=True) if entries else st.just([])
        )
        spool.remove(landed)
        assert spool.read().entries == [e for e in entries if e not in landed]
        assert spool.path.exists() == any(e not in landed for e in entries)


# -- held by the checks until written; written by the first process whoever kept it ---------


async def test_serve_s_first_process_writes_what_another_process_spooled(store: Store) -> None:
    # A worker gave an opt-out up, spooled it and died: only its own memory retried it, and
    # the number's calls went through until serve restarted.
    OptOutSpool(spool_path(store.path)).append(opt_out(3), "a worker's full database")
    pending = keeper(store)
    pending.watch(land=True)
    try:
        for _ in range(100):  # a watch is 0.25 s
            if await listed(store, "+61400000003"):
                break
            await asyncio.sleep(0.05)
    finally:
        await pending.close()
    assert await listed(store, "+61400000003") == [("+61400000003", "acme")]
    assert not spool_path(store.path).exists()


async def test_an_optout_kept_is_held_by_the_checks_until_it_lands(full: Store) -> None:
    # serve's start could not write the spool (a lock, a full disk) and checked calls: the
    # number was allowed until the retry landed it.
    from dialguard.guard import Guard
    from rules.models import CallAttempt, Verdict
    from rules.policy import Policy, TenantSettings

    OptOutSpool(spool_path(full.path)).append(opt_out(4), "full")
    pending = keeper(full)
    await pending.replay()  # fails on the full database: left to the retry
    pending.watch(land=True)
    guard = Guard(full, Policy(tenants={"acme": TenantSettings("acme", "AU")}), pending)
    try:
        attempt = CallAttempt("+61400000004", "+61291234567", AT, tenant="acme")
        decision = await guard.evaluate(attempt)
        other = await guard.evaluate(CallAttempt("+61400000005", "+61291234567", AT, "acme"))
    finally:
        await pending.close()
    assert (decision.verdict, decision.rule) == (Verdict.BLOCK, "suppression.tenant")
    assert other.rule != "suppression.tenant"
    assert await listed(full, "+61400000004") == []  # still waiting: held all the same


async def test_every_process_holds_what_another_spooled_within_a_watch(store: Store) -> None:
    pending = keeper(store)
    pending.watch(land=False)  # a worker's: holds, leaves the writing to the first process
    try:
        assert pending.for_number("+61400000006") == ()
        OptOutSpool(spool_path(store.path)).append(opt_out(6), "another process's")
        for _ in range(100):
            if pending.for_number("+61400000006"):
                break
            await asyncio.sleep(0.05)
    finally:
        await pending.close()
    assert pending.for_number("+61400000006") == (opt_out(6),)
    assert await listed(store, "+61400000006") == []  # not a worker's to write


# -- the second review's ----------------------------------------------------------------


def test_taking_out_a_written_entry_leaves_a_line_that_does_not_read(tmp_path: Path) -> None:
    # A torn line's opt-out still waiting was deleted when another entry landed.
    spool = OptOutSpool(tmp_path / "spool.jsonl")
    spool.append(opt_out(7), "full")
    torn = b'{"number": "+61400000009", "tenant": "acme", "campaign": null, "rea'
    with spool.path.open("ab") as file:
        file.write(torn)
    spool.remove([opt_out(7)])
    assert spool.path.read_bytes() == torn
    spool.remove([], [torn.decode()])
    assert not spool.path.exists()


async def test_a_torn_line_that_more_lines_followed_is_held_and_written(store: Store) -> None:
    # Appended after, the torn line became a line in the middle: no longer held, and left
    # to the operator at the next start.
    spool = OptOutSpool(spool_path(store.path))
    spool.path.write_bytes(b'{"number": "+61400000009", "tenant": "acme", "campaign": nu')
    spool.append(opt_out(8), "full")
    pending = keeper(store)
    pending.refresh()
    assert [e.number for e in pending.for_number("+61400000009")] == ["+61400000009"]
    with capture_logs() as logs:
        await pending.replay()
    await pending.close()
    assert await listed(store, "+61400000009") == [("+61400000009", "acme")]
    assert await listed(store, "+61400000008") == [("+61400000008", "acme")]
    assert [e["line_number"] for e in logs if e["event"] == "optout_spool_line_salvaged"] == [1]
    assert not spool.path.exists()


async def test_a_spool_that_cannot_be_read_is_said_once_and_serve_goes_on(store: Store) -> None:
    # watch() raised (a traceback, then a serve that hung), and the watch said it every
    # 0.25 s in every process.
    spool_path(store.path).mkdir()  # stat works, reading does not
    pending = keeper(store)
    with capture_logs() as logs:
        pending.watch(land=True)
        await asyncio.sleep(1.0)  # four watches
        await pending.close()
    said = [e["event"] for e in logs if "spool" in e["event"]]
    assert said == ["optout_spool_unreadable"]


async def test_an_optout_waiting_out_a_lock_is_held_by_the_checks(tmp_path: Path) -> None:
    # The IVR's opt-out waited out an import's lock; the next calls went through until it
    # landed.
    import sqlite3

    store = await open_store(tmp_path / "dialguard.sqlite3", busy_timeout_ms=20)
    pending = keeper(store)
    sink = PatientSink(store, first_delay_s=0.01, max_delay_s=0.02, pending=pending)
    other = sqlite3.connect(store.path, isolation_level=None)
    try:
        other.execute("BEGIN IMMEDIATE")  # an import holds the write lock
        write = asyncio.create_task(sink.add_suppression(opt_out(4)))
        await asyncio.sleep(0.2)
        assert not write.done()
        assert pending.for_number("+61400000004") == (opt_out(4),)
        other.execute("COMMIT")
        await asyncio.wait_for(write, 5)
        assert pending.for_number("+61400000004") == ()
        assert await listed(store, "+61400000004") == [("+61400000004", "acme")]
    finally:
        other.close()
        await pending.close()
        await store.close()
