"""The AMI listener: panoramisk 1.4 for the wire, our own supervision around it.

What we take from panoramisk: the `AMIProtocol` framing, `Message` parsing and the routing of
responses to actions (Login, Ping). What we replace, and why (asterisk-protocols.md 3.3):
- Reconnection. `Manager.connect()`/`connection_lost()` reconnect every 2 s forever, cannot
  back off, and `close()` does not cancel a pending retry. `_Manager` overrides
  `connection_lost` to only report the loss; our `_supervise` task opens the TCP connection
  itself (`loop.create_connection`, with a timeout), logs in, waits for the loss, and retries
  with exponential backoff (`reconnect_min_s` doubling to `reconnect_max_s`, reset after a
  successful login). Bad credentials are reported once as an error and retried on the same
  backoff. `close()` cancels the supervisor, so nothing is left scheduled.
- Keepalive. panoramisk's pinger never checks the reply. Our watchdog sends `Ping` every
  `ping_interval_s` under `asyncio.wait_for` and aborts the transport when no reply comes.
- Dispatch. `Manager.dispatch` runs callbacks inside `data_received` (a raising sync
  callback kills the connection, hazard 1) or as fire-and-forget tasks (unordered). Ours
  only appends the event to a queue; one consumer task applies events in arrival order and
  awaits every handler inside try/except, so no handler can break the connection or the
  order. When the queue passes `max_queue` the transport stops reading until it drains.
- UTF-8. `AMIProtocol.data_received` decodes every TCP chunk on its own with
  errors='ignore', dropping a character split across chunks (hazard 2). `_Utf8SafeProtocol`
  holds an incomplete trailing sequence back until the next chunk completes it.
- `ChanVariable` is parsed by `events.parse_chanvariables`, never `Message.getdict`
  (hazard 3).
"""

from __future__ import annotations

import asyncio
import time
from collections import deque
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import replace
from datetime import UTC, datetime, timedelta, tzinfo
from typing import Any

import structlog
from panoramisk import Manager
from panoramisk.actions import Action
from panoramisk.ami_protocol import AMIProtocol

from ami_listener.calls import CallTracker
from ami_listener.events import AmdMark, OptOutRequest, parse_user_event
from rules.facts import SuppressionEntry, to_add_by_hand
from rules.numbers import ParsedNumber, shorten
from rules.outcomes import CallOutcome
from rules.ports import DecisionSummary, ListenerSink, OptOutPending, OutcomeObserver

log = structlog.get_logger(__name__)

Handler = Callable[[Mapping[str, Any]], Awaitable[None]]
Normalizer = Callable[[str, str], ParsedNumber]
TenantsReached = Callable[[str, datetime], Awaitable[list[str]]]

OPTOUT_SOURCE = "ami-userevent"
# How long `close` gives the opt-outs still queued (`STOP_OPTOUTS_S` in all, each at most
# `STOP_OPTOUT_S`) to read their tenants and be spooled; one not done by then is logged for
# adding by hand.
STOP_OPTOUTS_S = 3.0
STOP_OPTOUT_S = 0.5
# Recorded outcomes waiting for the detectors (the observer): beyond this the oldest are
# left to the detectors' periodic sweep, which reads them from the store.
MAX_OBSERVING = 10_000
# Queued in place of an event when the link drops, so that the tracker learns of the drop
# after the events read before it (`CallTracker.link_lost`).
LINK_LOST: Any = object()


def _incomplete_utf8_tail(data: bytes) -> int:
    """Index where a truncated UTF-8 sequence at the end of `data` starts (len if none)."""
    size = len(data)
    for back in range(1, min(4, size) + 1):
        byte = data[size - back]
        if byte & 0xC0 == 0x80:  # continuation byte: keep looking for the lead byte
            continue
        if byte >= 0xC0:
            needed = 2 if byte < 0xE0 else 3 if byte < 0xF0 else 4
            return size - back if needed > back else size
        return size
    return size


class _Utf8SafeProtocol(AMIProtocol):  # type: ignore[misc]
    """AMIProtocol that never splits a multi-byte UTF-8 character between two decodes."""

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        super().connection_made(transport)
        self._pending = b""
        self.last_rx = time.monotonic()

    def data_received(self, data: bytes) -> None:
        self.last_rx = time.monotonic()  # any byte proves the link alive (see _watchdog)
        if self._pending:
            data = self._pending + data
        cut = _incomplete_utf8_tail(data)
        self._pending = data[cut:]
        if cut:
            super().data_received(data[:cut])

    def handle_message(self, message: Any) -> None:
        """panoramisk's, made safe: it runs inside data_received, so anything it raises drops
        the link and every message read in the same chunk (an opt-out among them)."""
        event = message.get("Event")
        if isinstance(event, list):
            # A repeated key becomes a list; a UserEvent body may carry its own `Event:`.
            # Asterisk writes its header first, and panoramisk calls `.lower()` on it.
            message["Event"] = event[0]
        try:
            super().handle_message(message)
        except Exception as exc:
            log.error("ami_message_unusable", event=str(event)[:80], error=repr(exc)[:300])


class _Manager(Manager):  # type: ignore[misc]
    """A panoramisk Manager whose connection is driven by AmiListener, not by itself."""

    def __init__(self, listener: AmiListener, **config: Any) -> None:
        super().__init__(**config)
        self._listener = listener
        self.lost: asyncio.Future[object] | None = None

    def attach(self, transport: asyncio.Transport, protocol: _Utf8SafeProtocol) -> Any:
        """Wire a fresh connection as Manager.connection_made does; returns the Login future."""
        self._connected = True
        self.lost = self.loop.create_future()
        self.protocol = protocol
        protocol.queue = deque()
        protocol.factory = self
        protocol.log = self.log
        protocol.config = self.config
        protocol.encoding = self.encoding = self.config["encoding"]
        self.responses = protocol.responses = {}
        self.authenticated = False
        login = Action(
            {
                "Action": "Login",
                "Username": self.config["username"],
                "Secret": self.config["secret"],
                "Events": self.config["events"],
            }
        )
        return protocol.send(login)

    def connection_lost(self, exc: object) -> None:
        # Report only; the listener's supervisor decides when to reconnect.
        self._connected = False
        self.authenticated = False
        if self.lost is not None and not self.lost.done():
            self.lost.set_result(exc)

    def dispatch(self, event: Any) -> list[str]:
        self._listener._enqueue(event)
        return []

    def close(self) -> None:
        if getattr(self, "protocol", None) is not None:
            self.protocol.close()


class AmiListener:
    """Records call outcomes and opt-outs from an Asterisk Manager Interface connection."""

    def __init__(
        self,
        sink: ListenerSink,
        *,
        host: str = "127.0.0.1",
        port: int = 5038,
        username: str,
        secret: str,
        normalize: Normalizer,
        reconnect_min_s: float = 1.0,
        reconnect_max_s: float = 30.0,
        ping_interval_s: float = 10.0,
        ping_timeout_s: float = 5.0,
        connect_timeout_s: float = 10.0,
        login_timeout_s: float = 10.0,
        events: str = "call,cdr,user,system",
        default_tenant: str = "default",
        observer: OutcomeObserver | None = None,
        asterisk_tz: tzinfo | None = None,
        stale_after_s: float = 4 * 3600.0,
        sweep_interval_s: float = 60.0,
        max_queue: int = 20_000,
        tenants_reached: TenantsReached | None = None,
    ) -> None:
        """`normalize(raw, tenant)` reads a number as that tenant dials it (dialguard passes
        `parse_number` with the tenant's region). An opt-out whose call has no decision the
        listener can find (it started before the listener saw it) and whose UserEvent names
        no tenant is recorded for the tenants `tenants_reached(raw, at)` names (dialguard
        passes `Guard.tenants_reached`: whose calls reached the number in the last day), else
        for `default_tenant`."""
        self.sink = sink
        self.tenants_reached = tenants_reached
        self.host, self.port = host, port
        self.username, self._secret = username, secret
        self.normalize = normalize
        self.reconnect_min_s, self.reconnect_max_s = reconnect_min_s, reconnect_max_s
        self.ping_interval_s, self.ping_timeout_s = ping_interval_s, ping_timeout_s
        self.connect_timeout_s, self.login_timeout_s = connect_timeout_s, login_timeout_s
        self.events = events
        self.default_tenant = default_tenant
        self.observer = observer
        self.sweep_interval_s = sweep_interval_s
        self.max_queue = max_queue
        self.tracker = CallTracker(
            asterisk_tz=asterisk_tz, stale_after=timedelta(seconds=stale_after_s)
        )
        self._handlers: list[tuple[str, Handler]] = []
        self._queue: deque[tuple[Any, float]] = deque()
        self._applying: tuple[Any, float] | None = None  # the event being applied
        self._at_stop = False  # `close` applies the queued opt-outs: kept, not written
        self._wake = asyncio.Event()
        self._idle = asyncio.Event()
        self._idle.set()
        # Outcomes recorded, for the observer (the detectors) on a task of its own: a run
        # over a tenant's window takes seconds, and awaited in line it held back every event
        # behind it, an IVR opt-out too, while the checks went on allowing calls to that
        # number. The outcome is stored before it is queued here.
        self._observing: deque[CallOutcome] = deque()
        self._observe_wake = asyncio.Event()
        self._observer_idle = asyncio.Event()
        self._observer_idle.set()
        self._observer_dropped = 0  # outcomes left to the sweep in this spell
        self._paused: asyncio.Transport | None = None
        self._manager: _Manager | None = None
        self._tasks: list[asyncio.Task[None]] = []
        self._closing = False
        self._down_since: float | None = None
        self.connected = asyncio.Event()
        # Counters, for tests, the benchmark and `dialguard serve` status lines.
        self.connections = 0
        self.login_failures = 0
        self.events_seen = 0
        self.outcomes_recorded = 0
        self.handler_errors = 0
        self._reported: set[str] = set()

    # -- lifecycle -----------------------------------------------------------------------

    def add_handler(self, name: str, handler: Handler) -> None:
        """Also call `handler(event)` for events named `name` ('*' for all); it is awaited in
        order and any exception it raises is logged, never propagated."""
        self._handlers.append((name.lower(), handler))

    async def start(self) -> None:
        """Create the panoramisk Manager inside the running loop and start the tasks."""
        loop = asyncio.get_running_loop()
        self._manager = _Manager(
            self,
            loop=loop,
            host=self.host,
            port=self.port,
            username=self.username,
            secret=self._secret,
            events=self.events,
            protocol_factory=_Utf8SafeProtocol,
            ping_delay=0,
            reconnect_timeout=0,
        )
        self._tasks = [
            loop.create_task(self._supervise(), name="ami-supervise"),
            loop.create_task(self._consume(), name="ami-consume"),
            loop.create_task(self._observe(), name="ami-observe"),
            loop.create_task(self._sweeper(), name="ami-sweep"),
        ]

    async def close(self) -> None:
        """Stop everything: no task, timer or connection is left behind. The opt-outs still
        queued (behind a write that waits out a lock or a failing database) are kept first,
        for at most `STOP_OPTOUTS_S`: spooled by the sink for the next start, or logged for
        adding by hand. They were dropped without a word."""
        self._closing = True
        for task in self._tasks:
            task.cancel()
        for task in self._tasks:
            try:
                await task
            except asyncio.CancelledError:
                pass
            except Exception as exc:  # it ended before: said, and the rest still closed
                self._report_failure(task.get_name(), exc)
        self._tasks = []
        await self._optouts_at_stop()
        if self._manager is not None:
            self._manager.close()
        self.connected.clear()

    async def wait_idle(self) -> None:
        """Wait until every received event has been applied (tests and the benchmark)."""
        while (
            self._queue
            or not self._idle.is_set()
            or self._observing
            or not self._observer_idle.is_set()
        ):
            await self._idle.wait()
            await self._observer_idle.wait()
            await asyncio.sleep(0)

    # -- connection supervision ----------------------------------------------------------

    def _backoff(self, failures: int) -> float:
        return float(min(self.reconnect_max_s, self.reconnect_min_s * (2 ** min(failures, 30))))

    async def _supervise(self) -> None:
        failures = 0
        while not self._closing:
            healthy = await self._session()
            failures = 0 if healthy else failures + 1
            delay = self._backoff(max(failures - 1, 0))
            log.debug("ami_reconnect_wait", seconds=delay)
            await asyncio.sleep(delay)

    async def _session(self) -> bool:
        """One connection, from connect to loss. True if it logged in."""
        assert self._manager is not None
        manager = self._manager
        loop = asyncio.get_running_loop()
        try:
            transport, protocol = await asyncio.wait_for(
                loop.create_connection(_Utf8SafeProtocol, self.host, self.port),
                self.connect_timeout_s,
            )
        except (OSError, TimeoutError) as exc:
            log.warning("ami_connect_failed", host=self.host, port=self.port, error=str(exc))
            return False
        login = manager.attach(transport, protocol)
        lost = manager.lost
        assert lost is not None
        done, _ = await asyncio.wait(
            {login, lost}, timeout=self.login_timeout_s, return_when=asyncio.FIRST_COMPLETED
        )
        if login not in done:
            log.warning("ami_login_no_answer", host=self.host, port=self.port)
            transport.abort()
            return False
        reply = login.result()
        if not reply.success:
            self.login_failures += 1
            if self.login_failures == 1:
                log.error(
                    "ami_login_failed",
                    host=self.host,
                    port=self.port,
                    username=self.username,
                    message=reply.get("Message", ""),
                    hint="check the AMI username and secret in manager.conf and dialguard",
                )
            else:
                log.debug("ami_login_failed_again", attempts=self.login_failures)
            transport.abort()
            return False
        self.login_failures = 0
        self.connections += 1
        manager.authenticated = True
        self.connected.set()
        log.info("ami_connected", host=self.host, port=self.port, version=protocol.version)
        await self._record_gap()
        watchdog = loop.create_task(self._watchdog(manager, transport))
        try:
            reason = await asyncio.shield(lost)
        finally:
            watchdog.cancel()
            self.connected.clear()
        self._down_since = time.time()
        log.warning("ami_disconnected", reason=_describe_loss(reason))
        self._enqueue(LINK_LOST)  # after the events already read, as the tracker needs
        if self._paused is transport:
            self._paused = None
        return True

    async def _record_gap(self) -> None:
        if self._down_since is None:
            return
        start, end = self._down_since, time.time()
        self._down_since = None
        detail = {
            "start": datetime.fromtimestamp(start, UTC).isoformat(),
            "end": datetime.fromtimestamp(end, UTC).isoformat(),
            "seconds": round(end - start, 3),
        }
        log.warning("ami_gap", **detail)
        await self._safely("log_event", self.sink.log_event("ami_gap", detail))

    async def _watchdog(self, manager: _Manager, transport: asyncio.Transport) -> None:
        """Abort a link that carries nothing, not even a Ping reply. Incoming traffic counts
        as liveness, and nothing is judged while we paused reading ourselves (a backlog of
        events would otherwise hide the Pong and a healthy link would be cut, losing calls)."""
        protocol = manager.protocol
        while True:
            await asyncio.sleep(self.ping_interval_s)
            if (
                self._paused is not None
                or time.monotonic() - protocol.last_rx < self.ping_interval_s
            ):
                continue
            sent = time.monotonic()
            try:
                await asyncio.wait_for(
                    protocol.send(Action({"Action": "Ping"})), self.ping_timeout_s
                )
            except TimeoutError:
                if self._paused is not None or protocol.last_rx > sent:
                    continue
                log.warning("ami_ping_timeout", seconds=self.ping_timeout_s)
                transport.abort()
                return

    # -- event flow ----------------------------------------------------------------------

    def _enqueue(self, event: Any) -> None:
        """Called from inside data_received: must not raise, must not block."""
        self._queue.append((event, time.time()))
        self._idle.clear()
        self._wake.set()
        if len(self._queue) >= self.max_queue and self._paused is None:
            manager = self._manager
            transport = getattr(getattr(manager, "protocol", None), "transport", None)
            if transport is not None:
                transport.pause_reading()
                self._paused = transport

    async def _optouts_at_stop(self) -> None:
        items = [*([self._applying] if self._applying is not None else []), *self._queue]
        self._applying = None
        self._queue.clear()
        requests: list[tuple[OptOutRequest, datetime]] = []
        for event, received in items:
            request = None if event is LINK_LOST else parse_user_event(_headers(event))
            if isinstance(request, OptOutRequest):
                requests.append((request, datetime.fromtimestamp(received, UTC)))
        # Kept in the opt-outs' spool at once rather than written (`keep_at_stop`, where the
        # sink has one): a write would wait out the lock or failure that queued them, and
        # the next start writes them before its first check. Their tenants are still read.
        self._at_stop = True
        ends = time.monotonic() + STOP_OPTOUTS_S
        for request, now in requests:
            left = min(STOP_OPTOUT_S, ends - time.monotonic())
            try:
                async with asyncio.timeout(left if left > 0 else 0):
                    await self._opt_out(request, now)
                continue
            except TimeoutError:  # its tenants' reads (or, with no spool, its write) cut short
                pass
            except Exception as exc:
                self._report_failure("optout_at_stop", exc)
            log.warning(
                "ami_optout_cut_short_at_stop",
                number=request.number,
                tenant=request.tenant,
                uniqueid=request.uniqueid,
                detail="serve stopped before this opt-out was written: it is kept in the"
                " opt-outs' spool if optout_pending_at_stop says so; else add it by hand",
            )

    async def _consume(self) -> None:
        queue = self._queue
        while True:
            if not queue:
                self._idle.set()
                self._wake.clear()
                await self._wake.wait()
                continue
            event, received = queue.popleft()
            if self._paused is not None and len(queue) <= self.max_queue // 2:
                self._paused.resume_reading()
                self._paused = None
            if event is LINK_LOST:
                self.tracker.link_lost()
                continue
            self._applying = (event, received)  # for `close`, if it stops us half-way
            try:
                await self._apply(event, datetime.fromtimestamp(received, UTC))
            except Exception as exc:  # one bad event must not stop the listener
                self._report_failure("event", exc)
            self._applying = None

    async def _apply(self, event: Any, now: datetime) -> None:
        headers = _headers(event)
        self.events_seen += 1
        name = headers.get("event")
        request = parse_user_event(headers)  # None for any other event
        if isinstance(request, OptOutRequest):
            await self._opt_out(request, now)
        elif isinstance(request, AmdMark):  # stored on the call's outcome by the tracker
            log.debug(
                "ami_amd_verdict",
                uniqueid=request.uniqueid,
                status=request.status,
                cause=(request.cause or "")[:80],
            )
        restarts = self.tracker.restarts
        outcomes = self.tracker.feed(headers, now)
        if self.tracker.restarts != restarts:
            log.warning(
                "ami_asterisk_restarted",
                closed_calls=len({o.linkedid for o in outcomes}),
                detail="the channel counter started again while the link was down: the calls"
                " up before it are recorded as ended",
            )
        for outcome in outcomes:
            # Each on its own: one that fails (a record the store refuses) must not drop the
            # others the event closed (an Asterisk restart closes every open call at once).
            await self._safely("outcome", self._record(outcome))
        if self._handlers:
            lname = name.lower() if isinstance(name, str) else ""
            for pattern, handler in self._handlers:
                if pattern in ("*", lname):
                    await self._safely("handler", handler(headers))

    async def _sweeper(self) -> None:
        while True:
            await asyncio.sleep(self.sweep_interval_s)
            # A failure is reported and the next sweep comes all the same: one failed write
            # ended this task, and no stale call was closed again while the process lived.
            try:
                stale = self.tracker.sweep(datetime.now(UTC))
            except Exception as exc:
                self._report_failure("sweep", exc)
                continue
            for outcome in stale:
                await self._safely("outcome", self._record(outcome))

    async def _safely(self, what: str, work: Awaitable[object]) -> None:
        try:
            await work
        except Exception as exc:  # handlers and observers must not kill the link
            self._report_failure(what, exc)

    def _report_failure(self, what: str, exc: Exception) -> None:
        """One line per failure; the traceback only the first time per kind (a broken
        handler fails on every event, and rendering thousands of tracebacks stalls the loop)."""
        self.handler_errors += 1
        first = what not in self._reported
        self._reported.add(what)
        log.error(
            "ami_callback_failed", callback=what, error=repr(exc), exc_info=exc if first else None
        )

    # -- writing -------------------------------------------------------------------------

    async def _record(self, outcome: CallOutcome) -> None:
        outcome = await self._enrich(outcome)
        await self.sink.upsert_outcome(outcome)
        self.outcomes_recorded += 1
        if self.observer is not None:
            if len(self._observing) >= MAX_OBSERVING:
                # The detectors fall far behind: the oldest outcome is left to their periodic
                # sweep (it is stored), so that memory stays bounded. Said once per spell,
                # and again with the count when they have caught up.
                self._observing.popleft()
                if not self._observer_dropped:
                    log.warning("ami_detectors_lagging", waiting=MAX_OBSERVING)
                self._observer_dropped += 1
            self._observing.append(outcome)
            self._observer_idle.clear()
            self._observe_wake.set()

    async def _observe(self) -> None:
        """Hand the recorded outcomes to the observer, one at a time, in order."""
        observing = self._observing
        while True:
            if not observing:
                if self._observer_dropped:
                    log.warning(
                        "ami_detectors_caught_up",
                        left_to_sweep=self._observer_dropped,
                        detail="those outcomes are judged at the detectors' next sweep",
                    )
                    self._observer_dropped = 0
                self._observer_idle.set()
                self._observe_wake.clear()
                await self._observe_wake.wait()
                continue
            outcome = observing.popleft()
            if self.observer is not None:
                await self._safely("observer", self.observer.outcome_recorded(outcome))

    async def _enrich(self, outcome: CallOutcome) -> CallOutcome:
        """The outcome with what the guard knows, and its caller ID read as the guard reads
        it (E.164 when it parses in the tenant's region, as is; rules.engine.prepare): a
        dialler presenting `0291234567` would otherwise be flagged outside its own pool,
        and a suspension of `callerid:0291234567` would never match a check."""
        outcome = await self._with_decision(outcome)
        if outcome.caller_id:
            parsed = self.normalize(outcome.caller_id, outcome.tenant or self.default_tenant)
            if parsed.e164 is not None and parsed.e164 != outcome.caller_id:
                outcome = replace(outcome, caller_id=parsed.e164)
        return outcome

    async def _with_decision(self, outcome: CallOutcome) -> CallOutcome:
        """Tenant, campaign and E.164 number from the guard's decision for this call.

        When the call went through a Local hop, the guard may have checked the hop's leg
        (a phone dialled `Local/N@outbound`): the outcome is then the decided leg's."""
        decision = await self.sink.decision_summary(outcome.call_id)
        if decision is None:
            for leg in self.tracker.legs_of(outcome.call_id):
                decision = await self.sink.decision_summary(leg)
                if decision is not None:
                    outcome = replace(outcome, call_id=leg)
                    break
        if decision is not None:
            return outcome.merged(
                CallOutcome(
                    call_id=outcome.call_id,
                    tenant=decision.tenant,
                    campaign=decision.campaign,
                    number=decision.number,
                )
            )
        if outcome.number is None and outcome.dialled:
            parsed = self.normalize(outcome.dialled, outcome.tenant or self.default_tenant)
            if parsed.e164 is not None:
                return outcome.merged(CallOutcome(outcome.call_id, number=parsed.e164))
        return outcome

    async def _opt_out(self, request: OptOutRequest, now: datetime) -> None:
        """Tenant-wide opt-out. The tenant is, in order: the guard's decision for the call
        that raised the event (its Uniqueid or Linkedid), the event's `Tenant:` header, the
        tenants whose calls reached the number in the last day (`tenants_reached`: every one
        of them, or every tenant that reads it when none did), then `default_tenant`. A
        header that names another tenant than the decision's is recorded too: the person asked not to be called, and both the tenant
        whose call reached them and the one the dialplan names are told (recording the
        decision's alone dropped the header's without a word). The campaign from the event is
        recorded in the reason only: an opt-out covers all the tenant's campaigns."""
        decision = await self._decision_of(request)
        raw = request.number or (decision.number if decision else None)
        if raw is None:
            log.warning("ami_optout_without_number", userevent=request.event_name)
            return
        named = (decision.tenant if decision else None) or request.tenant
        # A call the listener did not see begin (it started, or restarted, while the call was
        # up) has no decision to find: the opt-out went to "default" and the tenant that
        # called went on calling. The tenants whose calls reached the number then.
        reached = [] if named else await self._tenants_reached(raw, now)
        reached = [each for each in reached if self.normalize(raw, each).e164 is not None]
        tenant = named or (reached[0] if reached else self.default_tenant)
        parsed = self.normalize(raw, tenant)
        if parsed.e164 is None and decision is not None and decision.number:
            # The callee asked, whatever the dialler put in `Number:`; this event is the
            # dialplan's fallback when the AGI opt-out failed, the last chance to record it.
            log.warning(
                "ami_optout_number_unreadable",
                number=shorten(raw),
                problem=parsed.problem,
                recorded=decision.number,
                tenant=tenant,
            )
            parsed = self.normalize(decision.number, tenant)
        if parsed.e164 is None:
            shown = shorten(raw)  # a number is short: a long value would flood the log
            log.warning(
                "ami_optout_bad_number", number=shown, tenant=tenant, problem=parsed.problem
            )
            await self._safely(
                "log_event",
                self.sink.log_event(
                    "ami_optout_rejected",
                    {"number": shown, "tenant": tenant, "problem": parsed.problem},
                ),
            )
            return
        campaign = request.campaign or (decision.campaign if decision else None)
        reason = f"opt-out requested on the call (UserEvent {request.event_name})"
        if campaign:
            reason += f", campaign {campaign}"
        tenants = [tenant, *reached[1:]]
        if request.tenant and request.tenant not in tenants:
            tenants.append(request.tenant)
            log.warning(
                "ami_optout_two_tenants", number=parsed.e164, decision=tenant, header=request.tenant
            )
        entries = [
            SuppressionEntry(
                # Each reads the number in its own region (the tenants reached matched theirs).
                number=(parsed.e164 if each == tenant else self.normalize(raw, each).e164)
                or parsed.e164,
                tenant=each,
                campaign=None,
                reason=reason,
                source=OPTOUT_SOURCE,
                requested_at=now,
            )
            for each in tenants
        ]
        # All at once, as the AGI route writes them: one after another, a failing database
        # held the event reader `MAX_FAILING_S` (5 minutes) per tenant before each was given
        # up. Each on its own: one that fails does not keep the others from landing.
        results = await asyncio.gather(
            *(self._add_optout(entry, campaign) for entry in entries), return_exceptions=True
        )
        for result in results:
            if isinstance(result, Exception):
                raise result  # reported as the event's failure (`ami_callback_failed`)

    async def _add_optout(self, entry: SuppressionEntry, campaign: str | None) -> None:
        keep_at_stop = getattr(self.sink, "keep_at_stop", None) if self._at_stop else None
        if keep_at_stop is not None and keep_at_stop(entry):
            return  # spooled: written at the next start (`optout_pending_at_stop`)
        try:
            await self.sink.add_suppression(entry)
        except OptOutPending:
            return  # not lost: kept, written once the database takes it, and said so there
        except Exception as exc:
            # Named here, so that an operator can add it by hand: the event is gone.
            log.error(
                "ami_optout_not_recorded",
                number=entry.number,
                tenant=entry.tenant,
                error=repr(exc)[:300],
                **to_add_by_hand(entry),  # `suppress add` would refuse a number unknown yet
            )
            raise
        log.info(
            "optout",
            number=entry.number,
            tenant=entry.tenant,
            campaign=campaign,
            source=OPTOUT_SOURCE,
        )

    async def _decision_of(self, request: OptOutRequest) -> DecisionSummary | None:
        """The guard's decision for the call that raised the event, by its ids. One that
        cannot be read (a failing database) is reported and taken as none: the opt-out is
        then recorded all the same, for the tenants `_tenants_reached` gives."""
        try:
            for call_id in (request.uniqueid, request.linkedid):
                if call_id is not None:
                    decision = await self.sink.decision_summary(call_id)
                    if decision is not None:
                        return decision
            if request.linkedid is not None:
                return await self._decision_for_linked(request.linkedid)
        except Exception as exc:
            self._report_failure("decision_summary", exc)
        return None

    async def _tenants_reached(self, raw: str, now: datetime) -> list[str]:
        if self.tenants_reached is None:
            return []
        try:
            return await self.tenants_reached(raw, now)
        except Exception as exc:  # the opt-out is recorded all the same, for the default
            self._report_failure("tenants_reached", exc)
            return []

    async def _decision_for_linked(self, linkedid: str) -> DecisionSummary | None:
        """The decision of the attempt leg of an open call (the UserEvent is raised on the
        callee leg, whose Uniqueid the guard never saw)."""
        for call_id in self.tracker.attempts_of(linkedid):
            decision = await self.sink.decision_summary(call_id)
            if decision is not None:
                return decision
        return None


def _describe_loss(reason: object) -> str:
    if reason is None:
        return "connection closed by Asterisk (EOF)"
    if isinstance(reason, Mapping) and "event" in reason:
        return f"Asterisk shut down (Shutdown event, Restart: {reason.get('Restart', '?')})"
    return f"connection lost ({reason})"


def _headers(event: Any) -> dict[str, Any]:
    """An event's headers by lower-case name."""
    store = getattr(event, "_store", None)  # panoramisk Message: {lower: (key, value)}
    if isinstance(store, dict):
        return {key: pair[1] for key, pair in store.items()}
    return {str(k).lower(): v for k, v in dict(event).items()}
