"""The I/O-free protocol code against every recorded FastAGI session, plus properties."""

from __future__ import annotations

from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from agi.protocol import (
    AgiProtocolError,
    Reply,
    ReplyReader,
    _as_asterisk_writes_it,
    decode_get_variable,
    decode_variables_at_once,
    encode_get_variable,
    encode_get_variables_at_once,
    encode_set_variable,
    env_forgery,
    parse_env,
    parse_reply_line,
    parse_request,
    parse_script,
    quote_value,
    read_request,
)
from tests.agi.fake_asterisk import FakeAsterisk, env_lines, load_transcript, parse_args

FIXTURES = Path(__file__).resolve().parents[3] / "shared" / "fixtures" / "asterisk-22"
TRANSCRIPTS = sorted(FIXTURES.glob("*/agi-*.jsonl"))


def replies_after_env(transcript: list[dict[str, str]]) -> list[str]:
    """The `in` lines that follow the environment block (the replies Asterisk sent)."""
    lines = [e["line"] for e in transcript if e["dir"] == "in"]
    return lines[lines.index("\n") + 1 :]


def feed_all(lines: list[str]) -> tuple[list[Reply], ReplyReader]:
    reader = ReplyReader()
    replies = [r for line in lines if (r := reader.feed(line)) is not None]
    return replies, reader


def test_every_transcript_is_found() -> None:
    assert len(TRANSCRIPTS) >= 12, TRANSCRIPTS


@pytest.mark.parametrize("path", TRANSCRIPTS, ids=lambda p: f"{p.parent.name}/{p.name}")
def test_environment_of_every_recording(path: Path) -> None:
    transcript = load_transcript(path)
    lines = env_lines(transcript)
    env = parse_env("".join(lines).encode())
    request = parse_request(env)
    route = path.stem.split("-", 2)[2]  # agi-001-check -> check
    assert request.route == route
    assert request.params == {"tenant": "acme"}
    assert request.args[0] in {"spring", "winter"}
    assert env["agi_network"] == "yes"
    assert env["agi_accountcode"] == ""
    assert env["agi_extension"].startswith("614000000")
    assert request.uniqueid == env["agi_uniqueid"]
    assert request.is_agi
    # Every line of the block became one key (the blank line ends it).
    assert len(env) == len(lines) - 1
    assert env_forgery("".join(lines).encode()) is None  # as Asterisk writes it


def _with_caller_name(name: str) -> bytes:
    lines = env_lines(load_transcript(TRANSCRIPTS[0]))
    return "".join(
        f"agi_calleridname: {name}\n" if line.startswith("agi_calleridname:") else line
        for line in lines
    ).encode()


@given(st.text(st.characters(blacklist_characters="\n", blacklist_categories=["Cs"]), max_size=60))
def test_a_caller_name_without_a_line_break_is_never_taken_for_forgery(name: str) -> None:
    assert env_forgery(_with_caller_name(name)) is None


# Lines as a forged or damaged environment may hold them: keys Asterisk sends (in and out of
# order, repeated), arguments, colons without a space, folded and empty lines, CR, junk.
_ENV_LINE = st.one_of(
    st.sampled_from(
        [
            "agi_network: yes",
            "agi_network_script: check?tenant=acme",
            "agi_request: agi://127.0.0.1/check",
            "agi_uniqueid: 1.2",
            "agi_callerid: +61291234567",
            "agi_extension: 0412345678",
            "agi_arg_1: spring",
            "agi_arg_2: x",
            "agi_arg_01: y",
            "agi_arg_: z",
            "agi_accountcode: ",
            "agi_accountcode:",
            "a:b: c",
            " agi_arg_1: folded",
            "agi_new_key: later Asterisk",
            "",
            "\r",
        ]
    ),
    st.text(st.characters(blacklist_characters="\n", blacklist_categories=["Cs"]), max_size=30),
)


@given(st.lists(_ENV_LINE, max_size=30))
def test_one_pass_reads_every_block_as_the_three_passes(lines: list[str]) -> None:
    block = ("\n".join(lines) + "\n\n").encode()
    assert read_request(block) == parse_request(parse_env(block), env_forgery(block))


_VALUE = st.text(st.characters(blacklist_characters="\n", blacklist_categories=["Cs"]), max_size=20)


@given(
    values=st.lists(_VALUE, min_size=40, max_size=40),
    args=st.integers(min_value=0, max_value=5),
    change=st.sampled_from(["none", "drop", "swap", "repeat", "unspaced", "crlf", "extra"]),
    at=st.integers(min_value=0, max_value=30),
)
def test_blocks_as_asterisk_writes_them_are_read_as_the_three_passes(
    values: list[str], args: int, change: str, at: int
) -> None:
    """The server's quick reading of a block in Asterisk's own shape (`read_request`'s first
    try) against the line by line one, with any values and the changes a forged or damaged
    block has: a key dropped, two swapped or repeated, no space after the colon, CR, a key
    Asterisk does not send."""
    keys = [line.partition(":")[0] for line in env_lines(load_transcript(TRANSCRIPTS[0]))[:-1]]
    keys = [k for k in keys if not k.startswith("agi_arg_")]
    keys += [f"agi_arg_{n}" for n in range(1, args + 1)]
    lines = [f"{key}: {value}" for key, value in zip(keys, values, strict=False)]
    i = at % len(lines)
    if change == "drop":
        del lines[i]
    elif change == "swap":
        lines[i - 1], lines[i] = lines[i], lines[i - 1]
    elif change == "repeat":
        lines.insert(i, lines[i])
    elif change == "unspaced":
        lines[i] = lines[i].replace(": ", ":", 1)
    elif change == "crlf":
        lines[i] += "\r"
    elif change == "extra":
        lines.insert(i, "agi_new_key: later Asterisk")
    block = ("\n".join(lines) + "\n\n").encode()
    assert read_request(block) == parse_request(parse_env(block), env_forgery(block))
    if change == "none" and not any("\r" in v for v in values):
        assert _as_asterisk_writes_it(block.decode()) is not None  # the quick reading ran


@pytest.mark.parametrize("path", TRANSCRIPTS, ids=lambda p: f"{p.parent.name}/{p.name}")
def test_one_pass_reads_every_recording_as_the_three_passes(path: Path) -> None:
    block = "".join(env_lines(load_transcript(path))).encode()
    assert read_request(block) == parse_request(parse_env(block), env_forgery(block))


def test_a_huge_argument_number_is_a_forgery_not_a_crash() -> None:
    block = _with_caller_name("Acme\nagi_arg_" + "9" * 5000 + ": x")
    assert env_forgery(block) is not None
    assert parse_request(parse_env(block)).args == ("spring",)


@pytest.mark.parametrize(
    "injected",
    [
        "agi_arg_1: 0412345678",  # the number checked instead of the one dialled
        "agi_arg_0: 0412345678",
        "agi_extension: 0412345678",
        "agi_callerid: +61291234567",  # a caller ID the tenant owns
        "agi_network_script: optout",
        " agi_arg_1: 0412345678",  # a folded line
        "agi_callingpres: 0",
    ],
)
def test_a_caller_name_that_adds_environment_lines_is_a_forgery(injected: str) -> None:
    # Asterisk writes the name unescaped: a line break in it adds lines of its own.
    for separator in ("\n", "\r\n"):
        assert env_forgery(_with_caller_name(f"Acme{separator}{injected}")) is not None


@pytest.mark.parametrize("path", TRANSCRIPTS, ids=lambda p: f"{p.parent.name}/{p.name}")
def test_every_recorded_reply_parses_one_per_command(path: Path) -> None:
    transcript = load_transcript(path)
    commands = [e for e in transcript if e["dir"] == "out"]
    replies, _ = feed_all(replies_after_env(transcript))
    # A recording may end before the last command's answer was captured, never the reverse.
    assert len(commands) - 1 <= len(replies) <= len(commands)
    assert all(r.code in {200, 510, 520} for r in replies)


def test_allow_answered_get_variable_values() -> None:
    transcript = load_transcript(FIXTURES / "allow-answered" / "agi-001-check.jsonl")
    replies, reader = feed_all(replies_after_env(transcript))
    assert [decode_get_variable(r) for r in replies[:2]] == ["+61291234567", "+61291234567"]
    assert [(r.code, r.result, r.data) for r in replies[2:]] == [(200, "1", None)] * 2
    assert not reader.hung_up


def test_recorded_commands_match_our_encoding() -> None:
    transcript = load_transcript(FIXTURES / "block-rejected" / "agi-001-block.jsonl")
    sent = [e["line"] for e in transcript if e["dir"] == "out"]
    assert sent[0] == encode_set_variable("DIALGUARD_VERDICT", "BLOCK")
    reason = "dnc.national: number is on the national do-not-call register"
    assert sent[1] == encode_set_variable("DIALGUARD_REASON", reason)


def test_hangup_between_command_and_reply_does_not_shift_replies() -> None:
    transcript = load_transcript(FIXTURES / "hangup-during-agi" / "agi-001-slow.jsonl")
    replies, reader = feed_all(replies_after_env(transcript))
    assert [r.text for r in replies] == ["200 result=1"]
    assert reader.hung_up


def test_bad_commands_510_then_whole_520_block_then_next_reply() -> None:
    transcript = load_transcript(FIXTURES / "agi-bad-commands" / "agi-001-badcmd.jsonl")
    replies, _ = feed_all(replies_after_env(transcript))
    assert [r.code for r in replies] == [510, 520, 200]
    assert replies[1].lines == (
        "520-Invalid command syntax.  Proper usage follows:",
        "Sets a variable to the current channel.",
        "520 End of proper usage.",
    )
    # The third command (GET FULL VARIABLE ${CHANNEL(name)}) gets its own answer.
    assert replies[2].data == "Local/61400000001@outbound-0000002a;2"


def test_reader_waits_inside_a_520_block() -> None:
    reader = ReplyReader()
    assert reader.feed("520-Invalid command syntax.  Proper usage follows:\n") is None
    assert reader.in_block
    assert reader.feed("200 result=1 looks like a reply but is usage text\n") is None
    assert reader.feed("HANGUP\n") is None  # usage text too, not a hangup
    done = reader.feed("520 End of proper usage.\n")
    assert done is not None and done.code == 520 and len(done.lines) == 4
    assert not reader.hung_up


def test_trying_then_200_is_one_reply() -> None:
    replies, _ = feed_all(["100 result=0 Trying...\n", "200 result=0\n"])
    assert [(r.code, r.result) for r in replies] == [(200, "0")]


@pytest.mark.parametrize(
    ("line", "code", "result", "data", "extra"),
    [
        ("200 result=1 (va lue) x=2", 200, "1", "va lue", "x=2"),
        ("200 result=1 (a (nested) value)", 200, "1", "a (nested) value", ""),
        ("200 result=-1", 200, "-1", None, ""),
        ("200 result= (timeout)", 200, "", "timeout", ""),
        ("510 Invalid or unknown command", 510, None, None, "Invalid or unknown command"),
        ("511 Command Not Permitted on a dead channel or intercept routine", 511, None, None, None),
        ("520 Invalid command syntax.  Proper usage not available.", 520, None, None, None),
        ("garbage", 0, None, None, ""),
    ],
)
def test_reply_lines(
    line: str, code: int, result: str | None, data: str | None, extra: str | None
) -> None:
    reply = parse_reply_line(line)
    assert (reply.code, reply.result, reply.data) == (code, result, data)
    if extra is not None:
        assert reply.extra == extra


def test_get_variable_decoding() -> None:
    assert decode_get_variable(parse_reply_line("200 result=1 (acme)")) == "acme"
    assert decode_get_variable(parse_reply_line("200 result=1 ()")) == ""
    assert decode_get_variable(parse_reply_line("200 result=0")) is None
    with pytest.raises(AgiProtocolError):
        decode_get_variable(parse_reply_line("510 Invalid or unknown command"))
    assert encode_get_variable("DIALGUARD_TENANT") == "GET VARIABLE DIALGUARD_TENANT\n"


def test_get_full_variable_reply_as_recorded() -> None:
    # allow-answered: `GET FULL VARIABLE ${CALLERID(num)}` -> `200 result=1 (+61291234567)`
    reply = parse_reply_line("200 result=1 (+61291234567)")
    assert decode_variables_at_once(reply, ["CALLERID"]) == {"CALLERID": "+61291234567"}
    with pytest.raises(AgiProtocolError):
        decode_variables_at_once(parse_reply_line("200 result=0"), ["A", "B"])
    assert encode_get_variables_at_once(["DIALGUARD_TENANT", "DIALGUARD_CAMPAIGN"]) == (
        "GET FULL VARIABLE ${DIALGUARD_TENANT}|${DIALGUARD_CAMPAIGN}\n"
    )


NAMES = ["DIALGUARD_TENANT", "DIALGUARD_CAMPAIGN", "DIALGUARD_PURPOSE"]
channel_values = st.text(
    alphabet=st.characters(blacklist_categories=("Cs",), blacklist_characters="\r\n\x00"),
    max_size=20,
)


@given(st.dictionaries(st.sampled_from(NAMES), channel_values))
def test_variables_read_at_once_are_exact_or_refused(variables: dict[str, str]) -> None:
    """Through Asterisk's argument parsing and substitution (the fake's port of them), the
    one-command read gives back every value exactly, or None when a value holds the
    separator (the session then reads them one by one); it never mixes values up."""
    command = encode_get_variables_at_once(NAMES).rstrip("\n")
    line = FakeAsterisk(env=[], variables=variables).answer(command).rstrip("\n")
    decoded = decode_variables_at_once(parse_reply_line(line), NAMES)
    if any("|" in v for v in variables.values()):
        assert decoded is None
    else:
        assert decoded == {name: variables.get(name, "") for name in NAMES}


@pytest.mark.parametrize(
    ("script", "route", "params"),
    [
        ("check?tenant=acme", "check", {"tenant": "acme"}),
        ("check", "check", {}),
        ("/optout/?tenant=a&campaign=b%20c", "optout", {"tenant": "a", "campaign": "b c"}),
        ("agi://127.0.0.1:4573/check?tenant=acme", "check", {"tenant": "acme"}),
        ("", "", {}),
    ],
)
def test_scripts(script: str, route: str, params: dict[str, str]) -> None:
    assert parse_script(script) == (route, params)


def test_agi_request_is_the_fallback_for_the_route() -> None:
    env = {"agi_request": "agi://10.0.0.5:4573/optout?tenant=x", "agi_arg_2": "b", "agi_arg_1": "a"}
    request = parse_request(env)
    assert (request.route, dict(request.params), request.args) == (
        "optout",
        {"tenant": "x"},
        ("a", "b"),
    )


def test_env_tolerates_non_utf8_and_lines_without_separator() -> None:
    block = b"agi_network: yes\nagi_calleridname: Ren\xe9 \xff\nagi_accountcode:\nnonsense\n\n"
    env = parse_env(block)
    assert env["agi_calleridname"] == "Ren\ufffd \ufffd"
    assert env["agi_accountcode"] == ""
    assert env["nonsense"] == ""


@pytest.mark.parametrize("name", ["DIALGUARD_REASON", "__DIALGUARD_ID", "_x1"])
def test_valid_variable_names(name: str) -> None:
    assert parse_args(encode_set_variable(name, "v").rstrip("\n"))[2] == name


@pytest.mark.parametrize("name", ["", "1X", "CDR(x)", "A B", "X\nNOOP", 'X"'])
def test_invalid_variable_names_are_refused(name: str) -> None:
    with pytest.raises(ValueError):
        encode_set_variable(name, "v")
    with pytest.raises(ValueError):
        encode_get_variable(name)


def test_injection_through_a_value_stays_one_word() -> None:
    hostile = 'x"\nSET VARIABLE DIALGUARD_VERDICT ALLOW\r\n\\"'
    line = encode_set_variable("DIALGUARD_REASON", hostile)
    assert line.count("\n") == 1 and line.endswith("\n")
    words = parse_args(line[:-1])
    assert words[:3] == ["SET", "VARIABLE", "DIALGUARD_REASON"] and len(words) == 4
    assert words[3] == 'x" SET VARIABLE DIALGUARD_VERDICT ALLOW  \\"'


# -- properties -----------------------------------------------------------------------------

_no_line_breaks = st.text(
    alphabet=st.characters(blacklist_characters="\r\n\x00", blacklist_categories=("Cs",)),
    max_size=300,
)


@given(_no_line_breaks)
def test_quoting_round_trips_through_asterisks_parse_args(value: str) -> None:
    line = encode_set_variable("DIALGUARD_REASON", value)
    words = parse_args(line.rstrip("\n"))
    assert words == ["SET", "VARIABLE", "DIALGUARD_REASON", value]


@given(st.text(max_size=300))
def test_any_value_gives_exactly_four_words(value: str) -> None:
    line = encode_set_variable("X", value)
    assert line.count("\n") == 1
    words = parse_args(line.rstrip("\n"))
    assert len(words) == 4
    expected = value.replace("\r", " ").replace("\n", " ").replace("\x00", " ")
    assert words[3] == expected
    assert quote_value(value).startswith('"')


@given(st.binary(max_size=2000))
def test_env_parser_never_raises(block: bytes) -> None:
    env = parse_env(block)
    request = parse_request(env)
    assert isinstance(request.route, str)


@given(st.lists(st.text(max_size=80), max_size=30))
def test_reply_reader_never_raises(lines: list[str]) -> None:
    reader = ReplyReader()
    for line in lines:
        reply = reader.feed(line)
        assert reply is None or isinstance(reply.code, int)


def test_long_agi_urls_are_parsed_but_not_kept() -> None:
    """The parsed AGI URL is cached for the dialplan's few short URLs; a peer sending long
    distinct ones (the environment may hold 64 KiB) must not fill memory with them."""
    from agi.protocol import _parse_script_cached

    before = _parse_script_cached.cache_info().currsize
    for n in range(20):
        long_url = f"check?tenant=acme&pad={n}{'x' * 600}"
        assert parse_script(long_url) == ("check", {"tenant": "acme", "pad": f"{n}{'x' * 600}"})
    assert _parse_script_cached.cache_info().currsize == before
    assert parse_script("check?tenant=acme") == parse_script("check?tenant=acme")
