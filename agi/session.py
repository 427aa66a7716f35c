"""One FastAGI session: the time budget, commands out, replies in.

Asterisk's run_agi (res_agi.c) polls the socket, then reads a command with `fgets` from a
stdio buffer, and one read fills that buffer with all the socket holds. A second command that
arrived with the first is therefore already in the buffer, and runs only once the socket is
readable again: more bytes, or end of file. A server that sends two commands together and
waits for both replies waits for ever, here until its deadline: on a C copy of that loop, the
old code (three SET VARIABLEs together) took the whole deadline on every call. With a client
that does not buffer, it waited 40 ms instead: Asterisk keeps Nagle's algorithm on (no
TCP_NODELAY) and writes each reply on its own, so a second reply waits for our delayed ACK.

Hence two rules:
- A command whose reply we need (`send`) goes alone, after the previous reply is in.
- The session ends with `finish`: the closing SET VARIABLEs in one write, then end of file
  (a half close), which keeps the socket readable: Asterisk runs them in order, reads the end
  of file and ends the AGI (AGISTATUS=SUCCESS) with the variables set; the call goes on at
  once. Closing its socket flushes the replies Nagle held, which are then read and checked.

The session counts replies still owed so that a command cut short by the deadline cannot make
a later command read the earlier one's reply.

No streams: the connection (`agi.server`, an `asyncio.Protocol`) hands the bytes in, and the
replies are parsed as they arrive. A coroutine waiting for replies waits on one future, which
is resolved once every reply owed is in (for `finish`, all the SET VARIABLEs' at once): one
wake-up per command instead of a StreamReader future and task wake-up per line.
"""

from __future__ import annotations

import asyncio
import contextlib
import socket
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass

from agi.protocol import (
    AgiProtocolError,
    AgiRequest,
    Reply,
    ReplyReader,
    decode_get_variable,
    decode_variables_at_once,
    encode_get_variable,
    encode_get_variables_at_once,
    encode_set_variable,
)

# Share of the per-call deadline kept back so the SET VARIABLEs still go out after a timeout.
RESERVED_SHARE = 0.2
LINE_LIMIT = 64 * 1024  # a reply line longer than this ends the session (ValueError)
CLOSED = "Asterisk closed the AGI connection"
QUICKACK: int | None = getattr(socket, "TCP_QUICKACK", None)  # Linux only


@dataclass(frozen=True, slots=True)
class Budget:
    """Per-call deadlines on the event loop's clock: decide by `decide_by`, finish by `end`."""

    started: float
    decide_by: float
    end: float

    @classmethod
    def starting_now(cls, deadline_ms: float, reserved_share: float = RESERVED_SHARE) -> Budget:
        now = asyncio.get_running_loop().time()
        total = deadline_ms / 1000
        return cls(now, now + total * (1 - reserved_share), now + total)

    def elapsed_ms(self) -> float:
        return (asyncio.get_running_loop().time() - self.started) * 1000


class AgiSession:
    """Sends commands and reads exactly one reply per command.

    The connection feeds it what Asterisk sends after the environment (`data_received`,
    `eof_received`, `connection_lost`, named as on `asyncio.Protocol`).
    """

    __slots__ = (
        "_checked",
        "_ended",
        "_error",
        "_gone",
        "_lost",
        "_owed",
        "_partial",
        "_replies",
        "_transport",
        "_waiter",
        "budget",
        "line_limit",
        "request",
    )

    def __init__(
        self,
        transport: asyncio.Transport,
        request: AgiRequest,
        budget: Budget,
        *,
        line_limit: int = LINE_LIMIT,
    ) -> None:
        self.request = request
        self.budget = budget
        self.line_limit = line_limit
        self._transport = transport
        self._replies = ReplyReader()
        self._partial = b""  # the start of a line whose end has not arrived
        self._owed = 0  # replies Asterisk still owes for commands already written
        self._checked: Sequence[str] = ()  # the closing SET VARIABLEs, whose replies must be OK
        self._waiter: asyncio.Future[Reply] | None = None  # done when nothing is owed
        self._error: Exception | None = None  # for the next wait: nobody was waiting
        self._gone: str | None = None  # why no more replies can come (end of file, ...)
        self._lost = False  # connection lost: nothing can be written either
        self._ended = False

    @property
    def ended(self) -> bool:
        """The closing SET VARIABLEs and end of file have gone out: Asterisk sets the
        variables whatever then happens to their replies."""
        return self._ended

    @property
    def settled(self) -> bool:
        """The session has ended and every reply is in: nothing is left to wait for."""
        return self._ended and not self._owed

    @property
    def failed(self) -> bool:
        """Asterisk sent something the session could not place, not yet raised."""
        return self._error is not None

    @property
    def hung_up(self) -> bool:
        """Asterisk said `HANGUP`: the caller is gone (SET VARIABLE still works)."""
        return self._replies.hung_up

    # -- commands ----------------------------------------------------------------------------

    async def send(self, commands: Iterable[str]) -> list[Reply]:
        """Send the commands in order, each after the previous one's reply (see above)."""
        return [await self._exchange(line) for line in commands]

    async def _exchange(self, line: str) -> Reply:
        if self._owed:
            await self._next()  # replies owed to commands whose caller stopped waiting
        self._write(line.encode("utf-8"))
        self._owed += 1
        reply = await self._next()
        if self._error is not None:
            # Lines came after the reply, in the same read, that no command asked for: the
            # reply itself may not be Asterisk's (a caller-ID name that forged the rest of
            # the environment and a reply after it).
            error, self._error = self._error, None
            raise error
        return reply

    async def get_variables(self, names: Iterable[str]) -> dict[str, str | None]:
        """Read channel variables; unset (and set-but-empty) ones come back as None.

        One `GET FULL VARIABLE` reads them all; only when a value contains the field
        separator are they read again one `GET VARIABLE` at a time.
        """
        wanted = list(names)
        if len(wanted) > 1:
            [reply] = await self.send([encode_get_variables_at_once(wanted)])
            values = decode_variables_at_once(reply, wanted)
            if values is not None:
                return {name: value or None for name, value in values.items()}
        replies = await self.send(encode_get_variable(name) for name in wanted)
        return {
            name: (decode_get_variable(reply) or None)
            for name, reply in zip(wanted, replies, strict=True)
        }

    async def finish(self, values: Mapping[str, str]) -> None:
        """Set the variables and end the session: nothing can be sent after this.

        Returns once every reply is in (replies to commands the deadline cut short come
        first); raises AgiProtocolError when a SET VARIABLE was not answered OK."""
        lines = [encode_set_variable(k, v) for k, v in values.items()]
        self._write("".join(lines).encode("utf-8"), then_eof=True)
        self._ended = True
        self._checked = lines
        self._owed += len(lines)
        if self._owed:
            await self._next()

    def _write(self, data: bytes, *, then_eof: bool = False) -> None:
        """Write, and half close when asked. A connection Asterisk has dropped (a restart,
        AGIEXITONHANGUP) raises ConnectionResetError, as reading from it does: asyncio raises
        OSError (ENOTCONN) from the half close after a reset, uvloop RuntimeError.

        No flow control (`drain`): a command is written only once the previous reply is in,
        so the transport never holds more than one small write (the closing SET VARIABLEs,
        values capped by `MAX_VALUE_CHARS`), far below its 64 KiB high-water mark."""
        if self._lost:
            raise ConnectionResetError(CLOSED)
        try:
            self._transport.write(data)
            if then_eof:
                self._transport.write_eof()
        except (OSError, RuntimeError) as exc:
            raise ConnectionResetError(f"Asterisk dropped the AGI connection: {exc!r}") from exc

    def _next(self) -> asyncio.Future[Reply]:
        """A future done when no reply is owed any more (with the last reply), or failed."""
        if self._error is not None:
            error, self._error = self._error, None
            raise error
        if self._gone is not None:
            raise ConnectionResetError(self._gone)
        self._waiter = waiter = asyncio.get_running_loop().create_future()
        return waiter

    # -- replies, from the connection --------------------------------------------------------

    def data_received(self, data: bytes) -> None:
        if self._partial:
            data = self._partial + data
        *lines, self._partial = data.split(b"\n")
        pending = False
        for raw in lines:
            pending = not self._line(raw)
        if pending and self._owed:
            self._ack_now()
        if len(self._partial) > self.line_limit:
            self._partial = b""
            self._transport.pause_reading()
            problem = f"an AGI reply line is longer than {self.line_limit} bytes"
            self._fail(ValueError(problem))
            self._gone = f"{problem}: reading stopped"

    def eof_received(self) -> bool:
        """True (keep the connection open) until `finish` has written the variables."""
        if self._partial:
            raw, self._partial = self._partial, b""
            self._line(raw)
        self._closed(None)
        return not self._ended

    def connection_lost(self, exc: Exception | None) -> None:
        self._lost = True
        self._closed(exc)

    def _closed(self, exc: Exception | None) -> None:
        if self._gone is None:
            self._gone = CLOSED
        waiter = self._waiter
        if waiter is not None and not waiter.done():
            error = ConnectionResetError(CLOSED)
            error.__cause__ = exc
            waiter.set_exception(error)

    def _ack_now(self) -> None:
        """Acknowledge what has arrived at once (Linux: TCP_QUICKACK).

        A `HANGUP` line before a reply, or the first lines of a multi-line `520`, come in
        writes of their own; with Nagle's algorithm on, Asterisk then holds the rest of the
        reply until we acknowledge, which Linux delays by 40 ms. Never on the usual path."""
        sock = self._transport.get_extra_info("socket")
        if sock is not None and QUICKACK is not None:
            with contextlib.suppress(OSError):
                sock.setsockopt(socket.IPPROTO_TCP, QUICKACK, 1)

    def _line(self, raw: bytes) -> bool:
        """Take one line; False while the reply it belongs to is still incomplete."""
        text = raw.decode("utf-8", errors="replace")
        if text.startswith("agi_"):
            # An environment line after the environment, inside a 520 block too: the
            # environment Asterisk sent was ended early by a forged blank line.
            self._fail(
                AgiProtocolError(
                    f"an AGI environment line after the environment: {text.strip()[:80]!r}"
                )
            )
            return True
        if not self._owed and not self._replies.in_block and text.strip() not in ("", "HANGUP"):
            # Asterisk sends nothing between replies but `HANGUP`: a line now is not its.
            # Waiting for it to end as a reply was not enough: a caller-ID name that ended
            # the environment early with a blank line, then `520-`, opened a block that
            # swallowed every later reply, and the check ran into its deadline.
            self._fail(AgiProtocolError(f"an AGI reply to no command: {text.strip()[:80]!r}"))
            return True
        reply = self._replies.feed(text)
        if reply is None:
            return False
        # A reply is owed here: a line with none owed, a 520 block's opener included, was
        # refused above, and a block stays open only while its command is owed.
        self._owed -= 1
        owed, checked = self._owed, self._checked
        if reply.code == 0:
            self._fail(AgiProtocolError(f"not an AGI reply: {reply.text!r}"))
        elif owed < len(checked) and not reply.ok:
            line = checked[len(checked) - 1 - owed]
            self._fail(AgiProtocolError(f"{line.rstrip()[:60]!r} was answered {reply.text!r}"))
        elif not owed:
            waiter = self._waiter
            if waiter is not None and not waiter.done():
                waiter.set_result(reply)
        return True

    def _fail(self, error: Exception) -> None:
        """Raise `error` from the wait in progress, or else from the next one."""
        waiter = self._waiter
        if waiter is not None and not waiter.done():
            waiter.set_exception(error)
        elif self._error is None:
            self._error = error
