"""The operator CLI. Each command group lives in its own module; importing them registers them."""

from __future__ import annotations

from dialguard.cli import (  # noqa: F401  (importing registers the commands)
    blackout,
    callerid,
    check,
    consent,
    events,
    flags,
    history,
    jurisdiction,
    log,
    registry,
    scrub,
    serve,
    status,
    suppress,
)
from dialguard.cli.app import cli


def main() -> None:
    cli(prog_name="dialguard")
