"""Where one inline check's CPU goes, part by part, in-process (no FastAGI, no client).

Runs the guard's steps one by one over calls to fresh random AU mobiles on the benchmark store
(see agi_bench.py, which builds it), each call at its own instant as in production:

    prepare   parse the numbers, locate the callee, say what to look up   (rules.engine)
    facts     the SQLite reads, with the number-independent facts cached   (Store.facts_for)
    decide    every rule and the precedence                                (rules.engine)
    record    the audit record's row, JSON included                        (decision_row)
    log       the canonical decision line                                  (log_decision)
    check     Guard.check as a whole, decision records written behind it

Figures are microseconds of wall time per call on an otherwise idle event loop: they add up
to less than agi_bench.py's server CPU, which also counts the FastAGI exchange, the writer
thread and a machine shared with the client. Figures, not pass/fail. Example:

    python bench/check_parts.py --db /tmp/dialguard-bench.sqlite3 --calls 3000
"""

from __future__ import annotations

import argparse
import os
import random
import sys
import time
from collections import Counter
from datetime import UTC, datetime, timedelta
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
if str(REPO) not in sys.path:
    sys.path.insert(0, str(REPO))

# The same tenant and store as agi_bench.py.
from agi_bench import CALLER_ID, TENANT, bench_tenant, fresh_copy  # noqa: E402

from dialguard.eventloop import run  # noqa: E402
from dialguard.guard import Guard, log_decision  # noqa: E402
from dialguard.logs import configure_logging  # noqa: E402
from dialguard.store import open_store  # noqa: E402
from dialguard.store.facts import decision_row  # noqa: E402
from rules.engine import decide, prepare  # noqa: E402
from rules.models import CallAttempt  # noqa: E402

PARTS = ("prepare", "facts", "decide", "record", "log")


def attempts(count: int, start: datetime, rng: random.Random, tag: str) -> list[CallAttempt]:
    """Calls to fresh AU mobiles, 2 ms apart: each decision has an instant of its own."""
    return [
        CallAttempt(
            f"614{rng.randrange(10**8):08d}",
            CALLER_ID,
            start + timedelta(milliseconds=2 * i),
            tenant=TENANT,
            campaign="spring",
            call_id=f"{tag}-{os.getpid()}.{i}",
        )
        for i in range(count)
    ]


async def measure(db: Path, calls: int, hour_utc: int | None) -> None:
    store = await open_store(db)
    policy = await bench_tenant(store)
    guard = Guard(store, policy)
    now = datetime.now(UTC)
    start = now if hour_utc is None else now.replace(hour=hour_utc)
    rng = random.Random(time.time_ns())
    for attempt in attempts(300, start, rng, "warm"):  # caches, statements, pages
        await guard.check(attempt)
    await store.flush()

    spent = Counter[str]()
    outcomes = Counter[str]()
    for attempt in attempts(calls, start, rng, "parts"):
        t0 = time.perf_counter_ns()
        prepared = prepare(attempt, policy)
        t1 = time.perf_counter_ns()
        facts = await store.facts_for(prepared.query)
        t2 = time.perf_counter_ns()
        decision = decide(prepared, facts)
        t3 = time.perf_counter_ns()
        decision_row(attempt, decision, 1.0, "agi")
        t4 = time.perf_counter_ns()
        log_decision(attempt, decision, 1.0, "agi")
        t5 = time.perf_counter_ns()
        for part, took in zip(PARTS, (t1 - t0, t2 - t1, t3 - t2, t4 - t3, t5 - t4), strict=True):
            spent[part] += took
        outcomes[decision.rule or "allow"] += 1

    whole = attempts(calls, start, rng, "check")
    t0 = time.perf_counter_ns()
    for attempt in whole:
        await guard.check(attempt)
    spent["check"] = time.perf_counter_ns() - t0
    await store.flush()
    await store.close()

    print(
        f"{calls} calls at {start:%H:%M} UTC; decided: "
        + ", ".join(f"{rule} {n}" for rule, n in outcomes.most_common())
    )
    for part in (*PARTS, "check"):
        print(f"  {part:8} {spent[part] / calls / 1000:7.1f} µs per call")


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--db", type=Path, default=Path("/tmp/dialguard-bench.sqlite3"))
    parser.add_argument("--calls", type=int, default=3000)
    parser.add_argument(
        "--hour-utc",
        type=int,
        default=None,
        help="the hour (UTC) of the calls' instants, e.g. 1 for the AU afternoon when calls"
        " are allowed (default: now)",
    )
    args = parser.parse_args()
    if not args.db.exists():
        raise SystemExit(f"{args.db} does not exist: run bench/agi_bench.py once to build it")
    with Path(os.devnull).open("w") as sink:  # the lines are rendered, then dropped
        configure_logging("info", sink)
        # On a fresh copy, as agi_bench.py measures: --db keeps only the register.
        run(measure(fresh_copy(args.db), args.calls, args.hour_utc))  # on serve's loop


if __name__ == "__main__":
    main()
