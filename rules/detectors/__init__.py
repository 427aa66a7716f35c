"""Abuse detectors over call outcomes (issue 5): pure functions over rolling windows.

Each detector takes the outcomes it may look at, the evaluation instant `now`, its own
settings and a `DetectorContext` (facts the store looked up, passed in as values), and returns
`FlagFinding`s. A detector never reads the clock and never raises on odd records: outcomes
without a time are ignored, duplicates of one call id are merged, and the result does not
depend on the order of the input.

Subjects are the party responsible for the calls, so that a finding can suspend it:
`campaign:NAME` for dialler traffic, `tenant:NAME` for calls without a campaign (and for
patterns that span a tenant's campaigns), `callerid:+E164` for caller-ID profiles. The callee
of a per-callee pattern is named in the finding's detail and `callees`.

Figures come from `regulations.md` and `field.md`; `basis` says whether a figure is law,
carrier practice or house policy (our own choice), and `unverified` marks [U]/[S]-only sources.
"""

from __future__ import annotations

from rules.detectors.checks import DETECTORS, accumulate, run_detectors
from rules.detectors.model import (
    Action,
    Basis,
    DetectorContext,
    DetectorSettings,
    DetectorSpec,
    FlagFinding,
    Param,
)
from rules.detectors.settings import SPECS, DetectorPolicy, default_settings, from_settings
from rules.detectors.windows import outcome_time, tenant_of

__all__ = [
    "DETECTORS",
    "SPECS",
    "Action",
    "Basis",
    "DetectorContext",
    "DetectorPolicy",
    "DetectorSettings",
    "DetectorSpec",
    "FlagFinding",
    "Param",
    "accumulate",
    "default_settings",
    "from_settings",
    "outcome_time",
    "run_detectors",
    "tenant_of",
]
