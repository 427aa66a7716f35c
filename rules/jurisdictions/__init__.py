"""Jurisdiction packs: calling windows, holidays, caps and consent regimes per country, as data.

The packs ship as TOML in `rules/packs/<code>.toml` (AU, US with per-state tables, GB, FR, DE,
ES, IT, NL, BE, IE). An operator reads one with `dialguard jurisdiction show CODE` and changes
it from the `[jurisdictions]` table of dialguard.toml, without touching code:

    [jurisdictions.US.states.TX]            # replace fields of a named rule
    hours = [{ name = "solicitation", days = { sun = [["13:00", "21:00"]] } }]

    [jurisdictions.US.states.NV]            # add a state
    name = "Nevada"
    hours = [{ name = "solicitation", purposes = ["telemarketing"], citation = "NRS 228.590",
               unverified = true, days = { mon = [["09:00", "20:00"]], ... } }]

    [[jurisdictions.US.states.FL.caps]]     # change a cap
    name = "same-subject"
    limit = 2

Rule lists (`hours`, `holidays`, `caps`, `consent`) merge by `name`: the given fields replace
the pack's, a new name adds a rule (which then needs every required field, including its
`citation`), and `remove = true` deletes one. Every bad key is reported by its full path.
docs/jurisdictions.md has the full format.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from functools import cache
from typing import Any

from rules.jurisdictions.loader import PACK_CODES, build, merge, shipped_raw
from rules.jurisdictions.model import (
    CapRule,
    ConsentRegime,
    HolidayRule,
    HoursRule,
    Jurisdiction,
)

__all__ = [
    "CapRule",
    "ConsentRegime",
    "HolidayRule",
    "HoursRule",
    "Jurisdiction",
    "JurisdictionPolicy",
    "default_packs",
    "from_settings",
]


@cache
def default_packs() -> Mapping[str, Jurisdiction]:
    """The shipped packs, validated. A shipped pack that does not validate is a bug."""
    errors: list[str] = []
    packs = _build_all(shipped_raw(), errors)
    if errors:
        raise ValueError("shipped jurisdiction packs are invalid: " + "; ".join(errors))
    return packs


@dataclass(frozen=True, slots=True)
class JurisdictionPolicy:
    """The packs in force (shipped, with the operator's overrides), keyed by country code."""

    packs: Mapping[str, Jurisdiction] = field(default_factory=default_packs)

    def for_country(self, country: str | None) -> Jurisdiction | None:
        return self.packs.get(country) if country else None


def from_settings(raw: Mapping[str, object]) -> tuple[JurisdictionPolicy, list[str]]:
    """Build the policy from the `[jurisdictions]` table of dialguard.toml.

    Returns the policy and a list of errors, each naming the bad key (`jurisdictions.x.y: why`).
    """
    if not raw:
        return JurisdictionPolicy(), []
    errors: list[str] = []
    merged: dict[str, Any] = {code: dict(pack) for code, pack in shipped_raw().items()}
    for code, override in raw.items():
        key = str(code).upper()
        if not isinstance(override, dict):
            errors.append(f"jurisdictions.{code}: must be a table")
            continue
        if key not in merged and "name" not in override:
            errors.append(
                f"jurisdictions.{code}: not a shipped pack ({', '.join(PACK_CODES)}); "
                "a new country needs at least `name`"
            )
            continue
        merged[key] = merge(merged.get(key, {}), override)
    packs = _build_all(merged, errors)
    return JurisdictionPolicy(packs), errors


def _build_all(raw: Mapping[str, Any], errors: list[str]) -> dict[str, Jurisdiction]:
    packs: dict[str, Jurisdiction] = {}
    for code, table in raw.items():
        built = build(code, table, f"jurisdictions.{code}", errors)
        if built is not None:
            packs[code] = built
    return packs
