"""Hours rules (issue 3): filled by the jurisdiction packs."""

from __future__ import annotations

CHECKS = ()
