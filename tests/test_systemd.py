"""sd_notify over a real datagram socket, and `dialguard serve` under a systemd-like manager."""

from __future__ import annotations

import contextlib
import os
import signal
import socket
import time
from pathlib import Path

import pytest

from dialguard import systemd
from tests.serving import free_port, start_serve, wait_for_lines


@pytest.fixture
def manager(tmp_path: Path) -> socket.socket:
    """The service manager's end: a datagram socket, as systemd's NOTIFY_SOCKET is."""
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
    sock.bind(str(tmp_path / "notify"))
    sock.settimeout(10)
    yield sock
    sock.close()


def test_notify_sends_one_datagram_of_lines(
    manager: socket.socket, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("NOTIFY_SOCKET", manager.getsockname())

    assert systemd.notify("READY=1", "STATUS=serving")

    assert manager.recv(4096) == b"READY=1\nSTATUS=serving"


def test_notify_reaches_an_abstract_socket(monkeypatch: pytest.MonkeyPatch) -> None:
    name = f"dialguard-test-{os.getpid()}-{time.monotonic_ns()}"
    with socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM) as sock:
        sock.bind("\0" + name)
        monkeypatch.setenv("NOTIFY_SOCKET", "@" + name)

        assert systemd.notify("WATCHDOG=1")

        assert sock.recv(4096) == b"WATCHDOG=1"


def test_without_systemd_or_with_a_dead_socket_notify_does_nothing(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("NOTIFY_SOCKET", raising=False)
    assert not systemd.notify("READY=1")
    monkeypatch.setenv("NOTIFY_SOCKET", str(tmp_path / "nobody-listens"))
    assert not systemd.notify("READY=1")  # logged, never raised


def test_a_manager_that_does_not_read_never_blocks_the_loop(
    manager: socket.socket, monkeypatch: pytest.MonkeyPatch
) -> None:
    """notify runs on the FastAGI loop: a service manager too busy to read (its queue full)
    must cost a dropped ping, not a stalled loop."""
    import threading

    monkeypatch.setenv("NOTIFY_SOCKET", manager.getsockname())
    results: list[bool] = []
    sender = threading.Thread(
        target=lambda: results.extend(systemd.notify("WATCHDOG=1") for _ in range(2000)),
        daemon=True,
    )
    sender.start()
    sender.join(timeout=10)
    blocked = sender.is_alive()
    manager.close()  # unblocks a sender stuck in send

    assert not blocked
    assert results[0] and not results[-1]  # the queue filled, and the rest were dropped


async def test_a_ready_the_manager_had_no_room_for_is_sent_again(
    manager: socket.socket, monkeypatch: pytest.MonkeyPatch
) -> None:
    """READY=1 is sent once: lost, systemd would wait for it until its start timeout
    (10 minutes, holding Asterisk back). It is sent again until the manager takes it."""
    import asyncio

    monkeypatch.setenv("NOTIFY_SOCKET", manager.getsockname())
    while systemd.notify("WATCHDOG=1"):  # the manager's queue fills up
        pass
    assert not systemd.notify("READY=1", "STATUS=serving", wait_s=0.05)

    resend = asyncio.create_task(systemd.keep_alive(None, ("READY=1", "STATUS=serving")))
    await asyncio.sleep(0.2)
    manager.setblocking(False)
    with contextlib.suppress(BlockingIOError):
        while True:
            manager.recv(4096)  # the manager reads, room is made
    manager.setblocking(True)
    await asyncio.wait_for(resend, timeout=5)  # ends once READY went

    assert manager.recv(4096) == b"READY=1\nSTATUS=serving"


async def test_a_ready_with_no_manager_to_take_it_is_not_sent_for_ever(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import asyncio

    monkeypatch.setenv("NOTIFY_SOCKET", str(tmp_path / "nobody-listens"))
    resend = asyncio.create_task(systemd.keep_alive(None, ("READY=1",)))

    await asyncio.wait_for(resend, timeout=2)  # one try: nothing there, nothing to wait for


def test_serve_sends_ready_again_when_the_manager_had_no_room_and_never_after_stopping(
    manager: socket.socket, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("NOTIFY_SOCKET", manager.getsockname())
    while systemd.notify("WATCHDOG=1"):  # systemd busy at boot: its queue is full
        pass
    proc, log = start_serve(tmp_path, free_port(), env={"NOTIFY_SOCKET": manager.getsockname()})
    try:
        wait_for_lines(log, "serving", 1)
        time.sleep(1.5)  # READY=1 found no room (it waits 1 s), and is tried again
        manager.setblocking(False)
        with contextlib.suppress(BlockingIOError):
            while True:
                manager.recv(4096)  # systemd catches up
        manager.setblocking(True)
        messages = [manager.recv(4096).decode()]
        proc.send_signal(signal.SIGTERM)
        while "STOPPING=1" not in messages:
            messages.append(manager.recv(4096).decode())
        assert proc.wait(timeout=15) == 0
        time.sleep(1.2)
        manager.setblocking(False)
        with contextlib.suppress(BlockingIOError):
            while True:
                messages.append(manager.recv(4096).decode())
    finally:
        proc.kill()
        proc.wait()

    assert messages[0].startswith("READY=1")
    assert messages[-1] == "STOPPING=1"


@pytest.mark.parametrize(
    ("usec", "pid", "expected"),
    [
        ("10000000", None, 5.0),
        ("10000000", "self", 5.0),
        ("10000000", "1", None),  # another process's watchdog (a worker inherits it)
        ("0", None, None),
        ("ten", None, None),
        (None, None, None),
    ],
)
def test_the_watchdog_is_pinged_at_half_its_period_by_its_own_process_only(
    usec: str | None, pid: str | None, expected: float | None, monkeypatch: pytest.MonkeyPatch
) -> None:
    for name, value in (("WATCHDOG_USEC", usec), ("WATCHDOG_PID", pid)):
        if value is None:
            monkeypatch.delenv(name, raising=False)
        else:
            monkeypatch.setenv(name, str(os.getpid()) if value == "self" else value)

    assert systemd.watchdog_interval_s() == expected


def test_serve_says_ready_pings_the_watchdog_and_says_stopping(
    manager: socket.socket, tmp_path: Path
) -> None:
    port = free_port()
    notify = {"NOTIFY_SOCKET": manager.getsockname(), "WATCHDOG_USEC": "200000"}  # 0.1 s
    proc, log = start_serve(tmp_path, port, env=notify)
    try:
        try:
            messages = [manager.recv(4096).decode()]
        except TimeoutError:
            pytest.fail(f"serve said nothing to the manager:\n{log.read_text()[-2000:]}")
        while sum(m == "WATCHDOG=1" for m in messages) < 3:
            messages.append(manager.recv(4096).decode())
        proc.send_signal(signal.SIGTERM)
        while "STOPPING=1" not in messages:
            messages.append(manager.recv(4096).decode())
        assert proc.wait(timeout=15) == 0
    finally:
        proc.kill()
        proc.wait()

    ready = [m for m in messages if m.startswith("READY=1")]
    assert ready == [f"READY=1\nSTATUS=serving FastAGI on 127.0.0.1:{port}"]
    assert messages.index(ready[0]) < messages.index("WATCHDOG=1")


def test_the_sample_unit_waits_for_ready_and_has_a_watchdog() -> None:
    unit = (Path(__file__).resolve().parents[1] / "asterisk-conf" / "dialguard.service").read_text()

    assert "\nType=notify\n" in unit and "\nNotifyAccess=main\n" in unit
    assert "\nWatchdogSec=10\n" in unit
