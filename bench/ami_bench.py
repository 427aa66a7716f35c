"""AMI ingestion benchmark: how fast the listener records outcomes, without loss.

A fake AMI server in a separate process streams N generated calls (the first call of the
recorded campaign-burst session, renumbered with fresh Uniqueids/Linkedids: 46 events per
call, every event shape a real Asterisk 22 sends for an answered call through Local channels)
over loopback TCP as fast as it can. The listener (real panoramisk, real SQLite store in a
temporary directory) records them. Reports events/s and calls/s from login to the last
outcome committed, and checks outcomes stored == calls sent.

    python bench/ami_bench.py [--calls 5000] [--event-loop auto|uvloop|asyncio]

The listener runs on the event loop `dialguard serve` would pick (default auto: uvloop when
installed), as in production.
"""

from __future__ import annotations

import argparse
import asyncio
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from ami_listener.listener import AmiListener  # noqa: E402
from dialguard.eventloop import EVENT_LOOPS  # noqa: E402
from dialguard.eventloop import run as run_on_loop  # noqa: E402
from dialguard.store import open_store  # noqa: E402
from rules.numbers import parse_number  # noqa: E402

RECORDING = REPO.parent / "shared" / "fixtures" / "asterisk-22" / "campaign-burst" / "ami.txt"


async def measure(port: int, calls: int) -> tuple[int, int, float]:
    """(events received, outcomes stored, seconds from login to the last outcome)."""
    with tempfile.TemporaryDirectory() as tmp:
        store = await open_store(Path(tmp) / "bench.sqlite3")
        listener = AmiListener(
            store,
            port=port,
            username="dialguard",
            secret="s3cret",
            normalize=lambda raw, tenant: parse_number(raw, "AU"),
            ping_interval_s=60,
        )
        await listener.start()
        await listener.connected.wait()
        started = time.perf_counter()
        while listener.outcomes_recorded < calls and time.perf_counter() - started < 600:  # noqa: ASYNC110
            await asyncio.sleep(0.01)
        await listener.wait_idle()
        elapsed = time.perf_counter() - started
        await listener.close()
        row = await store.fetchone("SELECT count(*) FROM outcomes")
        await store.close()
    return listener.events_seen, int(row[0]) if row else 0, elapsed


def run(calls: int, event_loop: str = "auto") -> int:
    server = subprocess.Popen(
        [sys.executable, "-m", "tests.ami_listener.fake_ami", str(RECORDING), str(calls), "0"],
        cwd=REPO,
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert server.stdout is not None
        port = int(server.stdout.readline())
        events, stored, elapsed = run_on_loop(measure(port, calls), event_loop)
    finally:
        server.terminate()
        server.wait()
    print(f"calls sent        {calls}")
    print(f"events received   {events}")
    print(f"outcomes stored   {stored}  ({'no loss' if stored == calls else 'LOSS'})")
    print(f"elapsed           {elapsed:.2f} s")
    print(f"sustained         {events / elapsed:,.0f} events/s, {stored / elapsed:,.0f} calls/s")
    return 0 if stored == calls else 1


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--calls", type=int, default=5000)
    parser.add_argument("--event-loop", default="auto", choices=EVENT_LOOPS)
    args = parser.parse_args()
    raise SystemExit(run(args.calls, args.event_loop))


if __name__ == "__main__":
    main()
