"""systemd's service notifications (sd_notify), spoken directly: a datagram to $NOTIFY_SOCKET.

`Type=notify` makes systemd wait for `READY=1`, so `Before=asterisk.service` starts Asterisk
only once the FastAGI port listens; `WatchdogSec=` restarts a guard whose event loop has
stopped turning while its port still accepts connections (each such call is otherwise
rejected by the dialplan's 3 s bound, for as long as the process lives).

The protocol is one `KEY=VALUE` line per field in one datagram (sd_notify(3)); a few lines
here rather than a dependency (python-systemd needs libsystemd headers to install, sdnotify
is unmaintained). Outside systemd ($NOTIFY_SOCKET unset) every call does nothing.
"""

from __future__ import annotations

import asyncio
import os
import socket
from enum import Enum

from dialguard.logs import get_logger

log = get_logger("dialguard.systemd")


def managed() -> bool:
    """Whether a service manager listens for notifications ($NOTIFY_SOCKET)."""
    return bool(os.environ.get("NOTIFY_SOCKET"))


def notify(*fields: str, wait_s: float = 0.0) -> bool:
    """Send `fields` (`READY=1`, `STATUS=...`) to systemd; False when not run by systemd or
    the socket refuses (logged: a notification is never worth failing for).

    `wait_s` 0 never waits: a service manager too busy to read must not stall the FastAGI
    loop a watchdog ping runs on (a ping dropped is sent again at the next interval).
    `READY=1` and `STOPPING=1` are sent once, so they may wait a little for room."""
    return _deliver(fields, wait_s) is _Delivery.SENT


class _Delivery(Enum):
    SENT = "sent"
    NO_ROOM = "no room"  # the manager's queue is full: worth sending again
    FAILED = "failed"  # no manager there, or not one to take it: not worth it
    UNMANAGED = "unmanaged"


def _deliver(fields: tuple[str, ...], wait_s: float) -> _Delivery:
    address = os.environ.get("NOTIFY_SOCKET")
    if not address:
        return _Delivery.UNMANAGED
    if address.startswith("@"):  # an abstract socket: a leading NUL byte
        address = "\0" + address[1:]
    try:
        with socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM | socket.SOCK_CLOEXEC) as sock:
            sock.connect(address)
            if wait_s > 0:
                sock.settimeout(wait_s)
                sock.send("\n".join(fields).encode())
            else:
                sock.send("\n".join(fields).encode(), socket.MSG_DONTWAIT)
    except OSError as exc:
        log.warning("systemd_notify_failed", socket=address.lstrip("\0"), error=str(exc))
        full = isinstance(exc, (BlockingIOError, TimeoutError))
        return _Delivery.NO_ROOM if full else _Delivery.FAILED
    return _Delivery.SENT


def watchdog_interval_s() -> float | None:
    """Seconds between keep-alive pings, half of systemd's `WatchdogSec=` as sd_watchdog_enabled
    advises; None without a watchdog, or when it watches another process (WATCHDOG_PID: a
    worker inherits the primary's environment)."""
    usec = os.environ.get("WATCHDOG_USEC", "")
    pid = os.environ.get("WATCHDOG_PID", "")
    if not usec.isdigit() or int(usec) == 0:
        return None
    if pid and (not pid.isdigit() or int(pid) != os.getpid()):
        return None
    return int(usec) / 1e6 / 2


async def keep_alive(interval_s: float | None, unsent: tuple[str, ...] = ()) -> None:
    """Ping the watchdog (every `interval_s`, when there is one) from the event loop for as
    long as it turns: a stalled loop stops the pings, and systemd restarts the service.
    `unsent`: a notification the manager had no room for (`READY=1`), sent again until it
    goes: without it systemd would wait for readiness until its start timeout."""
    while interval_s or unsent:
        if unsent and _deliver(unsent, 0) is not _Delivery.NO_ROOM:
            unsent = ()  # sent, or no manager there to take it: sending again is no use
        if interval_s:
            notify("WATCHDOG=1")
        await asyncio.sleep(interval_s or RESEND_S)


RESEND_S = 1.0
