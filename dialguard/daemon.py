"""`dialguard serve`: the FastAGI server and the AMI listener, in one process by default.

Start-up declares the failure policy in the log, so that what the guard does when it fails is
never a surprise. SIGTERM and SIGINT stop accepting calls, let sessions in flight finish within
their deadline, close the AMI connection and the store.

Workers (`--workers N`, `[agi] workers`): one Python process decides about 700-900 calls a
second on this project's 2-core machine, bounded by one core (bench/agi_bench.py). With N > 1
this process (the primary) and N - 1 worker processes all listen on the FastAGI port with
SO_REUSEPORT, and the kernel spreads the connections between them. Each worker has its own
store connections; only the primary runs the AMI listener and the detector sweeper. A worker
that dies is logged and started again; SIGTERM/SIGINT on the primary stops the workers the
same graceful way.
The default is 1 worker: `dialguard serve` then stays one process (architecture.md), and
on a 2-core machine that also runs Asterisk a second Python process competes with Asterisk
for the CPU; at a few hundred calls a second (bench/agi_bench.py --workers 1,2) 2 workers
give the guard more headroom. Workers are started with `python -c`, not multiprocessing, so
that no entry module is re-imported in the child, and they stop by themselves if the primary
disappears.

One guarantee is per process: an allowed decision not yet committed (the write-behind lag,
normally about 20 ms) is counted by the next check on the same number only in the process
that made it (`store/hotpath.py`). With workers, two calls to one number within that lag may
land in different processes; every committed decision counts everywhere. While another
process holds the database's write lock (an import), nothing commits: each worker counts its
own allowed calls, and fails closed once its oldest one has waited `max_write_lag_s` (2 s),
so a cap can be passed by what the other workers allowed in that time. A worker killed
before its writer commits loses those decisions, and the caps with them.
"""

from __future__ import annotations

import asyncio
import contextlib
import gc
import os
import pickle
import signal
import sys
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

from agi.server import AgiServer, start_agi_server
from dialguard import systemd
from dialguard.eventloop import run, running_loop_name
from dialguard.guard import Guard
from dialguard.logs import bind_worker, get_logger
from dialguard.settings import AmiSettings, Settings
from dialguard.store import Store, open_store
from dialguard.store.retention import PrunePostponed, prune_history
from dialguard.store.spool import PendingOptOuts

# The actor of the daemon's own changes in the events table (IVR opt-outs, suspensions).
SERVE_ACTOR = "serve"
log = get_logger("dialguard.serve")

# How long READY=1 and STOPPING=1 may wait for room in systemd's queue (sent once each).
NOTIFY_WAIT_S = 1.0
# How often the abuse detectors sweep all recent outcomes, besides reacting to each outcome.
SWEEP_INTERVAL_S = 60.0
MAX_SWEEP_GAP_S = 600.0
# How often call history older than `[database] keep_history_days` is deleted (first at start).
PRUNE_INTERVAL_S = 3600.0


@dataclass
class Daemon:
    """The running pieces, so tests can start and stop them on ephemeral ports."""

    store: Store
    guard: Guard
    agi: AgiServer
    ami: AmiRunner | None
    sweeper: asyncio.Task[None] | None
    workers: WorkerPool | None = None
    pruner: asyncio.Task[None] | None = None

    async def stop(self) -> None:
        log.info("stopping")
        for task in (self.sweeper, self.pruner):
            if task is not None:
                task.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await task
        if self.workers is not None:
            await asyncio.gather(self.workers.stop(), self.agi.shutdown())
        else:
            await self.agi.shutdown()
        if self.ami is not None:
            await self.ami.stop()
        if self.guard.pending is not None:  # after the writes it may keep at their stop
            await self.guard.pending.close()
        await self.store.close()
        log.info("stopped")


class AmiRunner:
    """Starts and stops the AMI listener wired to the store and the abuse detectors."""

    def __init__(self, ami: AmiSettings, guard: Guard) -> None:
        from ami_listener.listener import AmiListener
        from dialguard.enforcement import Enforcer
        from dialguard.store.patient import PatientSink

        self.enforcer = Enforcer(guard.store, guard.policy)
        self.listener = AmiListener(
            # An opt-out or outcome waits out a lock; an opt-out given up is kept (spooled).
            PatientSink(guard.store, pending=guard.pending),
            host=ami.host,
            port=ami.port,
            username=ami.username,
            secret=ami.resolve_secret(),
            observer=self.enforcer,
            normalize=guard.normalize,
            tenants_reached=guard.tenants_reached,
            reconnect_min_s=ami.reconnect_min_s,
            reconnect_max_s=ami.reconnect_max_s,
            ping_interval_s=ami.ping_interval_s,
            asterisk_tz=ZoneInfo(ami.cdr_timezone) if ami.cdr_timezone else None,
        )

    async def start(self) -> None:
        await self.listener.start()

    async def stop(self) -> None:
        await self.listener.close()


async def open_serving_store(settings: Settings) -> Store:
    """The store as `serve`'s processes open it. A lock held elsewhere must surface as an
    error (guard.error) inside the call's budget, not as a wait that outlasts it."""
    return await open_store(
        settings.db_path,
        busy_timeout_ms=max(10, settings.policy.deadline_ms // 2),
        actor=SERVE_ACTOR,
    )


async def start_daemon(settings: Settings, *, ami: AmiSettings | None) -> Daemon:
    store = await open_serving_store(settings)
    problem = await store.cannot_write()
    if problem is not None:
        # Served, every check would block once its record had waited 2 s, and the first
        # calls would be allowed with no audit record.
        await store.close()
        raise DaemonError(
            f"the database {settings.db_path} cannot be written ({problem}): serve records"
            " every decision, so it must run as a user who can write the file and its folder"
        )
    # Before the first check: the opt-outs a previous run kept for want of a database.
    pending = PendingOptOuts(store)
    try:
        await pending.replay()
    except BaseException as exc:
        # Not served (every call blocked, as when serve is down), and said in one line.
        await pending.close()
        await store.close()
        if not isinstance(exc, Exception):
            raise
        raise DaemonError(
            f"the opt-outs kept in {pending.spool.path} cannot be written: {exc!r}"[:500]
        ) from None
    # The spool's entries are held by the checks until written, and this process writes
    # them, whichever process kept them.
    pending.watch(land=True)
    guard = Guard(store, settings.policy, pending)
    workers = max(1, settings.agi_workers)
    if workers > 1:
        # Every line (the decision line too) says which process wrote it: 0 is the primary.
        bind_worker(0)
    try:
        agi = await start_agi_server(
            settings.agi_host, settings.agi_port, guard, reuse_port=workers > 1
        )
    except OSError as exc:
        await pending.close()
        await store.close()
        raise DaemonError(
            f"cannot listen for FastAGI on {settings.agi_host}:{settings.agi_port}: {exc.strerror}"
        ) from None
    pool: WorkerPool | None = None
    if workers > 1:
        pool = WorkerPool(settings, agi.port, workers - 1)
        await pool.start()
    policy = settings.policy
    log.info(
        "serving",
        agi=f"{settings.agi_host}:{agi.port}",
        db=str(settings.db_path),
        failure_policy=policy.on_failure.value,
        deadline_ms=policy.deadline_ms,
        ami=f"{ami.host}:{ami.port}" if ami else None,
        workers=workers,
        event_loop=running_loop_name(),
        keep_history_days=settings.keep_history_days or "for ever",
    )
    runner: AmiRunner | None = None
    sweeper: asyncio.Task[None] | None = None
    if ami is None:
        log.warning("ami_disabled", detail="no call outcomes will be recorded; configure [ami]")
    else:
        try:
            runner = AmiRunner(ami, guard)
            await runner.start()
        except BaseException:
            await Daemon(store, guard, agi, None, None, pool).stop()
            raise
        sweeper = asyncio.create_task(_sweep_forever(runner.enforcer.sweep))
    pruner = None
    if settings.keep_history_days:
        pruner = asyncio.create_task(_prune_forever(store, settings.keep_history_days))
    freeze_startup_objects()
    return Daemon(store, guard, agi, runner, sweeper, pool, pruner)


def freeze_startup_objects() -> None:
    """Move everything built at start-up (phonenumbers and holiday tables, rule packs,
    modules) out of the garbage collector's sight. Checks allocate briefly and often, so
    collections run often, and each older-generation one used to walk these long-lived
    objects too: measured under load, the longest pause fell from 22 ms to 2.5 ms, which
    is what a check waiting behind it sees."""
    gc.collect()
    gc.freeze()


class DaemonError(Exception):
    """The daemon cannot start; the message says why in one line."""


async def run_until_signalled(settings: Settings, *, ami: AmiSettings | None) -> None:
    # Handlers first: a SIGTERM that arrives while start-up is under way (the port may already
    # be open) must stop dialguard gracefully, not kill it with the default action.
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    daemon = await start_daemon(settings, ami=ami)
    # Under systemd (Type=notify): serving now, and alive for as long as this loop turns.
    ready = ("READY=1", f"STATUS=serving FastAGI on {settings.agi_host}:{daemon.agi.port}")
    sent = systemd.notify(*ready, wait_s=NOTIFY_WAIT_S)
    interval = systemd.watchdog_interval_s()
    unsent = ready if systemd.managed() and not sent else ()
    watchdog = (
        asyncio.create_task(systemd.keep_alive(interval, unsent)) if interval or unsent else None
    )
    try:
        await stop.wait()
    finally:
        # Before STOPPING=1: a READY=1 still waiting for room must not follow it (systemd
        # would start Asterisk against a guard shutting down), and systemd stops watching.
        if watchdog is not None:
            watchdog.cancel()
        systemd.notify("STOPPING=1", wait_s=NOTIFY_WAIT_S)
        await daemon.stop()


def sweep_wait(took_s: float, cost_share: float) -> float:
    """Seconds until the next sweep, after one that took `took_s`. As for a tenant's
    detectors (enforcement.COST_SHARE): a sweep that takes seconds waits `cost_share` times
    as long before the next, so that the checks keep the CPU; but never more than ten
    minutes, since the sweep is what catches what the per-call runs skipped."""
    return min(max(SWEEP_INTERVAL_S, cost_share * took_s), MAX_SWEEP_GAP_S)


async def _sweep_forever(sweep: Callable[..., Awaitable[object]]) -> None:
    # Here, as AmiRunner does: worker processes, which run no detectors, never import them.
    from dialguard.enforcement import COST_SHARE

    took = 0.0
    while True:
        await asyncio.sleep(sweep_wait(took, COST_SHARE))
        started = time.monotonic()
        try:
            await sweep(datetime.now(UTC))
        except Exception:
            log.exception("sweep_failed")
            took = 0.0  # a failure (a locked store, say) is no measure of its cost
        else:
            took = time.monotonic() - started


async def _prune_forever(store: Store, keep_days: int) -> None:
    """Delete call history older than `keep_days`, now and then every PRUNE_INTERVAL_S."""
    while True:
        before = datetime.now(UTC) - timedelta(days=keep_days)
        try:
            pruned = await prune_history(store, before)
        except PrunePostponed as exc:
            log.warning("history_prune_postponed", reason=str(exc), retry_in_s=PRUNE_INTERVAL_S)
        except Exception:
            log.exception("history_prune_failed")
        else:
            if pruned.decisions or pruned.outcomes:
                log.info(
                    "history_pruned",
                    before=before.isoformat(timespec="seconds"),
                    decisions=pruned.decisions,
                    outcomes=pruned.outcomes,
                )
        await asyncio.sleep(PRUNE_INTERVAL_S)


# -- worker processes -----------------------------------------------------------------------

WORKER_STOP_TIMEOUT_S = 10.0  # sessions in flight (each within its deadline), then the store
WORKER_START_TIMEOUT_S = 30.0
WORKER_QUICK_DEATH_S = 5.0  # a worker dying sooner than this is restarted after a pause
# A worker says it is alive every WORKER_HEARTBEAT_S from its event loop; one silent for
# WORKER_STALL_S, and again for WORKER_HEARTBEAT_S (`_stalled`), has a stalled loop (each
# call it is handed waits out the dialplan's 3 s bound, then is rejected) and is killed,
# then started again. The primary's own loop is watched by systemd (WatchdogSec,
# dialguard/systemd.py).
WORKER_HEARTBEAT_S = 1.0
WORKER_STALL_S = 5.0
PARENT_CHECK_S = 1.0


# A worker imports the dialguard this process runs: a process that found it through its
# own sys.path (a benchmark, an embedding), not an install, gave workers that died at their
# first import, over and over, while the first process served alone. The folder is added
# only when missing (an install's site-packages is there already), and not through
# PYTHONPATH, which would put it before the standard library; a worker that imports
# another dialguard all the same refuses to start (logged as it dies).
_WORKER_START = (
    f"import os, sys; here = {str(Path(__file__).resolve().parents[1])!r}; "
    # Compared as real paths: a venv reached through a symlink (/opt/dialguard) lists its
    # site-packages by the link's name.
    "here in map(os.path.realpath, sys.path) or sys.path.insert(0, here); "
    "import dialguard; "
    "os.path.realpath(dialguard.__file__).startswith(here + os.sep) or sys.exit("
    "f'dialguard worker: imported {dialguard.__file__}, not the one in {here}'); "
    "from dialguard.daemon import worker_main; worker_main()"
)


class WorkerPool:
    """The FastAGI worker processes beside the primary: started, watched, restarted, stopped."""

    def __init__(self, settings: Settings, port: int, count: int) -> None:
        self._payload = pickle.dumps(settings)
        self._port = port
        self._count = count
        self._procs: dict[int, asyncio.subprocess.Process] = {}
        self._watchers: set[asyncio.Task[None]] = set()
        self._stopping = False

    @property
    def pids(self) -> list[int]:
        return [proc.pid for proc in self._procs.values()]

    async def start(self) -> None:
        for index in range(1, self._count + 1):
            await self._spawn(index)

    async def _spawn(self, index: int) -> None:
        proc = await asyncio.create_subprocess_exec(
            sys.executable,
            "-P",  # no current folder on the path: a service's is not its to trust
            "-c",
            _WORKER_START,
            str(self._port),
            str(index),
            str(os.getpid()),
            stdin=asyncio.subprocess.PIPE,
            stdout=asyncio.subprocess.PIPE,
        )
        assert proc.stdin is not None and proc.stdout is not None
        proc.stdin.write(self._payload)
        with contextlib.suppress(ConnectionError):
            await proc.stdin.drain()
        proc.stdin.close()
        self._procs[index] = proc
        # The worker says `ready` once it listens, so start-up returns with every worker
        # serving; one that dies first is restarted by its watcher.
        ready = True
        try:
            await asyncio.wait_for(proc.stdout.readline(), WORKER_START_TIMEOUT_S)
        except TimeoutError:
            ready = False
            log.warning(
                "worker_start_slow", worker=index, pid=proc.pid, waited_s=WORKER_START_TIMEOUT_S
            )
        task = asyncio.create_task(self._watch(index, proc, time.monotonic(), ready))
        self._watchers.add(task)
        task.add_done_callback(self._watchers.discard)

    async def _watch(
        self, index: int, proc: asyncio.subprocess.Process, started: float, ready: bool
    ) -> None:
        assert proc.stdout is not None
        if not ready:  # heartbeats start once it serves: a slow start is waited for, not killed
            ready = bool(await proc.stdout.readline())  # b"": it died first
        if ready and await _stalled(proc) and proc.returncode is None and not self._stopping:
            silent = WORKER_STALL_S + WORKER_HEARTBEAT_S  # with the second look
            log.error("worker_stalled", worker=index, pid=proc.pid, silent_s=silent)
            with contextlib.suppress(ProcessLookupError):
                proc.kill()
        code = await proc.wait()
        if self._stopping:
            return
        lived = time.monotonic() - started
        log.error("worker_died", worker=index, pid=proc.pid, exit_code=code, lived_s=round(lived))
        if lived < WORKER_QUICK_DEATH_S:
            await asyncio.sleep(1.0)  # a worker that cannot start must not spin
        if not self._stopping:
            await self._spawn(index)

    async def stop(self) -> None:
        self._stopping = True
        procs = list(self._procs.values())
        for proc in procs:
            if proc.returncode is None:
                with contextlib.suppress(ProcessLookupError):
                    proc.send_signal(signal.SIGTERM)
        try:
            async with asyncio.timeout(WORKER_STOP_TIMEOUT_S):
                codes = await asyncio.gather(*(proc.wait() for proc in procs))
        except TimeoutError:
            for proc in procs:
                if proc.returncode is None:
                    log.error("worker_killed", pid=proc.pid, after_s=WORKER_STOP_TIMEOUT_S)
                    with contextlib.suppress(ProcessLookupError):
                        proc.kill()
            codes = await asyncio.gather(*(proc.wait() for proc in procs))
        for proc, code in zip(procs, codes, strict=True):
            if code != 0:
                log.warning("worker_exit", pid=proc.pid, exit_code=code)
        for task in list(self._watchers):
            task.cancel()


async def _stalled(proc: asyncio.subprocess.Process) -> bool:
    """Read the worker's heartbeats until it ends (False) or falls silent (True).

    Silent means silent on a second look: when this process's own loop was stalled for
    longer than WORKER_STALL_S, the timeout and the heartbeats queued meanwhile come due
    together and the timeout wins, which killed every healthy worker."""
    assert proc.stdout is not None
    while True:
        try:
            line = await asyncio.wait_for(proc.stdout.readline(), WORKER_STALL_S)
        except TimeoutError:
            try:
                line = await asyncio.wait_for(proc.stdout.readline(), WORKER_HEARTBEAT_S)
            except TimeoutError:
                return True
        if not line:  # end of file: the worker has exited (or is exiting)
            return False


def worker_main() -> None:
    """Entry point of a worker process: argv = port, index, primary pid; settings on stdin."""
    from dialguard.logs import configure_logging

    port, index, primary = (int(arg) for arg in sys.argv[1:4])
    settings: Settings = pickle.loads(sys.stdin.buffer.read())
    configure_logging(settings.log_level)
    bind_worker(index)
    with contextlib.suppress(KeyboardInterrupt):
        run(_serve_worker(settings, port, index, primary), settings.event_loop)


async def _serve_worker(settings: Settings, port: int, index: int, primary: int) -> None:
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    store = await open_serving_store(settings)
    # Its IVR opt-outs given up are kept in the spool too, which the first process writes;
    # every process holds the spool's entries in its checks until then.
    pending = PendingOptOuts(store)
    pending.watch(land=False)
    try:
        agi = await start_agi_server(
            settings.agi_host, port, Guard(store, settings.policy, pending), reuse_port=True
        )
    except OSError as exc:
        await pending.close()
        await store.close()
        log.error("worker_cannot_listen", worker=index, port=port, error=exc.strerror)
        raise SystemExit(1) from None
    freeze_startup_objects()
    log.info(
        "worker_serving",
        worker=index,
        pid=os.getpid(),
        agi=f"{settings.agi_host}:{port}",
        event_loop=running_loop_name(),
    )
    print("ready", flush=True)  # to the primary (stdout is its pipe; log lines go to stderr)
    orphan = asyncio.create_task(_stop_when_orphaned(primary, stop))
    heartbeat = asyncio.create_task(_heartbeat())
    try:
        await stop.wait()
    finally:
        orphan.cancel()
        try:
            await agi.shutdown()
            await pending.close()
            await store.close()
        finally:
            # Only now: a stop that waits out a locked database (seconds) is not a stall,
            # and a worker killed for one would lose the decisions it has not committed.
            heartbeat.cancel()
        log.info("worker_stopped", worker=index, pid=os.getpid())


async def _heartbeat() -> None:
    """Tell the primary this worker's loop turns (WorkerPool._watch)."""
    while True:
        await asyncio.sleep(WORKER_HEARTBEAT_S)
        try:
            print("alive", flush=True)
        except (BrokenPipeError, ValueError):  # the primary is gone: _stop_when_orphaned
            return


async def _stop_when_orphaned(primary: int, stop: asyncio.Event) -> None:
    # If the primary is killed outright, its workers must not go on holding the port. Nothing
    # signals a parent's death, so poll: the worker is re-parented when it happens.
    while os.getppid() == primary:  # noqa: ASYNC110
        await asyncio.sleep(PARENT_CHECK_S)
    log.error("worker_orphaned", primary=primary)
    stop.set()
