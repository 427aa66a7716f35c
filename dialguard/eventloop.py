"""The event loop `dialguard serve` runs on: uvloop when it is installed, else asyncio's own.

uvloop (libuv, MagicStack) runs the same asyncio code with its sockets and transports in C.
Measured with bench/agi_bench.py, it takes about 0.1-0.15 ms of CPU off every inline check,
most of it in accepting, reading and closing the FastAGI connections. It is a dependency
wherever it has wheels (not Windows); `[agi] event_loop = "asyncio"` turns it off, and the
`serving` log line says which loop runs.
"""

from __future__ import annotations

import asyncio
import importlib.util
from collections.abc import Callable, Coroutine
from typing import Any, TypeVar

T = TypeVar("T")

EVENT_LOOPS = ("auto", "uvloop", "asyncio")


class EventLoopError(Exception):
    """The configured event loop cannot run here; the message says why in one line."""


def uvloop_installed() -> bool:
    return importlib.util.find_spec("uvloop") is not None


def loop_factory(choice: str) -> Callable[[], asyncio.AbstractEventLoop] | None:
    """The factory for `asyncio.Runner` (None: asyncio's default loop)."""
    if choice not in EVENT_LOOPS:
        raise EventLoopError(f"event loop {choice!r}: must be one of {', '.join(EVENT_LOOPS)}")
    if choice == "asyncio" or (choice == "auto" and not uvloop_installed()):
        return None
    try:
        import uvloop
    except ImportError as exc:
        raise EventLoopError(
            f"event loop 'uvloop' cannot be loaded ({exc}); install uvloop or set"
            ' [agi] event_loop to "auto" or "asyncio"'
        ) from None
    factory: Callable[[], asyncio.AbstractEventLoop] = uvloop.new_event_loop
    return factory


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
