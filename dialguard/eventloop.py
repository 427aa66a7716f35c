"""The event loop `dialguard serve` runs on: uvloop when it is installed, else asyncio's own.

uvloop (libuv, MagicStack) runs the same asyncio code with its sockets and transports in C.
Measured with bench/agi_bench.py, it takes about 0.1-0.2 ms of CPU off every inline check (of
some 1.0-1.2 ms), where asyncio's own loop spends it in Python: accepting, reading, writing
and closing the FastAGI connections.

It is a dependency only where it ships wheels (CPython on Linux x86_64/aarch64 and on macOS;
see pyproject.toml), so that installing dialguard never needs a C compiler. Elsewhere, or if
it fails to load, "auto" runs on asyncio's loop and says so in the log. `[agi] event_loop =
"asyncio"` turns it off; the `serving` log line says which loop runs.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Coroutine
from typing import Any, TypeVar

from dialguard.logs import get_logger

T = TypeVar("T")

EVENT_LOOPS = ("auto", "uvloop", "asyncio")

log = get_logger(__name__)


class EventLoopError(Exception):
    """The configured event loop cannot run here; the message says why in one line."""


def loop_factory(choice: str) -> Callable[[], asyncio.AbstractEventLoop] | None:
    """The factory for `asyncio.Runner` (None: asyncio's default loop)."""
    if choice not in EVENT_LOOPS:
        raise EventLoopError(f"event loop {choice!r}: must be one of {', '.join(EVENT_LOOPS)}")
    if choice == "asyncio":
        return None
    try:
        import uvloop
    except ImportError as exc:
        if choice == "auto":
            log.warning("uvloop_unavailable", error=str(exc), event_loop="asyncio")
            return None
        raise EventLoopError(
            f'[agi] event_loop = "uvloop", but uvloop cannot be loaded ({exc}): install it'
            ' (pip install uvloop) or set event_loop to "auto" or "asyncio"'
        ) from None
    factory: Callable[[], asyncio.AbstractEventLoop] = uvloop.new_event_loop
    return factory


def resolve(choice: str) -> str:
    """The loop `run(..., choice)` would run on here: "uvloop" or "asyncio"."""
    return "asyncio" if loop_factory(choice) is None else "uvloop"


def run(main: Coroutine[Any, Any, T], choice: str = "auto") -> T:
    """`asyncio.run(main)` on the chosen loop."""
    try:
        factory = loop_factory(choice)
    except EventLoopError:
        main.close()  # never awaited: say so quietly rather than with a RuntimeWarning
        raise
    with asyncio.Runner(loop_factory=factory) as runner:
        return runner.run(main)


def running_loop_name() -> str:
    """`uvloop` or `asyncio`: which loop the caller runs on, for the logs."""
    module = type(asyncio.get_running_loop()).__module__
    return "uvloop" if module.startswith("uvloop") else "asyncio"
