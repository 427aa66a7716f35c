"""The policy a decision is taken under: settings turned into values.

`dialguard.settings` builds a `Policy` from `dialguard.toml`; tests build one directly.
Every figure here has a default taken from `../shared/docs/regulations.md` and can be
overridden by the operator.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import date, timedelta
from typing import Any

from rules.callerid import CallerIdPolicy
from rules.detectors import DetectorPolicy
from rules.facts import ConsentKind
from rules.jurisdictions import JurisdictionPolicy
from rules.jurisdictions.model import ATTEMPT_LOOKBACK
from rules.models import Purpose, Verdict

ALL_PURPOSES = frozenset(Purpose)
MARKETING = frozenset({Purpose.TELEMARKETING})
# PECR's "direct marketing" also takes in charities' fundraising and parties' campaigning
# (the ICO's direct-marketing guidance; regulations.md does not say it [U]): reg 21 and so the
# TPS bind them, as reg 21(A1) does for caller ID (rules/callerid.py).
UK_DIRECT_MARKETING = frozenset({Purpose.TELEMARKETING, Purpose.CHARITY, Purpose.POLITICAL})


@dataclass(frozen=True, slots=True)
class RegisterSpec:
    """A national do-not-call register (or a do-not-originate list of caller IDs).

    `max_age_days`: a copy older than this is stale and blocks the calls it covers.
    `effective_after_days`: a number registered fewer days ago than this is not yet binding
    (UK TPS 28 days); used only when the register file carries registration dates.
    `applies_to`: `callee` registers list people not to call; `caller_id` lists (dno) list
    numbers that must never be presented.
    `binds_until`: the last day the register binds, where a law ends it (Bloctel gives way
    to the opt-in regime); later calls are not looked up on it.
    `exemptions`: the consent kinds that lift it, each with how many months it lasts (None:
    as long as the record is in force); None keeps the shipped table
    (rules/checks/registry.py `REGISTER_EXEMPTIONS`).
    """

    name: str
    country: str | None
    covers: frozenset[Purpose] = MARKETING
    max_age_days: int | None = None
    effective_after_days: int | None = None
    applies_to: str = "callee"
    citation: str = ""
    unverified: bool = False
    label: str = ""
    binds_until: date | None = None
    exemptions: tuple[tuple[ConsentKind, int | None], ...] | None = None


# regulations.md section 0 and 5: the registers the contract names, with their freshness.
DEFAULT_REGISTERS: Mapping[str, RegisterSpec] = {
    "us-dnc": RegisterSpec(
        "us-dnc",
        "US",
        max_age_days=31,
        label="US National Do Not Call Registry",
        citation="47 CFR 64.1200(c)(2)(i)(D); 16 CFR 310.4(b)(3)(iv): registry copy at most 31 days old",
    ),
    "au-dncr": RegisterSpec(
        "au-dncr",
        "AU",
        covers=frozenset({Purpose.TELEMARKETING}),
        max_age_days=30,
        label="Australian Do Not Call Register",
        citation="Do Not Call Register Act 2006 s 11; wash results valid 30 days (secondary sources)",
        unverified=True,
    ),
    "uk-tps": RegisterSpec(
        "uk-tps",
        "GB",
        covers=UK_DIRECT_MARKETING,
        max_age_days=28,
        effective_after_days=28,
        label="UK Telephone Preference Service",
        citation="PECR reg 21(1)(b) and 21(3): 28 days after registration",
    ),
    "uk-ctps": RegisterSpec(
        "uk-ctps",
        "GB",
        covers=UK_DIRECT_MARKETING,
        max_age_days=28,
        effective_after_days=28,
        label="UK Corporate Telephone Preference Service",
        citation="PECR reg 21(1)(b), reg 26: 28 days after registration",
    ),
    "fr-bloctel": RegisterSpec(
        "fr-bloctel",
        "FR",
        max_age_days=30,
        effective_after_days=30,
        label="Bloctel",
        citation="Code de la consommation L.223-1: registration effective within 30 days",
        # Opt-in from 11 Aug 2026 (regulations.md 3.3, [U]: some sources say 1 Aug): consent
        # is then the basis for calling (the FR pack's opt-in-2026 regime), not this list.
        binds_until=date(2026, 8, 10),
    ),
    "be-dncm": RegisterSpec(
        "be-dncm",
        "BE",
        max_age_days=7,
        # "Within 5 working days", counted as 5 calendar days: never later than the law.
        effective_after_days=5,
        label="Belgian Do Not Call Me list",
        citation="Code of Economic Law VI.111-VI.114: registration effective within 5 working days",
    ),
    "it-rpo": RegisterSpec(
        "it-rpo",
        "IT",
        max_age_days=15,
        effective_after_days=15,
        label="Registro Pubblico delle Opposizioni",
        citation="DPR 26/2022: consult monthly and before each campaign; some say every 15 days",
        unverified=True,
    ),
    "es-robinson": RegisterSpec(
        "es-robinson",
        "ES",
        max_age_days=30,
        label="Lista Robinson",
        citation="LOPDGDD art. 23.4; refresh interval not verified",
        unverified=True,
    ),
    "ie-ndd": RegisterSpec(
        "ie-ndd",
        "IE",
        # The NDD holds landlines (mobiles are opt-in: the IE consent rule); a mobile is
        # simply not on it. Ex-directory numbers are opted out too, which no copy shows.
        max_age_days=28,
        label="Irish National Directory Database (marketing preference)",
        citation="S.I. 336/2011 reg 13: respect the NDD for marketing calls to landlines;"
        " ComReg: marketers take up updates within 28 days",
    ),
    "dno": RegisterSpec(
        "dno",
        None,
        covers=ALL_PURPOSES,
        max_age_days=None,
        applies_to="caller_id",
        label="Do-not-originate list",
        citation="47 CFR 64.1200(o) (FCC 25-15); Ofcom CLI guidance: DNO list",
    ),
}


@dataclass(frozen=True, slots=True)
class TenantSettings:
    name: str
    region: str | None = None


@dataclass(frozen=True, slots=True)
class Policy:
    """Everything configurable that a decision depends on."""

    tenants: Mapping[str, TenantSettings] = field(default_factory=dict)
    # Region for tenants without their own; None means national-format numbers are unreadable.
    default_region: str | None = None
    registers: Mapping[str, RegisterSpec] = field(default_factory=lambda: dict(DEFAULT_REGISTERS))
    # A register with no copy blocks the calls it covers (registry.missing) unless this is False.
    block_when_register_missing: bool = True
    # What a failure or timeout of the guard itself decides, and the per-call time budget.
    on_failure: Verdict = Verdict.BLOCK
    deadline_ms: int = 250
    # How far back prior attempts are fetched for frequency rules.
    attempt_lookback: timedelta = ATTEMPT_LOOKBACK
    jurisdictions: JurisdictionPolicy = field(default_factory=JurisdictionPolicy)
    callerid: CallerIdPolicy = field(default_factory=CallerIdPolicy)
    detectors: DetectorPolicy = field(default_factory=DetectorPolicy)
    # Values derived from the settings above, worked out on first use (see `memo`). Not an
    # argument: `dataclasses.replace` gives the new policy an empty one.
    _memo: dict[str, dict[Any, Any]] = field(
        default_factory=dict, init=False, repr=False, compare=False
    )

    def memo(self, name: str) -> dict[Any, Any]:
        """A cache, named `name`, of values that follow from this policy and the cache's key.

        A policy is never changed once built (its tables are filled before it is), so what
        is derived from it stays true as long as it lives, and goes with it.
        """
        table = self._memo.get(name)
        if table is None:
            table = self._memo[name] = {}
        return table

    def tenants_like(self, name: str) -> list[str]:
        """The settings' tenants whose names differ from `name` only in case (none when
        `name` is one of them): a tenant's settings are found by its exact name, so one of
        those was likely meant."""
        if name in self.tenants:
            return []
        folded = name.casefold()
        return sorted(t for t in self.tenants if t.casefold() == folded)

    def region_for(self, tenant: str) -> str | None:
        settings = self.tenants.get(tenant)
        if settings is not None and settings.region:
            return settings.region
        return self.default_region

    def registers_for_country(self, country: str | None) -> tuple[RegisterSpec, ...]:
        # Asked twice per call (the query, the registry rule): worked out once per country.
        known = self.memo("registers_for_country")
        specs = known.get(country)
        if specs is None:
            specs = known[country] = tuple(
                spec
                for spec in self.registers.values()
                if spec.applies_to == "callee" and spec.country == country
            )
        return specs

    def caller_id_registers(self) -> tuple[RegisterSpec, ...]:
        known = self.memo("caller_id_registers")
        specs = known.get(None)
        if specs is None:
            specs = known[None] = tuple(
                s for s in self.registers.values() if s.applies_to == "caller_id"
            )
        return specs
