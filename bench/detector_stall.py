"""How long the abuse detectors hold up the event loop the inline checks run on.

`dialguard serve` runs the FastAGI server and the AMI listener on one event loop. For each
recorded outcome the Enforcer runs the tenant's pattern detectors over its recent outcomes
(at most once per tenant every 10 s), and every 60 s it sweeps them all. A check waits
for whatever holds the loop; past the AGI deadline (250 ms) it is blocked as guard.timeout.

This builds a store whose tenant has N answered outcomes spread over the last 6 hours, then
records one more outcome through the Enforcer, as the listener does, while a probe task
measures the longest the loop went without running it (asked to wake every millisecond).
Figures, not pass/fail. Example:

    python bench/detector_stall.py --outcomes 1000,20000,100000
"""

from __future__ import annotations

import argparse
import asyncio
import random
import sqlite3
import sys
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
if str(REPO) not in sys.path:
    sys.path.insert(0, str(REPO))

from dialguard.enforcement import Enforcer  # noqa: E402
from dialguard.store import open_store  # noqa: E402
from rules.outcomes import CallOutcome  # noqa: E402
from rules.policy import Policy, TenantSettings  # noqa: E402

TENANT = "acme"


def fill(path: Path, count: int, now: datetime, rng: random.Random) -> None:
    """`count` answered one-minute calls of the tenant in the last 6 hours, inserted directly."""
    conn = sqlite3.connect(path)
    rows = []
    for i in range(count):
        start = now.timestamp() - rng.uniform(0, 6 * 3600)
        rows.append(
            (f"bench-{i}", f"+6141{rng.randrange(10**7):07d}", "+61291234567", TENANT, "spring",
             start, start + 5, start + 65, "ANSWERED", 60)
        )  # fmt: skip
    conn.executemany(
        "INSERT INTO outcomes (call_id, number, caller_id, tenant, campaign, started_at,"
        " answered_at, ended_at, disposition, billsec, abandoned, source, updated_at)"
        " VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, 0, 'ami', 0)",
        rows,
    )
    conn.commit()
    conn.close()


async def measure(count: int, workdir: Path) -> None:
    path = workdir / f"stall-{count}.sqlite3"
    store = await open_store(path)  # creates the schema
    now = datetime.now(UTC)
    fill(path, count, now, random.Random(count))
    enforcer = Enforcer(store, Policy(tenants={TENANT: TenantSettings(TENANT, "AU")}))
    new = CallOutcome(
        call_id="new", number="+61412345678", caller_id="+61291234567", tenant=TENANT,
        campaign="spring", started_at=now, ended_at=now + timedelta(seconds=30),
        disposition="ANSWERED", billsec=25,
    )  # fmt: skip
    longest = 0.0
    done = False

    async def probe() -> None:
        nonlocal longest
        while not done:
            asked = time.perf_counter()
            await asyncio.sleep(0.001)
            longest = max(longest, time.perf_counter() - asked - 0.001)

    prober = asyncio.create_task(probe())
    started = time.perf_counter()
    await enforcer.outcome_recorded(new)
    took = time.perf_counter() - started
    done = True
    await prober
    await store.close()
    print(
        f"{count:>8} outcomes in the window: detectors took {took * 1000:7.0f} ms,"
        f" longest the loop waited {longest * 1000:5.0f} ms"
    )


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--outcomes", default="1000,20000,100000", help="window sizes")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="dialguard-stall-") as workdir:
        for count in (int(n) for n in args.outcomes.split(",")):
            asyncio.run(measure(count, Path(workdir)))


if __name__ == "__main__":
    main()
