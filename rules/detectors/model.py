"""The detectors' vocabulary: findings, the context the store supplies, settings types."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from enum import StrEnum

MAX_EVIDENCE = 500  # call ids kept per finding; the detail still counts them all
SUSPENDABLE = ("tenant", "campaign", "callerid")


class Action(StrEnum):
    FLAG = "flag"
    SUSPEND = "suspend"


class Basis(StrEnum):
    LAW = "law"
    CARRIER = "carrier practice"
    HOUSE = "house policy"


@dataclass(frozen=True, slots=True)
class FlagFinding:
    """One detector's conclusion about one subject over one window."""

    subject: str
    detector: str
    window_start: datetime
    window_end: datetime
    measured: float
    threshold: float
    evidence: tuple[str, ...]  # call ids, sorted
    detail: str
    citation: str
    action: Action
    unverified: bool = False
    callees: tuple[str, ...] = ()

    @property
    def suspendable(self) -> bool:
        return self.subject.split(":", 1)[0] in SUSPENDABLE


@dataclass(frozen=True, slots=True)
class DetectorContext:
    """Facts about the outcomes that only the store knows, handed in as values.

    `breaches`: call id -> why the number was suppressed or registered when it was called.
    `caller_id_pools`: tenant -> pool name ('' for none) -> caller IDs in the inventory.
    `guarded_call_ids`: call ids the guard allowed; None when not looked up.
    """

    breaches: Mapping[str, tuple[str, ...]] = field(default_factory=dict)
    caller_id_pools: Mapping[str, Mapping[str, frozenset[str]]] = field(default_factory=dict)
    guarded_call_ids: frozenset[str] | None = None


# -- settings ---------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Param:
    default: float
    minimum: float
    maximum: float
    integer: bool = False
    doc: str = ""


@dataclass(frozen=True, slots=True)
class DetectorSpec:
    """What a detector measures, its parameters with their defaults, and its source."""

    id: str
    summary: str
    citation: str
    basis: Basis
    params: Mapping[str, Param]
    action: Action = Action.FLAG
    enabled: bool = True
    unverified: bool = False


@dataclass(frozen=True, slots=True)
class DetectorSettings:
    """One detector's effective settings: enabled, action and parameter values."""

    spec: DetectorSpec
    enabled: bool
    action: Action
    values: Mapping[str, float]

    @property
    def id(self) -> str:
        return self.spec.id

    def value(self, name: str) -> float:
        return self.values[name]

    def count(self, name: str) -> int:
        return int(self.values[name])

    def hours(self, name: str) -> timedelta:
        return timedelta(hours=self.values[name])

    def days(self, name: str) -> timedelta:
        return timedelta(days=self.values[name])

    @property
    def lookback(self) -> timedelta:
        """The widest stretch of past outcomes this detector reads."""
        spans = [timedelta(hours=v) for k, v in self.values.items() if k.endswith("_hours")]
        spans += [timedelta(days=v) for k, v in self.values.items() if k.endswith("_days")]
        return max(spans, default=timedelta(0))
