"""A call replayed from the recordings end to end: decided over FastAGI, its outcome recorded
from AMI by the real panoramisk client, enriched from the decision, and seen by the detectors."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable
from datetime import UTC, datetime
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest

from dialguard.daemon import AmiRunner, Daemon, start_daemon
from dialguard.settings import AmiSettings, Settings
from rules.policy import Policy, TenantSettings
from tests.agi.fake_asterisk import FakeAsterisk, env_lines, load_transcript, with_env
from tests.ami_listener.fake_ami import FakeAmi, Session


async def start_replay_daemon(tmp_path: Path) -> Daemon:
    """The daemon the replays run against: tenant acme in AU, no AMI until a test connects."""
    policy = Policy(
        tenants={"acme": TenantSettings("acme", "AU")}, block_when_register_missing=False
    )
    return await start_daemon(
        Settings(db_path=tmp_path / "dg.sqlite3", agi_port=0, policy=policy), ami=None
    )


@pytest.fixture(name="daemon")
async def _daemon(tmp_path: Path) -> AsyncIterator[Daemon]:
    daemon = await start_replay_daemon(tmp_path)
    try:
        yield daemon
    finally:
        await daemon.stop()


async def _connect_ami(daemon: Daemon, fake: FakeAmi, cdr_timezone: str = "UTC") -> AmiRunner:
    # The recordings were made on a UTC machine; the CDR times in them are its local time.
    ami = AmiSettings(
        port=fake.port,
        username="dialguard",
        secret="s3cret",
        reconnect_min_s=0.05,
        cdr_timezone=cdr_timezone,
    )
    runner = AmiRunner(ami, daemon.guard)
    await runner.start()
    daemon.ami = runner
    return runner


async def _until(condition: Callable[[], bool], timeout_s: float = 10.0) -> None:
    async with asyncio.timeout(timeout_s):
        while not condition():  # noqa: ASYNC110  (the fake server has no event to await)
            await asyncio.sleep(0.05)


async def _wait_for(daemon: Daemon, sql: str, count: int, timeout_s: float = 10.0) -> None:
    async with asyncio.timeout(timeout_s):
        while True:
            row = await daemon.store.fetchone(sql)
            if row is not None and row[0] >= count:
                return
            await asyncio.sleep(0.05)


async def test_a_recorded_call_is_decided_recorded_and_its_outcome_stored(
    daemon: Daemon, fixtures_dir: Path
) -> None:
    transcript = load_transcript(fixtures_dir / "allow-answered" / "agi-001-check.jsonl")
    channel = FakeAsterisk(
        with_env(env_lines(transcript)),
        variables={"DIALGUARD_TENANT": "acme", "DIALGUARD_CAMPAIGN": "spring"},
    )
    await channel.run(daemon.agi.port)

    async with FakeAmi([Session.recording(fixtures_dir / "allow-answered" / "ami.txt")]) as fake:
        await _connect_ami(daemon, fake)
        await _wait_for(daemon, "SELECT count(*) FROM outcomes", 1)

    outcome = await daemon.store.fetchone("SELECT * FROM outcomes")
    decision = await daemon.store.fetchone("SELECT * FROM decisions")
    assert channel.set_variables["DIALGUARD_VERDICT"] in ("ALLOW", "BLOCK")
    assert decision["call_id"] == outcome["call_id"] == "1795859878.63"
    assert (outcome["disposition"], outcome["billsec"], outcome["cause"]) == ("ANSWERED", 2, 16)
    assert (outcome["tenant"], outcome["campaign"], outcome["number"]) == (
        "acme",
        "spring",
        "+61400000001",
    )


async def test_cdr_times_are_read_in_the_configured_zone(
    daemon: Daemon, fixtures_dir: Path
) -> None:
    """The recording's CDR says `StartTime: 2026-11-28 09:57:58`, without an offset."""
    recording = fixtures_dir / "allow-answered" / "ami.txt"
    async with FakeAmi([Session.recording(recording)]) as fake:
        await _connect_ami(daemon, fake, cdr_timezone="Australia/Sydney")
        await _wait_for(daemon, "SELECT count(*) FROM outcomes", 1)

    outcome = await daemon.store.fetchone("SELECT started_at FROM outcomes")
    sydney = datetime(2026, 11, 28, 9, 57, 58, tzinfo=ZoneInfo("Australia/Sydney"))
    assert outcome["started_at"] == sydney.timestamp()  # 22:57:58 UTC the day before


async def test_replaying_a_campaign_burst_raises_flags_once(
    daemon: Daemon, fixtures_dir: Path
) -> None:
    for transcript in sorted((fixtures_dir / "campaign-burst").glob("agi-*.jsonl")):
        channel = FakeAsterisk(
            with_env(env_lines(load_transcript(transcript))),
            variables={"DIALGUARD_TENANT": "acme", "DIALGUARD_CAMPAIGN": "winter"},
        )
        await channel.run(daemon.agi.port)
    recording = fixtures_dir / "campaign-burst" / "ami.txt"
    async with FakeAmi([Session.recording(recording, close_at_end=True)] * 2) as fake:
        runner = await _connect_ami(daemon, fake)
        await _wait_for(daemon, "SELECT count(*) FROM outcomes", 7)
        # The recording closes; the listener reconnects and is served the same calls again.
        await _until(lambda: fake.streamed >= 2)
        await runner.enforcer.sweep(datetime(2026, 11, 28, 10, 5, tzinfo=UTC))

    outcomes = await daemon.store.fetchone("SELECT count(*) FROM outcomes")
    flags = await daemon.store.fetchall("SELECT detector, subject FROM flags WHERE status = 'open'")
    detectors = sorted(row["detector"] for row in flags)
    assert outcomes[0] == 7
    assert "repeat_callee" in detectors and "callerid_rotation" in detectors
    assert len(detectors) == len(set(zip(detectors, [r["subject"] for r in flags], strict=True)))
