"""Value types shared by the rules, the store and the edges (AGI, AMI, CLI)."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field, fields
from datetime import datetime
from enum import StrEnum
from types import MappingProxyType
from typing import Any

from rules.numbers import shorten


class Verdict(StrEnum):
    ALLOW = "allow"
    BLOCK = "block"


class FindingVerdict(StrEnum):
    """What one rule said: it allows, it blocks, or it does not apply to this call."""

    ALLOW = "allow"
    BLOCK = "block"
    SKIP = "skip"


class Purpose(StrEnum):
    TELEMARKETING = "telemarketing"
    RESEARCH = "research"
    DEBT_COLLECTION = "debt-collection"
    INFORMATIONAL = "informational"
    CHARITY = "charity"
    POLITICAL = "political"


# Asterisk's ast_party_id_presentation(): the top bits say allowed (0x00), restricted (0x20)
# or unavailable (0x40); the low bits are the screening indicator.
PRESENTATION_MASK = 0x60
PRESENTATION_ALLOWED = 0x00


def presentation_allowed(callingpres: int) -> bool:
    """True when Asterisk's `agi_callingpres` value lets the caller ID be shown."""
    return (callingpres & PRESENTATION_MASK) == PRESENTATION_ALLOWED


FIRST_YEAR, LAST_YEAR = 1970, 9998  # a call's instant (CallAttempt.at)


# How DIALGUARD_AUTOMATED (and history's `automated` column) says yes or no, lower case.
AUTOMATED_YES = frozenset({"yes", "true", "1"})
AUTOMATED_NO = frozenset({"no", "false", "0"})


def purpose_from_text(text: str) -> Purpose:
    """DIALGUARD_PURPOSE or a list's `purpose` column, any case; ValueError naming the
    known purposes otherwise."""
    try:
        return Purpose(text.strip().lower())
    except ValueError:
        known = ", ".join(p.value for p in Purpose)
        raise ValueError(
            f"purpose {shorten(text.strip())!r} is not one dialguard knows ({known})"
        ) from None


def automated_at_strictest(text: str) -> bool:
    """A mark that may not read (bad input), taken at its strictest: anything but an
    explicit no is automated, so that an emergency number is blocked, never let through as
    a person's call."""
    return text.strip().lower() not in AUTOMATED_NO


def automated_from_text(text: str) -> bool:
    """A list's `automated` column: yes/true/1 or no/false/0 in any case, as
    DIALGUARD_AUTOMATED reads them; empty is a live call. ValueError otherwise."""
    mark = text.strip().lower()
    if mark and mark not in AUTOMATED_YES | AUTOMATED_NO:
        raise ValueError(f"automated {shorten(text.strip())!r} is not yes or no")
    return mark in AUTOMATED_YES


class LineType(StrEnum):
    """What the dialler knows of the callee's line, where the number does not tell
    (DIALGUARD_LINE_TYPE): a NANP number (phonenumbers' `fixed_line_or_mobile`) may be a
    mobile or a landline."""

    MOBILE = "mobile"
    LANDLINE = "landline"


# How DIALGUARD_LINE_TYPE (and a scrub list's `line_type` column) names each, lower case:
# the words number-data vendors use besides our own.
LINE_TYPE_WORDS: Mapping[str, LineType] = MappingProxyType(
    {
        "mobile": LineType.MOBILE,
        "wireless": LineType.MOBILE,
        "cell": LineType.MOBILE,
        "cellular": LineType.MOBILE,
        "landline": LineType.LANDLINE,
        "wireline": LineType.LANDLINE,
        "fixed": LineType.LANDLINE,
        "fixed_line": LineType.LANDLINE,
    }
)
UNKNOWN_LINE_WORDS = frozenset({"", "unknown"})
# For messages: every word read, by line type. A VoIP line or any other: leave it unknown.
_LINE_WORDS_TEXT = (
    "; ".join(
        f"{kind.value}: " + ", ".join(w for w, k in LINE_TYPE_WORDS.items() if k is kind)
        for kind in LineType
    )
    + "; or unknown"
)

# phonenumbers' type for a number that may be either (the NANP's): the line decides.
EITHER_TYPE = "fixed_line_or_mobile"
_LINE_NUMBER_TYPE = {LineType.MOBILE: "mobile", LineType.LANDLINE: "fixed_line"}


def possible_number_types(number_type: str | None, line_type: LineType | None) -> frozenset[str]:
    """Every number type (rules.numbers.NUMBER_TYPES) the callee's line may have.

    A type phonenumbers tells is kept. Where it cannot tell (`fixed_line_or_mobile`), the
    dialler's line type picks one, and unknown is both: a rule for mobiles holds the call (the
    strictest reading). A dialler's `mobile` adds a mobile to any type (numbers port), but
    its `landline` never takes one away from a type that says mobile.
    """
    own = number_type or "unknown"
    if own == EITHER_TYPE:
        if line_type is None:
            return frozenset({own, "mobile", "fixed_line"})
        return frozenset({own, _LINE_NUMBER_TYPE[line_type]})
    if line_type is LineType.MOBILE:
        return frozenset({own, "mobile"})
    return frozenset({own})


def line_type_from_text(text: str) -> LineType | None:
    """DIALGUARD_LINE_TYPE or a list's `line_type` column, any case; empty or `unknown` is
    unknown. ValueError otherwise: an unknown line is held as a mobile anyway, but a typo
    must not pass unseen as the answer it was meant to be."""
    word = text.strip().lower()
    if word in UNKNOWN_LINE_WORDS:
        return None
    try:
        return LINE_TYPE_WORDS[word]
    except KeyError:
        raise ValueError(
            f"line type {shorten(text.strip())!r} is not mobile or landline ({_LINE_WORDS_TEXT})"
        ) from None


@dataclass(frozen=True, slots=True)
class CallAttempt:
    """One outbound call as the guard is asked about it, before any interpretation.

    `at` must be timezone-aware: it is the decision's clock.
    A call with a campaign is dialler traffic; without one it is a person dialling, unless it
    is `automated`: a prerecorded or artificial voice, or an automated calling system
    without human intervention (the laws' "robocalls"), which no person is behind.
    """

    destination: str
    caller_id: str | None
    at: datetime
    tenant: str = "default"
    campaign: str | None = None
    purpose: Purpose = Purpose.TELEMARKETING
    caller_id_presentation: int = PRESENTATION_ALLOWED
    callee_timezone: str | None = None
    callee_region: str | None = None
    call_id: str | None = None
    automated: bool = False
    # The dialler's word on the callee's line, for numbers whose type does not tell
    # (`possible_number_types`). None: unknown, read at its strictest (may be a mobile).
    line_type: LineType | None = None

    def __post_init__(self) -> None:
        if self.line_type is not None and not isinstance(self.line_type, LineType):
            # A plain "mobile" is not LineType.MOBILE to `possible_number_types` (`is`).
            object.__setattr__(self, "line_type", LineType(self.line_type))
        if self.at.tzinfo is None or self.at.utcoffset() is None:
            raise ValueError("CallAttempt.at must be timezone-aware")
        # The rules look back (caps, consent) and shift to every zone (UTC-12 to UTC+14):
        # an instant at datetime's edges raised OverflowError out of the rules. The years
        # the CLI's --at takes, refused here for every caller.
        if not FIRST_YEAR <= self.at.year <= LAST_YEAR:
            raise ValueError(f"CallAttempt.at must be in the years {FIRST_YEAR}-{LAST_YEAR}")

    @property
    def is_campaign(self) -> bool:
        return bool(self.campaign)

    @property
    def is_machine(self) -> bool:
        """Dialler or automated traffic: not a person dialling (no live operator either)."""
        return bool(self.campaign) or self.automated


@dataclass(frozen=True, slots=True, init=False)
class Finding:
    """What one rule concluded about one call, with the source of the rule."""

    rule: str
    verdict: FindingVerdict
    reason: str
    citation: str = ""
    unverified: bool = False
    details: dict[str, object] = field(default_factory=dict)

    def __init__(
        self,
        rule: str,
        verdict: FindingVerdict,
        reason: str,
        citation: str = "",
        unverified: bool = False,
        details: dict[str, object] | None = None,
    ) -> None:
        # A decision makes about twenty findings. The generated frozen __init__ goes through
        # object.__setattr__ per field; setting the slots directly costs half as much, and the
        # instance is just as frozen afterwards.
        _set_rule, _set_verdict, _set_reason, _set_citation, _set_unverified, _set_details = (
            _FINDING_SLOTS
        )
        _set_rule(self, rule)
        _set_verdict(self, verdict)
        _set_reason(self, reason)
        _set_citation(self, citation)
        _set_unverified(self, unverified)
        _set_details(self, {} if details is None else details)

    def as_dict(self) -> dict[str, object]:
        out: dict[str, object] = {
            "rule": self.rule,
            "verdict": self.verdict.value,
            "reason": self.reason,
        }
        if self.citation:
            out["citation"] = self.citation
        if self.unverified:
            out["unverified"] = True
        if self.details:
            out["details"] = dict(self.details)  # details may be shared between findings
        return out


# The slot descriptors' setters, in field order, for Finding.__init__.
_FINDING_SLOTS: tuple[Callable[[Finding, Any], None], ...] = tuple(
    getattr(Finding, f.name).__set__ for f in fields(Finding)
)


@dataclass(frozen=True, slots=True)
class Decision:
    """The guard's answer: a verdict, the deciding rule and every finding consulted."""

    verdict: Verdict
    rule: str | None
    reason: str
    citation: str
    number: str | None
    caller_id: str | None
    jurisdiction: str | None
    local_time: datetime | None
    findings: tuple[Finding, ...]
    context: dict[str, object] = field(default_factory=dict)

    @property
    def allowed(self) -> bool:
        return self.verdict is Verdict.ALLOW

    def summary_dict(self) -> dict[str, object]:
        """`as_dict` without the findings and the context."""
        return {
            "verdict": self.verdict.value,
            "rule": self.rule,
            "reason": self.reason,
            "citation": self.citation,
            "number": self.number,
            "caller_id": self.caller_id,
            "jurisdiction": self.jurisdiction,
            "local_time": self.local_time.isoformat() if self.local_time else None,
        }

    def as_dict(self) -> dict[str, object]:
        return {
            **self.summary_dict(),
            "findings": [f.as_dict() for f in self.findings],
            **self.context,
        }
