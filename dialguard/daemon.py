"""`dialguard serve`: the FastAGI server and the AMI listener in one process.

Start-up declares the failure policy in the log, so that what the guard does when it fails is
never a surprise. SIGTERM and SIGINT stop accepting calls, let sessions in flight finish within
their deadline, close the AMI connection and the store.
"""

from __future__ import annotations

import asyncio
import contextlib
import signal
from collections.abc import Awaitable, Callable
from dataclasses import dataclass

from agi.server import AgiServer, start_agi_server
from dialguard.guard import Guard
from dialguard.logs import get_logger
from dialguard.settings import AmiSettings, Settings
from dialguard.store import Store, open_store

log = get_logger("dialguard.serve")

# How often the abuse detectors sweep all recent outcomes, besides reacting to each outcome.
SWEEP_INTERVAL_S = 60.0


@dataclass
class Daemon:
    """The running pieces, so tests can start and stop them on ephemeral ports."""

    store: Store
    guard: Guard
    agi: AgiServer
    ami: AmiRunner | None
    sweeper: asyncio.Task[None] | None

    async def stop(self) -> None:
        log.info("stopping")
        if self.sweeper is not None:
            self.sweeper.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self.sweeper
        await self.agi.shutdown()
        if self.ami is not None:
            await self.ami.stop()
        await self.store.close()
        log.info("stopped")


class AmiRunner:
    """Starts and stops the AMI listener wired to the store and the abuse detectors."""

    def __init__(self, ami: AmiSettings, guard: Guard) -> None:
        from ami_listener.listener import AmiListener
        from dialguard.enforcement import Enforcer

        self.enforcer = Enforcer(guard.store, guard.policy)
        self.listener = AmiListener(
            guard.store,
            host=ami.host,
            port=ami.port,
            username=ami.username,
            secret=ami.resolve_secret(),
            observer=self.enforcer,
            normalize=guard.normalize,
            reconnect_min_s=ami.reconnect_min_s,
            reconnect_max_s=ami.reconnect_max_s,
            ping_interval_s=ami.ping_interval_s,
        )

    async def start(self) -> None:
        await self.listener.start()

    async def stop(self) -> None:
        await self.listener.close()


async def start_daemon(settings: Settings, *, ami: AmiSettings | None) -> Daemon:
    # A lock held elsewhere must surface as an error (guard.error) inside the call's budget,
    # not as a wait that outlasts it.
    store = await open_store(
        settings.db_path, busy_timeout_ms=max(10, settings.policy.deadline_ms // 2)
    )
    guard = Guard(store, settings.policy)
    try:
        agi = await start_agi_server(settings.agi_host, settings.agi_port, guard)
    except OSError as exc:
        await store.close()
        raise DaemonError(
            f"cannot listen for FastAGI on {settings.agi_host}:{settings.agi_port}: {exc.strerror}"
        ) from None
    policy = settings.policy
    log.info(
        "serving",
        agi=f"{settings.agi_host}:{agi.port}",
        db=str(settings.db_path),
        failure_policy=policy.on_failure.value,
        deadline_ms=policy.deadline_ms,
        ami=f"{ami.host}:{ami.port}" if ami else None,
    )
    runner: AmiRunner | None = None
    sweeper: asyncio.Task[None] | None = None
    if ami is None:
        log.warning("ami_disabled", detail="no call outcomes will be recorded; configure [ami]")
    else:
        runner = AmiRunner(ami, guard)
        await runner.start()
        sweeper = asyncio.create_task(_sweep_forever(runner.enforcer.sweep))
    return Daemon(store, guard, agi, runner, sweeper)


class DaemonError(Exception):
    """The daemon cannot start; the message says why in one line."""


async def run_until_signalled(settings: Settings, *, ami: AmiSettings | None) -> None:
    daemon = await start_daemon(settings, ami=ami)
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    try:
        await stop.wait()
    finally:
        await daemon.stop()


async def _sweep_forever(sweep: Callable[..., Awaitable[object]]) -> None:
    from datetime import UTC, datetime

    while True:
        await asyncio.sleep(SWEEP_INTERVAL_S)
        try:
            await sweep(datetime.now(UTC))
        except Exception:
            log.exception("sweep_failed")
