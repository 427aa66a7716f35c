"""Decision records wait out a full disk, as they do a lock: the checks fail closed, and
nothing is lost once there is room again. The disk fills for real: a child process whose
file-size limit (RLIMIT_FSIZE) stops every write to the database files."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]

CHILD = r"""
import asyncio, json, resource, signal, sqlite3, sys
from datetime import UTC, datetime

from dialguard.store import open_store
from dialguard.store.hotpath import StoreUnavailable
from rules.engine import prepare
from rules.models import CallAttempt, Decision, Verdict
from rules.policy import Policy

signal.signal(signal.SIGXFSZ, signal.SIG_IGN)  # a write past the limit fails (EFBIG)


async def main(path: str) -> None:
    store = await open_store(path, max_write_lag_s=0.3)
    decision = Decision(Verdict.ALLOW, None, "allowed", "", None, None, None, None, ())

    def attempt(call_id: str) -> CallAttempt:
        return CallAttempt("+61412345678", None, datetime.now(UTC), tenant="a", call_id=call_id)

    query = prepare(attempt("q"), Policy()).query
    _, hard = resource.getrlimit(resource.RLIMIT_FSIZE)
    resource.setrlimit(resource.RLIMIT_FSIZE, (1, hard))  # the disk is full
    await store.record_decision(attempt("c1"), decision, 1.0, "agi")
    await asyncio.sleep(0.6)  # longer than the lag allowed
    seen = {}
    try:
        await store.facts_for(query)
        seen["full"] = "decided"
    except StoreUnavailable:
        seen["full"] = "unavailable"
    resource.setrlimit(resource.RLIMIT_FSIZE, (hard, hard))  # room again
    await asyncio.wait_for(store.flush(), 5)
    await store.facts_for(query)
    seen["after"] = "decided"
    await store.close()
    seen["rows"] = [r[0] for r in sqlite3.connect(path).execute("SELECT call_id FROM decisions")]
    print(json.dumps(seen))


asyncio.run(main(sys.argv[1]))
"""


@pytest.mark.skipif(sys.platform == "win32", reason="RLIMIT_FSIZE is POSIX")
def test_a_full_disk_fails_the_checks_closed_and_loses_no_record(tmp_path: Path) -> None:
    # Before, the batch failed once with "disk I/O error" and was dropped: the checks went
    # on deciding with caps that no longer counted, and the record was gone.
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    done = subprocess.run(
        [sys.executable, "-c", CHILD, str(tmp_path / "dg.sqlite3")],
        capture_output=True, text=True, timeout=60, env=env, cwd=REPO, check=False,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr[-2000:]
    seen = json.loads(done.stdout.strip().splitlines()[-1])
    assert seen == {"full": "unavailable", "after": "decided", "rows": ["c1"]}
