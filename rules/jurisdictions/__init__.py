"""Jurisdiction packs: calling windows, holidays, caps and consent regimes per country, as data.

Placeholder for the jurisdiction work (issue 3): the policy object the engine carries.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class JurisdictionPolicy:
    """Per-jurisdiction rules; filled by the jurisdiction packs."""


def from_settings(raw: Mapping[str, object]) -> tuple[JurisdictionPolicy, list[str]]:
    """Build the policy from the `[jurisdictions]` table of dialguard.toml.

    Returns the policy and a list of errors, each naming the bad key (`jurisdictions.x.y: why`).
    """
    errors = [f"jurisdictions.{key}: unknown setting" for key in raw]
    return JurisdictionPolicy(), errors
