"""`dialguard suppress` commands."""

from __future__ import annotations
