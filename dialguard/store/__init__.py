"""The embedded store: one SQLite file in WAL mode, shared by the daemons and the CLI.

`Store` fills the ports the rules declare (`rules.ports`). All SQL lives in this package, so a
PostgreSQL store can later fill the same ports. The file and its folder are created on first
use and migrated forward (see `schema.py`).
"""

from __future__ import annotations

from dialguard.store.core import Store, StoreError, open_store
from dialguard.store.hotpath import StoreUnavailable

__all__ = ["Store", "StoreError", "StoreUnavailable", "open_store"]
