"""Parsing the AMI events dialguard acts on beyond call progress: its `UserEvent`s and
`ChanVariable` headers.

Events arrive as mappings of header -> value. A header repeated in one message (several
`ChanVariable` lines) arrives as a list, a single one as a string; both are accepted.

UserEvent names (matched case-insensitively):
- `DialguardOptOut` (the contract, docs/architecture.md) and `OptOutRequest` (an alias: the
  opt-out IVR in the recorded dialplan raises that name) -> `OptOutRequest`.
- `DialguardAbandoned` -> `AbandonMark`.
- `DialguardAmd` (`Status: ${AMDSTATUS}`, `Cause: ${AMDCAUSE}`) -> `AmdMark`.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

HeaderValue = str | list[str]
Event = Mapping[str, Any]  # header -> str, or list[str] when repeated

OPTOUT_EVENT_NAMES = frozenset({"dialguardoptout", "optoutrequest"})
ABANDONED_EVENT_NAMES = frozenset({"dialguardabandoned"})
AMD_EVENT_NAMES = frozenset({"dialguardamd"})
# AMDSTATUS values of Asterisk's AMD() (app_amd); a Status outside them is not recorded.
AMD_STATUSES = frozenset({"MACHINE", "HUMAN", "NOTSURE", "HANGUP"})


@dataclass(frozen=True, slots=True)
class OptOutRequest:
    """The callee asked not to be called again (raw number as the dialplan sent it)."""

    number: str | None
    tenant: str | None
    campaign: str | None
    uniqueid: str | None  # the channel that raised the event
    linkedid: str | None
    event_name: str


@dataclass(frozen=True, slots=True)
class AbandonMark:
    """An answered call no agent took in time (abandoned); identifies the call if it can."""

    number: str | None
    tenant: str | None
    campaign: str | None
    uniqueid: str | None
    linkedid: str | None


@dataclass(frozen=True, slots=True)
class AmdMark:
    """AMD's verdict on an answered call (`status`, an AMDSTATUS); identifies the call as
    `AbandonMark` does. `cause` (AMDCAUSE, e.g. `LONGGREETING-2000-1500`) is for the log."""

    number: str | None
    tenant: str | None
    campaign: str | None
    uniqueid: str | None
    linkedid: str | None
    status: str
    cause: str | None


def header(event: Event, name: str) -> str | None:
    """The header's value, case-insensitive; the first one if repeated; '' and absent -> None."""
    value = event.get(name)
    if value is None:
        value = event.get(name.lower())
        if value is None:
            lowered = name.lower()
            for key, candidate in event.items():
                if key.lower() == lowered:
                    value = candidate
                    break
    return header_value(value)


def header_value(value: object) -> str | None:
    """A header value as text: the first one if repeated; blank, absent or odd -> None."""
    if isinstance(value, list):
        value = value[0] if value else None
    if not isinstance(value, str):
        return None
    value = value.strip()
    return value or None


def parse_user_event(event: Event) -> OptOutRequest | AbandonMark | AmdMark | None:
    """The dialguard meaning of a `UserEvent`, or None for any other event (and for a
    `DialguardAmd` whose Status is no AMDSTATUS: an unset variable gives an empty one)."""
    if (header(event, "Event") or "").lower() != "userevent":
        return None
    name = header(event, "UserEvent") or ""
    kind = name.lower()
    if kind in OPTOUT_EVENT_NAMES:
        return OptOutRequest(**_call_of(event), event_name=name)
    if kind in ABANDONED_EVENT_NAMES:
        return AbandonMark(**_call_of(event))
    if kind in AMD_EVENT_NAMES:
        status = (header(event, "Status") or "").upper()
        if status not in AMD_STATUSES:
            return None
        return AmdMark(**_call_of(event), status=status, cause=header(event, "Cause"))
    return None


def _call_of(event: Event) -> dict[str, str | None]:
    """The call a dialguard UserEvent names: its headers, and the ids of the channel that
    raised it."""
    return {
        "number": header(event, "Number"),
        "tenant": header(event, "Tenant"),
        "campaign": header(event, "Campaign") or header(event, "CampaignId"),
        "uniqueid": header(event, "Uniqueid"),
        "linkedid": header(event, "Linkedid"),
    }


def parse_chanvariables(value: HeaderValue | None) -> dict[str, str]:
    """`ChanVariable: NAME=value` lines as a dict (panoramisk 1.4's `getdict` raises on a
    single line, hazard 3). Accepts a string, a list or None; lines without '=' are skipped."""
    if value is None:
        return {}
    items = [value] if isinstance(value, str) else value
    out: dict[str, str] = {}
    for item in items:
        if not isinstance(item, str):
            continue
        name, sep, val = item.partition("=")
        name = name.strip()
        if sep and name:
            out[name] = val
    return out
