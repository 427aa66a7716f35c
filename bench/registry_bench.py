"""Register import and lookup benchmark (figures, not pass/fail).

    python bench/registry_bench.py [--numbers 10000000] [--lookups 100000] [--keep DIR] [--gzip]
                                   [--format us-dnc|plain]

Generates N random US numbers (NPAs that phonenumbers says are valid), imports them with
`dialguard registry import` through the real CLI, then times membership lookups (half hits,
half misses) through `Store.facts_for`, the call the guard makes per call.
"""

from __future__ import annotations

import argparse
import asyncio
import gzip
import random
import resource
import shutil
import statistics
import sys
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path

import phonenumbers
from click.testing import CliRunner

# This checkout's code, as the other benchmarks, whatever is installed.
REPO = Path(__file__).resolve().parents[1]
if str(REPO) not in sys.path:
    sys.path.insert(0, str(REPO))

from dialguard.cli import cli  # noqa: E402
from dialguard.store import open_store  # noqa: E402
from rules.ports import FactQuery  # noqa: E402


def valid_npas() -> list[int]:
    out = []
    for npa in range(201, 990):
        sample = phonenumbers.parse(f"+1{npa}2345678", None)
        if phonenumbers.is_valid_number(sample):
            out.append(npa)
    return out


def generate(path: Path, n: int, rng: random.Random) -> list[str]:
    npas = valid_npas()
    hits: list[str] = []
    with path.open("w") as f:
        for i in range(n):
            line = f"{rng.choice(npas)}{rng.randrange(2000000, 10000000)}"
            f.write(line + "\n")
            if i % max(1, n // 50_000) == 0:
                hits.append(line)
    return hits


async def lookups(db: Path, hits: list[str], count: int, rng: random.Random) -> list[float]:
    store = await open_store(db)
    npas = valid_npas()
    times: list[float] = []
    at = datetime.now(UTC)
    for i in range(count):
        digits = (
            rng.choice(hits)
            if i % 2 == 0
            else f"{rng.choice(npas)}{rng.randrange(2000000, 10000000)}"
        )
        query = FactQuery(f"+1{digits}", "bench", None, None, ["us-dnc"], [], at)
        start = time.perf_counter()
        facts = await store.facts_for(query)
        times.append(time.perf_counter() - start)
        if i % 2 == 0:
            assert "us-dnc" in facts.register_hits
    await store.close()
    return times


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--numbers", type=int, default=10_000_000)
    parser.add_argument("--lookups", type=int, default=100_000)
    parser.add_argument("--keep", type=Path, default=None, help="work folder (default: temp)")
    parser.add_argument("--format", default="us-dnc", help="file layout the CLI reads it as")
    parser.add_argument(
        "--gzip", action="store_true", help="import the file gzipped, as downloads come"
    )
    args = parser.parse_args()
    rng = random.Random(20260301)
    work = args.keep or Path(tempfile.mkdtemp(prefix="dialguard-bench-"))
    work.mkdir(parents=True, exist_ok=True)
    data, db = work / "us-dnc.txt", work / "bench.sqlite3"
    for p in (db, Path(f"{db}-wal"), Path(f"{db}-shm")):
        p.unlink(missing_ok=True)
    t = time.perf_counter()
    hits = generate(data, args.numbers, rng)
    print(
        f"generated {args.numbers:,} numbers ({data.stat().st_size / 1e6:.0f} MB) in {time.perf_counter() - t:.1f} s"
    )
    if args.gzip:
        packed = data.with_name(data.name + ".gz")
        with data.open("rb") as plain, gzip.open(packed, "wb") as out:
            shutil.copyfileobj(plain, out, 1 << 20)
        print(f"gzipped to {packed.stat().st_size / 1e6:.0f} MB")
        data = packed
    t = time.perf_counter()
    result = CliRunner().invoke(
        cli,
        [
            *("--db", str(db), "registry", "import", str(data)),
            *("--registry", "us-dnc", "--format", args.format),
        ],
    )
    seconds = time.perf_counter() - t
    print(result.output.rstrip())
    assert result.exit_code == 0, result.output
    size = sum(p.stat().st_size for p in (db, Path(f"{db}-wal")) if p.exists())
    print(
        f"import: {seconds:.1f} s, {args.numbers / seconds:,.0f} numbers/s, DB {size / 1e6:.0f} MB "
        f"({size / args.numbers:.1f} bytes/number; 250 M numbers ~ {size / args.numbers * 250e6 / 1e9:.1f} GB)"
    )
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(f"peak RSS of the process so far: {peak:.0f} MB")
    times = asyncio.run(lookups(db, hits, args.lookups, rng))
    times.sort()
    p50 = statistics.median(times) * 1e6
    p99 = times[int(len(times) * 0.99)] * 1e6
    print(
        f"facts_for with register lookup: {len(times):,} lookups, p50 {p50:.0f} µs, p99 {p99:.0f} µs"
    )


if __name__ == "__main__":
    main()
