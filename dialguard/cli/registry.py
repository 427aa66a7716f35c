"""`dialguard registry` commands."""

from __future__ import annotations
