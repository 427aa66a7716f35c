"""Register files read a block (megabytes) at a time: bulk lines by regex, the rest line by line.

A register copy is tens of millions of lines, nearly all of one shape (ten digits). Reading them
one at a time in Python costs more than storing them, so `scan` tests a whole block of the file
with one compiled regex (the format's `FastLines`) and turns each run of such lines into one JSON
array of keys for SQLite's `json_each`, with no Python work per line. Only lines the regex does
not accept (spaces, `+`, comments, junk) go through the format's line reader, one at a time, so
every count, key and reject is exactly what `Format.read` gives over the same text (tests check).

Text semantics follow `open(encoding="utf-8-sig", errors="replace", newline=None)`: a leading
BOM is dropped, `\\r\\n` and a lone `\\r` end lines, undecodable bytes become U+FFFD.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from functools import lru_cache

from dialguard.registers.readers import FastLines, Format, Item, is_header

BOM = b"\xef\xbb\xbf"


@dataclass(frozen=True, slots=True)
class FastRun:
    """Consecutive data lines accepted in bulk: `count` keys, lines `first_line`.. in order."""

    first_line: int
    count: int
    keys_json: str  # a JSON array of the integer keys, for json_each


Piece = FastRun | list[Item]


# How far past a block's last line end a line may run on. Register lines are tens of bytes;
# a file without line ends (a binary, a wrong export) was otherwise held whole in memory, and
# grown one copy per chunk (a 60 MB line took 293 MB). A long line inside one block is the
# format's to reject, as any junk line.
MAX_LINE_BYTES = 1 << 20


class LineTooLong(Exception):
    """A register file's line runs on past `MAX_LINE_BYTES`: not a register file."""


def line_blocks(chunks: Iterable[bytes], max_line: int = MAX_LINE_BYTES) -> Iterator[bytes]:
    """Re-cut raw byte chunks into blocks of whole lines, each ending in `\\n` (line ends
    unified). A line still without its end `max_line` bytes after the last block raises
    LineTooLong, naming it: memory stays within a chunk and `max_line`."""
    carry = b""
    first = True
    lines = 0  # in the blocks given so far
    for chunk in chunks:
        buf = carry + chunk
        if first:
            if len(buf) < len(BOM) and BOM.startswith(buf):
                carry = buf  # too short to tell yet
                continue
            first = False
            buf = buf.removeprefix(BOM)
        held = b""
        if buf.endswith(b"\r"):  # a `\n` may follow in the next chunk: one line end, not two
            held, buf = b"\r", buf[:-1]
        if b"\r" in buf:
            buf = buf.replace(b"\r\n", b"\n").replace(b"\r", b"\n")
        cut = buf.rfind(b"\n") + 1
        if cut:
            block = buf[:cut]
            yield block
            lines += block.count(b"\n")
        carry = buf[cut:] + held
        if len(buf) - cut > max_line:  # the line so far; a held `\r` may end it already
            raise _too_long(lines + 1, max_line)
    if first:
        carry = carry.removeprefix(BOM)
    if carry:
        carry = carry.replace(b"\r\n", b"\n").replace(b"\r", b"\n")
        yield carry if carry.endswith(b"\n") else carry + b"\n"


def _too_long(line: int, max_line: int) -> LineTooLong:
    return LineTooLong(
        f"line {line:,} is longer than {max_line:,} bytes: not a register file (no line ends?)"
    )


def text_lines(blocks: Iterable[bytes]) -> Iterator[str]:
    """The lines of the blocks as text, as iterating the text file would give them."""
    for block in blocks:
        text = block.decode("utf-8", errors="replace")
        for line in text.split("\n")[:-1]:
            yield line + "\n"


@dataclass(frozen=True, slots=True)
class _Compiled:
    national: re.Pattern[bytes] | None  # a run of lines that are the NSN itself
    run: re.Pattern[bytes] | None  # a run of accepted lines of any form
    one: re.Pattern[bytes]  # one accepted line with its newline
    template: bytes  # `one` -> "<cc><nsn>,"
    cc: bytes


@lru_cache(maxsize=64)
def _compile(fast: FastLines) -> _Compiled:
    cc = fast.cc.encode("ascii")
    template = cc + b"".join(b"\\g<" + g.encode("ascii") + b">" for g in fast.groups) + b","
    return _Compiled(
        re.compile(b"(?:" + fast.national + b"\n)*") if fast.national is not None else None,
        re.compile(b"(?:" + fast.line + b"\n)*") if fast.groups else None,
        re.compile(fast.line + b"\n"),
        template,
        cc,
    )


def _national_json(run: bytes, c: _Compiled) -> str:
    """Keys of a run of NSN lines as a JSON array (keys never start with 0: the CC is first)."""
    return "[" + (c.cc + run[:-1].replace(b"\n", b"," + c.cc)).decode("ascii") + "]"


def _any_json(run: bytes, c: _Compiled) -> str:
    return "[" + c.one.sub(c.template, run)[:-1].decode("ascii") + "]"


def scan(
    blocks: Iterable[bytes], fmt: Format, country: str | None, *, slow_batch: int = 10_000
) -> Iterator[Piece]:
    """Read line blocks (see `line_blocks`) as `fmt` would read their text, in file order.

    Yields a `FastRun` per run of lines the format's fast path accepts and lists of `Item`s
    (at most `slow_batch` long, possibly empty) for the others.
    """
    fast = fmt.fast(country) if fmt.fast is not None else None
    compiled = _compile(fast) if fast is not None else None
    line_no = 0  # lines before the current position
    first = fmt.header  # the first data line may still be a header
    items: list[Item] = []
    for block in blocks:
        pos, size = 0, len(block)
        while pos < size:
            if compiled is not None:
                for run_re, to_json in (
                    (compiled.national, _national_json),
                    (compiled.run, _any_json),
                ):
                    if run_re is None:
                        continue
                    end = run_re.match(block, pos).end()  # type: ignore[union-attr]
                    if end > pos:
                        run = block[pos:end]
                        count = run.count(b"\n")
                        if items:
                            yield items
                            items = []
                        yield FastRun(line_no + 1, count, to_json(run, compiled))
                        line_no += count
                        first = False
                        pos = end
                if pos == size:
                    break
            # one line the fast path did not take (or every line, without a fast path)
            nl = block.index(b"\n", pos)
            line_no += 1
            s = block[pos:nl].decode("utf-8", errors="replace").strip()
            pos = nl + 1
            if not s or s[0] == "#":
                continue
            if first:
                first = False
                if is_header(s):
                    continue
            key, info, delete = fmt.line(s, country)
            items.append((line_no, key, info, delete))
            if len(items) >= slow_batch:
                yield items
                items = []
    if items:
        yield items
