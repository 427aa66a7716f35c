"""The event loop `dialguard serve` runs on (dialguard/eventloop.py): uvloop when installed,
asyncio's own when configured so; the recorded calls end to end on uvloop."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest

from dialguard.eventloop import EventLoopError, run, running_loop_name, uvloop_installed
from tests.e2e import test_replay

needs_uvloop = pytest.mark.skipif(
    not uvloop_installed(), reason="uvloop has no wheel for this platform (it is optional)"
)


async def _loop_name() -> str:
    await asyncio.sleep(0)
    return running_loop_name()


def test_asyncio_runs_when_configured() -> None:
    assert run(_loop_name(), "asyncio") == "asyncio"


def test_auto_takes_uvloop_when_it_is_installed() -> None:
    assert run(_loop_name(), "auto") == ("uvloop" if uvloop_installed() else "asyncio")


def test_an_unknown_loop_is_named_in_one_line() -> None:
    with pytest.raises(EventLoopError) as caught:
        run(_loop_name(), "trio")

    assert "'trio'" in str(caught.value) and "\n" not in str(caught.value)


@needs_uvloop
@pytest.mark.parametrize(
    "scenario",
    [
        test_replay.test_a_recorded_call_is_decided_recorded_and_its_outcome_stored,
        test_replay.test_replaying_a_campaign_burst_raises_flags_once,
    ],
    ids=["allow-answered", "campaign-burst"],
)
def test_the_recorded_calls_run_end_to_end_on_uvloop(
    scenario: object, tmp_path: Path, fixtures_dir: Path
) -> None:
    """FastAGI server, store writer thread, panoramisk AMI client and detectors on uvloop."""

    async def on_uvloop() -> None:
        assert running_loop_name() == "uvloop"
        daemon = await test_replay.start_replay_daemon(tmp_path)
        try:
            await scenario(daemon, fixtures_dir)  # type: ignore[operator]
        finally:
            await daemon.stop()

    run(on_uvloop(), "uvloop")
