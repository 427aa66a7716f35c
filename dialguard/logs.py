"""structlog set-up: one JSON object per line on stderr, no secrets.

The canonical decision line is written by `dialguard.guard`; other modules log events with
`get_logger(__name__)`.
"""

from __future__ import annotations

import logging
import sys
import time
from collections.abc import MutableMapping
from contextvars import ContextVar
from datetime import UTC, datetime
from typing import Any

import structlog

from dialguard.jsontext import compact_json

_LEVELS = {
    "debug": logging.DEBUG,
    "info": logging.INFO,
    "warning": logging.WARNING,
    "error": logging.ERROR,
}

# Keys whose values never reach a log line, whatever a caller passes.
_SECRET_KEYS = frozenset({"secret", "password", "ami_secret", "key"})


_WORKER: ContextVar[int | None] = ContextVar("dialguard_log_worker", default=None)


def bind_worker(index: int) -> None:
    """Every later line of this context says which `serve --workers` process wrote it."""
    _WORKER.set(index)


def _line_fields(
    _: Any, method_name: str, event: MutableMapping[str, Any]
) -> MutableMapping[str, Any]:
    """What every line carries: the worker, the level and the UTC time; secrets redacted.

    One processor for what structlog's merge_contextvars, add_log_level and TimeStamper and a
    redactor did in four (the same keys, in the same order): a line is written for every
    call, and merge_contextvars alone copied the whole context to find one variable."""
    worker = _WORKER.get()
    if worker is not None:
        event.setdefault("worker", worker)
    event["level"] = _LEVEL_NAMES.get(method_name, method_name)
    event["timestamp"] = utc_stamp(time.time_ns() // 1000)
    for key in _SECRET_KEYS & event.keys():
        event[key] = "***"
    return event


_LEVEL_NAMES = {"warn": "warning", "exception": "error"}  # as structlog's add_log_level
_minute_text: tuple[int, str] = (0, "1970-01-01T00:00:")


def utc_stamp(micros: int) -> str:
    """`micros` (since the epoch) as TimeStamper(fmt="iso", utc=True) writes it,
    `2026-11-29T04:38:10.100332Z`; the minute's text is made once a minute."""
    global _minute_text
    minute, rest = divmod(micros, 60_000_000)
    cached = _minute_text  # one read: another thread may replace it meanwhile
    if cached[0] != minute:
        cached = (minute, f"{datetime.fromtimestamp(minute * 60, UTC):%Y-%m-%dT%H:%M:}")
        _minute_text = cached
    second, micro = divmod(rest, 1_000_000)
    if micro:
        return f"{cached[1]}{second:02d}.{micro:06d}Z"
    return f"{cached[1]}{second:02d}Z"


def _json_line(event: Any, **dumps_kw: Any) -> str:
    """The line's compact JSON (one line per call, so orjson): ASCII whatever the locale of
    the stream, and every line spelt one way (`"verdict":"block"`) for whoever greps them."""
    return compact_json(event, dumps_kw["default"], ascii_only=True)


def configure_logging(level: str = "info", stream: Any = None) -> None:
    structlog.configure(
        processors=[
            _line_fields,
            structlog.processors.format_exc_info,
            structlog.processors.JSONRenderer(serializer=_json_line),
        ],
        wrapper_class=structlog.make_filtering_bound_logger(_LEVELS.get(level, logging.INFO)),
        # One write() per line: stderr is unbuffered, and `print` writes the newline apart,
        # so lines of several processes (serve --workers) sharing it would run together.
        logger_factory=structlog.WriteLoggerFactory(stream or sys.stderr),
        cache_logger_on_first_use=False,
    )


def get_logger(name: str) -> Any:
    return structlog.get_logger(name)


_bound_for_calls: dict[str, tuple[tuple[object, ...], Any]] = {}


def per_call_logger(name: str) -> Any:
    """A logger for a line written on every call (the canonical decision line).

    A structlog proxy (`get_logger`) binds a new logger for every line, about 12 us here; this
    one is bound once and bound again only when the configuration changes (checked by
    identity: `configure_logging`, `structlog.testing.capture_logs` and the like all install
    new objects).
    """
    config = structlog.get_config()
    current = (config["processors"], config["wrapper_class"], config["logger_factory"])
    cached = _bound_for_calls.get(name)
    if cached is not None and all(a is b for a, b in zip(cached[0], current, strict=True)):
        return cached[1]
    logger = structlog.get_logger(name).bind()
    _bound_for_calls[name] = (current, logger)
    return logger
