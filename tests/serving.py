"""`dialguard serve` as a process for the tests that need a real one (signals, workers,
systemd's notify socket): on a free port, its log lines in a file."""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def start_serve(
    tmp_path: Path, port: int, *args: str, env: dict[str, str] | None = None
) -> tuple[subprocess.Popen[bytes], Path]:
    """`dialguard serve --agi 127.0.0.1:PORT --no-ami ARGS` on `tmp_path/dg.sqlite3`, its
    stderr (the JSON log lines) in `tmp_path/serve.log`, which is returned with it."""
    log = tmp_path / "serve.log"
    environment = {**os.environ, "DIALGUARD_DB": str(tmp_path / "dg.sqlite3"), **(env or {})}
    serve = ["serve", "--agi", f"127.0.0.1:{port}", "--no-ami", *args]
    with log.open("w") as stderr:
        proc = subprocess.Popen(
            [sys.executable, "-m", "dialguard.cli", *serve],
            env=environment,
            stdout=subprocess.DEVNULL,
            stderr=stderr,
        )
    return proc, log


def wait_for_lines(log: Path, event: str, count: int, timeout_s: float = 15.0) -> list[dict]:
    """The first `count` log lines of `event` in `log`, once written (fails the test after
    `timeout_s`, with the log's end)."""
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        text = log.read_text() if log.exists() else ""
        complete = text[: text.rfind("\n") + 1]  # a line being written is read next time
        lines = [json.loads(line) for line in complete.splitlines() if line.startswith("{")]
        found = [line for line in lines if line["event"] == event]
        if len(found) >= count:
            return found
        time.sleep(0.05)
    pytest.fail(f"no {count} {event!r} line(s) within {timeout_s} s:\n{log.read_text()[-2000:]}")
