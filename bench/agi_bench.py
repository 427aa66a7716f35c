"""FastAGI benchmark: drive the server over loopback the way Asterisk does.

Each session connects with Nagle's algorithm left on, as res_agi.c does (it sets no
TCP_NODELAY), and sends the environment block recorded from Asterisk 22 (allow-answered, one
write per line, LF only) as our sample dialplan would (route `check`, the number as the first
AGI argument, its own uniqueid). It then reads commands as run_agi does (a line at a time once
the socket is readable, from a buffer that one read fills), answers `GET VARIABLE` and
`GET FULL VARIABLE` from the channel variables a dialler sets (DIALGUARD_TENANT=bench,
DIALGUARD_CAMPAIGN=spring) and `SET VARIABLE` with `200 result=1`, one write per reply, and
ends when the server closes.
Latency is connect-to-close. The server runs in a child process so the client does not share
its event loop.

`--client c` makes the same calls from bench/agi_client.c instead (built with the system's C
compiler on first use): blocking I/O on a thread per call, as Asterisk runs an AGI on the
channel's thread. Its own event loop does not add to the latencies, as the Python client's
does. Neither client is cheap: each call is a connection and a write per environment line, as
Asterisk makes it, and the kernel's share of that is the client's. Against the do-nothing
server the C client spends about 0.35 ms of CPU per call (nine tenths of it in the kernel) and
the Python client about 0.5 ms; at that server's rate either takes a whole core of a 2-core
machine, so the do-nothing server's throughput is mostly the client's. The table's `client
cpu ms/call` says what the client took in each measurement; say which client gave a figure.

Two servers are measured the same way:
  real  dialguard: agi.start_agi_server + dialguard.guard.Guard over a SQLite store holding an
        au-dncr register copy of 10 million numbers (built once, reused with --db);
  null  the do-nothing FastAGI server, measured the same way: the check route's exchange (reads
        the environment, sends one GET FULL VARIABLE and reads its reply, sends the three
        SET VARIABLEs and reads their replies, closes) in a few lines of asyncio streams, no
        decision. The issue's target compares with this one;
  null-one  (optional) the least any FastAGI server can do: reads the environment, sends one
        SET VARIABLE, closes. One round trip where the contract's exchange needs two, so
        not the same measurement (the baseline of the figures at earlier stops);
  agi-noop  (optional) the agi package with a service that allows at once: the agi layer's own
        cost, without the guard and the store.

The store: `--db` is built once with the register copy and is then only read. Every
measurement of the real server runs on a fresh copy of it (`<db>-run.sqlite3`), so that each
starts from the same state, whatever earlier runs decided; `--keep-history` runs on `--db`
itself instead, to measure a store that has kept every decision of every earlier run.

All servers run on the event loop `dialguard serve` would pick (`--event-loop`, default auto:
uvloop when installed), so that they are measured the same way.

`--workers 1,2` measures the real server once per worker count: with N > 1 the server process
runs `dialguard.daemon.start_daemon` as `dialguard serve --workers N` does (N processes on one
port, SO_REUSEPORT). The client is one more process on the same machine: on a 2-core machine
it takes CPU from the server, and the figures say so.

Two loads: closed loop (C clients back to back, max throughput) and open loop (a fixed rate).
Figures, not pass/fail. Example:

    python bench/agi_bench.py --db /tmp/dialguard-bench.sqlite3 --workers 1,2 --rate 500
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import gc
import hashlib
import json
import logging
import multiprocessing as mp
import os
import random
import re
import resource
import shutil
import signal
import socket
import sqlite3
import statistics
import subprocess
import sys
import tempfile
import time
from collections import Counter
from collections.abc import Callable, Coroutine
from dataclasses import dataclass, field
from datetime import UTC, datetime
from functools import partial
from multiprocessing.connection import Connection
from pathlib import Path
from typing import Any, Protocol, TextIO

REPO = Path(__file__).resolve().parents[1]
if str(REPO) not in sys.path:
    sys.path.insert(0, str(REPO))

from dialguard.eventloop import EVENT_LOOPS, resolve, run  # noqa: E402
from tests.agi.fake_asterisk import commands_as_asterisk_reads  # noqa: E402

TRANSCRIPT = REPO.parent / "shared" / "fixtures" / "asterisk-22" / "allow-answered"
TRANSCRIPT_FILE = TRANSCRIPT / "agi-001-check.jsonl"
REGISTER = "au-dncr"
REGISTER_TABLE = "reg_bench"
FIRST_NUMBER = 61400000000  # AU mobiles; every other number is on the register
TENANT = "bench"
CALLER_ID = "+61291234567"  # the recorded caller ID
# What the dialler set on the channel before the Gosub: campaign traffic of tenant "bench".
CHANNEL_VARIABLES = {"DIALGUARD_TENANT": TENANT, "DIALGUARD_CAMPAIGN": "spring"}
_SUBSTITUTION = re.compile(r"\$\{([^}]*)\}")


# -- the register copy ----------------------------------------------------------------------


def ensure_store(path: Path, size: int) -> None:
    """Create the bench store with a `size`-number register copy unless it exists already;
    refresh the copy's as-of date so it is never stale."""
    from dialguard.store import open_store

    if not path.exists():
        tmp = path.with_suffix(".building")
        tmp.unlink(missing_ok=True)

        async def create_schema() -> None:
            store = await open_store(tmp)
            await store.close()

        asyncio.run(create_schema())
        started = time.perf_counter()
        con = sqlite3.connect(tmp, isolation_level=None)
        con.execute(
            f"CREATE TABLE {REGISTER_TABLE} (number INTEGER PRIMARY KEY, registered_on TEXT)"
        )
        con.execute("BEGIN")
        con.executemany(
            f"INSERT INTO {REGISTER_TABLE} (number) VALUES (?)",
            ((FIRST_NUMBER + 2 * i,) for i in range(size)),
        )
        con.execute(
            "INSERT INTO register_copies (register, table_name, as_of, imported_at, count,"
            " checksum, source_file, format) VALUES (?, ?, ?, ?, ?, 'bench', 'agi_bench', 'plain')",
            (REGISTER, REGISTER_TABLE, datetime.now(UTC).date().isoformat(), time.time(), size),
        )
        con.execute("COMMIT")
        con.execute("PRAGMA wal_checkpoint(TRUNCATE)")
        con.close()
        for suffix in ("-wal", "-shm"):
            Path(f"{tmp}{suffix}").unlink(missing_ok=True)
        tmp.rename(path)
        print(f"built {path}: {size:,} numbers in {time.perf_counter() - started:.1f} s")
    con = sqlite3.connect(path, isolation_level=None)
    con.execute(
        "UPDATE register_copies SET as_of = ? WHERE register = ?",
        (datetime.now(UTC).date().isoformat(), REGISTER),
    )
    con.execute("PRAGMA wal_checkpoint(TRUNCATE)")  # all in the file: it is copied next
    con.close()


def fresh_copy(template: Path) -> Path:
    """A copy of the bench store for one measurement: the register, none of the decisions
    earlier measurements made (they would make the store grow by some 4 KB per check)."""
    run = template.with_name(f"{template.stem}-run.sqlite3")
    for suffix in ("", "-wal", "-shm"):
        Path(f"{run}{suffix}").unlink(missing_ok=True)
    shutil.copyfile(template, run)
    return run


# -- servers (child process) ----------------------------------------------------------------


# The commands of the check route's exchange (agi/routes.py), with a fixed verdict.
_NULL_GET = (
    b"GET FULL VARIABLE ${DIALGUARD_TENANT}|${DIALGUARD_CAMPAIGN}|${DIALGUARD_PURPOSE}"
    b"|${DIALGUARD_CALLEE_TZ}|${DIALGUARD_CALLEE_REGION}|${DIALGUARD_AUTOMATED}"
    b"|${DIALGUARD_LINE_TYPE}\n"
)
_NULL_SET = (
    b'SET VARIABLE DIALGUARD_VERDICT "ALLOW"\n'
    b'SET VARIABLE DIALGUARD_RULE ""\n'
    b'SET VARIABLE DIALGUARD_REASON "allowed"\n'
)


async def _null_session(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    """The issue's do-nothing server "measured the same way": the check route's exchange (the
    environment, one GET FULL VARIABLE answered, three SET VARIABLEs read), no decision."""
    try:
        await reader.readuntil(b"\n\n")
        writer.write(_NULL_GET)
        await reader.readline()
        writer.write(_NULL_SET)
        writer.write_eof()
        for _ in range(3):
            await reader.readline()
    except (asyncio.IncompleteReadError, ConnectionError):
        pass
    finally:
        writer.close()


async def _null_one_session(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    """The least a FastAGI server can do: the environment, one SET VARIABLE, close."""
    try:
        await reader.readuntil(b"\n\n")
        writer.write(b'SET VARIABLE DIALGUARD_VERDICT "ALLOW"\n')
        await reader.readline()
    except (asyncio.IncompleteReadError, ConnectionError):
        pass
    finally:
        writer.close()


async def _serve(
    kind: str, db: str, log_stream: TextIO, ready: Connection, workers: int, event_loop: str
) -> None:
    stop = asyncio.Event()
    asyncio.get_running_loop().add_signal_handler(signal.SIGTERM, stop.set)
    if kind in ("null", "null-one"):
        session = _null_session if kind == "null" else _null_one_session
        server = await asyncio.start_server(session, "127.0.0.1", 0)
        ready.send(server.sockets[0].getsockname()[1])
        await stop.wait()
        server.close()
        return
    from agi import start_agi_server
    from dialguard.logs import configure_logging
    from dialguard.store import open_store

    configure_logging("info", log_stream)
    if kind == "agi-noop":
        noop = await start_agi_server("127.0.0.1", 0, _InstantAllow())
        ready.send(noop.port)
        await stop.wait()
        await noop.shutdown()
        return
    store = await open_store(db)
    policy = await bench_tenant(store)
    await store.close()
    # What `dialguard serve --workers N` runs (without AMI): this process is the primary; with
    # N > 1 the daemon's worker pool starts the others, sharing the port (SO_REUSEPORT).
    from dialguard.daemon import start_daemon
    from dialguard.settings import Settings

    settings = Settings(
        Path(db), "127.0.0.1", 0, policy=policy, agi_workers=workers, event_loop=event_loop
    )
    daemon = await start_daemon(settings, ami=None)
    ready.send(daemon.agi.port)
    await stop.wait()
    await daemon.stop()


async def bench_tenant(store: Any) -> Any:
    """Set up the bench tenant (region AU) as owning the recorded caller ID, so calls run
    every rule and mostly allow; return the policy that knows the tenant."""
    from rules.policy import Policy, TenantSettings

    await store.write(
        "INSERT OR IGNORE INTO caller_ids (number, tenant, created_at) VALUES (?, ?, 0)",
        (CALLER_ID, TENANT),
    )
    return Policy(tenants={TENANT: TenantSettings(TENANT, "AU")})


class _InstantAllow:
    """A GuardService that allows at once: isolates the cost of the agi package itself."""

    def __init__(self) -> None:
        from rules.policy import Policy

        self.policy = Policy()

    async def check(self, attempt: Any) -> Any:
        from rules.models import Decision, Verdict

        return Decision(Verdict.ALLOW, None, "allowed", "", None, None, None, None, ())

    async def record(self, attempt: Any, decision: Any, latency_ms: float, source: str) -> None:
        return None

    async def opt_out(self, entry: Any) -> None:
        return None

    def normalize(self, raw: str, tenant: str) -> Any:
        from rules.numbers import parse_number

        return parse_number(raw, None)


def server_main(
    kind: str, db: str, log_file: str, ready: Connection, workers: int, event_loop: str
) -> None:
    with contextlib.suppress(KeyboardInterrupt), Path(log_file).open("a") as stream:
        # Worker processes inherit stderr: send it where this process logs.
        os.dup2(stream.fileno(), 2)
        run(_serve(kind, db, stream, ready, workers, event_loop), event_loop)


# -- client ---------------------------------------------------------------------------------


def load_env_template() -> list[str]:
    lines: list[str] = []
    for raw in TRANSCRIPT_FILE.read_text().splitlines():
        entry = json.loads(raw)
        if entry["dir"] == "in":
            lines.append(entry["line"])
            if entry["line"] == "\n":
                return lines
    raise SystemExit(f"no environment block in {TRANSCRIPT_FILE}")


@dataclass
class Results:
    latencies: list[float] = field(default_factory=list)
    verdicts: Counter[str] = field(default_factory=Counter)
    errors: int = 0
    elapsed: float = 0.0
    max_start_lag: float = 0.0
    client_cpu_s: float | None = None  # user + system, the client's threads together


def _cpu_s(who: int) -> float:
    usage = resource.getrusage(who)
    return usage.ru_utime + usage.ru_stime


class Client:
    def __init__(self, port: int, register_size: int, seed: int) -> None:
        self.port = port
        self.template = load_env_template()
        self.register_size = register_size
        self.counter = 0
        self.rng = random.Random(seed)

    def env_for_next(self) -> list[bytes]:
        """The recorded environment as our sample dialplan (asterisk-conf/extensions.conf)
        sends it: `AGI(agi://127.0.0.1:4573/check,${ARG1})` inside [sub-dialguard-check]."""
        self.counter += 1
        number = str(FIRST_NUMBER + self.rng.randrange(2 * self.register_size))
        replaced = {
            "agi_network_script": "check",
            "agi_request": f"agi://127.0.0.1:{self.port}/check",
            "agi_uniqueid": f"bench-{os.getpid()}.{self.counter}",
            "agi_context": "sub-dialguard-check",
            "agi_extension": "s",
            "agi_arg_1": number,
        }
        out: list[bytes] = []
        for line in self.template:
            name = line.split(": ", 1)[0]
            if name in replaced:
                line = f"{name}: {replaced[name]}\n"
            out.append(line.encode())
        return out

    def answer(self, command: str) -> bytes:
        """Asterisk's answers (res_agi.c); the channel has the variables the dialler set."""
        words = command.split(" ")
        if words[:3] == ["GET", "FULL", "VARIABLE"] and len(words) == 4:
            text = _SUBSTITUTION.sub(lambda m: CHANNEL_VARIABLES.get(m.group(1), ""), words[3])
            return f"200 result=1 ({text})\n".encode()
        if words[:2] == ["GET", "VARIABLE"] and len(words) == 3:
            value = CHANNEL_VARIABLES.get(words[2])
            return f"200 result=1 ({value})\n".encode() if value else b"200 result=0\n"
        if words[:2] == ["SET", "VARIABLE"]:
            return b"200 result=1\n"
        return b"510 Invalid or unknown command\n"

    async def call(self, results: Results) -> None:
        env = self.env_for_next()
        started = time.perf_counter()
        verdict, rule = None, ""
        try:
            reader, writer = await asyncio.open_connection("127.0.0.1", self.port)
            # asyncio turns Nagle off; Asterisk leaves it on (agi/session.py).
            writer.get_extra_info("socket").setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 0)
            for line in env:  # one write per line, as Asterisk's setup_env does
                writer.write(line)
            async for raw in commands_as_asterisk_reads(reader):
                command = raw.decode()
                if command.startswith("SET VARIABLE DIALGUARD_VERDICT "):
                    verdict = command.rsplit(" ", 1)[1].strip('"')
                elif command.startswith("SET VARIABLE DIALGUARD_RULE "):
                    rule = command.split(" ", 3)[3].strip('"')
                writer.write(self.answer(command))
            writer.close()
        except OSError:
            results.errors += 1
            return
        results.latencies.append(time.perf_counter() - started)
        if verdict is None:
            results.errors += 1
        else:
            results.verdicts[rule if rule.startswith("guard.") else verdict] += 1


async def closed_loop(client: Client, concurrency: int, seconds: float) -> Results:
    results = Results()
    end = time.perf_counter() + seconds

    async def worker() -> None:
        while time.perf_counter() < end:
            await client.call(results)

    started = time.perf_counter()
    await asyncio.gather(*(worker() for _ in range(concurrency)))
    results.elapsed = time.perf_counter() - started
    return results


async def open_loop(client: Client, rate: float, seconds: float) -> Results:
    results = Results()
    total = int(rate * seconds)
    tasks: list[asyncio.Task[None]] = []
    started = time.perf_counter()
    for i in range(total):
        due = started + i / rate
        delay = due - time.perf_counter()
        if delay > 0:
            await asyncio.sleep(delay)
        results.max_start_lag = max(results.max_start_lag, time.perf_counter() - due)
        tasks.append(asyncio.create_task(client.call(results)))
    await asyncio.gather(*tasks)
    results.elapsed = time.perf_counter() - started
    return results


class Loads(Protocol):
    def closed(self, concurrency: int, seconds: float) -> Results: ...
    def open(self, rate: float, seconds: float) -> Results: ...


@dataclass
class PythonClient:
    """The client above, on an asyncio or uvloop event loop of its own."""

    client: Client
    loop: str

    def closed(self, concurrency: int, seconds: float) -> Results:
        return self._measured(closed_loop(self.client, concurrency, seconds))

    def open(self, rate: float, seconds: float) -> Results:
        return self._measured(open_loop(self.client, rate, seconds))

    def _measured(self, load: Coroutine[Any, Any, Results]) -> Results:
        before = _cpu_s(resource.RUSAGE_SELF)  # this process runs only the client meanwhile
        results = run(load, self.loop)
        results.client_cpu_s = _cpu_s(resource.RUSAGE_SELF) - before
        return results


C_CLIENT_SOURCE = Path(__file__).with_name("agi_client.c")


class CClient:
    """bench/agi_client.c: the same calls from C threads with blocking I/O, as Asterisk
    makes them; built with the system's C compiler on first use."""

    def __init__(self, port: int, register_size: int, seed: int) -> None:
        self.port = port
        self.span = 2 * register_size
        self.seed = seed
        self.binary = build_c_client()
        template = Client(port, register_size, seed).env_for_next()
        markers = {"agi_arg_1": "@NUMBER@", "agi_uniqueid": "@UNIQUEID@"}
        lines = []
        for raw in template:
            name = raw.decode().split(": ", 1)[0]
            lines.append(f"{name}: {markers[name]}\n" if name in markers else raw.decode())
        self.template = "".join(lines)
        self.runs = 0

    def closed(self, concurrency: int, seconds: float) -> Results:
        return self._run("closed", concurrency, seconds)

    def open(self, rate: float, seconds: float) -> Results:
        return self._run("open", round(rate), seconds)

    def _run(self, mode: str, n: int, seconds: float) -> Results:
        self.runs += 1  # each run dials numbers of its own
        with tempfile.NamedTemporaryFile("w", prefix="agi-env-", suffix=".txt") as template:
            template.write(self.template)
            template.flush()
            before = _cpu_s(resource.RUSAGE_CHILDREN)  # counts the client once it has ended
            out = self._output(mode, n, seconds, template.name)
            client_cpu_s = _cpu_s(resource.RUSAGE_CHILDREN) - before
        results = Results(client_cpu_s=client_cpu_s)
        for line in out.splitlines():
            key, _, value = line.partition(" ")
            if key == "call":
                latency, verdict, rule, _started = value.split(" ")
                results.latencies.append(float(latency))
                if verdict == "-":
                    results.errors += 1
                else:
                    results.verdicts[rule if rule.startswith("guard.") else verdict] += 1
            elif key == "elapsed":
                results.elapsed = float(value)
            elif key == "errors":
                results.errors += int(value)
            elif key == "max_start_lag":
                results.max_start_lag = float(value)
        return results

    def _output(self, mode: str, n: int, seconds: float, template: str) -> str:
        argv = [
            str(self.binary),
            str(self.port),
            template,
            mode,
            str(n),
            str(seconds),
            str(self.seed * 1000 + self.runs),
            str(FIRST_NUMBER),
            str(self.span),
            CHANNEL_VARIABLES["DIALGUARD_TENANT"],
            CHANNEL_VARIABLES["DIALGUARD_CAMPAIGN"],
        ]
        done = subprocess.run(argv, capture_output=True, text=True)
        if done.returncode != 0:
            raise SystemExit(f"agi_client failed ({done.returncode}): {done.stderr.strip()}")
        return done.stdout


def build_c_client() -> Path:
    """Compile agi_client.c once per version of its source (cc -O2 -pthread)."""
    source = C_CLIENT_SOURCE.read_bytes()
    digest = hashlib.sha256(source).hexdigest()[:12]
    binary = Path(tempfile.gettempdir()) / f"dialguard-agi-client-{digest}"
    if not binary.exists():
        compiler = os.environ.get("CC") or shutil.which("cc") or shutil.which("gcc")
        if compiler is None:
            raise SystemExit("--client c needs a C compiler (cc or $CC): none was found")
        building = binary.with_suffix(".building")
        subprocess.run(
            [compiler, "-O2", "-pthread", "-Wall", "-o", str(building), str(C_CLIENT_SOURCE)],
            check=True,
        )
        building.rename(binary)
    return binary


# -- orchestration --------------------------------------------------------------------------


def start_server(
    kind: str, db: Path, log_file: str, workers: int = 1, event_loop: str = "auto"
) -> tuple[mp.Process, int]:
    ctx = mp.get_context("spawn")
    parent, child = ctx.Pipe()
    proc = ctx.Process(
        target=server_main,
        args=(kind, str(db), log_file, child, workers, event_loop),
        daemon=True,
    )
    proc.start()
    if not parent.poll(60):
        proc.kill()
        raise SystemExit(f"the {kind} server did not start")
    return proc, int(parent.recv())


def stop_server(proc: mp.Process) -> None:
    proc.terminate()
    proc.join(10)
    if proc.is_alive():
        proc.kill()


def server_cpu_s(pid: int) -> float | None:
    """CPU seconds (user + system) used so far by the server process and its workers (Linux
    /proc); a figure less disturbed than throughput when other work shares the machine."""
    try:
        pids = [pid, *map(int, Path(f"/proc/{pid}/task/{pid}/children").read_text().split())]
        ticks = 0
        for one in pids:
            fields = Path(f"/proc/{one}/stat").read_text().rsplit(")", 1)[1].split()
            ticks += int(fields[11]) + int(fields[12])
    except (OSError, ValueError, IndexError):
        return None
    return ticks / os.sysconf("SC_CLK_TCK")


def worker_pids(pid: int) -> set[int]:
    """The server's worker processes (`serve --workers N`) now: its child processes."""
    try:
        return set(map(int, Path(f"/proc/{pid}/task/{pid}/children").read_text().split()))
    except OSError:
        return set()


def measured(pid: int, load: Callable[[], Results]) -> tuple[Results, float | None]:
    """Run the load; also return the server's CPU milliseconds per call.

    The client's own garbage collector is off while it measures (as `timeit` does): its
    pauses would be counted as the server's latency."""
    before = server_cpu_s(pid)
    gc.collect()
    gc.disable()
    try:
        res = load()
    finally:
        gc.enable()
    after = server_cpu_s(pid)
    if before is None or after is None or not res.latencies:
        return res, None
    return res, (after - before) * 1000 / len(res.latencies)


def row(server: str, load: str, res: Results, cpu_ms: float | None = None) -> dict[str, str]:
    lat = sorted(res.latencies) or [0.0]
    q = statistics.quantiles(lat, n=100, method="inclusive") if len(lat) > 1 else [lat[0]] * 99
    return {
        "server": server,
        "load": load,
        "calls": str(len(res.latencies)),
        "checks/s": f"{len(res.latencies) / res.elapsed:.0f}" if res.elapsed else "-",
        "p50 ms": f"{q[49] * 1000:.2f}",
        "p99 ms": f"{q[98] * 1000:.2f}",
        "max ms": f"{lat[-1] * 1000:.2f}",
        "server cpu ms/call": f"{cpu_ms:.2f}" if cpu_ms is not None else "-",
        "client cpu ms/call": (
            f"{res.client_cpu_s * 1000 / len(res.latencies):.2f}"
            if res.client_cpu_s is not None and res.latencies
            else "-"
        ),
        "errors": str(res.errors),
        "verdicts": " ".join(f"{k}={v}" for k, v in sorted(res.verdicts.items())),
    }


def print_table(rows: list[dict[str, str]]) -> None:
    headers = list(rows[0])
    widths = {h: max(len(h), *(len(r[h]) for r in rows)) for h in headers}
    print("  ".join(h.ljust(widths[h]) for h in headers))
    print("  ".join("-" * widths[h] for h in headers))
    for r in rows:
        print("  ".join(r[h].ljust(widths[h]) for h in headers))


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument(
        "--db",
        type=Path,
        default=Path("/tmp/dialguard-bench.sqlite3"),
        help="bench store; built with the register copy only if missing",
    )
    parser.add_argument(
        "--register-size",
        type=int,
        default=10_000_000,
        help="numbers in the au-dncr copy when building (default 10M)",
    )
    parser.add_argument(
        "--servers", default="real,null", help="comma list of real,null,null-one,agi-noop"
    )
    parser.add_argument(
        "--workers",
        default="1",
        help="comma list of worker counts for the real server, e.g. 1,2 (serve --workers N)",
    )
    parser.add_argument("--concurrency", type=int, default=16, help="closed-loop clients")
    parser.add_argument(
        "--closed-seconds", type=float, default=5.0, help="closed-loop duration (0 skips it)"
    )
    parser.add_argument("--rate", type=float, default=500.0, help="open-loop calls per second")
    parser.add_argument(
        "--seconds", type=float, default=10.0, help="open-loop duration (0 skips it)"
    )
    parser.add_argument(
        "--seed",
        type=int,
        default=None,
        help="seed of the dialled numbers (default: a new one each run, printed, so that the"
        " store's history grows as in production instead of dialling the same numbers again)",
    )
    parser.add_argument(
        "--repeat",
        type=int,
        default=1,
        help="rounds; each measures every server in turn, so that a slow spell of a shared"
        " machine hits them alike (the ratio is then a median over rounds)",
    )
    parser.add_argument(
        "--event-loop",
        default="auto",
        choices=EVENT_LOOPS,
        help="the servers' event loop, as [agi] event_loop (default auto: uvloop if installed)",
    )
    parser.add_argument(
        "--client-loop",
        default="asyncio",
        choices=[loop for loop in EVENT_LOOPS if loop != "auto"],
        help="the client's event loop. asyncio (the default, as in the figures so far) costs"
        " the client about 0.6-1.1 ms of CPU per call, which it takes from the servers on a"
        " small machine; uvloop about 0.5-0.85 ms, closer to (but still well above) what"
        " Asterisk's C spends",
    )
    parser.add_argument(
        "--client",
        default="python",
        choices=["python", "c"],
        help="the load client: python (on --client-loop) or c (bench/agi_client.c, built with"
        " the system's C compiler: blocking I/O on a thread per call, as Asterisk; no event"
        " loop of its own in the latencies, and about two thirds of the Python client's CPU"
        " per call)",
    )
    parser.add_argument(
        "--keep-history",
        action="store_true",
        help="run the real server on --db itself, keeping every decision of every run, rather"
        " than on a fresh copy per measurement",
    )
    parser.add_argument("--warmup", type=float, default=1.0, help="seconds of warm-up per server")
    parser.add_argument(
        "--log-file",
        default=os.devnull,
        help="where the real server's log lines go (rendered either way)",
    )
    args = parser.parse_args()
    # An overloaded server closes calls at their deadline while the client still writes:
    # counted as errors in the table, not printed once per write.
    logging.getLogger("asyncio").setLevel(logging.CRITICAL)

    kinds = [s.strip() for s in args.servers.split(",") if s.strip()]
    counts = [int(n) for n in args.workers.split(",") if n.strip()]
    servers: list[tuple[str, str, int]] = []  # (label, kind, workers)
    for kind in kinds:
        if kind == "real":
            servers += [(f"real x{n}" if counts != [1] else "real", kind, n) for n in counts]
        else:
            servers.append((kind, kind, 1))
    if "real" in kinds:
        ensure_store(args.db, args.register_size)
    seed = args.seed if args.seed is not None else random.SystemRandom().randrange(2**32)
    loop_name = resolve(args.event_loop)
    print(f"numbers drawn with --seed {seed}")
    print(
        f"{os.cpu_count()} CPUs shared by the client and the server processes "
        f"(load average before: {os.getloadavg()[0]:.2f}); servers on {loop_name}, client "
        + ("in C (agi_client.c)" if args.client == "c" else f"on {args.client_loop}")
    )
    rows: list[dict[str, str]] = []
    throughput: dict[str, list[float]] = {}
    for round_no in range(args.repeat):
        for index, (label, kind, workers) in enumerate(servers):
            tag = f"{label} #{round_no + 1}" if args.repeat > 1 else label
            db = args.db if args.keep_history or kind != "real" else fresh_copy(args.db)
            proc, port = start_server(kind, db, args.log_file, workers, args.event_loop)
            try:
                # Each measurement dials numbers of its own: no server meets the history
                # that an earlier one left in the store for the same numbers.
                client_seed = seed + round_no * len(servers) + index
                if args.client == "c":
                    client: Loads = CClient(port, args.register_size, client_seed)
                else:
                    client = PythonClient(
                        Client(port, args.register_size, client_seed), args.client_loop
                    )
                if args.warmup:
                    client.closed(4, args.warmup)
                workers_before = worker_pids(proc.pid)
                if args.closed_seconds:
                    closed = partial(client.closed, args.concurrency, args.closed_seconds)
                    res, cpu = measured(proc.pid, closed)
                    throughput.setdefault(label, []).append(len(res.latencies) / res.elapsed)
                    rows.append(row(tag, f"closed C={args.concurrency}", res, cpu))
                if args.seconds:
                    res, cpu = measured(proc.pid, partial(client.open, args.rate, args.seconds))
                    rows.append(row(tag, f"open {args.rate:g}/s", res, cpu))
                    if res.max_start_lag > 0.005:
                        print(
                            f"note: {tag} open loop: client started a call up to "
                            f"{res.max_start_lag * 1000:.1f} ms late"
                        )
                if len(workers_before) != workers - 1 or worker_pids(proc.pid) != workers_before:
                    # The figures are not those of N processes (a worker that cannot start
                    # dies and is restarted while the first process serves alone).
                    print(
                        f"WARNING: {tag}: {workers - 1} worker process(es) expected, "
                        f"{len(workers_before)} at the start, restarted during the run: "
                        "these figures are not valid (see --log-file)"
                    )
            finally:
                stop_server(proc)
    if rows:
        print_table(rows)
    for base in ("null", "null-one"):
        if base in throughput:
            for label, kind, _ in servers:
                if kind in ("real", "agi-noop") and label in throughput:
                    print_ratio(label, base, throughput[label], throughput[base])


def print_ratio(label: str, base: str, real: list[float], null: list[float]) -> None:
    """The closed-loop throughput of `label` over a do-nothing server's; with several rounds,
    the median and the range of the per-round ratios (each round's servers ran back to back)."""
    ratios = sorted(r / n for r, n in zip(real, null, strict=True))
    text = f"{label}/{base} closed-loop throughput: {statistics.median(ratios):.2f}"
    if len(ratios) > 1:
        text += f" (median of {len(ratios)} rounds, {ratios[0]:.2f} to {ratios[-1]:.2f})"
    print(text)


if __name__ == "__main__":
    main()
