"""The FastAGI server: asyncio streams, one task per connection, every session bounded.

Written in-house rather than with panoramisk's `fast_agi.Application`, which is unsafe for an
inline check (shared/docs/asterisk-protocols.md sections 0 and 3.2): a peer closing before the
end of the environment makes its handler spin and block the whole event loop; an unsolicited
`HANGUP` line or a multi-line `520` reply shifts every later reply by one; a non-UTF-8 caller
name raises before its error handling; and nothing bounds a session in time. Asterisk itself
never times out a FastAGI read, so the deadline here is the only one the call has.

Each connection: read the environment with `readuntil(b"\\n\\n")` under the deadline (EOF,
oversize or a header that never ends closes that connection only), dispatch the route, set the
verdict variables, close. Problems are logged one line per connection with structlog.
"""

from __future__ import annotations

import asyncio
import dataclasses
from collections.abc import Awaitable

import structlog

from agi.protocol import ENV_TERMINATOR, AgiProtocolError, parse_env, parse_request
from agi.routes import RouteContext, dispatch
from agi.service import GuardService
from agi.session import AgiSession, Budget
from rules.models import Verdict
from rules.policy import Policy

log = structlog.get_logger("agi")

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
        self._sessions: set[asyncio.Task[None]] = set()
        self._background: set[asyncio.Task[None]] = set()

    async def start(self, host: str, port: int, *, reuse_port: bool = False) -> None:
        """`reuse_port`: several processes listen on the same port (SO_REUSEPORT) and the
        kernel spreads the connections between them."""
        self._server = await asyncio.start_server(
            self._handle, host, port, limit=self.header_limit, reuse_port=reuse_port or None
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
        background records `grace_s` to finish, then cancel what is left."""
        self.close()
        pending = self._sessions | self._background
        if pending:
            _, left = await asyncio.wait(pending, timeout=grace_s)
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

    def _spawn(self, job: Awaitable[None]) -> None:
        task = asyncio.ensure_future(_bounded(job, BACKGROUND_TIMEOUT_S))
        self._background.add(task)
        task.add_done_callback(self._background.discard)

    async def _handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        task = asyncio.current_task()
        if task is not None:
            self._sessions.add(task)
            task.add_done_callback(self._sessions.discard)
        policy = self._policy()
        budget = Budget.starting_now(self.deadline_ms or policy.deadline_ms)
        peer = _peer(writer)
        try:
            await self._session(reader, writer, policy, budget, peer)
        finally:
            _close(writer)

    async def _session(
        self,
        reader: asyncio.StreamReader,
        writer: asyncio.StreamWriter,
        policy: Policy,
        budget: Budget,
        peer: str,
    ) -> None:
        try:
            async with asyncio.timeout_at(budget.end):
                block = await reader.readuntil(ENV_TERMINATOR)
        except asyncio.IncompleteReadError as exc:
            log.warning("agi_env_incomplete", peer=peer, received=len(exc.partial))
            return
        except asyncio.LimitOverrunError:
            log.warning("agi_env_too_large", peer=peer, limit=self.header_limit)
            return
        except TimeoutError:
            log.warning("agi_env_timeout", peer=peer, deadline_ms=_total_ms(budget))
            return
        except ConnectionError as exc:
            log.warning("agi_env_failed", peer=peer, error=type(exc).__name__)
            return
        request = parse_request(parse_env(block))
        if not request.is_agi:
            log.warning("agi_not_asterisk", peer=peer, received=len(block))
            return
        session = AgiSession(reader, writer, request, budget)
        ctx = RouteContext(self.service, policy, budget, self._spawn)
        try:
            async with asyncio.timeout_at(budget.end):
                await dispatch(session, ctx)
        except TimeoutError:
            log.warning(
                "agi_session_deadline",
                peer=peer,
                uniqueid=request.uniqueid,
                route=request.route,
                deadline_ms=_total_ms(budget),
                # True: only the replies were late; the verdict variables went out in time.
                variables_sent=session.ended,
            )
        except (ConnectionError, asyncio.IncompleteReadError, AgiProtocolError, ValueError) as exc:
            log.warning(
                "agi_session_aborted",
                peer=peer,
                uniqueid=request.uniqueid,
                route=request.route,
                error=repr(exc)[:300],
                hung_up=session.hung_up,
            )
        except Exception:
            log.exception("agi_session_failed", peer=peer, uniqueid=request.uniqueid)


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


def _close(writer: asyncio.StreamWriter) -> None:
    # Not awaited: the transport still sends what is buffered before it closes, and waiting
    # for that would cost a timer and a future per call for nothing the session needs.
    writer.close()


def _peer(writer: asyncio.StreamWriter) -> str:
    info = writer.get_extra_info("peername")
    if isinstance(info, tuple) and len(info) >= 2:
        return f"{info[0]}:{info[1]}"
    return str(info)


def _total_ms(budget: Budget) -> int:
    return round((budget.end - budget.started) * 1000)
