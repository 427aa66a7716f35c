"""Each register reader on a small sample file, and the plain reader under arbitrary text."""

from __future__ import annotations

from pathlib import Path

from hypothesis import given, settings
from hypothesis import strategies as st

from dialguard.registers.readers import (
    FORMATS,
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
