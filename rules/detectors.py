"""Abuse detectors over call outcomes (issue 5). Placeholder: the policy object."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class DetectorPolicy:
    """Detector thresholds and enforcement settings."""


def from_settings(raw: Mapping[str, object]) -> tuple[DetectorPolicy, list[str]]:
    """Build the policy from the `[detectors]` table of dialguard.toml.

    Returns the policy and a list of errors, each naming the bad key (`detectors.x.y: why`).
    """
    errors = [f"detectors.{key}: unknown setting" for key in raw]
    return DetectorPolicy(), errors
