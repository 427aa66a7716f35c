"""`dialguard log` commands."""

from __future__ import annotations
