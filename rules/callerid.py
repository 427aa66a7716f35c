"""Caller-ID honesty policy (issue 4). Placeholder: the policy object the engine carries."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class CallerIdPolicy:
    """Caller-ID rules' settings."""


def from_settings(raw: Mapping[str, object]) -> tuple[CallerIdPolicy, list[str]]:
    """Build the policy from the `[callerid]` table of dialguard.toml.

    Returns the policy and a list of errors, each naming the bad key (`callerid.x.y: why`).
    """
    errors = [f"callerid.{key}: unknown setting" for key in raw]
    return CallerIdPolicy(), errors
