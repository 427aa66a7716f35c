"""Phone numbers: parsing to E.164 with phonenumbers, emergency numbers, register keys.

A number written in national format is read in the tenant's configured region. There is no
silent default region: without one, a national-format number is reported as unreadable.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from functools import lru_cache

import phonenumbers
import regex
from phonenumbers import (
    COUNTRY_CODE_TO_REGION_CODE,
    NumberParseException,
    PhoneMetadata,
    PhoneNumber,
    PhoneNumberType,
    shortnumberinfo,
)

try:
    # Matches a national number against one region's type patterns. Private, so guarded:
    # without it, region_code_for_number() and number_type() give the same answers, slower.
    # See _region_and_type.
    from phonenumbers.phonenumberutil import _number_type_helper
except ImportError:  # pragma: no cover - depends on the installed phonenumbers
    _number_type_helper = None  # type: ignore[assignment]

# Keep phonenumbers' compiled metadata patterns rather than look each one up in the re
# module's bounded cache on every match (a tenth of a parse). Same results; process-wide.
if hasattr(phonenumbers, "enable_pattern_cache"):
    phonenumbers.enable_pattern_cache()

# What a dial string may contain besides digits: a leading +, and the separators people and
# exports use. Anything else (letters, SIP URIs) is not a telephone number.
_DIAL_STRING = re.compile(r"^\+?[0-9 ()\-./]{1,40}$")
_SEPARATORS = re.compile(r"[ ()\-./]")

# Emergency short codes recognised even when the tenant has no region configured
# (regulations.md section 6.7). With a region, phonenumbers' per-country table is used too.
EMERGENCY_SHORT_CODES = frozenset(
    {
        "000",
        "106",
        "110",
        "111",
        "112",
        "113",
        "115",
        "117",
        "118",
        "119",
        "15",
        "17",
        "18",
        "911",
        "999",
        "100",
        "101",
        "102",
        "108",
        "144",
        "190",
        "192",
        "193",
    }
)

# National emergency numbers that phonenumbers' short-number metadata does not know
# (regulations.md 6.7 gives an open list): without them a person dialling one was blocked
# as `number.invalid`. Used when the tenant's region is the country.
EMERGENCY_BY_REGION: dict[str, frozenset[str]] = {
    # Policía Nacional, Policía Local, medical emergencies, Guardia Civil, fire brigades.
    "ES": frozenset({"091", "092", "061", "062", "080"}),
    # For the deaf and hard of hearing, aeronautical and maritime rescue, attack alert.
    "FR": frozenset({"114", "191", "196", "197"}),
    "IT": frozenset({"1530"}),  # Coast Guard
}

_TYPE_NAMES = {
    PhoneNumberType.FIXED_LINE: "fixed_line",
    PhoneNumberType.MOBILE: "mobile",
    PhoneNumberType.FIXED_LINE_OR_MOBILE: "fixed_line_or_mobile",
    PhoneNumberType.TOLL_FREE: "toll_free",
    PhoneNumberType.PREMIUM_RATE: "premium_rate",
    PhoneNumberType.SHARED_COST: "shared_cost",
    PhoneNumberType.VOIP: "voip",
    PhoneNumberType.PERSONAL_NUMBER: "personal_number",
    PhoneNumberType.PAGER: "pager",
    PhoneNumberType.UAN: "uan",
    PhoneNumberType.VOICEMAIL: "voicemail",
    PhoneNumberType.UNKNOWN: "unknown",
}
# The names `ParsedNumber.number_type` takes, which settings (consent `number_types`) name.
NUMBER_TYPES = frozenset(_TYPE_NAMES.values())


@dataclass(frozen=True, slots=True)
class ParsedNumber:
    """A dialled or presented number after parsing.

    `e164` is set when phonenumbers could read the digits as a possible number; `valid`
    says whether it is also assigned in the numbering plan phonenumbers knows.
    `problem` says in words why the number cannot be used, when it cannot.
    `country_code` is the calling code `e164` starts with (61 for +61...).
    """

    raw: str
    e164: str | None
    country: str | None
    national: str | None
    valid: bool
    number_type: str | None
    problem: str | None
    country_code: int | None = None

    @property
    def usable(self) -> bool:
        return self.e164 is not None and self.valid

    @property
    def digits(self) -> str | None:
        """E.164 without the plus sign, as the registers store it."""
        return self.e164[1:] if self.e164 else None


def clean_dial_string(raw: str) -> str | None:
    """Strip separators from a dial string; None when it is not a telephone number at all."""
    text = raw.strip()
    if not _DIAL_STRING.match(text):
        return None
    cleaned = _SEPARATORS.sub("", text)
    return cleaned if cleaned.strip("+") else None


def is_dial_string(raw: str) -> bool:
    return clean_dial_string(raw) is not None


# France's overseas departments have country codes of their own, but their numbers are
# written in France's national form (0692 12 34 56), as they are dialled from anywhere in
# France. phonenumbers reads that form as +33, where most do not exist (0692...) and some it
# takes for metropolitan lines (0596, Martinique's; 0263, 0269); a +33 number written with
# these digits (+33 692..., 0033 596...) is the same line written as from abroad. The three
# digits after the 0 and the country code they take (ARCEP's plan as phonenumbers' metadata
# has it; tests/rules/test_numbers.py checks every department's fixed and mobile examples).
FR_OVERSEAS_NATIONAL = {
    "262": "262", "263": "262", "269": "262", "639": "262", "692": "262", "693": "262",
    "590": "590", "690": "590", "691": "590",  # Guadeloupe, Saint-Barthélemy, Saint-Martin
    "594": "594", "694": "594",  # French Guiana
    "596": "596", "696": "596", "697": "596",  # Martinique
}  # fmt: skip


def _overseas_under_33(number: PhoneNumber) -> PhoneNumber:
    """A +33 number in one of the overseas ranges, under the department's own code."""
    national = str(number.national_number)
    code = FR_OVERSEAS_NATIONAL.get(national[:3]) if len(national) == 9 else None
    if code is None:
        return number
    return phonenumbers.parse(f"+{code}{national}", None)


def parse_number(raw: str, region: str | None) -> ParsedNumber:
    """Parse a number as dialled or presented.

    `region` (ISO 3166 alpha-2) is how national-format numbers are read. International
    forms are accepted as `+CC...` and, when a region is known, with its international
    prefix (00 or 011...) as phonenumbers understands it.
    Cached: the result is a value, and caller IDs and redialled numbers repeat all day. Text
    longer than any dial string is refused before the cache: 65,536 long junk caller IDs or
    list lines would otherwise be kept (a 20 KB line each).
    """
    if len(raw) > _LONGEST_RAW:  # padding may hide a number: the cache keeps the stripped text
        raw = raw.strip()
        if len(raw) > _LONGEST_RAW:
            return _unusable(raw, "is not a telephone number")
    return _parse_number(raw, region)


_LONGEST_RAW = 64  # a dial string is at most 41 characters (_DIAL_STRING), with room for spaces


@lru_cache(maxsize=65536)
def _parse_number(raw: str, region: str | None) -> ParsedNumber:
    cleaned = clean_dial_string(raw)
    if cleaned is None:
        return _unusable(raw, "is not a telephone number")
    if not cleaned.startswith("+") and region is None:
        return _unusable(
            raw,
            "is in national format and no region is configured to read it "
            "(set the tenant's region in dialguard.toml, or give it in E.164 with a +)",
        )
    try:
        number = phonenumbers.parse(cleaned, None if cleaned.startswith("+") else region)
    except NumberParseException as exc:
        return _unusable(raw, f"cannot be read as a telephone number ({_parse_error(exc)})")
    if number.country_code == 33:
        number = _overseas_under_33(number)
    if not phonenumbers.is_possible_number(number):
        return _unusable(raw, "has the wrong number of digits for its country")
    e164 = phonenumbers.format_number(number, phonenumbers.PhoneNumberFormat.E164)
    # phonenumbers' is_valid_number is exactly "its type is known": ask for the type once.
    country, number_type = _region_and_type(number)
    if not _reads_back(number, e164, country):
        # `+60 0042...` (a zero kept after the country code) or a Brazilian `090...` dialled
        # nationally (90 is a carrier code): the E.164 form reads back as another number,
        # which lists would then match instead. Such a dial string names no number the
        # guard can check.
        return _unusable(raw, "has an E.164 form that reads back as another number")
    national = str(number.national_number)
    valid = number_type != PhoneNumberType.UNKNOWN
    ntype = _TYPE_NAMES.get(number_type, "unknown")
    problem = None if valid else "is not an assigned range in its country's numbering plan"
    return ParsedNumber(raw, e164, country, national, valid, ntype, problem, number.country_code)


def _reads_back(number: PhoneNumber, e164: str, country: str | None) -> bool:
    """Whether `e164`, parsed again, is `e164`: it is not, where its national number begins
    with what the country strips as a national or carrier prefix. Parsed again only then:
    a parse is a tenth of a check."""
    code = number.country_code
    if code is None:  # pragma: no cover - parse always sets one
        return True
    region = country or phonenumbers.region_code_for_country_code(code)  # an invalid number
    metadata = PhoneMetadata.metadata_for_region_or_calling_code(code, region)
    national = phonenumbers.national_significant_number(number)
    if not _strips_a_prefix(metadata, national):
        return True
    again = phonenumbers.parse(e164, None)
    return phonenumbers.format_number(again, phonenumbers.PhoneNumberFormat.E164) == e164


def _strips_a_prefix(metadata: PhoneMetadata | None, national: str) -> bool:
    """Whether a parse would strip something from the start of `national` digits, as a
    national or carrier prefix (the country's `national_prefix_for_parsing`)."""
    pattern = metadata.national_prefix_for_parsing if metadata is not None else None
    found = re.match(pattern, national) if pattern else None
    return found is not None and found.end() > 0  # an empty match (Argentina's) strips nothing


def _region_and_type(number: PhoneNumber) -> tuple[str | None, int]:
    """phonenumbers' region_code_for_number(number) and number_type(number), in one pass.

    For a calling code several regions share (+1, +7, +44, +61...), region_code_for_number
    matches the number against each region's type patterns until one knows it, and
    number_type() then finds the region and matches the type all over again. This takes the
    same steps as region_code_for_number (phonenumberutil._region_code_for_number_from_list)
    and keeps the type it matched. tests/rules/test_numbers.py compares both with
    phonenumbers' own answers for every region's example numbers.
    """
    if _number_type_helper is None:  # pragma: no cover - see the import
        return phonenumbers.region_code_for_number(number), phonenumbers.number_type(number)
    code = number.country_code
    regions = phonenumbers.COUNTRY_CODE_TO_REGION_CODE.get(code) if code is not None else None
    if code is None or not regions:
        return None, PhoneNumberType.UNKNOWN  # no region, so no metadata to know a type
    national = phonenumbers.national_significant_number(number)
    if len(regions) == 1:
        metadata = PhoneMetadata.metadata_for_region_or_calling_code(code, regions[0])
        if metadata is None:
            return regions[0], PhoneNumberType.UNKNOWN
        return regions[0], _number_type_helper(national, metadata)
    for region in regions:
        metadata = PhoneMetadata.metadata_for_region(region.upper(), None)
        if metadata is None:
            continue
        if metadata.leading_digits is not None:
            # The region is told by its leading digits; the type is matched once, for it.
            if re.match(metadata.leading_digits, national):
                return region, _number_type_helper(national, metadata)
            continue
        found = _number_type_helper(national, metadata)
        if found != PhoneNumberType.UNKNOWN:
            return region, found
    return None, PhoneNumberType.UNKNOWN


def country_text(country: str | None) -> str:
    """A country as a reason names it: its code, or what a number without one is (an
    unassigned range has no country: the reason must not read "calls to None")."""
    return country or "numbers of no known country"


def is_emergency(raw: str, region: str | None) -> bool:
    """True when the dial string is an emergency number for the region (or a well-known one)."""
    cleaned = clean_dial_string(raw)
    if cleaned is None or cleaned.startswith("+"):
        return False
    if cleaned in EMERGENCY_SHORT_CODES:
        return True
    if region is None:
        return False
    if cleaned in EMERGENCY_BY_REGION.get(region.upper(), ()):
        return True
    # Most dial strings are full numbers, far longer than any emergency number: skip the
    # pattern match for them.
    if len(cleaned) > _longest_emergency_number(region):
        return False
    return bool(shortnumberinfo.is_emergency_number(cleaned, region))


@lru_cache(maxsize=512)
def _longest_emergency_number(region: str) -> int:
    """The most digits an emergency number of `region` has, from phonenumbers' metadata.

    Per region and on first use: loading every region's short-number metadata up front would
    cost every start of the CLI a tenth of a second. Without a stated length there is no bound.
    """
    metadata = PhoneMetadata.short_metadata_for_region(region.upper(), None)
    if metadata is None or metadata.emergency is None:
        return 0  # is_emergency_number() is False for every number of such a region
    lengths = metadata.emergency.possible_length
    return max(lengths) if lengths else _MAX_DIGITS


_MAX_DIGITS = 40  # _DIAL_STRING's limit: no dial string is longer


# Ends a suppression entry's number that is a range: every number with that E.164 prefix.
RANGE_MARK = "*"
# A range's prefix: + and the country code at least, at most a whole E.164 number's digits.
_RANGE_DIGITS = re.compile(r"\+([1-9][0-9]{0,14})")
_COUNTRY_CODES = frozenset(str(code) for code in COUNTRY_CODE_TO_REGION_CODE)


def number_range(text: str) -> tuple[str | None, str]:
    """A suppression range written `+CC...*` (spaces, dots, dashes and brackets ignored) as
    the list stores it (`+1900*`), or None and why not.

    International form only: a national prefix cannot be read without a whole number (is
    `02` Sydney or a trunk prefix?). It must begin with a country code, so that a typo
    (`+3*`) cannot cover several countries. It is read as phonenumbers reads the numbers it
    begins (`_as_numbers_read`): a trunk prefix written after the country code (`+44 (0)20*`)
    is dropped where it drops it. A French overseas number is covered by the ranges of both
    its forms (`+262 692*` and `+33 692*`, see `range_keys`)."""
    shown = shorten(text)
    body = text.strip()
    if not body.endswith(RANGE_MARK):
        return None, f"{shown!r} is not a range (an E.164 prefix ending in {RANGE_MARK})"
    match = _RANGE_DIGITS.fullmatch(_SEPARATORS.sub("", body[:-1]))
    if match is None:
        return None, (
            f"{shown!r}: a range is written in international form, + and at most 15 digits"
            f" then {RANGE_MARK} (+1 900{RANGE_MARK})"
        )
    digits = match[1]
    code = _country_code(digits)
    if code is None:
        return None, f"{shown!r} does not begin with a country code"
    written = digits[len(code) :]
    national = _as_numbers_read(code, written) if written else ""  # `+44*`: the whole country
    if national is None:
        return None, (
            f"{shown!r}: numbers that begin so are read differently by what follows (a"
            " national or carrier prefix after the country code): write the range as the"
            " numbers' E.164 form begins"
        )
    if written and not national:  # `+44 0*` would widen to every number of the country
        return None, f"{shown!r}: after +{code} comes only a national (trunk) prefix"
    return f"+{code}{national}{RANGE_MARK}", ""


def _country_code(digits: str) -> str | None:
    """The country code E.164 `digits` begin with (country codes are prefix-free)."""
    return next((digits[:n] for n in (1, 2, 3) if digits[:n] in _COUNTRY_CODES), None)


# Digits that complete a range's prefix into whole numbers, to see how phonenumbers reads them.
_FILLERS = "059"


def _as_numbers_read(code: str, national: str) -> str | None:
    """A range's national digits as phonenumbers reads the numbers they begin: `020 7946`
    after +44 is `20 7946` (the trunk prefix dropped, as from `+44 (0)20 7946 0018`); Rwanda's
    `0658`, Japan's `0037` and Russia's `800` keep their first digit, as its numbers do.
    Asked of whole numbers, the prefix completed to each length the country's numbers
    have; None when the answer depends on the completion (ambiguous)."""
    region = phonenumbers.region_code_for_country_code(int(code))
    metadata = PhoneMetadata.metadata_for_region_or_calling_code(int(code), region)
    general = metadata.general_desc if metadata is not None else None
    if general is None or not _strips_a_prefix(metadata, national):
        return national  # nothing a parse would strip: the digits are the number's own
    readings: dict[bool, set[str]] = {True: set(), False: set()}  # by validity
    lengths = {n + extra for n in general.possible_length for extra in (0, 1, 2)}
    for length in sorted(lengths):
        for filler in _FILLERS:
            tail = filler * (length - len(national))
            if not tail:
                continue
            try:
                number = phonenumbers.parse(f"+{code}{national}{tail}", None)
            except NumberParseException:
                continue
            read = phonenumbers.national_significant_number(number)
            possible = phonenumbers.is_possible_number(number)  # a length numbers have
            if possible and number.country_code == int(code) and read.endswith(tail):
                valid = phonenumbers.is_valid_number(number)
                readings[valid].add(read[: len(read) - len(tail)])
    # The numbers in the plan say how the prefix reads; lacking any, those of a length
    # numbers have.
    read_as = readings[True] or readings[False]
    if len(read_as) > 1:
        return None
    return read_as.pop() if read_as else national


# The number types whose patterns make a number valid (phonenumbers' is_valid_number).
_TYPE_DESCS = (
    "fixed_line",
    "mobile",
    "toll_free",
    "premium_rate",
    "shared_cost",
    "personal_number",
    "voip",
    "pager",
    "uan",
    "voicemail",
)


def range_has_numbers(prefix: str) -> bool:
    """Whether some number phonenumbers holds valid begins with the stored range `prefix`
    (`+1900*`): whether the range's national digits can begin a match of one of the
    numbering plan's patterns, for any region of the country code. Exact, with the `regex`
    module's partial matching; Python's `re` has none (a sample of completions missed
    sparse plans such as +1 340 9)."""
    digits = prefix.removesuffix(RANGE_MARK).lstrip("+")
    code = _country_code(digits)
    if code is None:
        return False
    national = digits[len(code) :]
    return any(
        pattern.fullmatch(national, partial=True) is not None
        for pattern in _plan_patterns(int(code))
    )


@lru_cache(maxsize=64)
def _plan_patterns(code: int) -> tuple[regex.Pattern[str], ...]:
    """The national-number patterns of every valid type, in every region of `code`."""
    found: list[regex.Pattern[str]] = []
    for region in phonenumbers.region_codes_for_country_code(code):
        if region == phonenumbers.REGION_CODE_FOR_NON_GEO_ENTITY:  # +800, +882...
            metadata = PhoneMetadata.metadata_for_nongeo_region(code)
        else:
            metadata = PhoneMetadata.metadata_for_region(region)
        if metadata is None:
            continue
        for name in _TYPE_DESCS:
            desc = getattr(metadata, name, None)
            pattern = desc.national_number_pattern if desc is not None else None
            if pattern:
                found.append(regex.compile(f"(?:{pattern})"))
    return tuple(found)


def range_keys(e164: str) -> list[str]:
    """Every range that covers `e164`, as the suppression list stores them: each of its
    prefixes from `+6*` to the whole number, then `*`. A French overseas number is also
    covered by the ranges of its +33 form (`+33 692*`, `+33 6*` for +262 692...), which is
    how it is dialled in France."""
    keys = [f"{e164[:n]}{RANGE_MARK}" for n in range(2, len(e164) + 1)]
    code, national = e164[1:4], e164[4:]
    if len(national) == 9 and FR_OVERSEAS_NATIONAL.get(national[:3]) == code:
        french = f"+33{national}"
        keys += [f"{french[:n]}{RANGE_MARK}" for n in range(3, len(french) + 1)]
    return keys


# More than `range_keys` ever gives: 15 prefixes of a whole E.164 number, or 12 of a French
# overseas number and 10 of its +33 form.
MAX_RANGE_KEYS = 25


def register_key(e164: str) -> int:
    """The integer key a register stores a number under: its E.164 digits."""
    return int(e164.lstrip("+"))


def _unusable(raw: str, problem: str) -> ParsedNumber:
    return ParsedNumber(raw, None, None, None, False, None, problem)


def _parse_error(exc: NumberParseException) -> str:
    messages = {
        NumberParseException.INVALID_COUNTRY_CODE: "unknown country code",
        NumberParseException.NOT_A_NUMBER: "not a number",
        NumberParseException.TOO_SHORT_AFTER_IDD: "too short after the international prefix",
        NumberParseException.TOO_SHORT_NSN: "too short",
        NumberParseException.TOO_LONG: "too long",
    }
    return messages.get(exc.error_type, "unreadable")


def shorten(text: str) -> str:
    """An input value as a message quotes it: whole up to 40 characters, cut beyond. A
    number is short; a 5-million-digit line was echoed whole into one error line."""
    return text if len(text) <= 40 else text[:37] + "..."
