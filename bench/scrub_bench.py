"""How fast `dialguard scrub` decides a lead list, and how much memory it takes.

Writes N random Australian mobiles (about a tenth unassigned ranges), copies the benchmark
store (agi_bench.py builds it: a 10-million-number au-dncr copy), gives the bench tenant its
caller ID, and runs `dialguard scrub` as a process at an instant inside the AU telemarketing
window, with `--out` to a file. Reports numbers per second and the peak RSS. Figures, not
pass/fail. Example:

    python bench/scrub_bench.py --numbers 100000,300000
"""

from __future__ import annotations

import argparse
import random
import resource
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
if str(REPO) not in sys.path:
    sys.path.insert(0, str(REPO))

from agi_bench import CALLER_ID, REGISTER_TABLE, TENANT, ensure_store  # noqa: E402

AT = "2026-12-01T03:00:00Z"  # a Tuesday: 14:00 in Sydney, 11:00 in Perth


def dialguard(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "dialguard.cli", *args],
        check=True,
        capture_output=True,
        text=True,
        cwd=REPO,
    )


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--db", type=Path, default=Path("/tmp/dialguard-bench.sqlite3"))
    parser.add_argument("--register-size", type=int, default=10_000_000)
    parser.add_argument("--numbers", default="100000", help="comma list of list lengths")
    args = parser.parse_args()
    ensure_store(args.db, args.register_size)
    print(f"store {args.db} ({REGISTER_TABLE}); scrubbing at {AT}")
    with tempfile.TemporaryDirectory() as folder:
        work = Path(folder)
        db = work / "scrub.sqlite3"
        shutil.copyfile(args.db, db)
        config = work / "dialguard.toml"
        config.write_text(f'[tenants.{TENANT}]\nregion = "AU"\n', encoding="utf-8")
        common = ["--db", str(db), "--config", str(config)]
        dialguard(*common, "callerid", "add", CALLER_ID, "--tenant", TENANT)
        rng = random.Random(7)
        for count in (int(n) for n in args.numbers.split(",")):
            leads = work / f"leads-{count}.txt"
            with leads.open("w", encoding="utf-8") as out:
                out.writelines(f"04{rng.randrange(10**8):08d}\n" for _ in range(count))
            before = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss
            started = time.perf_counter()
            result = dialguard(
                *common, "scrub", str(leads), "--caller-id", CALLER_ID, "--tenant", TENANT,
                "--campaign", "spring", "--at", AT, "--out", str(work / "verdicts.csv"),
            )  # fmt: skip
            took = time.perf_counter() - started
            peak = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss
            print(
                f"{count:>10,} numbers: {took:6.1f} s, {count / took:8,.0f} numbers/s, "
                f"peak RSS {max(peak, before) / 1024:.0f} MB (of any run so far)"
            )
            print("   " + result.stdout.splitlines()[0])


if __name__ == "__main__":
    main()
