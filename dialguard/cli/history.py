"""`dialguard history` commands."""

from __future__ import annotations
