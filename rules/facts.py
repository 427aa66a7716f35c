"""The facts a decision needs, as the store hands them to the rules.

The store fills a `Facts` for one call (see `rules.ports.FactSource`); the rules never ask
for more. Every datetime field here is timezone-aware UTC.
"""

from __future__ import annotations

import csv
import io
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import date, datetime, time, timedelta, timezone
from enum import StrEnum

from rules.numbers import RANGE_MARK, range_keys

# A calendar date begins first at UTC+14 and last at UTC-12, 26 hours later.
FIRST_MIDNIGHT = timezone(timedelta(hours=14))
LAST_MIDNIGHT = timezone(timedelta(hours=-12))

# Tenant and campaign names as the lists that block match them: ASCII letters in either
# case, as SQLite's NOCASE compares (the store reads suspensions so). A channel that names
# `ACME` or `Spring` where an opt-out, suspension or blackout says `acme` or `spring` is held
# all the same: folding only ever blocks more. What lifts a rule (a consent, a caller ID's
# owner) still matches exactly.
_ASCII_FOLD = str.maketrans("ABCDEFGHIJKLMNOPQRSTUVWXYZ", "abcdefghijklmnopqrstuvwxyz")


def folded(name: str) -> str:
    """`name` as the blocking lists compare it (ASCII letters in lower case)."""
    return name.translate(_ASCII_FOLD)


def same_name(a: str | None, b: str | None) -> bool:
    """Whether two tenant or campaign names are one for a blocking list."""
    if a == b:
        return True
    # Folding keeps the length: most names that differ are told apart without it (the
    # caps compare every earlier call's tenant and campaign).
    if a is None or b is None or len(a) != len(b):
        return False
    if a.isascii() and b.isascii():  # lower() folds ASCII alone then, at a fifth the cost
        return a.lower() == b.lower()
    return folded(a) == folded(b)


class ConsentKind(StrEnum):
    EXPRESS = "express"
    EXPRESS_WRITTEN = "express-written"
    EBR_PURCHASE = "ebr-purchase"
    EBR_INQUIRY = "ebr-inquiry"
    CONTRACT = "contract"
    NON_OBJECTION = "non-objection"
    OUT_OF_HOURS = "out-of-hours"


@dataclass(frozen=True, slots=True)
class SuppressionEntry:
    """An opt-out. `tenant` None is global; `campaign` None covers all the tenant's campaigns.

    `number` is an E.164 number, or a range of them: an E.164 prefix ending in `*`
    (`+1900*`, `rules.numbers.number_range`), which covers every number it begins
    (`rules.numbers.range_keys`)."""

    number: str
    tenant: str | None
    campaign: str | None
    reason: str
    source: str
    requested_at: datetime
    expires_at: datetime | None = None

    def in_force(self, at: datetime) -> bool:
        return self.requested_at <= at and (self.expires_at is None or at < self.expires_at)

    @property
    def is_range(self) -> bool:
        return self.number.endswith(RANGE_MARK)

    def matches(self, e164: str) -> bool:
        """The entry names this number, or a range it is in."""
        if self.is_range:
            return self.number in range_keys(e164)
        return self.number == e164

    def covers(self, tenant: str, campaign: str | None) -> bool:
        if self.tenant is not None and not same_name(self.tenant, tenant):
            return False
        return self.campaign is None or same_name(self.campaign, campaign)

    @property
    def scope(self) -> str:
        if self.tenant is None:
            return "global"
        if self.campaign is None:
            return f"tenant {self.tenant}"
        return f"tenant {self.tenant}, campaign {self.campaign}"


# A `suppress import` line under this header imports as it is, as `suppress export` writes
# it (an E.164 number with its source and request date), where `suppress add` would refuse a
# range phonenumbers does not know yet.
IMPORT_AS_IS_HEADER = "number,tenant,source,requested_at"


def to_add_by_hand(entry: SuppressionEntry) -> dict[str, str]:
    """Log fields for an opt-out that could not be recorded: how an operator adds it."""
    line = io.StringIO()
    cells = (entry.number, entry.tenant or "", entry.source, entry.requested_at.isoformat())
    csv.writer(line, lineterminator="").writerow(cells)
    return {
        "hint": f"dialguard suppress import FILE, FILE holding the lines {IMPORT_AS_IS_HEADER!r}"
        " and import_line",
        "import_line": line.getvalue(),
    }


@dataclass(frozen=True, slots=True)
class RegisterCopy:
    """The copy of a national register the store holds: one per register name."""

    register: str
    as_of: date
    count: int
    checksum: str
    imported_at: datetime


@dataclass(frozen=True, slots=True)
class RegisterHit:
    """The number is listed on `register`; `registered_on` when the register file says so."""

    register: str
    registered_on: date | None = None


@dataclass(frozen=True, slots=True)
class ConsentRecord:
    number: str
    tenant: str
    kind: ConsentKind
    granted_at: datetime
    campaign: str | None = None
    expires_at: datetime | None = None
    revoked_at: datetime | None = None
    # The date, when the record gave it alone: `granted_at` is then its last beginning.
    granted_on: date | None = None

    @property
    def counted_from(self) -> datetime:
        """Where a span after the consent (an EBR's months, a regime's maximum age) is
        counted from: `granted_at`, or for a date alone its first beginning (midnight at
        UTC+14, in that offset so that calendar sums land on a midnight there). The consent
        starts at the date's last beginning and ends at the span's earliest end: in force
        only while every reading of the date has it in force, never for up to 26 hours more.
        """
        if self.granted_on is None:
            return self.granted_at
        return datetime.combine(self.granted_on, time(), FIRST_MIDNIGHT)

    def in_force(self, at: datetime) -> bool:
        if self.granted_at > at:
            return False
        if self.revoked_at is not None and self.revoked_at <= at:
            return False
        return self.expires_at is None or at < self.expires_at


@dataclass(frozen=True, slots=True)
class PriorAttempt:
    """An earlier call attempt to the same number, from any of the three sources.

    `source` is `decision` (the guard allowed it), `outcome` (the AMI listener recorded it) or
    `history` (imported). One call may appear once per source; `call_id` lets rules merge them.
    `conversation` is True when the call was answered (a right-party conversation for Reg F).
    `refused` is True when the callee refused further calls in that conversation.
    `machine` is True when AMD classed the answer as an answering machine (Ofcom's 24-hour
    lock); such a call still counts as a conversation, as AMD's false positives are people.
    `automated` is True when the guard decided the call as automated (DIALGUARD_AUTOMATED:
    a prerecorded or artificial voice), which the caps on automated calls count (TRACED).
    """

    at: datetime
    tenant: str
    campaign: str | None
    purpose: str | None
    source: str
    call_id: str | None = None
    disposition: str | None = None
    billsec: int | None = None
    conversation: bool = False
    refused: bool = False
    machine: bool = False
    automated: bool = False


@dataclass(frozen=True, slots=True)
class CallerIdRecord:
    """A caller ID a tenant may present, optionally in a named rotation pool."""

    number: str
    tenant: str
    pool: str | None = None


def suspension_subjects(tenant: str, campaign: str | None, caller_id: str | None) -> list[str]:
    """The subjects whose suspension blocks a call. A campaign is named two ways:
    `campaign:TENANT/NAME`, the tenant's own (what the detectors suspend: campaigns of
    different tenants may share a name), and `campaign:NAME`, every tenant's campaign of
    that name (the contract's form, for an operator's suspension)."""
    subjects = [f"tenant:{tenant}"]
    if campaign:
        subjects.append(campaign_subject(tenant, campaign))
        if "/" not in campaign:  # else it could read as another tenant's campaign
            subjects.append(f"campaign:{campaign}")
    if caller_id:
        subjects.append(f"callerid:{caller_id}")
    return subjects


def campaign_subject(tenant: str, campaign: str) -> str:
    """One tenant's campaign as a flag or suspension subject (the tenant ends at the first
    `/`: a campaign name may hold one, a tenant name should not)."""
    return f"campaign:{tenant}/{campaign}"


@dataclass(frozen=True, slots=True)
class Suspension:
    """An active suspension of `subject` (`tenant:NAME`, `campaign:TENANT/NAME`,
    `campaign:NAME` for every tenant's campaign of that name, `callerid:+E164`)."""

    subject: str
    reason: str
    created_at: datetime
    flag_id: int | None = None


@dataclass(frozen=True, slots=True)
class Blackout:
    """A period in which calls to a place are not made, declared by an operator: a state of
    emergency (Louisiana bans telemarketing during one, LPSC General Order R-29617), a
    governor's day, a disaster.

    `place` is a country (`US`, the law's country: France for Réunion) or a region of it
    (`US-LA`, `FR-974`). `purposes` are the purposes it holds (`Purpose` values; empty is
    every purpose); `tenant` None holds every tenant. It starts at `starts_at` and ends at
    `ends_at` (None: until it is lifted)."""

    id: int
    place: str
    starts_at: datetime
    ends_at: datetime | None = None
    purposes: frozenset[str] = frozenset()
    tenant: str | None = None
    reason: str = ""

    def in_force(self, at: datetime) -> bool:
        return self.starts_at <= at and (self.ends_at is None or at < self.ends_at)

    def holds(self, tenant: str, purpose: str) -> bool:
        """Whether calls of this tenant and purpose are held (wherever the callee is)."""
        if self.tenant is not None and not same_name(self.tenant, tenant):
            return False
        return not self.purposes or purpose in self.purposes


@dataclass(frozen=True, slots=True)
class Facts:
    """Everything the store knows that bears on one call."""

    suppressions: tuple[SuppressionEntry, ...] = ()
    register_copies: Mapping[str, RegisterCopy] = field(default_factory=dict)
    register_hits: Mapping[str, RegisterHit] = field(default_factory=dict)
    consents: tuple[ConsentRecord, ...] = ()
    attempts: tuple[PriorAttempt, ...] = ()
    # Inventory entries for the presented caller ID (any tenant), and whether the tenant has an
    # inventory at all (a tenant with none cannot be checked for ownership).
    caller_id_records: tuple[CallerIdRecord, ...] = ()
    tenant_has_inventory: bool = False
    caller_id_register_hits: Mapping[str, RegisterHit] = field(default_factory=dict)
    suspensions: tuple[Suspension, ...] = ()
    blackouts: tuple[Blackout, ...] = ()
