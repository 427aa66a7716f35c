"""The dialler's word on the callee's line (DIALGUARD_LINE_TYPE), and the number types a
line may then have: a rule for mobiles must hold every call that may reach one."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
from hypothesis import given
from hypothesis import strategies as st

from rules.models import (
    LINE_TYPE_WORDS,
    CallAttempt,
    LineType,
    line_type_from_text,
    possible_number_types,
)
from rules.numbers import NUMBER_TYPES, parse_number

LINE_TYPES = (None, LineType.MOBILE, LineType.LANDLINE)


@pytest.mark.parametrize("line_type", LINE_TYPES)
@pytest.mark.parametrize("number_type", sorted(NUMBER_TYPES))
def test_a_line_may_be_a_mobile_unless_something_says_it_is_not(
    number_type: str, line_type: LineType | None
) -> None:
    types = possible_number_types(number_type, line_type)
    assert number_type in types  # what the number itself says is never dropped
    assert types <= NUMBER_TYPES
    either = number_type == "fixed_line_or_mobile"
    may_be_mobile = (
        number_type == "mobile" or line_type is LineType.MOBILE or (either and line_type is None)
    )
    assert ("mobile" in types) is may_be_mobile
    # A landline is one only where the number allows it and the dialler did not say mobile.
    assert ("fixed_line" in types) is (
        number_type == "fixed_line" or (either and line_type is not LineType.MOBILE)
    )


@pytest.mark.parametrize(
    ("number_type", "line_type", "expected"),
    [
        ("fixed_line_or_mobile", None, {"fixed_line_or_mobile", "mobile", "fixed_line"}),
        ("fixed_line_or_mobile", LineType.LANDLINE, {"fixed_line_or_mobile", "fixed_line"}),
        ("fixed_line_or_mobile", LineType.MOBILE, {"fixed_line_or_mobile", "mobile"}),
        ("mobile", LineType.LANDLINE, {"mobile"}),  # the dialler cannot unmake a mobile
        ("fixed_line", LineType.MOBILE, {"fixed_line", "mobile"}),  # ported
        ("toll_free", None, {"toll_free"}),
        ("toll_free", LineType.LANDLINE, {"toll_free"}),
    ],
)
def test_some_lines_by_hand(
    number_type: str, line_type: LineType | None, expected: set[str]
) -> None:
    assert possible_number_types(number_type, line_type) == expected


def test_a_line_type_given_as_text_is_read_as_one() -> None:
    # The rules compare by identity: "mobile" as a plain string must not read as no mobile.
    attempt = CallAttempt("+353851234567", None, datetime(2026, 6, 10, tzinfo=UTC),
                          line_type="mobile")  # type: ignore[arg-type]  # fmt: skip
    assert attempt.line_type is LineType.MOBILE
    with pytest.raises(ValueError):
        CallAttempt("+353851234567", None, datetime(2026, 6, 10, tzinfo=UTC),
                    line_type="fax")  # type: ignore[arg-type]  # fmt: skip


def test_a_us_number_is_of_either_type_until_the_dialler_says() -> None:
    number = parse_number("+12125550123", None)
    assert number.number_type == "fixed_line_or_mobile"
    assert {"mobile", "fixed_line"} <= possible_number_types(number.number_type, None)
    only_landline = possible_number_types(number.number_type, LineType.LANDLINE)
    assert "mobile" not in only_landline
    # A number that is not assigned has no type to keep: unknown, never a mobile by itself.
    assert possible_number_types(None, None) == {"unknown"}


@given(
    st.sampled_from([*sorted(LINE_TYPE_WORDS), "", "unknown", "UNKNOWN"]),
    st.sampled_from(["", " ", "\t"]),
    st.booleans(),
)
def test_every_vendor_word_reads_in_any_case_and_padding(word: str, pad: str, upper: bool) -> None:
    text = pad + (word.upper() if upper else word) + pad
    expected = LINE_TYPE_WORDS.get(word.lower())
    assert line_type_from_text(text) is expected


@given(st.text(max_size=30))
def test_any_other_text_is_refused_by_name(text: str) -> None:
    word = text.strip().lower()
    if word in LINE_TYPE_WORDS or word in ("", "unknown"):
        assert line_type_from_text(text) is LINE_TYPE_WORDS.get(word)
        return
    with pytest.raises(ValueError, match="is not mobile or landline"):
        line_type_from_text(text)
