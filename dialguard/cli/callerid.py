"""`dialguard callerid` commands."""

from __future__ import annotations
