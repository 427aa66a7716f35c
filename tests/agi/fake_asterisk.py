"""A fake Asterisk FastAGI client that speaks as the recordings in shared/fixtures show.

It connects like `AGI(agi://...)` with Nagle's algorithm left on (res_agi.c sets no
TCP_NODELAY), sends the environment one line per write (LF only, ended by a blank line), then
reads commands as run_agi does (`commands_as_asterisk_reads`) and answers each, one write per reply: `GET VARIABLE X` from a dict of channel
variables (`200 result=1 (v)` / `200 result=0`), `GET FULL VARIABLE expr` by substituting each
`${X}` (unset: empty) and answering `200 result=1 (text)`, `SET VARIABLE X v` with `200 result=1`
(recording what was set), anything else `510 Invalid or unknown command`. Commands are split
with `parse_args`, a line-for-line port of Asterisk 22's res_agi.c parse_args.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import re
import socket
import time
from collections.abc import AsyncIterator, Callable, Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path

MAX_ARGS = 128
_SUBSTITUTION = re.compile(r"\$\{([^}]*)\}")


def parse_args(line: str) -> list[str]:
    """Asterisk's parse_args (res/res_agi.c:4158-4218), ported faithfully.

    Space/tab separate words outside quotes; `"` toggles quoting and is dropped; a quote
    opening right after whitespace starts a (possibly empty) word; `\\` escapes the next
    character inside or outside quotes.
    """
    argv: list[list[str]] = []
    quoted = escaped = False
    whitespace = True
    current: list[str] | None = None

    def start_word() -> list[str]:
        word: list[str] = []
        argv.append(word)
        return word

    for ch in line:
        normal = False
        if ch == '"':
            if escaped:
                normal = True
            else:
                quoted = not quoted
                if quoted and whitespace:
                    current = start_word()
                    whitespace = False
                escaped = False
        elif ch in " \t":
            if not quoted and not escaped:
                whitespace = True
                current = None  # the C code writes a NUL here: the word ends
            else:
                normal = True
        elif ch == "\\":
            if escaped:
                normal = True
            else:
                escaped = True
        else:
            normal = True
        if normal:
            if whitespace:
                if len(argv) >= MAX_ARGS - 1:
                    continue
                current = start_word()
                whitespace = False
            assert current is not None
            current.append(ch)
            escaped = False
    return ["".join(word) for word in argv]


def load_transcript(path: Path) -> list[dict[str, str]]:
    return [json.loads(line) for line in path.read_text().splitlines() if line.strip()]


def env_lines(transcript: Iterable[dict[str, str]]) -> list[str]:
    """The environment block as Asterisk sent it: the `in` lines up to the blank line."""
    lines: list[str] = []
    for entry in transcript:
        if entry["dir"] != "in":
            continue
        lines.append(entry["line"])
        if entry["line"] == "\n":
            break
    return lines


def with_env(lines: list[str], **overrides: str | None) -> list[str]:
    """Replace (or, with None, drop) environment values; unknown keys go before the blank."""
    out: list[str] = []
    seen: set[str] = set()
    for line in lines[:-1]:
        name = line.split(": ", 1)[0]
        if name in overrides:
            seen.add(name)
            value = overrides[name]
            if value is not None:
                out.append(f"{name}: {value}\n")
        else:
            out.append(line)
    out.extend(f"{k}: {v}\n" for k, v in overrides.items() if k not in seen and v is not None)
    out.append("\n")
    return out


async def commands_as_asterisk_reads(reader: asyncio.StreamReader) -> AsyncIterator[bytes]:
    """The command lines (without their LF) in the order and at the moments run_agi
    (res_agi.c) runs them, until end of file.

    run_agi polls the socket, then reads a line with `fgets` from a stdio buffer that one read
    fills with all the socket holds. A line already in that buffer runs only once the socket
    is readable again (more bytes, or end of file), so commands sent without waiting for their
    replies stall until then, as on a real Asterisk.
    """
    buffered = b""
    while True:
        chunk = await reader.read(65536)  # poll, then the read that fills the buffer
        buffered += chunk
        if b"\n" not in buffered:
            if chunk:
                continue
            return  # end of file and nothing buffered: the AGI is over
        line, _, buffered = buffered.partition(b"\n")
        yield line


@dataclass
class FakeAsterisk:
    """One channel running `AGI()` against the server."""

    env: list[str]
    variables: Mapping[str, str] = field(default_factory=dict)
    hangup_before_reply: int | None = None  # inject "HANGUP\n" before this reply (0-based)
    on_command: Callable[[str], None] | None = None
    commands: list[str] = field(default_factory=list)
    set_variables: dict[str, str] = field(default_factory=dict)
    closed_by_server: bool = False  # the server closed or half-closed: end of file was read
    elapsed_s: float = 0.0

    async def run(self, port: int, host: str = "127.0.0.1", timeout_s: float = 5.0) -> None:
        started = time.perf_counter()
        reader, writer = await asyncio.open_connection(host, port)
        writer.get_extra_info("socket").setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 0)
        try:
            async with asyncio.timeout(timeout_s):
                for line in self.env:
                    writer.write(line.encode("utf-8", errors="surrogateescape"))
                    await writer.drain()
                await self._serve(reader, writer)
        finally:
            self.elapsed_s = time.perf_counter() - started
            writer.close()
            with contextlib.suppress(ConnectionError):
                await writer.wait_closed()

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        replies = 0
        async for raw in commands_as_asterisk_reads(reader):
            command = raw.decode("utf-8")
            self.commands.append(command)
            if self.on_command is not None:
                self.on_command(command)
            if replies == self.hangup_before_reply:
                writer.write(b"HANGUP\n")
            writer.write(self.answer(command).encode("utf-8"))
            replies += 1
            await writer.drain()
        self.closed_by_server = True

    def answer(self, command: str) -> str:
        words = parse_args(command)
        verb = [w.upper() for w in words[:2]]
        if verb == ["GET", "VARIABLE"] and len(words) == 3:
            value = self.variables.get(words[2])
            return f"200 result=1 ({value})\n" if value is not None else "200 result=0\n"
        if [w.upper() for w in words[:3]] == ["GET", "FULL", "VARIABLE"] and len(words) == 4:
            # res_agi.c handle_getvariablefull: ast_str_substitute_variables, then the text.
            text = _SUBSTITUTION.sub(lambda m: self.variables.get(m.group(1), ""), words[3])
            return f"200 result=1 ({text})\n"
        if verb == ["SET", "VARIABLE"] and len(words) == 4:
            self.set_variables[words[2]] = words[3]
            return "200 result=1\n"
        if verb == ["SET", "VARIABLE"]:
            return (
                "520-Invalid command syntax.  Proper usage follows:\n"
                "Sets a variable to the current channel.\n"
                "520 End of proper usage.\n"
            )
        return "510 Invalid or unknown command\n"
