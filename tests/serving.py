"""`dialguard serve` as a process for the tests that need a real one (signals, workers,
systemd's notify socket): on a free port, its log lines in a file."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
from pathlib import Path


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
