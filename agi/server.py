"""The FastAGI server: an `asyncio.Protocol` per connection, every session bounded.

Written in-house rather than with panoramisk's `fast_agi.Application`, which is unsafe for an
inline check (shared/docs/asterisk-protocols.md sections 0 and 3.2): a peer closing before the
end of the environment makes its handler spin and block the whole event loop; an unsolicited
`HANGUP` line or a multi-line `520` reply shifts every later reply by one; a non-UTF-8 caller
name raises before its error handling; and nothing bounds a session in time. Asterisk itself
never times out a FastAGI read, so the deadline here is the only one the call has.

A Protocol rather than asyncio streams, for the CPU each call costs: streams add a
StreamReaderProtocol, a future and a task wake-up per line read, `drain()` and a timeout
context per phase. Here the bytes are handled as they arrive (`data_received`) and a session
task wakes once per reply it waits for.

Each connection: gather the environment up to its blank line (end of file, oversize, or a
header still incomplete at the deadline closes that connection only, logged), then run the
route as one task that sets the verdict variables; the connection is closed when the task
ends, and by the deadline at the latest (one timer per connection). Problems are logged one
line per connection with structlog.
"""

from __future__ import annotations

import asyncio
import dataclasses
from collections.abc import Awaitable
from typing import cast

import structlog

from agi.protocol import (
    ENV_TERMINATOR,
    AgiProtocolError,
    AgiRequest,
    read_request,
)
from agi.routes import RouteContext, dispatch
from agi.service import GuardService
from agi.session import AgiSession, Budget
from rules.models import Verdict
from rules.policy import Policy

log = structlog.get_logger("agi")

# Connections the kernel holds until the loop accepts them. asyncio's default, 100, filled up
# under a burst of connections: the kernel dropped SYNs, and a retransmitted SYN took a
# second, a second drop past Asterisk's connect timeout (AGISTATUS=FAILURE). The kernel caps
# it at net.core.somaxconn.
LISTEN_BACKLOG = 4096

DEFAULT_HOST = "127.0.0.1"
DEFAULT_PORT = 4573
HEADER_LIMIT = 64 * 1024  # a real environment is under 1 KiB
BACKGROUND_TIMEOUT_S = 2.0  # bound on recording a failure decision after the call has moved on


class AgiServer:
    """A running FastAGI server. `close()`/`wait_closed()` as `asyncio.Server`; `shutdown()`
    also lets in-flight sessions and background records finish."""

    def __init__(
        self,
        service: GuardService,
        *,
        deadline_ms: float | None = None,
        on_failure: Verdict | None = None,
        header_limit: int = HEADER_LIMIT,
    ) -> None:
        self.service = service
        self.deadline_ms = deadline_ms
        self.on_failure = on_failure
        self.header_limit = header_limit
        self._server: asyncio.Server | None = None
        self._reading: set[_Connection] = set()  # connections still reading the environment
        self._sessions: set[asyncio.Task[None]] = set()
        self._background: set[asyncio.Task[None]] = set()

    async def start(self, host: str, port: int, *, reuse_port: bool = False) -> None:
        """`reuse_port`: several processes listen on the same port (SO_REUSEPORT) and the
        kernel spreads the connections between them."""
        loop = asyncio.get_running_loop()
        self._server = await loop.create_server(
            self._connection, host, port, reuse_port=reuse_port or None, backlog=LISTEN_BACKLOG
        )
        log.info("agi_listening", host=host, port=self.port)

    @property
    def port(self) -> int:
        assert self._server is not None and self._server.sockets
        return int(self._server.sockets[0].getsockname()[1])

    @property
    def server(self) -> asyncio.Server:
        assert self._server is not None
        return self._server

    def close(self) -> None:
        if self._server is not None:
            self._server.close()

    async def wait_closed(self) -> None:
        if self._server is not None:
            await self._server.wait_closed()

    async def serve_forever(self) -> None:
        await self.server.serve_forever()

    async def shutdown(self, grace_s: float = 1.0) -> None:
        """Stop accepting, give in-flight sessions (each bounded by its deadline) and
        background records `grace_s` to finish, then cancel what is left. A connection still
        reading its environment gets the grace too; one that has not started its session by
        then is closed."""
        self.close()
        loop = asyncio.get_running_loop()
        until = loop.time() + grace_s
        if self._reading:
            await asyncio.wait([c.environment_read() for c in self._reading], timeout=grace_s)
            for connection in list(self._reading):
                connection.abandon()
        pending = self._sessions | self._background
        if pending:
            _, left = await asyncio.wait(pending, timeout=max(0.0, until - loop.time()))
            for task in left:
                task.cancel()
            if left:
                await asyncio.wait(left, timeout=grace_s)
        await self.wait_closed()

    # -- per connection ----------------------------------------------------------------------

    def _policy(self) -> Policy:
        policy = self.service.policy
        if self.on_failure is not None and self.on_failure is not policy.on_failure:
            policy = dataclasses.replace(policy, on_failure=self.on_failure)
        return policy

    def _spawn(self, job: Awaitable[None], *, bounded: bool = True) -> None:
        """Run `job` after the session, within BACKGROUND_TIMEOUT_S; one not `bounded` (an
        opt-out waiting out a lock) runs until it ends, reports its own failure, and is
        cancelled only by `shutdown` after the grace."""
        task = asyncio.ensure_future(_bounded(job, BACKGROUND_TIMEOUT_S) if bounded else job)
        self._background.add(task)
        task.add_done_callback(self._background.discard)
        if not bounded:
            task.add_done_callback(_retrieved)

    def _connection(self) -> _Connection:
        return _Connection(self)


# What a connection is doing.
_READING, _SERVING, _DONE = 0, 1, 2


class _Connection(asyncio.Protocol):
    """One FastAGI connection: reads the environment, then runs the session as one task.

    One timer per connection, at the budget's end, whatever the phase: an environment still
    incomplete closes the connection, a session still running is cancelled (logged as
    `agi_session_deadline`) and closes it.
    """

    __slots__ = (
        "_budget",
        "_buffer",
        "_expired",
        "_graced",
        "_policy",
        "_read",
        "_server",
        "_session",
        "_state",
        "_task",
        "_timer",
        "_transport",
    )

    _transport: asyncio.Transport
    _budget: Budget
    _policy: Policy
    _timer: asyncio.TimerHandle

    def __init__(self, server: AgiServer) -> None:
        self._server = server
        self._state = _READING
        self._buffer = bytearray()
        self._session: AgiSession | None = None
        self._task: asyncio.Task[None] | None = None
        self._expired = False  # the timer cancelled the session
        self._graced = False  # the timer gave the route its one grace (_on_deadline)
        self._read: asyncio.Future[None] | None = None  # made only by `environment_read`

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self._transport = cast(asyncio.Transport, transport)  # uvloop's is not a subclass
        server = self._server
        self._policy = policy = server._policy()
        self._budget = budget = Budget.starting_now(server.deadline_ms or policy.deadline_ms)
        self._timer = asyncio.get_running_loop().call_at(budget.end, self._on_deadline)
        server._reading.add(self)

    def data_received(self, data: bytes) -> None:
        if self._state == _SERVING:
            assert self._session is not None
            self._session.data_received(data)
        elif self._state == _READING:
            self._read_env(data)

    def _read_env(self, data: bytes) -> None:
        buffer = self._buffer
        searched = max(0, len(buffer) - len(ENV_TERMINATOR) + 1)
        buffer += data
        end = buffer.find(ENV_TERMINATOR, searched)
        limit = self._server.header_limit
        # As StreamReader.readuntil with `limit`: the block before the terminator is bounded.
        if end > limit or (end < 0 and len(buffer) - len(ENV_TERMINATOR) + 1 > limit):
            log.warning("agi_env_too_large", peer=self._peer(), limit=limit)
            self._close()
            return
        if end < 0:
            return
        end += len(ENV_TERMINATOR)
        block, rest = bytes(buffer[:end]), bytes(buffer[end:])
        self._buffer = bytearray()
        request = read_request(block)
        if not request.is_agi:
            log.warning("agi_not_asterisk", peer=self._peer(), received=len(block))
            self._close()
            return
        self._serve(request, rest)

    def _serve(self, request: AgiRequest, rest: bytes) -> None:
        server, budget = self._server, self._budget
        session = AgiSession(self._transport, request, budget, line_limit=server.header_limit)
        ctx = RouteContext(server.service, self._policy, budget, server._spawn)
        self._leave_reading(_SERVING)
        self._session = session
        self._task = task = asyncio.get_running_loop().create_task(self._run(session, ctx))
        server._sessions.add(task)
        task.add_done_callback(server._sessions.discard)
        # Closed from a done callback, not from `_run`: a task cancelled (deadline, shutdown)
        # before its first step never runs `_run` at all, and the call would hang in AGI().
        task.add_done_callback(self._session_over)
        if rest:
            session.data_received(rest)

    async def _run(self, session: AgiSession, ctx: RouteContext) -> None:
        request = session.request
        try:
            await dispatch(session, ctx)
        except asyncio.CancelledError:
            task = self._task
            if not self._expired or task is None or task.uncancel() > 0:
                raise  # not (only) the deadline: a shutdown
            self._log_deadline(session)
        except (ConnectionError, AgiProtocolError, ValueError) as exc:
            log.warning(
                "agi_session_aborted",
                peer=self._peer(),
                uniqueid=request.uniqueid,
                route=request.route,
                error=repr(exc)[:300],
                hung_up=session.hung_up,
            )
        except Exception:
            log.exception("agi_session_failed", peer=self._peer(), uniqueid=request.uniqueid)

    def _session_over(self, task: asyncio.Task[None]) -> None:
        if task.cancelled() and self._expired and self._session is not None:
            self._log_deadline(self._session)  # the deadline came before the task began
        self._close()

    def _log_deadline(self, session: AgiSession) -> None:
        log.warning(
            "agi_session_deadline",
            peer=self._peer(),
            uniqueid=session.request.uniqueid,
            route=session.request.route,
            deadline_ms=_total_ms(self._budget),
            # True: only the replies were late; the verdict variables went out in time.
            variables_sent=session.ended,
        )

    def eof_received(self) -> bool:
        if self._state == _SERVING:
            assert self._session is not None
            return self._session.eof_received()
        if self._state == _READING:
            log.warning("agi_env_incomplete", peer=self._peer(), received=len(self._buffer))
            self._close()
        return False

    def connection_lost(self, exc: Exception | None) -> None:
        if self._state == _READING:
            if exc is not None:
                log.warning("agi_env_failed", peer=self._peer(), error=type(exc).__name__)
            self._leave_reading(_DONE)
            self._timer.cancel()
        elif self._session is not None:
            self._session.connection_lost(exc)

    # pause_writing/resume_writing: left as asyncio.Protocol's no-ops, see AgiSession._write.

    def _on_deadline(self) -> None:
        if self._state == _READING:
            log.warning("agi_env_timeout", peer=self._peer(), deadline_ms=_total_ms(self._budget))
            self._close()
        elif self._state == _SERVING and self._task is not None:
            if self._session is not None and self._session.settled:
                return  # the last reply is in: the task ends (and closes) on its next step
            if self._session is not None and not self._session.ended and not self._graced:
                # The route has until `decide_by` to decide, then sends the failure policy's
                # verdict. When the loop runs late (a stall, a burst) both deadlines come due
                # in one pass, and cancelling now stopped that verdict: the call ended with
                # no verdict and no record. One more reserved share lets the route send it.
                self._graced = True
                grace = self._budget.end - self._budget.decide_by
                self._timer = asyncio.get_running_loop().call_later(grace, self._on_deadline)
                return
            self._expired = True
            self._task.cancel()

    def environment_read(self) -> asyncio.Future[None]:
        """Done once the connection no longer reads its environment (for `shutdown`)."""
        if self._read is None:
            self._read = asyncio.get_running_loop().create_future()
            if self._state != _READING:
                self._read.set_result(None)
        return self._read

    def abandon(self) -> None:
        """Close the connection now, without a word (a shutdown's grace is over)."""
        self._close()

    def _leave_reading(self, state: int) -> None:
        if self._state == _READING:
            self._server._reading.discard(self)
            if self._read is not None and not self._read.done():
                self._read.set_result(None)
        self._state = state

    def _close(self) -> None:
        # Not awaited: the transport still sends what is buffered before it closes, and
        # waiting for that would cost a future per call for nothing the session needs.
        self._leave_reading(_DONE)
        self._timer.cancel()
        self._transport.close()

    def _peer(self) -> str:
        # Only for log lines: asking for it on every call would cost a system call on uvloop.
        info = self._transport.get_extra_info("peername")
        if isinstance(info, tuple) and len(info) >= 2:
            return f"{info[0]}:{info[1]}"
        return str(info)


async def start_agi_server(
    host: str,
    port: int,
    service: GuardService,
    *,
    deadline_ms: float | None = None,
    on_failure: Verdict | None = None,
    header_limit: int = HEADER_LIMIT,
    reuse_port: bool = False,
) -> AgiServer:
    """Start listening; `deadline_ms`/`on_failure` default to the service's policy.
    Port 0 picks a free port (see `AgiServer.port`)."""
    server = AgiServer(
        service, deadline_ms=deadline_ms, on_failure=on_failure, header_limit=header_limit
    )
    await server.start(host, port, reuse_port=reuse_port)
    return server


async def _bounded(job: Awaitable[None], timeout_s: float) -> None:
    try:
        await asyncio.wait_for(job, timeout_s)
    except TimeoutError:
        log.warning("agi_background_timeout", timeout_s=timeout_s)
    except Exception as exc:
        log.warning("agi_background_failed", error=repr(exc)[:300])


def _retrieved(task: asyncio.Future[None]) -> None:
    """The job logged its own failure: asyncio need not report it again."""
    if not task.cancelled():
        task.exception()


def _total_ms(budget: Budget) -> int:
    return round((budget.end - budget.started) * 1000)
