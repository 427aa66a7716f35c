"""Each register reader on a small sample file, and the plain reader under arbitrary text."""

from __future__ import annotations

import io
import itertools
import json
from pathlib import Path

import phonenumbers
import pytest
from hypothesis import example, given, settings
from hypothesis import strategies as st

from dialguard.registers.blocks import BOM, FastRun, line_blocks, scan
from dialguard.registers.readers import (
    FORMATS,
    Format,
    Item,
    default_format,
    read_au_dncr,
    read_be_dncm,
    read_fr_bloctel,
    read_plain,
    read_uk_tps,
    read_us_dnc,
    read_us_dnc_changes,
)
from rules.numbers import parse_number, register_key

DATA = Path(__file__).resolve().parents[1] / "data" / "registers"


def read(reader, name: str, country: str) -> list[Item]:  # type: ignore[no-untyped-def]
    with (DATA / name).open(encoding="utf-8") as f:
        return list(reader(f, country))


def accepted(items: list[Item]) -> list[tuple[int, int, str | None]]:
    return [(n, k, i) for n, k, i, _ in items if k is not None]


def rejected_lines(items: list[Item]) -> list[int]:
    return [n for n, k, i, _ in items if k is None and i is not None]


def test_plain_reads_e164_and_national_and_skips_comments() -> None:
    items = read(read_plain, "plain-au.txt", "AU")
    assert accepted(items) == [
        (2, 61412345678, None),
        (3, 61412345679, None),
        (5, 61291234567, None),
        (7, 61412345678, None),
    ]
    assert rejected_lines(items) == [6]


def test_us_dnc_full_accepts_both_layouts() -> None:
    items = read(read_us_dnc, "us-dnc-full.txt", "US")
    assert [k for _, k, _ in accepted(items)] == [
        12015550123,
        12015550124,
        12125550125,
        12015550123,
    ]
    assert rejected_lines(items) == [4]  # NPA cannot start with 1


def test_us_dnc_changes_find_number_and_flag() -> None:
    items = read(read_us_dnc_changes, "us-dnc-changes.txt", "US")
    assert items[0] == (1, 12015550123, None, True)
    assert items[1] == (2, 12125550199, None, False)
    assert items[2] == (3, 12015550126, None, False)
    assert rejected_lines(items) == [4]


def test_au_dncr_wash_status_column() -> None:
    items = read(read_au_dncr, "au-dncr-wash.csv", "AU")
    assert [k for _, k, _ in accepted(items)] == [61412345678, 61412345679, 61412345671]
    assert (3, None, None, False) in items  # not registered: neither accepted nor rejected
    assert rejected_lines(items) == [5]


def test_uk_tps_both_fixed_width_layouts() -> None:
    items = read(read_uk_tps, "uk-tps.txt", "GB")
    assert [k for _, k, _ in accepted(items)] == [
        442073787244,
        447860338653,
        442073787245,
        447860338654,
    ]
    assert rejected_lines(items) == [5]


def test_fr_bloctel_first_field_and_header() -> None:
    items = read(read_fr_bloctel, "fr-bloctel.csv", "FR")
    assert [k for _, k, _ in accepted(items)] == [33612345678, 33612345679, 33612345680]
    assert rejected_lines(items) == []


def test_a_french_register_takes_the_overseas_numbers_french_law_covers() -> None:
    # Réunion (+262) and Guadeloupe (+590) numbers are French callees (rules.location), so a
    # Bloctel copy holds them; they were rejected as another country's. Spain's are not.
    lines = ["+262692123456", "+590690001234", "0612345678", "+34612345678"]
    items = list(read_plain(iter(lines), "FR"))
    assert [k for _, k, _ in accepted(items)] == [262692123456, 590690001234, 33612345678]
    assert rejected_lines(items) == [4]


def test_a_french_register_reads_overseas_numbers_written_in_national_form() -> None:
    # "0692 12 34 56" is Réunion's; read as +33 692..., a number France does not have, it
    # was keyed where no call ever matched, and no line was reported. Both readers agree,
    # and the block scanner leaves such lines to the line reader.
    lines = ["0692123456", "0690001234", "0694201234", "0596601234", "06 92 12 34 56", "0612345678"]
    keys = [262692123456, 590690001234, 594694201234, 596596601234, 262692123456, 33612345678]
    data = "".join(line + "\n" for line in lines).encode()
    fast, bulk = _fast_items(FORMATS["plain"], data, "FR", 1 << 20)
    assert fast == _slow_items(FORMATS["plain"], data, "FR")
    assert [k for _, k, _ in accepted(fast)] == keys
    assert bulk == [6]


def test_a_french_register_reads_overseas_numbers_written_under_33() -> None:
    # "+33 692 12 34 56" (or 596601234, France's form without its 0) is the same line as
    # a call's: the block scanner took it in bulk under +33, where no call ever matched it.
    lines = ["+33692123456", "+33596601234", "+33612345678", "+262692123456", "596601234"]
    keys = [262692123456, 596596601234, 33612345678, 262692123456, 596596601234]
    data = "".join(line + "\n" for line in lines).encode()
    fast, bulk = _fast_items(FORMATS["plain"], data, "FR", 1 << 20)
    assert fast == _slow_items(FORMATS["plain"], data, "FR")
    assert [k for _, k, _ in accepted(fast)] == keys
    # The key a call to each line's number is looked up by (rules.numbers).
    assert keys == [register_key(parse_number(line, "FR").e164 or "") for line in lines]
    assert bulk == [3]


def test_be_dncm_fills_registration_date() -> None:
    items = read(read_be_dncm, "be-dncm.txt", "BE")
    assert accepted(items) == [
        (1, 32470123456, "2024-01-05"),
        (2, 32470123457, "2024-01-05"),
        (3, 32470123458, "2024-01-05"),
        (4, 32470123459, None),
    ]
    assert rejected_lines(items) == [5]  # 30 February


def test_register_default_formats() -> None:
    assert default_format("uk-ctps") == "uk-tps"
    assert default_format("it-rpo") == "plain"
    assert FORMATS["us-dnc-changes"].changes
    assert "[U]" in FORMATS["au-dncr"].note


@settings(max_examples=150, deadline=None)
@given(
    st.lists(st.text(max_size=30), max_size=8),
    st.sampled_from(["AU", "US", "GB", "FR", "BE", "IT", "ES", None]),
)
def test_plain_never_raises_and_keys_round_trip(lines: list[str], country: str | None) -> None:
    for _line_no, key, info, delete in read_plain(lines, country):
        assert not delete
        if key is None:
            assert info
        else:
            e164 = f"+{key}"
            assert parse_number(e164, None).e164 == e164


@settings(max_examples=150, deadline=None)
@given(
    st.lists(st.from_regex(r"\+?[0-9]{6,13}", fullmatch=True), min_size=1, max_size=5),
    st.sampled_from(["AU", "US", "GB", "FR", "BE", "IT", "ES"]),
)
def test_fast_path_agrees_with_parse_number(lines: list[str], country: str) -> None:
    """A register key must equal the key of the same number dialled by a tenant of that country."""
    for line_no, key, _info, _ in read_plain(lines, country):
        if key is not None:
            parsed = parse_number(lines[line_no - 1], country)
            assert parsed.e164 is not None
            assert register_key(parsed.e164) == key


# -- the block fast path against the line readers ------------------------------------------

_DIGITS = st.text("0123456789", min_size=1, max_size=15)
_PREFIXES = ["", "+", "0", "00", "1", "01", "011", "61", "44", "33", "32", "39", "+1", "+61", "+44"]
_LINES = st.one_of(
    _DIGITS,
    st.builds(str.__add__, st.sampled_from(_PREFIXES), _DIGITS),
    st.from_regex(r"[0-9][0-9]{9}", fullmatch=True),  # US shape, NPA 0/1 included
    st.from_regex(r"0[0-9]{8,9}", fullmatch=True),  # national with trunk prefix
    st.from_regex(r"\+?[0-9]{1,4}[ -][0-9]{2,5}[ -][0-9]{3,6}", fullmatch=True),
    st.sampled_from(
        [
            "",
            "   ",
            "# comment",
            "header",
            "number,status",
            "2015550123,D",
            "201,5550123",
            "0412345678;Not registered",
            "0470123456;2024-01-05",
            "20240105",
            " 2015550123",
            "2015550123 ",
            "０４１２３４５６７８",  # fullwidth digits
            "abc",
        ]
    ),
    st.text(st.characters(blacklist_categories=("Cs",)), max_size=16),
)


def _file_bytes(lines: list[str], ends: list[str], bom: bool, junk: bool) -> bytes:
    out = BOM if bom else b""
    for i, line in enumerate(lines):
        out += line.encode() + ends[i % len(ends)].encode()
        if junk and i == 1:
            out += b"\xff\xfe12\n"  # not UTF-8
    return out


def _text_lines(data: bytes) -> list[str]:
    """The lines as reading the file in text mode gives them (universal newlines, BOM dropped)."""
    text = io.TextIOWrapper(io.BytesIO(data), encoding="utf-8-sig", errors="replace", newline=None)
    return list(text)


def _slow_items(fmt: Format, data: bytes, country: str | None) -> list[Item]:
    return list(fmt.read(_text_lines(data), country))


def _fast_items(
    fmt: Format, data: bytes, country: str | None, chunk: int
) -> tuple[list[Item], list[int]]:
    """The block scanner's output as items, and the line numbers it accepted in bulk."""
    chunks = [data[i : i + chunk] for i in range(0, len(data), chunk)]
    items: list[Item] = []
    bulk: list[int] = []
    for piece in scan(line_blocks(chunks), fmt, country, slow_batch=3):
        if isinstance(piece, FastRun):
            keys = json.loads(piece.keys_json)
            assert len(keys) == piece.count > 0
            lines = range(piece.first_line, piece.first_line + piece.count)
            items.extend((n, k, None, False) for n, k in zip(lines, keys, strict=True))
            bulk.extend(lines)
        else:
            items.extend(piece)
    return items, bulk


@settings(max_examples=300, deadline=None)
@given(
    st.lists(_LINES, min_size=1, max_size=12),
    st.sampled_from(sorted(FORMATS)),
    st.sampled_from(["US", "CA", "AU", "GB", "FR", "BE", "IT", "ES", "DE", "NZ", None]),
    st.lists(st.sampled_from(["\n", "\r\n", "\r"]), min_size=1, max_size=3),
    st.booleans(),
    st.booleans(),
    st.integers(1, 40),
)
# Found by this test: the bulk path read a 13-character `+44` line the TPS reader refuses.
@example(["+441000000000"], "uk-tps", None, ["\n"], False, False, 1)
def test_block_scan_reads_exactly_as_the_line_reader(
    lines: list[str],
    fmt_name: str,
    country: str | None,
    ends: list[str],
    bom: bool,
    junk: bool,
    chunk: int,
) -> None:
    """Same items (line numbers, keys, rejects, dates) whatever the chunking, BOM, line ends;
    and every line taken in bulk has the key `parse_number` gives it in the register's country.
    """
    fmt = FORMATS[fmt_name]
    data = _file_bytes(lines, ends, bom, junk)
    fast, bulk = _fast_items(fmt, data, country, chunk)
    assert fast == _slow_items(fmt, data, country)
    if bulk:
        text = _text_lines(data)
        by_line = {n: k for n, k, _, _ in fast}
        for n in bulk:
            parsed = parse_number(text[n - 1], _country_of(fmt_name, country))
            assert parsed.e164 is not None
            assert register_key(parsed.e164) == by_line[n]


def _country_of(fmt_name: str, country: str | None) -> str | None:
    """The country a format reads national numbers in (US DNC ten-digit lines: always the US)."""
    if fmt_name == "us-dnc":
        return "US"
    return country or {"au-dncr": "AU", "uk-tps": "GB", "fr-bloctel": "FR"}.get(fmt_name)


@pytest.mark.parametrize(
    ("fmt_name", "country", "line", "key"),
    [
        ("us-dnc", "US", "2015550123", 12015550123),
        ("plain", "US", "2015550123", 12015550123),
        ("plain", "US", "12015550123", 12015550123),  # trunk prefix 1
        ("plain", "AU", "0412345678", 61412345678),
        ("plain", "GB", "02073787244", 442073787244),
        ("plain", "FR", "0612345678", 33612345678),
        ("plain", "IT", "0612345678", 390612345678),  # Italian NSN keeps its 0
        ("plain", "GB", "+442073787244", 442073787244),  # E.164
        ("plain", "CA", "+12015550123", 12015550123),  # +1: read with the US metadata
        ("au-dncr", None, "0412345678", 61412345678),
    ],
)
def test_common_shapes_take_the_fast_path(
    fmt_name: str, country: str | None, line: str, key: int
) -> None:
    items, bulk = _fast_items(FORMATS[fmt_name], (line + "\n").encode() * 3, country, 1 << 20)
    assert bulk == [1, 2, 3]
    assert [k for _, k, _, _ in items] == [key] * 3


@pytest.mark.parametrize(
    ("country", "line"),
    [
        ("US", "1201555012"),  # NPA 1..: national number cannot start with the trunk prefix
        ("US", "0015550123"),
        ("AU", "0012345678"),  # 00: an international prefix
        ("AU", "61412345678"),  # CC + NSN: left to the line reader
        ("BO", "010000000"),  # phonenumbers keeps this 0: not a trunk prefix here
        ("FR", "06 12 34 56 78"),
    ],
)
def test_other_shapes_go_to_the_line_reader(country: str, line: str) -> None:
    items, bulk = _fast_items(FORMATS["plain"], (line + "\n").encode(), country, 1 << 20)
    assert bulk == []
    assert items == list(read_plain([line], country))


def test_scan_streams_block_by_block() -> None:
    """Constant memory: pieces come out while the input is still being read."""
    endless = itertools.repeat(b"2015550123\n" * 1000)
    pieces = scan(line_blocks(endless), FORMATS["us-dnc"], "US")
    first = next(pieces)
    assert isinstance(first, FastRun) and (first.first_line, first.count) == (1, 1000)
    second = next(pieces)
    assert isinstance(second, FastRun) and second.first_line == 1001


def _line_in(region: str) -> st.SearchStrategy[tuple[str, str]]:
    meta = phonenumbers.PhoneMetadata.metadata_for_region(region)
    assert meta is not None
    cc, np_ = str(meta.country_code), meta.national_prefix or "0"
    prefixes = st.sampled_from([*_PREFIXES, f"+{cc}", cc, np_, f"{np_}{cc}", f"+{cc}{np_}"])
    return st.tuples(st.just(region), st.builds(str.__add__, prefixes, _DIGITS))


@settings(max_examples=400, deadline=None)
@given(st.sampled_from(sorted(phonenumbers.SUPPORTED_REGIONS)).flatmap(_line_in))
def test_plain_fast_regex_is_the_line_readers_fast_path(case: tuple[str, str]) -> None:
    """In every region: the regex derived from the metadata accepts only what `number_key`
    accepts, with the same key, which is the key of `parse_number` in that region, and the key
    reads back as itself (a dialled number can match it)."""
    country, line = case
    items, bulk = _fast_items(FORMATS["plain"], (line + "\n").encode(), country, 64)
    assert items == list(read_plain([line], country))
    if bulk:
        parsed = parse_number(line, country)
        assert parsed.e164 is not None and register_key(parsed.e164) == items[0][1]
        assert parse_number(parsed.e164, None).e164 == parsed.e164


def test_uk_tps_takes_e164_lines_as_every_register_does() -> None:
    # architecture.md: every register accepts E.164. The TPS reader refused `+44...` lines as
    # too long for a 12-character record, so a mixed file left those numbers callable.
    text = "+442079460000\n+44 7860 338653\n0207 3787244\n"
    items = list(read_uk_tps(io.StringIO(text), "GB"))
    assert [k for _, k, _ in accepted(items)] == [442079460000, 447860338653, 442073787244]
    assert rejected_lines(items) == []
