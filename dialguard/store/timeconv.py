"""Conversions between the store's epoch seconds and aware datetimes."""

from __future__ import annotations

from datetime import UTC, datetime


def to_epoch(value: datetime | None) -> float | None:
    return None if value is None else value.timestamp()


def from_epoch(value: float | None) -> datetime | None:
    return None if value is None else datetime.fromtimestamp(value, UTC)


def require_epoch(value: float) -> datetime:
    return datetime.fromtimestamp(value, UTC)
