"""`dialguard consent` commands."""

from __future__ import annotations
