"""Number parsing: E.164 normalisation, regions, emergency numbers."""

from __future__ import annotations

import re

import phonenumbers
import pytest
from hypothesis import example, given, settings
from hypothesis import strategies as st

from rules.numbers import (
    EMERGENCY_BY_REGION,
    EMERGENCY_SHORT_CODES,
    FR_OVERSEAS_NATIONAL,
    clean_dial_string,
    is_emergency,
    number_range,
    parse_number,
    range_has_numbers,
    range_keys,
    register_key,
)


@pytest.mark.parametrize(
    ("raw", "region", "e164"),
    [
        ("0412 345 678", "AU", "+61412345678"),
        ("(02) 9123-4567", "AU", "+61291234567"),
        ("61400000001", "AU", "+61400000001"),
        ("+61400000001", None, "+61400000001"),
        ("0011 44 20 7946 0018", "AU", "+442079460018"),
        ("(202) 555-0123", "US", "+12025550123"),
        ("020 7946 0018", "GB", "+442079460018"),
    ],
)
def test_numbers_normalise_to_e164_in_the_tenant_region(
    raw: str, region: str | None, e164: str
) -> None:
    parsed = parse_number(raw, region)

    assert parsed.e164 == e164
    assert parsed.problem is None


def test_a_national_number_without_a_region_is_not_guessed() -> None:
    parsed = parse_number("0412345678", None)

    assert parsed.e164 is None
    assert "no region is configured" in (parsed.problem or "")


@pytest.mark.parametrize("raw", ["spring", "sip:bob@example.com", "", "+", "12ab"])
def test_text_that_is_not_a_number_is_unusable(raw: str) -> None:
    parsed = parse_number(raw, "AU")

    assert not parsed.usable
    assert parsed.problem


def test_an_unassigned_range_is_possible_but_not_valid() -> None:
    parsed = parse_number("+61 1 2345 6789", None)

    assert not parsed.usable


@pytest.mark.parametrize(
    ("raw", "region"),
    [
        ("000", "AU"),
        ("112", "AU"),
        ("911", "US"),
        ("999", "GB"),
        ("112", None),
        ("15", "FR"),
        # National numbers phonenumbers does not know as emergency ones.
        ("091", "ES"),
        ("092", "ES"),
        ("061", "ES"),
        ("080", "ES"),
        ("114", "FR"),
        ("196", "FR"),
        ("1530", "IT"),
    ],
)
def test_emergency_numbers_are_recognised(raw: str, region: str | None) -> None:
    assert is_emergency(raw, region)


@pytest.mark.parametrize(
    ("raw", "region"),
    [("0412345678", "AU"), ("+61000", None), ("1234", "AU"), ("091", "AU"), ("196", "GB")],
)
def test_ordinary_numbers_are_not_emergency(raw: str, region: str | None) -> None:
    assert not is_emergency(raw, region)


@given(st.text(max_size=40), st.sampled_from([None, "AU", "US", "GB", "FR", "DE"]))
def test_parsing_never_raises_and_e164_is_canonical(raw: str, region: str | None) -> None:
    parsed = parse_number(raw, region)

    if parsed.e164 is not None:
        again = phonenumbers.parse(parsed.e164, None)
        assert phonenumbers.format_number(again, phonenumbers.PhoneNumberFormat.E164) == parsed.e164
        assert register_key(parsed.e164) == int(parsed.e164[1:])


@given(st.from_regex(r"\+?[0-9]{1,15}", fullmatch=True))
def test_dial_strings_of_digits_are_kept_digit_for_digit(raw: str) -> None:
    assert clean_dial_string(raw) == raw


_REGIONS = [None, "AU", "US", "GB", "FR", "DE", "IT", "JP", "BR"]


@given(st.from_regex(r"\+?[0-9]{1,16}", fullmatch=True), st.sampled_from(_REGIONS))
@example("+600042000000", None)  # a leading zero whose E.164 form read back as +60 42000000
def test_the_number_type_is_phonenumbers_own(raw: str, region: str | None) -> None:
    # parse_number matches the type once for the region it found (rules/numbers.py).
    parsed = parse_number(raw, region)

    if parsed.e164 is not None:
        number = phonenumbers.parse(parsed.e164, None)
        assert parsed.valid == phonenumbers.is_valid_number(number)
        assert parsed.country == phonenumbers.region_code_for_number(number)
        assert parsed.country_code == number.country_code


@given(st.from_regex(r"[0-9]{1,12}", fullmatch=True), st.sampled_from(_REGIONS[1:]))
@example("191", "FR")  # one of the region's own (EMERGENCY_BY_REGION), which the test missed
def test_the_length_shortcut_never_changes_what_is_an_emergency(raw: str, region: str) -> None:
    expected = (
        raw in EMERGENCY_SHORT_CODES
        or raw in EMERGENCY_BY_REGION.get(region, ())
        or phonenumbers.is_emergency_number(raw, region)
    )

    assert is_emergency(raw, region) == expected


def test_a_full_number_is_never_an_emergency_number() -> None:
    assert not is_emergency("61412345678", "AU")
    assert not is_emergency("112112", "ZZ")  # a region without metadata


def _example_numbers() -> list[str]:
    """Every region's example number of every type, and each with a digit more and less."""
    out: list[str] = []
    for region in sorted(phonenumbers.SUPPORTED_REGIONS):
        for kind in phonenumbers.PhoneNumberType.values():
            example = phonenumbers.example_number_for_type(region, kind)
            if example is None:
                continue
            e164 = phonenumbers.format_number(example, phonenumbers.PhoneNumberFormat.E164)
            out += [e164, e164 + "0", e164[:-1]]
    for code in phonenumbers.COUNTRY_CODES_FOR_NON_GEO_REGIONS:
        example = phonenumbers.example_number_for_non_geo_entity(code)
        if example is not None:
            out.append(phonenumbers.format_number(example, phonenumbers.PhoneNumberFormat.E164))
    return out


def test_region_and_type_are_phonenumbers_own_for_every_example_number() -> None:
    # parse_number finds the region and the type in one pass (rules/numbers.py).
    names = {value: name for name, value in vars(phonenumbers.PhoneNumberType).items()}
    for e164 in _example_numbers():
        parsed = parse_number(e164, None)
        if parsed.e164 is None:
            continue
        number = phonenumbers.parse(e164, None)
        assert parsed.country == phonenumbers.region_code_for_number(number), e164
        kind = names[phonenumbers.number_type(number)].lower()
        assert parsed.number_type == kind, e164
        assert parsed.valid == phonenumbers.is_valid_number(number), e164


@pytest.mark.parametrize(
    ("dialled", "e164", "country"),
    [
        ("0692123456", "+262692123456", "RE"),
        ("06 92 12 34 56", "+262692123456", "RE"),
        ("0269612345", "+262269612345", "YT"),
        ("0596601234", "+596596601234", "MQ"),  # phonenumbers took it for a Paris line
        ("0690001234", "+590690001234", "GP"),
        ("0694201234", "+594694201234", "GF"),
        ("0612345678", "+33612345678", "FR"),
    ],
)
def test_a_french_overseas_number_in_france_s_national_form_is_the_department_s(
    dialled: str, e164: str, country: str
) -> None:
    # Dialled from France as 0692 12 34 56, it was read as +33 692..., which does not exist
    # (blocked as invalid), or as a metropolitan line on Paris time (0596...).
    parsed = parse_number(dialled, "FR")
    assert (parsed.e164, parsed.country, parsed.valid) == (e164, country, True)
    assert parse_number("0692123456", "AU").e164 != "+262692123456"  # France's form only


@pytest.mark.parametrize(
    ("written", "region", "e164", "country"),
    [
        ("+33692123456", "GB", "+262692123456", "RE"),  # no such French number: invalid
        ("+33 5 96 60 12 34", None, "+596596601234", "MQ"),  # "a metropolitan line"
        ("0033269612345", "FR", "+262269612345", "YT"),
        ("+33612345678", None, "+33612345678", "FR"),
    ],
)
def test_an_overseas_number_written_under_33_is_the_department_s(
    written: str, region: str | None, e164: str, country: str
) -> None:
    # The same line as 0692 12 34 56, written as from abroad with France's code: it blocked
    # as invalid, or was checked as a metropolitan line, and a register keyed it where no
    # call matched.
    parsed = parse_number(written, region)
    assert (parsed.e164, parsed.country, parsed.valid) == (e164, country, True)


@pytest.mark.parametrize("region", ["RE", "YT", "GP", "MQ", "GF", "BL", "MF"])
def test_every_overseas_department_s_numbers_are_in_the_french_form_table(region: str) -> None:
    """Each department's fixed and mobile example numbers (phonenumbers' metadata) start
    with a prefix of the table, under their own country code."""
    for kind in (phonenumbers.PhoneNumberType.FIXED_LINE, phonenumbers.PhoneNumberType.MOBILE):
        example = phonenumbers.example_number_for_type(region, kind)
        national = str(example.national_number)
        assert FR_OVERSEAS_NATIONAL.get(national[:3]) == str(example.country_code), (kind, national)


@pytest.mark.parametrize(("prefix", "code"), sorted(FR_OVERSEAS_NATIONAL.items()))
def test_each_prefix_of_the_french_form_table_is_a_department_s(prefix: str, code: str) -> None:
    regions = phonenumbers.COUNTRY_CODE_TO_REGION_CODE[int(code)]
    samples = [prefix + f"{n:06d}" for n in range(0, 10**6, 7919)]
    assert any(
        phonenumbers.is_valid_number(phonenumbers.parse("+" + code + x, None)) for x in samples
    ), regions


@pytest.mark.parametrize(
    ("text", "stored"),
    [
        ("+1 900*", "+1900*"),
        ("+61 (2) 9876-*", "+6129876*"),
        (" +44* ", "+44*"),
        ("+262 692*", "+262692*"),
        # Read as phonenumbers reads the numbers it begins: a trunk prefix after the
        # country code is dropped...
        ("+44 (0)20 7946*", "+44207946*"),
        ("+61 02 9876*", "+6129876*"),
        ("+7 8 495*", "+7495*"),  # 8 495 123 45 67 is +7 495 123 45 67
        # ...but not where the numbers begin with that digit.
        ("+7 800*", "+7800*"),
        ("+39 06*", "+3906*"),
        ("+250 0658*", "+2500658*"),  # Rwanda's 06 fixed lines
        ("+81 0037 6*", "+8100376*"),  # Japan's 0037 toll-free
    ],
)
def test_a_range_is_stored_as_its_e164_prefix(text: str, stored: str) -> None:
    assert number_range(text) == (stored, "")


@pytest.mark.parametrize(
    ("text", "problem"),
    [
        ("02 9876*", "international form"),
        ("+*", "international form"),
        ("+1 900", "is not a range"),
        ("+3*", "does not begin with a country code"),
        ("+" + "1" * 16 + "*", "at most 15 digits"),
        ("+1 9a0*", "international form"),
        ("+01*", "international form"),  # int("01") is 1, a country code
        ("+0 1 900*", "international form"),
        ("+1 1*", "read differently by what follows"),  # not all of NANP
        ("+44 0*", "only a national (trunk) prefix"),
        ("+55 90*", "read differently by what follows"),  # a carrier code, or not
    ],
)
def test_a_range_that_cannot_be_read_says_why(text: str, problem: str) -> None:
    stored, why = number_range(text)
    assert stored is None and problem in why


@given(st.text(max_size=30))
def test_any_text_is_a_range_of_plus_and_digits_or_refused(text: str) -> None:
    stored, why = number_range(text)
    if stored is None:
        assert why
    else:
        assert re.fullmatch(r"\+[0-9]{1,15}\*", stored) and why == ""


@settings(max_examples=2000)
@given(st.from_regex(r"\+?[0-9]{1,16}", fullmatch=True), st.sampled_from(_REGIONS))
@example("+600042000000", None)
@example("09038376761", "BR")  # a carrier code: +55 9038376761 read back as +55 38376761
def test_an_e164_form_reads_back_as_itself(raw: str, region: str | None) -> None:
    # Lists store numbers in E.164: one that read back as another would never match.
    parsed = parse_number(raw, region)
    if parsed.e164 is not None:
        assert parse_number(parsed.e164, None).e164 == parsed.e164


@given(
    number=st.from_regex(r"\+[1-9][0-9]{1,14}", fullmatch=True),
    prefix=st.from_regex(r"\+[1-9][0-9]{0,14}", fullmatch=True),
)
def test_a_range_covers_exactly_the_numbers_it_begins(number: str, prefix: str) -> None:
    overseas = number[1:4] in ("262", "590", "594", "596")  # also read in their +33 form
    if not overseas:
        assert (f"{prefix}*" in range_keys(number)) is number.startswith(prefix)


@pytest.mark.parametrize("prefix", ["+262*", "+262692*", "+33*", "+336*", "+33692*"])
def test_a_french_overseas_number_is_in_the_ranges_of_both_its_forms(prefix: str) -> None:
    assert prefix in range_keys("+262692123456")
    assert "+33612*" not in range_keys("+262692123456")
    assert "+33692*" not in range_keys("+33612345678")  # metropolitan: its own form only


@settings(max_examples=300, deadline=None)
@given(st.from_regex(r"\+?[0-9]{6,15}", fullmatch=True), st.sampled_from(_REGIONS[1:]))
def test_a_range_cut_from_a_number_as_dialled_covers_that_number(raw: str, region: str) -> None:
    # The range an operator writes from a number's first digits covers the number, however
    # phonenumbers reads it (trunk prefixes, leading zeros, carrier codes).
    parsed = parse_number(raw, region)
    if parsed.e164 is None or not parsed.valid:
        return
    number = parsed.e164
    for cut in range(len(str(parsed.country_code)) + 2, len(number)):
        stored, _ = number_range(number[:cut] + "*")
        if stored is not None:
            assert stored in range_keys(number), (number, number[:cut], stored)


def _plan_patterns() -> list[tuple[int, str]]:
    """(country code, national-number pattern) of every type in every region's plan."""
    found = []
    for region in sorted(phonenumbers.SUPPORTED_REGIONS):
        metadata = phonenumbers.PhoneMetadata.metadata_for_region(region)
        for name in ("fixed_line", "mobile", "toll_free", "premium_rate", "voip", "uan"):
            desc = getattr(metadata, name, None) if metadata else None
            if desc is not None and desc.national_number_pattern:
                found.append((metadata.country_code, desc.national_number_pattern))
    return found


_PATTERNS = _plan_patterns()


@settings(max_examples=300, deadline=None)
@given(st.sampled_from(_PATTERNS), st.data())
def test_a_range_that_begins_a_valid_number_has_numbers(
    plan: tuple[int, str], data: st.DataObject
) -> None:
    # Numbers drawn from the plans' own patterns, sparse ones too (+1 340 9 in the Virgin
    # Islands, +90 561): a sample of completions once said such ranges begin no number.
    code, pattern = plan
    national = data.draw(st.from_regex(f"(?:{pattern})", fullmatch=True))
    number = phonenumbers.parse(f"+{code}{national}")
    if not phonenumbers.is_valid_number(number):
        return  # a pattern a shorter possible length or another region overrides
    e164 = phonenumbers.format_number(number, phonenumbers.PhoneNumberFormat.E164)
    for cut in range(1 + len(str(code)), len(e164) + 1):
        assert range_has_numbers(e164[:cut] + "*"), e164[:cut]


@pytest.mark.parametrize(
    "prefix", ["+229*", "+2290*", "+800*", "+8001*", "+882*", "+13409*", "+90561*", "+995522*"]
)
def test_a_sparse_plan_s_range_has_numbers(prefix: str) -> None:
    # Benin's ten digits all begin 01; the Virgin Islands' 340 9, Turkey's 561 and
    # Georgia's 522 have few numbers; the non-geographic codes have no region.
    assert range_has_numbers(prefix)


@pytest.mark.parametrize("prefix", ["+10*", "+446*", "+15550*", "+70*"])
def test_a_range_no_number_begins_has_none(prefix: str) -> None:
    # NANP area codes do not begin with 0 or 1; the UK has no 06; 555 is no area code.
    assert not range_has_numbers(prefix)
