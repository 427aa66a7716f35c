"""Caller-ID honesty policy (issue 4): the settings and the data tables the caller-ID rules use.

Every table here is data with its source (`../shared/docs/regulations.md`, caller-ID rows and
section 6.6). Figures the doc only has from secondary sources carry `unverified=True`.
The rules themselves live in `rules.checks.callerid`.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, field

from rules.models import Purpose

ALL_PURPOSES = frozenset(Purpose)
MARKETING = frozenset({Purpose.TELEMARKETING})
DIRECT_MARKETING = frozenset({Purpose.TELEMARKETING, Purpose.CHARITY, Purpose.POLITICAL})


@dataclass(frozen=True, slots=True)
class PresentationRule:
    """A jurisdiction (the callee's country) that requires the caller ID to be shown."""

    country: str
    purposes: frozenset[Purpose]
    label: str
    citation: str
    unverified: bool = False


@dataclass(frozen=True, slots=True)
class ForbiddenRange:
    """Caller IDs starting with `prefix` (E.164, with +) may never be presented.

    `kind` is `premium` (premium-rate or revenue-sharing) or `inbound_only` (numbers that
    receive calls only, such as AU 13/1300/1800), and becomes the rule id `callerid.<kind>`.
    """

    prefix: str
    kind: str
    label: str
    citation: str
    unverified: bool = False


PRESENTATION_RULES: tuple[PresentationRule, ...] = (
    PresentationRule(
        "AU",
        ALL_PURPOSES,
        "Australia requires the caller ID (CLI) to be enabled on telemarketing and research calls",
        "Telecommunications (Telemarketing and Research Calls) Industry Standard 2017: CLI must be "
        "enabled (donotcall.gov.au industry standards)",
    ),
    PresentationRule(
        "US",
        frozenset({Purpose.TELEMARKETING, Purpose.CHARITY}),
        "the US requires telemarketers to transmit caller ID",
        "47 CFR 64.1601(e); 16 CFR 310.4(a)(8)",
    ),
    PresentationRule(
        "GB",
        DIRECT_MARKETING,
        "the UK forbids direct-marketing calls that prevent presentation of the caller ID",
        "PECR reg 21(A1)",
    ),
    PresentationRule(
        "DE",
        MARKETING,
        "Germany forbids suppressing the number on advertising calls",
        "TDDDG §15(2) (formerly TTDSG §15(2), TKG §102(2))",
    ),
    PresentationRule(
        "NL",
        DIRECT_MARKETING,
        "the Netherlands forbids anonymous commercial calls",
        "Telecommunicatiewet art. 11.7 guidance (ECC Nederland)",
        unverified=True,
    ),
    PresentationRule(
        "FR",
        MARKETING,
        "France requires canvassing calls to present a number from the ARCEP canvassing ranges",
        "ARCEP numbering plan decision (démarchage ranges, from 1 Jan 2023)",
        unverified=True,
    ),
)

C661 = (
    "Communications Alliance C661:2020 Reducing Scam Calls cl 4.2.8 "
    "(voipline.net.au, Plivo notices)"
)

FORBIDDEN_RANGES: tuple[ForbiddenRange, ...] = (
    ForbiddenRange(
        "+611900",
        "premium",
        "an Australian 1900 premium-rate number",
        C661 + "; regulations.md 6.6: no premium-rate CLI",
        unverified=True,
    ),
    ForbiddenRange(
        "+6113", "inbound_only", "an Australian 13/1300 inbound number", C661, unverified=True
    ),
    ForbiddenRange(
        "+611800", "inbound_only", "an Australian 1800 freephone number", C661, unverified=True
    ),
    ForbiddenRange(
        "+449",
        "premium",
        "a UK 09 premium-rate number",
        "Ofcom CLI guidance (statement 2022, in force 15 May 2023): 09 numbers prohibited as CLI",
        unverified=True,
    ),
    ForbiddenRange(
        "+1900",
        "premium",
        "a US 900 premium-rate number",
        "regulations.md 6.6: no premium-rate CLI; 47 CFR 64.1604 (misleading caller ID)",
        unverified=True,
    ),
)

# Any number phonenumbers classifies as premium-rate is refused whatever its country.
PREMIUM_TYPE_CITATION = (
    "regulations.md 6.6: the caller ID must not be premium rate; Ofcom CLI guidance: numbers "
    "that generate unexpected or excessive charges must not be used"
)

# ARCEP: canvassing calls from these national prefixes only (0162 -> "162"), 0947[5-9] overseas.
FR_CANVASSING_RANGES: tuple[str, ...] = (
    "162",
    "163",
    "270",
    "271",
    "377",
    "378",
    "424",
    "425",
    "568",
    "569",
    "948",
    "949",
    "9475",
    "9476",
    "9477",
    "9478",
    "9479",
)
FR_MOBILE_PREFIXES: tuple[str, ...] = ("6", "7")
FR_CITATION = (
    "ARCEP numbering plan (from 1 Jan 2023): canvassing calls only from 0162, 0163, 0270, 0271, "
    "0377, 0378, 0424, 0425, 0568, 0569, 0948, 0949 (09475-09479 overseas); never 06/07 "
    "(BFM/RMC, RTL, generation-nt)"
)

_NATIONAL_PREFIX = re.compile(r"^0?[1-9][0-9]{1,5}$")
_E164_PREFIX = re.compile(r"^\+[1-9][0-9]{0,14}$")


@dataclass(frozen=True, slots=True)
class CallerIdPolicy:
    """Caller-ID rules' settings (`[callerid]` in dialguard.toml).

    `require_inventory`: a tenant without any caller-ID inventory is blocked
    (`callerid.not_owned`) until its numbers are added; False lets such a tenant call and
    only checks tenants that have an inventory.
    `neighbour_digits`: how many leading national digits a caller ID may share with the callee
    before it is a neighbour spoof when the tenant does not own it (6 = NANP NPA-NXX); 0 turns
    the rule off.
    `always_require_presentation`: block a withheld caller ID in every jurisdiction and for
    every purpose, not only where the law requires presentation.
    """

    require_inventory: bool = True
    neighbour_digits: int = 6
    always_require_presentation: bool = False
    presentation_rules: Mapping[str, PresentationRule] = field(
        default_factory=lambda: {r.country: r for r in PRESENTATION_RULES}
    )
    forbidden_ranges: tuple[ForbiddenRange, ...] = FORBIDDEN_RANGES
    fr_canvassing_ranges: tuple[str, ...] = FR_CANVASSING_RANGES
    fr_mobile_prefixes: tuple[str, ...] = FR_MOBILE_PREFIXES

    def forbidden_range_for(self, e164: str) -> ForbiddenRange | None:
        """The longest forbidden prefix the caller ID starts with."""
        matches = [r for r in self.forbidden_ranges if e164.startswith(r.prefix)]
        return max(matches, key=lambda r: len(r.prefix)) if matches else None


_KEYS = {
    "require_inventory",
    "neighbour_digits",
    "always_require_presentation",
    "forbidden_prefixes",
    "fr_canvassing_ranges",
}


def from_settings(raw: Mapping[str, object]) -> tuple[CallerIdPolicy, list[str]]:
    """Build the policy from the `[callerid]` table of dialguard.toml.

    Keys: `require_inventory` (bool), `neighbour_digits` (0-12), `always_require_presentation`
    (bool), `forbidden_prefixes` (extra E.164 prefixes never to present, e.g. ["+44871"]),
    `fr_canvassing_ranges` (replaces the ARCEP list, national format, e.g. ["0162", "09475"]).
    Returns the policy and a list of errors, each naming the bad key (`callerid.x: why`).
    """
    errors = [f"callerid.{key}: unknown setting" for key in raw if key not in _KEYS]
    base = CallerIdPolicy()
    require_inventory = _bool(raw, "require_inventory", base.require_inventory, errors)
    always = _bool(raw, "always_require_presentation", base.always_require_presentation, errors)
    neighbour = raw.get("neighbour_digits", base.neighbour_digits)
    if isinstance(neighbour, bool) or not isinstance(neighbour, int) or not 0 <= neighbour <= 12:
        errors.append("callerid.neighbour_digits: must be a whole number from 0 to 12")
        neighbour = base.neighbour_digits
    forbidden = base.forbidden_ranges
    extra = _strings(raw, "forbidden_prefixes", errors)
    for prefix in extra:
        if not _E164_PREFIX.match(prefix):
            errors.append(
                f"callerid.forbidden_prefixes: {prefix!r} is not an E.164 prefix such as +44871"
            )
            continue
        forbidden += (ForbiddenRange(prefix, "premium", f"a number in {prefix}", "dialguard.toml"),)
    fr_ranges = base.fr_canvassing_ranges
    if "fr_canvassing_ranges" in raw:
        given = _strings(raw, "fr_canvassing_ranges", errors)
        bad = [p for p in given if not _NATIONAL_PREFIX.match(p)]
        for prefix in bad:
            errors.append(
                f"callerid.fr_canvassing_ranges: {prefix!r} is not a French national prefix "
                "such as 0162"
            )
        if not bad:
            fr_ranges = tuple(p.removeprefix("0") for p in given)
    policy = CallerIdPolicy(
        require_inventory=require_inventory,
        neighbour_digits=neighbour,
        always_require_presentation=always,
        forbidden_ranges=forbidden,
        fr_canvassing_ranges=fr_ranges,
    )
    return policy, errors


def _bool(raw: Mapping[str, object], key: str, default: bool, errors: list[str]) -> bool:
    value = raw.get(key, default)
    if not isinstance(value, bool):
        errors.append(f"callerid.{key}: must be true or false")
        return default
    return value


def _strings(raw: Mapping[str, object], key: str, errors: list[str]) -> list[str]:
    value = raw.get(key, [])
    if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
        errors.append(f"callerid.{key}: must be a list of strings")
        return []
    return [str(v).strip() for v in value]
