"""`dialguard flags` commands."""

from __future__ import annotations
