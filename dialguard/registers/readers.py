"""Readers for do-not-call register files: lines in, `(line_no, key, info, delete)` out.

Each reader is a pure generator over text lines. It yields one `Item` per data line:

- accepted: `key` is the number's register key (its E.164 digits as an int, see
  `rules.numbers.register_key`) and `info` the registration date (ISO text) or None;
- rejected: `key` is None and `info` says in words what is wrong with the line;
- not listed: `key` and `info` both None (a wash result saying the number is NOT registered).

`delete` is True only for change-list lines that remove a number. Blank lines and `#` comments
yield nothing. Readers never raise on bad text: every problem becomes a rejected line.

Speed matters (the US list has ~250 million numbers): plain digit strings take a fast path of
string tests derived from phonenumbers' metadata for the register's country; anything else goes
through `rules.numbers.parse_number`. The same tests, written as one regex per format and
country (`FastLines`), let `registers.blocks` accept whole blocks of a file at once.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from datetime import date
from functools import lru_cache
from typing import Any

import phonenumbers

from rules.location import law_country
from rules.numbers import FR_OVERSEAS_NATIONAL, parse_number, register_key, shorten

Item = tuple[int, int | None, str | None, bool]
Parsed = tuple[int | None, str | None, bool]  # an Item without its line number
Reader = Callable[[Iterable[str], str | None], Iterator[Item]]
LineReader = Callable[[str, str | None], Parsed]

# Countries whose national significant numbers may start with 0 (Italian fixed lines).
_LEADING_ZERO = frozenset({"IT", "SM", "VA"})


@dataclass(frozen=True, slots=True)
class _Plan:
    """The country code numbers read in a country's national format get."""

    cc: str


@lru_cache(maxsize=64)
def _plan(country: str | None) -> _Plan | None:
    if country is None:
        return None
    meta = phonenumbers.PhoneMetadata.metadata_for_region(country)
    if meta is None:
        return None
    return _Plan(str(meta.country_code))


def _anchored(pattern: str | None) -> str | None:
    """A phonenumbers pattern usable at the start of a line inside a multi-line block."""
    if not pattern:
        return None
    if "^" in pattern:
        raise ValueError(pattern)
    return pattern.replace("$", "(?=\n)")  # `$` there means: the end of the number


def _nsn(meta: Any, leading_zero: bool, name: str, also_not: str | None) -> str:
    """A national significant number as phonenumbers keeps it after its prefix stripping: of a
    possible length, matching the country's general pattern, nothing it would strip in front
    (neither this country's national prefix pattern nor `also_not`), then the line's end."""
    desc = meta.general_desc
    lengths = sorted(desc.possible_length or (), reverse=True)
    if not lengths or not desc.national_number_pattern:
        raise ValueError(meta.id)
    first = "[0-9]" if leading_zero else "[1-9]"
    digits = "|".join(f"{first}[0-9]{{{n - 1}}}" for n in lengths)
    guards = "".join(
        f"(?!{p})" for p in (_anchored(meta.national_prefix_for_parsing), also_not) if p
    )
    viable = f"(?=(?:{_anchored(desc.national_number_pattern)})\n)"
    return f"{guards}{viable}(?P<{name}>{digits})(?=\n)"


@lru_cache(maxsize=256)
def _fast_pattern(
    country: str | None, intl: bool = True
) -> tuple[str, str, tuple[str, ...]] | None:
    """(line regex, CC, NSN group names): digit-only forms whose E.164 reading is certain.

    Mirrors `phonenumbers.parse(line, country)` for the lines it matches: nothing its
    international-prefix pattern matches; national (NSN) form that the national prefix pattern
    leaves alone; trunk prefix + NSN, where that pattern matches exactly the trunk prefix (an
    atomic group: the match `re.match` finds) and rewrites nothing; `+CC` + NSN, read with the
    metadata of the CC's main country. The NSN always fits the general pattern, so phonenumbers
    strips neither the CC nor the prefix differently. Lines not matched go to `parse_number`.
    None when the metadata is missing or of a shape this does not handle. Without `intl`, the
    `+CC` form is left out (to the line reader).
    """
    if country is None:
        return None
    meta: Any = phonenumbers.PhoneMetadata.metadata_for_region(country)
    if meta is None or meta.general_desc is None:
        return None
    cc = str(meta.country_code)
    main_region = phonenumbers.region_code_for_country_code(meta.country_code)
    main = phonenumbers.PhoneMetadata.metadata_for_region(main_region) or meta
    try:
        main_npfp = _anchored(main.national_prefix_for_parsing) if main is not meta else None
        idd = _anchored(meta.international_prefix)
        np_ = meta.national_prefix or ""
        lz = country in _LEADING_ZERO
        start = "(?!00)" + (f"(?!{idd})" if idd else "")
        # Overseas numbers in France's form (with or without its 0), or under +33: to
        # parse_number, which reads them under the department's code.
        overseas = "(?:" + "|".join(FR_OVERSEAS_NATIONAL) + ")"
        if country == "FR":
            start += f"(?!0?{overseas})"
        lengths = meta.general_desc.possible_length or ()
        as_cc = "|".join(f"{cc}[0-9]{{{n}}}" for n in lengths)
        national = start + (f"(?!{re.escape(np_)})" if np_ else "")
        national += f"(?!(?:{as_cc})\n)" + _nsn(meta, lz, "nsn", main_npfp)
        _NATIONAL[country] = national
        alternatives = [national]
        groups = ["nsn"]
        if np_ and meta.national_prefix_for_parsing and not meta.national_prefix_transform_rule:
            npfp = _anchored(meta.national_prefix_for_parsing)
            esc = re.escape(np_)
            exact = f"(?=(?>{npfp})(?<={esc})(?<![^\n]{esc}))"
            not_cc = "" if np_ == cc else f"(?!{cc})"
            alternatives.append(start + not_cc + exact + esc + _nsn(meta, lz, "trunk", main_npfp))
            groups.append("trunk")
        if intl:
            e164 = f"\\+{cc}" + (f"(?!{overseas})" if cc == "33" else "")
            e164 += _nsn(main, main_region in _LEADING_ZERO, "intl", None)
            alternatives.append(e164)
            groups.append("intl")
        pattern = "(?:" + "|".join(alternatives) + ")"
        re.compile(pattern)
    except (ValueError, re.error):
        return None
    if not pattern.isascii():
        return None
    return pattern, cc, tuple(groups)


_NATIONAL: dict[str, str] = {}  # country -> the national-form alternative of its pattern


def _national_pattern(country: str | None) -> str | None:
    if country is None or _fast_pattern(country) is None:
        return None
    return _NATIONAL.get(country)


@lru_cache(maxsize=256)
def _fast_line(country: str | None) -> tuple[re.Pattern[str], str, tuple[str, ...]] | None:
    found = _fast_pattern(country)
    if found is None:
        return None
    pattern, cc, groups = found
    return re.compile(pattern + "\n"), cc, groups


def number_key(text: str, country: str | None) -> tuple[int | None, str | None]:
    """The register key of one number as written, or (None, problem)."""
    s = text.strip()
    if not s:
        return None, "has no number"
    fast = _fast_line(country)
    if fast is not None and s.isascii() and (s.isdigit() or (s[0] == "+" and s[1:].isdigit())):
        line, cc, groups = fast
        match = line.fullmatch(s + "\n")
        if match is not None:
            return int(cc + "".join(match.group(g) or "" for g in groups)), None
    return _slow_key(s, country, _plan(country))


def _slow_key(text: str, country: str | None, plan: _Plan | None) -> tuple[int | None, str | None]:
    parsed = parse_number(text, country)
    if parsed.e164 is None or not parsed.valid:
        return None, f"{shorten(text)!r} {parsed.problem}"
    if (
        plan is not None
        and not parsed.e164.startswith("+" + plan.cc)
        and law_country(parsed) != country  # France's overseas numbers are Bloctel's too
    ):
        return None, f"{shorten(text)!r} is a number of another country ({parsed.e164})"
    # A key must read back as itself, or a dialled number could never match it.
    if parse_number(parsed.e164, None).e164 != parsed.e164:
        return None, f"{shorten(text)!r} has no unambiguous E.164 form"
    return register_key(parsed.e164), None


def _data_lines(lines: Iterable[str]) -> Iterator[tuple[int, str]]:
    """Numbered lines without blank lines and `#` comments."""
    for line_no, line in enumerate(lines, 1):
        s = line.strip()
        if s and s[0] != "#":
            yield line_no, s


def is_header(s: str) -> bool:
    """A first data line that holds no digit at all is a column header, not a number."""
    return not any(c.isdigit() for c in s)


def _reader(line: LineReader, header: bool) -> Reader:
    """A reader over text lines from the function that reads one (stripped, non-comment) line."""

    def read(lines: Iterable[str], country: str | None) -> Iterator[Item]:
        first = header
        for line_no, s in _data_lines(lines):
            if first:
                first = False
                if is_header(s):
                    continue
            key, info, delete = line(s, country)
            yield line_no, key, info, delete

    return read


# -- plain ---------------------------------------------------------------------------------


def plain_line(s: str, country: str | None) -> Parsed:
    """One number per line, E.164 (`+61412345678`) or national format of the register's country.

    Blank lines and lines starting with `#` are skipped.
    """
    key, problem = number_key(s, country)
    return key, problem, False


# -- US National DNC -----------------------------------------------------------------------

_US_FLAGS_ADD = frozenset({"A", "ADD", "ADDED", "I", "INSERT", "N", "NEW"})
_US_FLAGS_DELETE = frozenset({"D", "DEL", "DELETE", "DELETED", "R", "REMOVE", "REMOVED"})


def _us_fields(s: str) -> list[str]:
    return [f.strip().strip('"').strip() for f in s.split(",")]


def _us_number(fields: list[str]) -> str | None:
    """The 10-digit number among the fields: one 10-digit field, or an NPA field then 7 digits."""
    for i, f in enumerate(fields):
        if len(f) == 10 and f.isdigit():
            return f
        if len(f) == 3 and f.isdigit() and i + 1 < len(fields):
            rest = fields[i + 1]
            if len(rest) == 7 and rest.isdigit():
                return f + rest
    return None


def us_dnc_line(s: str, country: str | None) -> Parsed:
    """FTC National DNC full list: one 10-digit number per line, or `NPA,NUMBER` per line.

    The FTC describes "one telephone number per line"; a vendor describes "area code and
    telephone number per line, separated by a comma". Both are accepted [U: check a real file].
    """
    if len(s) == 10 and s.isdigit() and s[0] > "1":
        return 10_000_000_000 + int(s), None, False
    if "," in s:
        digits = _us_number(_us_fields(s))
        if digits is None:
            return None, f"{shorten(s)!r} holds no 10-digit number", False
        s = digits
    key, problem = number_key(s, country or "US")
    return key, problem, False


def us_dnc_changes_line(s: str, country: str | None) -> Parsed:
    """FTC National DNC change list: comma-delimited records with an add/delete indicator.

    The field list and order are NOT verified [U]: this reader takes the 10-digit number (or an
    NPA field followed by a 7-digit field) wherever it is, and a field `A`/`ADD`/`D`/`DELETE`
    (and similar) as the indicator; a record without one is read as an addition.
    """
    fields = _us_fields(s)
    digits = _us_number(fields)
    if digits is None:
        return None, f"{shorten(s)!r} holds no 10-digit number", False
    flags = {f.upper() for f in fields}
    delete = bool(flags & _US_FLAGS_DELETE)
    if delete and flags & _US_FLAGS_ADD:
        return None, f"{shorten(s)!r} is marked both add and delete", False
    key, problem = number_key(digits, country or "US")
    return key, problem, delete and key is not None


# -- AU DNCR wash results ------------------------------------------------------------------

_AU_SPLIT = re.compile(r"[,;\t|]")
_REGISTERED = frozenset(
    {"registered", "yes", "y", "true", "1", "r", "on register", "dncr", "listed", "do not call"}
)
_NOT_REGISTERED = frozenset(
    {"not registered", "no", "n", "false", "0", "not on register", "clear", "not listed", "ok"}
)


def au_dncr_line(s: str, country: str | None) -> Parsed:
    """AU DNCR wash result: one number per line, optionally a status column after it.

    Numbers as ACMA accepts them (`0412 345 678`, `(02) 9123 4567`, `61412345678`, `+61...`).
    The result-file column layout is NOT verified [U]: a second column (comma, semicolon, tab or
    `|` separated) is read as the status — registered (`Registered`, `Yes`, `Y`, `1`, ...) or not
    (`Not registered`, `No`, `N`, `0`, ...); a line with no status is a registered number. A
    first line without digits is taken as a header. Load the wash of your WHOLE calling list:
    numbers missing from it count as not registered.
    """
    fields = _AU_SPLIT.split(s)
    if len(fields) > 1:
        status = " ".join(fields[1].strip().strip('"').lower().replace("-", " ").split())
        if status in _NOT_REGISTERED:
            return None, None, False
        if status and status not in _REGISTERED:
            return None, f"unknown register status {fields[1].strip()!r}", False
    key, problem = number_key(fields[0].strip().strip('"'), country or "AU")
    return key, problem, False


# -- UK TPS / CTPS -------------------------------------------------------------------------


def uk_tps_line(s: str, country: str | None) -> Parsed:
    """TPS/CTPS full download: fixed width, 12 characters per record (MPS technical spec).

    Two layouts, both accepted: with spaces (dialling code left-justified in 5, the rest
    right-justified in 7: `0207 3787244`, `07860 338653`) and without (left-justified, padded).
    """
    if s.lstrip().startswith("+"):  # E.164, which every register accepts (architecture.md)
        key, problem = number_key(s.strip(), country or "GB")
        return key, problem, False
    digits = s.replace(" ", "")
    if len(s) > 12 and not digits.isdigit():
        return None, f"{shorten(s)!r} is not a 12-character TPS record", False
    key, problem = number_key(digits, country or "GB")
    return key, problem, False


# -- FR Bloctel ----------------------------------------------------------------------------

_FR_SPLIT = re.compile(r"[;,\t]")


def fr_bloctel_line(s: str, country: str | None) -> Parsed:
    """Bloctel file: the layout is NOT verified [U]. One number per line, or `;`/`,`-separated
    fields with the number in the first; a first line without digits is taken as a header.
    """
    first = _FR_SPLIT.split(s, maxsplit=1)[0].strip().strip('"')
    key, problem = number_key(first, country or "FR")
    return key, problem, False


# -- BE Do Not Call Me ---------------------------------------------------------------------

_BE_DATE = re.compile(
    r"(?P<iso>(?P<y>\d{4})-(?P<m>\d{2})-(?P<d>\d{2}))"
    r"|(?P<eu>(?P<d2>\d{2})[/.-](?P<m2>\d{2})[/.-](?P<y2>\d{4}))"
    r"|(?P<compact>(?<!\d)(?P<y3>(?:19|20)\d{2})(?P<m3>[01]\d)(?P<d3>[0-3]\d)(?!\d))"
)
_BE_TIME = re.compile(r"[T ]?\d{2}:\d{2}(?::\d{2})?\S*")
_BE_SEPARATORS = re.compile(r"[;,\t|]")


def be_dncm_line(s: str, country: str | None) -> Parsed:
    """DNCM .txt: the phone number and its registration date on each line (dncm.be B2B FAQ).

    The separator and date format are not documented: this reader finds a date written
    `YYYY-MM-DD`, `DD/MM/YYYY` (or with `-`/`.`) or `YYYYMMDD` anywhere on the line, and reads
    the rest (separators `;`, `,`, tab, `|` removed) as the number. A line without a date is
    accepted without a registration date.
    """
    match = None
    for candidate in _BE_DATE.finditer(s):
        match = candidate
    registered: str | None = None
    rest = s
    if match is not None:
        parsed = _date_of(match)
        if parsed is None:
            return None, f"{match.group(0)!r} is not a real date", False
        registered = parsed.isoformat()
        rest = s[: match.start()] + " " + _BE_TIME.sub(" ", s[match.end() :])
    number = _BE_SEPARATORS.sub(" ", rest).strip()
    key, problem = number_key(number, country or "BE")
    return key, registered if key is not None else problem, False


def _date_of(match: re.Match[str]) -> date | None:
    if match.group("iso"):
        y, m, d = match.group("y", "m", "d")
    elif match.group("eu"):
        y, m, d = match.group("y2", "m2", "d2")
    else:
        y, m, d = match.group("y3", "m3", "d3")
    try:
        return date(int(y), int(m), int(d))
    except ValueError:
        return None


read_plain = _reader(plain_line, header=False)
read_us_dnc = _reader(us_dnc_line, header=True)
read_us_dnc_changes = _reader(us_dnc_changes_line, header=True)
read_au_dncr = _reader(au_dncr_line, header=True)
read_uk_tps = _reader(uk_tps_line, header=False)
read_fr_bloctel = _reader(fr_bloctel_line, header=True)
read_be_dncm = _reader(be_dncm_line, header=True)


# -- bulk fast paths -----------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class FastLines:
    """Lines a format accepts in bulk, a whole block of the file per regex call.

    `line` matches one whole line (newline excluded) that the format's line reader would accept
    with no problem; its groups, joined, are the national significant number, and the key is
    `cc` followed by them. `national` (a part of `line`) matches the lines that ARE the national
    significant number: runs of those become keys by one `bytes.replace`, not a regex `sub`.
    Every accepted line must get exactly the key the line reader gives it (tests check).
    """

    line: bytes
    cc: str
    national: bytes | None = None
    groups: tuple[str, ...] = ()  # names of the groups holding the NSN (empty: line = national)


US_DNC_FAST = FastLines(rb"[2-9][0-9]{9}", "1", national=rb"[2-9][0-9]{9}")


def us_dnc_fast(country: str | None) -> FastLines:
    return US_DNC_FAST


@lru_cache(maxsize=64)
def plain_fast(country: str | None, intl: bool = True) -> FastLines | None:
    """The digit-only forms `number_key` reads without phonenumbers (see `_fast_pattern`)."""
    found = _fast_pattern(country, intl)
    if found is None:
        return None
    pattern, cc, groups = found
    national = _national_pattern(country)
    return FastLines(
        pattern.encode("ascii"),
        cc,
        national=national.encode("ascii") if national is not None else None,
        groups=groups,
    )


def _plain_fast_in(default: str, intl: bool = True) -> Callable[[str | None], FastLines | None]:
    """The plain fast path, for a format whose line reader falls back to `default` country."""

    def fast(country: str | None) -> FastLines | None:
        return plain_fast(country or default, intl)

    return fast


# -- the format table ----------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Format:
    name: str
    line: LineReader  # reads one stripped data line
    header: bool = False  # a first data line without digits is a column header
    changes: bool = False  # a change list applies on top of the current copy
    note: str = ""  # said in the import report when the layout is not verified
    fast: Callable[[str | None], FastLines | None] | None = None  # bulk lines, per country

    def read(self, lines: Iterable[str], country: str | None) -> Iterator[Item]:
        return _reader(self.line, self.header)(lines, country)


FORMATS: dict[str, Format] = {
    "plain": Format("plain", plain_line, fast=plain_fast),
    "us-dnc": Format(
        "us-dnc",
        us_dnc_line,
        header=True,
        fast=us_dnc_fast,
        note="US DNC full-list layout (number or NPA,NUMBER per line) is unverified [U]",
    ),
    "us-dnc-changes": Format(
        "us-dnc-changes",
        us_dnc_changes_line,
        header=True,
        changes=True,
        note="US DNC change-list field layout is unverified [U]: number and A/D flag found by shape",
    ),
    "au-dncr": Format(
        "au-dncr",
        au_dncr_line,
        header=True,
        fast=_plain_fast_in("AU"),
        note="AU DNCR wash result layout is unverified [U]: number, then an optional status column",
    ),
    # No `+44` form in bulk: the TPS reader refuses one longer than the 12-character record.
    "uk-tps": Format("uk-tps", uk_tps_line, fast=_plain_fast_in("GB", intl=False)),
    "fr-bloctel": Format(
        "fr-bloctel",
        fr_bloctel_line,
        header=True,
        fast=_plain_fast_in("FR"),
        note="Bloctel file layout is unverified [U]: number taken from the first field",
    ),
    "be-dncm": Format(
        "be-dncm",
        be_dncm_line,
        header=True,
        note="DNCM separator and date format are undocumented: number and date found by shape",
    ),
}

REGISTER_FORMATS: dict[str, str] = {
    "us-dnc": "us-dnc",
    "au-dncr": "au-dncr",
    "uk-tps": "uk-tps",
    "uk-ctps": "uk-tps",
    "fr-bloctel": "fr-bloctel",
    "be-dncm": "be-dncm",
}


def default_format(register: str) -> str:
    return REGISTER_FORMATS.get(register, "plain")
