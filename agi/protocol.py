"""The FastAGI wire protocol without any I/O: environment block, replies, command encoding.

Everything here works on bytes/str values handed in by `agi.server`, so it can be tested
line by line against the traffic recorded from Asterisk 22 (shared/fixtures/asterisk-22).
Facts relied on (shared/docs/asterisk-protocols.md section 1):

* the environment is `name: value\\n` lines, LF only, no escaping, ended by one blank line;
* `agi_network_script` is everything after the host, query string included; Asterisk does not
  parse it, so a comma in the AGI() URL arrives as `agi_arg_1`;
* replies are `200 result=N [(data)] [extra]`, `510 ...`, `511 ...`, a single-line `520 ...`
  or a multi-line `520-` block ended by `520 End of proper usage.`; `100 result=0 Trying...`
  precedes a later `200`; a bare `HANGUP` line can arrive at any point between replies;
* a command is one line; words are split on space/tab outside `"..."` and `\\` escapes the
  next character, so values are always sent quoted and escaped.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from functools import lru_cache
from urllib.parse import parse_qsl, urlsplit

ENV_TERMINATOR = b"\n\n"
# Asterisk reads one command into an 8192-byte buffer (AGI_BUF_LEN); keep values well below.
MAX_VALUE_CHARS = 2000

_VARIABLE_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")
_ARG_KEY = re.compile(r"^agi_arg_([0-9]{1,6})$")  # bounded: int() refuses 4,300 digits
_REPLY_CODE = re.compile(r"^([0-9]{3})(?:[ -](.*))?$")
_RESULT = re.compile(r"^result=(\S*)\s*(.*)$")
# Characters that would end the command line early inside Asterisk.
_LINE_BREAKERS = str.maketrans({"\r": " ", "\n": " ", "\x00": " "})


class AgiProtocolError(Exception):
    """Asterisk answered something the session cannot use (not a `200`, or unparseable)."""


# -- environment ---------------------------------------------------------------------------


def parse_env(block: bytes) -> dict[str, str]:
    """Parse the environment block. Never raises.

    Bytes that are not UTF-8 (a caller name from a SIP header, say) are replaced rather than
    refused; a line without `: ` is kept with an empty value when it names a key (Asterisk
    sends `agi_accountcode: ` with an empty value, and a stripped trailing space must not
    lose the key).
    """
    env: dict[str, str] = {}
    text = block.decode("utf-8", errors="replace")
    for raw_line in text.split("\n"):
        line = raw_line.rstrip("\r")
        if not line:
            continue
        name, sep, value = line.partition(": ")
        if not sep:
            name, value = line.rstrip(":").strip(), ""
        name = name.strip()
        if name:
            env[name] = value
    return env


# The keys Asterisk 22 sends (res_agi.c setup_env), in the order it sends them; then
# `agi_arg_1`, `agi_arg_2`... last.
ENV_ORDER = (
    "agi_network",
    "agi_network_script",
    "agi_request",
    "agi_channel",
    "agi_language",
    "agi_type",
    "agi_uniqueid",
    "agi_version",
    "agi_callerid",
    "agi_calleridname",
    "agi_callingpres",
    "agi_callingani2",
    "agi_callington",
    "agi_callingtns",
    "agi_dnid",
    "agi_rdnis",
    "agi_context",
    "agi_extension",
    "agi_priority",
    "agi_enhanced",
    "agi_accountcode",
    "agi_threadid",
)
_ENV_RANK = {name: rank for rank, name in enumerate(ENV_ORDER)}


def env_forgery(block: bytes) -> str | None:
    """Why the environment block cannot be what Asterisk wrote, or None.

    Asterisk writes the values unescaped: a caller-ID name holding a line break (set from
    outside data, or passed on from an inbound leg) adds lines of its own, such as
    `agi_arg_1` or `agi_extension`, and the guard would check another number or caller ID
    than the one dialled. Such a line repeats a key Asterisk sends once, comes out of the
    order Asterisk sends them in, or numbers the arguments other than 1, 2, 3... Never
    raises."""
    seen: set[str] = set()
    rank, args = -1, 0
    for raw_line in block.decode("utf-8", errors="replace").split("\n"):
        name = raw_line.rstrip("\r").partition(":")[0].strip()
        if not name:
            continue
        if name in seen:
            return f"{name} appears twice"
        seen.add(name)
        match = _ARG_KEY.match(name)
        if match is None and name.startswith("agi_arg_"):
            return f"{name[:40]} is no argument Asterisk numbers"
        if match:
            args += 1
            if int(match.group(1)) != args:
                return f"{name} is out of sequence"
            continue
        known = _ENV_RANK.get(name)
        if known is None:
            continue  # a key a later Asterisk may add
        if args or known < rank:
            return f"{name} is out of order"
        rank = known
    return None


def read_request(block: bytes) -> AgiRequest:
    """`parse_request(parse_env(block), env_forgery(block))` in one pass over the block.

    The server reads one environment per call, and the three passes (two decodes, two
    splits, a regular expression per key) were a tenth of the FastAGI layer's time. The
    same result for every block (property tests)."""
    text = block.decode("utf-8", errors="replace")
    return _as_asterisk_writes_it(text) or _read_request(text)


# `agi_arg_1`, `agi_arg_2`...: the names of the arguments, in Asterisk's order.
_ARG_NAMES = tuple(f"agi_arg_{n}" for n in range(1, 129))
_ENV_KEYS = list(ENV_ORDER)


def _as_asterisk_writes_it(text: str) -> AgiRequest | None:
    """The request of a block exactly as Asterisk 22 writes it, else None (`_read_request`
    reads it then). Every key of ENV_ORDER in that order, then the arguments numbered from 1,
    each line `name: value`, no CR: such a block cannot be forged (env_forgery), and the line
    by line reading of `_read_request` gives this same result. One regular expression for
    the fixed keys (a third of splitting and comparing the lines in Python); the server
    sees nothing else from Asterisk 22."""
    match = _ASTERISK_ENV.match(text)
    if match is None:
        return None
    *values, rest = match.groups()
    env = dict(zip(_ENV_KEYS, values, strict=True))
    args: list[str] = []
    if rest:
        for line in rest[:-1].split("\n"):
            name, sep, value = line.partition(": ")
            if not sep or len(args) == len(_ARG_NAMES) or name != _ARG_NAMES[len(args)]:
                return None
            env[name] = value
            args.append(value)
    return _request(env, None, tuple(args))


# A block in Asterisk's shape: each key of ENV_ORDER with its value (no line end in it), then
# the argument lines (checked one by one: their numbers must run 1, 2, 3...), then the blank
# line that ends the block.
_ASTERISK_ENV = re.compile(
    "".join(f"{re.escape(key)}: ([^\n\r]*)\n" for key in ENV_ORDER)
    + "((?:agi_arg_[^\n\r]*\n)*)\n\\Z"
)


def _read_request(text: str) -> AgiRequest:
    """`read_request` of any block, line by line."""
    env: dict[str, str] = {}
    forged: str | None = None
    seen: set[str] = set()
    rank, args = -1, 0
    for raw_line in text.split("\n"):
        line = raw_line.rstrip("\r")
        if not line:
            continue
        name, sep, value = line.partition(": ")
        if sep:
            key = name.strip()
            # env_forgery's name ends at the first colon, which may come before ": "
            checked = name.partition(":")[0].strip() if ":" in name else key
        else:
            key, value = line.rstrip(":").strip(), ""
            checked = line.partition(":")[0].strip()
        if key:
            env[key] = value
        if forged is not None or not checked:
            continue
        if checked in seen:
            forged = f"{checked} appears twice"
            continue
        seen.add(checked)
        if checked.startswith("agi_arg_"):
            match = _ARG_KEY.match(checked)
            if match is None:
                forged = f"{checked[:40]} is no argument Asterisk numbers"
                continue
            args += 1
            if int(match.group(1)) != args:
                forged = f"{checked} is out of sequence"
            continue
        known = _ENV_RANK.get(checked)
        if known is None:
            continue  # a key a later Asterisk may add
        if args or known < rank:
            forged = f"{checked} is out of order"
            continue
        rank = known
    return _request(env, forged)


@dataclass(frozen=True, slots=True)
class AgiRequest:
    """One FastAGI session's request: which route, with what parameters and arguments.

    `forged` says why the environment cannot be Asterisk's own (`env_forgery`), if so."""

    env: Mapping[str, str]
    route: str
    params: Mapping[str, str] = field(default_factory=dict)
    args: tuple[str, ...] = ()
    forged: str | None = None

    def get(self, name: str) -> str | None:
        """An environment value, None when absent."""
        return self.env.get(name)

    @property
    def uniqueid(self) -> str | None:
        return self.env.get("agi_uniqueid") or None

    @property
    def is_agi(self) -> bool:
        """False for a peer that is not Asterisk (a port scan, a health check, garbage)."""
        return any(key.startswith("agi_") for key in self.env)


def parse_script(script: str) -> tuple[str, dict[str, str]]:
    """Split `check?tenant=acme` (or a full `agi://host:port/check?...` URL) into route and
    query parameters. The route is the path without leading/trailing slashes."""
    parse = _parse_script_cached if len(script) <= _CACHED_SCRIPT_CHARS else _parse_script
    route, params = parse(script)
    return route, dict(params)


# A dialplan's few AGI URLs come with every call (parse_qsl costs 4 us): cached, but only
# short ones, so that a peer sending long distinct URLs cannot make the cache hold megabytes.
_CACHED_SCRIPT_CHARS = 512


def _parse_script(script: str) -> tuple[str, tuple[tuple[str, str], ...]]:
    text = script.strip()
    if "://" in text:
        parts = urlsplit(text)
        path, query = parts.path, parts.query
    else:
        path, _, query = text.partition("?")
    params = tuple(dict(parse_qsl(query, keep_blank_values=True)).items())
    return path.strip("/"), params


_parse_script_cached = lru_cache(maxsize=256)(_parse_script)


def parse_request(env: Mapping[str, str], forged: str | None = None) -> AgiRequest:
    """Build the request from a parsed environment. Never raises.

    `agi_network_script` is preferred; `agi_request` (the AGI() URL as written) is the
    fallback, e.g. for a session where the script part was missing from the preface.
    """
    return _request(dict(env), forged)


def _request(
    env: dict[str, str], forged: str | None, args: tuple[str, ...] | None = None
) -> AgiRequest:
    """The request of a parsed environment, which it keeps (not copied); `args` when the
    caller has them in order already."""
    script = env.get("agi_network_script")
    if script is None:
        url = env.get("agi_request", "")
        script = url if "://" in url else ""
    route, params = parse_script(script)
    if args is None:
        numbered: list[tuple[int, str]] = []
        for key, value in env.items():
            match = _ARG_KEY.match(key) if key.startswith("agi_arg_") else None
            if match:
                numbered.append((int(match.group(1)), value))
        args = tuple(value for _, value in sorted(numbered))
    return AgiRequest(env, route, params, args, forged)


# -- replies --------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Reply:
    """One complete answer to one command.

    `code` 0 means the line was not an AGI reply at all (the session is out of sync).
    `result` is the `result=` value, `data` the text in parentheses (not escaped by
    Asterisk), `extra` what follows; `lines` keeps the raw lines (a 520 block has several).
    """

    code: int
    result: str | None = None
    data: str | None = None
    extra: str = ""
    lines: tuple[str, ...] = ()

    @property
    def ok(self) -> bool:
        return self.code == 200

    @property
    def text(self) -> str:
        return "\n".join(self.lines)


def parse_reply_line(line: str) -> Reply:
    """Parse one single-line reply (`200 ...`, `510 ...`, `511 ...`, `520 ...`). Never raises."""
    if line == _SET_OK_LINE:
        return _SET_OK  # every SET VARIABLE's answer: a value, made once
    match = _REPLY_CODE.match(line)
    if match is None:
        return Reply(0, lines=(line,))
    code = int(match.group(1))
    rest = match.group(2) or ""
    result_match = _RESULT.match(rest)
    if result_match is None:
        return Reply(code, extra=rest, lines=(line,))
    result, tail = result_match.group(1), result_match.group(2)
    data: str | None = None
    if tail.startswith("("):
        close = tail.rfind(")")
        if close > 0:
            data, tail = tail[1:close], tail[close + 1 :].strip()
    return Reply(code, result, data, tail, (line,))


_SET_OK_LINE = "200 result=1"
_SET_OK = Reply(200, "1", None, "", (_SET_OK_LINE,))


class ReplyReader:
    """A small state machine turning Asterisk's reply lines into one `Reply` per command.

    Feed it every line read after a command was sent; it returns a `Reply` when one is
    complete and None while it needs more lines. It skips unsolicited `HANGUP` lines
    (remembering them in `hung_up`), `100 Trying...` interim lines, and reads a multi-line
    `520-` usage block through to its `520 ` terminator, so replies never shift by one.
    """

    def __init__(self) -> None:
        self.hung_up = False
        self._block: list[str] | None = None

    @property
    def in_block(self) -> bool:
        return self._block is not None

    def feed(self, raw_line: str) -> Reply | None:
        line = raw_line.rstrip("\r\n")
        if self._block is not None:
            self._block.append(line)
            if line.startswith("520 "):
                lines, self._block = tuple(self._block), None
                return Reply(520, extra=lines[0][4:], lines=lines)
            return None
        if line.strip() == "HANGUP":
            self.hung_up = True
            return None
        if not line.strip():
            return None
        if line.startswith("520-"):
            self._block = [line]
            return None
        reply = parse_reply_line(line)
        if reply.code == 100:
            return None
        return reply


# -- commands -------------------------------------------------------------------------------


@lru_cache(maxsize=1024)  # the routes' few names, checked once each (a refusal is not kept)
def validate_variable_name(name: str) -> str:
    """A channel variable name safe to put on a command line unquoted (`__X` allowed)."""
    if not _VARIABLE_NAME.match(name):
        raise ValueError(f"not a valid channel variable name: {name!r}")
    return name


def quote_value(value: str) -> str:
    """Quote one argument so Asterisk's parse_args gives back exactly this one word.

    CR, LF and NUL would end or cut the command line (a caller name with a newline could
    inject a second command), so they become spaces first; long values are cut to fit
    Asterisk's 8 KiB command buffer.
    """
    clean = value.translate(_LINE_BREAKERS)[:MAX_VALUE_CHARS]
    return '"' + clean.replace("\\", "\\\\").replace('"', '\\"') + '"'


def encode_set_variable(name: str, value: str) -> str:
    """`SET VARIABLE NAME "value"\\n`: always exactly four words for Asterisk."""
    return f"SET VARIABLE {validate_variable_name(name)} {quote_value(value)}\n"


def encode_get_variable(name: str) -> str:
    """`GET VARIABLE NAME\\n` (a name ending in `)` would be a function read: refused)."""
    return f"GET VARIABLE {validate_variable_name(name)}\n"


# `GET FULL VARIABLE` substitutes an expression on the channel (an unset variable becomes the
# empty string) and answers `200 result=1 (<text>)`: one command reads every call setting,
# one round trip instead of one per variable. The values are joined with this separator; a
# value that itself contains it shows up as too many fields, and the caller then falls back
# to one `GET VARIABLE` per name, so no value is ever misread.
FIELD_SEPARATOR = "|"


def encode_get_variables_at_once(names: Sequence[str]) -> str:
    """`GET FULL VARIABLE ${A}|${B}|...\n` (no spaces, so no quoting is needed)."""
    return _get_full_variable(tuple(names))


@lru_cache(maxsize=64)
def _get_full_variable(names: tuple[str, ...]) -> str:
    expression = FIELD_SEPARATOR.join(f"${{{validate_variable_name(n)}}}" for n in names)
    return f"GET FULL VARIABLE {expression}\n"


def decode_variables_at_once(reply: Reply, names: Sequence[str]) -> dict[str, str] | None:
    """The values of `encode_get_variables_at_once(names)` by name (unset and empty are both
    ""), or None when the fields cannot be told apart (a value contains the separator)."""
    if reply.code != 200 or reply.result != "1":
        raise AgiProtocolError(f"GET FULL VARIABLE was answered {reply.text!r}")
    fields = (reply.data or "").split(FIELD_SEPARATOR)
    if len(fields) != len(names):
        return None
    return dict(zip(names, fields, strict=True))


def decode_get_variable(reply: Reply) -> str | None:
    """The value of a `GET VARIABLE` reply: `200 result=1 (v)` → v, `200 result=0` → None."""
    if reply.code != 200:
        raise AgiProtocolError(f"GET VARIABLE was answered {reply.text!r}")
    if reply.result == "1":
        return reply.data if reply.data is not None else ""
    if reply.result == "0":
        return None
    raise AgiProtocolError(f"GET VARIABLE was answered {reply.text!r}")
