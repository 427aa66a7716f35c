"""One FastAGI session on asyncio streams: the time budget, commands out, replies in.

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
"""

from __future__ import annotations

import asyncio
from collections.abc import Iterable, Mapping
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
    """Sends commands and reads exactly one reply per command."""

    def __init__(
        self,
        reader: asyncio.StreamReader,
        writer: asyncio.StreamWriter,
        request: AgiRequest,
        budget: Budget,
    ) -> None:
        self.request = request
        self.budget = budget
        self._reader = reader
        self._writer = writer
        self._replies = ReplyReader()
        self._owed = 0  # replies Asterisk still owes for commands already written
        self._ended = False

    @property
    def ended(self) -> bool:
        """The closing SET VARIABLEs and end of file have gone out: Asterisk sets the
        variables whatever then happens to their replies."""
        return self._ended

    @property
    def hung_up(self) -> bool:
        """Asterisk said `HANGUP`: the caller is gone (SET VARIABLE still works)."""
        return self._replies.hung_up

    async def send(self, commands: Iterable[str]) -> list[Reply]:
        """Send the commands in order, each after the previous one's reply (see above)."""
        return [await self._exchange(line) for line in commands]

    async def _exchange(self, line: str) -> Reply:
        await self._settle()
        self._write(line.encode("utf-8"))
        self._owed += 1
        await self._writer.drain()
        return await self._next_reply()

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
        """Set the variables and end the session: nothing can be sent after this."""
        lines = [encode_set_variable(k, v) for k, v in values.items()]
        self._write("".join(lines).encode("utf-8"), then_eof=True)
        self._ended = True
        stale = self._owed  # replies to commands the deadline cut short come first
        self._owed += len(lines)
        await self._writer.drain()
        for _ in range(stale):
            await self._next_reply()
        for line in lines:
            reply = await self._next_reply()
            if not reply.ok:
                raise AgiProtocolError(f"{line.rstrip()[:60]!r} was answered {reply.text!r}")

    def _write(self, data: bytes, *, then_eof: bool = False) -> None:
        """Write, and half close when asked. A connection Asterisk has dropped (a restart,
        AGIEXITONHANGUP) raises ConnectionResetError, as reading from it does: asyncio raises
        OSError (ENOTCONN) from the half close after a reset, uvloop RuntimeError."""
        try:
            self._writer.write(data)
            if then_eof:
                self._writer.write_eof()
        except (OSError, RuntimeError) as exc:
            raise ConnectionResetError(f"Asterisk dropped the AGI connection: {exc!r}") from exc

    async def _settle(self) -> None:
        """Drop replies owed to commands whose caller stopped waiting (deadline)."""
        while self._owed:
            await self._next_reply()

    async def _next_reply(self) -> Reply:
        while True:
            raw = await self._reader.readline()
            if not raw:
                raise ConnectionResetError("Asterisk closed the AGI connection")
            reply = self._replies.feed(raw.decode("utf-8", errors="replace"))
            if reply is not None:
                self._owed -= 1
                if reply.code == 0:
                    raise AgiProtocolError(f"not an AGI reply: {reply.text!r}")
                return reply
