"""structlog set-up: one JSON object per line on stderr, no secrets.

The canonical decision line is written by `dialguard.guard`; other modules log events with
`get_logger(__name__)`.
"""

from __future__ import annotations

import logging
import sys
from collections.abc import MutableMapping
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


def _redact(_: Any, __: str, event: MutableMapping[str, Any]) -> MutableMapping[str, Any]:
    for key in _SECRET_KEYS & event.keys():
        event[key] = "***"
    return event


def _json_line(event: Any, **dumps_kw: Any) -> str:
    """The line's compact JSON (one line per call, so orjson): ASCII whatever the locale of
    the stream, and every line spelt one way (`"verdict":"block"`) for whoever greps them."""
    return compact_json(event, dumps_kw["default"], ascii_only=True)


def configure_logging(level: str = "info", stream: Any = None) -> None:
    structlog.configure(
        processors=[
            structlog.contextvars.merge_contextvars,
            structlog.processors.add_log_level,
            structlog.processors.TimeStamper(fmt="iso", utc=True),
            _redact,
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
