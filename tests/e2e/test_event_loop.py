"""The event loop `dialguard serve` runs on (dialguard/eventloop.py): uvloop when it loads,
asyncio's own when configured so or when uvloop cannot load; the recorded calls end to end on
uvloop."""

from __future__ import annotations

import asyncio
import os
import subprocess
import sys
from collections.abc import Awaitable, Callable
from pathlib import Path

import pytest
from structlog.testing import capture_logs

from dialguard.daemon import Daemon
from dialguard.eventloop import EventLoopError, resolve, run, running_loop_name
from tests.agi.test_server import asterisk_drops_the_call_mid_check
from tests.e2e import test_replay

UVLOOP_LOADS = resolve("auto") == "uvloop"
needs_uvloop = pytest.mark.skipif(
    not UVLOOP_LOADS,
    reason="uvloop is not installed: pyproject.toml installs it only where it ships wheels",
)


async def _loop_name() -> str:
    await asyncio.sleep(0)
    return running_loop_name()


@pytest.fixture(name="no_uvloop")
def _no_uvloop(monkeypatch: pytest.MonkeyPatch) -> None:
    """`import uvloop` fails, as on a platform without its wheels."""
    monkeypatch.setitem(sys.modules, "uvloop", None)


def test_asyncio_runs_when_configured() -> None:
    assert run(_loop_name(), "asyncio") == "asyncio"


@needs_uvloop
def test_auto_runs_on_uvloop_when_it_loads() -> None:
    assert run(_loop_name(), "auto") == "uvloop"


@pytest.mark.usefixtures("no_uvloop")
def test_auto_falls_back_to_asyncio_when_uvloop_cannot_load_and_says_so() -> None:
    with capture_logs() as logs:
        name = run(_loop_name(), "auto")

    assert name == "asyncio"
    assert [line["event"] for line in logs] == ["uvloop_unavailable"]


@pytest.mark.usefixtures("no_uvloop")
def test_an_explicit_uvloop_that_cannot_load_is_named_in_one_line() -> None:
    coroutine = _loop_name()
    with pytest.raises(EventLoopError) as caught:
        run(coroutine, "uvloop")

    message = str(caught.value)
    assert "uvloop cannot be loaded" in message and "\n" not in message
    assert coroutine.cr_frame is None  # closed, not left to warn "never awaited"


def test_an_unknown_loop_is_named_in_one_line() -> None:
    with pytest.raises(EventLoopError) as caught:
        run(_loop_name(), "trio")

    assert "'trio'" in str(caught.value) and "\n" not in str(caught.value)


def test_serve_refuses_an_explicit_uvloop_it_cannot_load(tmp_path: Path) -> None:
    shadow = tmp_path / "shadow"
    shadow.mkdir()
    (shadow / "uvloop.py").write_text('raise ImportError("no uvloop on this platform")\n')
    config = tmp_path / "dialguard.toml"
    config.write_text('[agi]\nevent_loop = "uvloop"\n')
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(shadow), *sys.path])}
    options = ["--db", str(tmp_path / "dg.sqlite3"), "--config", str(config)]
    serve = ["serve", "--agi", "127.0.0.1:4599", "--no-ami"]  # never bound: refused before
    done = subprocess.run(
        [sys.executable, "-m", "dialguard.cli", *options, *serve],
        env=env,
        capture_output=True,
        text=True,
        timeout=30,
    )

    errors = [line for line in done.stderr.splitlines() if not line.startswith("{")]
    assert done.returncode == 2
    assert len(errors) == 1 and "uvloop cannot be loaded" in errors[0], done.stderr


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
    scenario: Callable[[Daemon, Path], Awaitable[None]], tmp_path: Path, fixtures_dir: Path
) -> None:
    """FastAGI server, store writer thread, panoramisk AMI client and detectors on uvloop."""

    async def on_uvloop() -> None:
        assert running_loop_name() == "uvloop"
        daemon = await test_replay.start_replay_daemon(tmp_path)
        try:
            await scenario(daemon, fixtures_dir)
        finally:
            await daemon.stop()

    run(on_uvloop(), "uvloop")


@needs_uvloop
@pytest.mark.parametrize("how", ["reset", "hangup-exit"])
def test_on_uvloop_asterisk_dropping_the_call_mid_check_is_one_warning(how: str) -> None:
    # uvloop raises RuntimeError, not OSError, when writing to a reset connection.
    logs = run(asterisk_drops_the_call_mid_check(how), "uvloop")
    events = [(e["event"], e["log_level"]) for e in logs if e["event"] != "agi_listening"]
    assert ("agi_session_aborted", "warning") in events
    assert all(level != "error" for _, level in events)
