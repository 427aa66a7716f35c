"""A database that cannot be opened is one error, with nothing printed behind it."""

from __future__ import annotations

import asyncio
import threading
from pathlib import Path

import pytest

from dialguard.store import StoreError, open_store


def test_a_database_that_cannot_be_opened_leaves_no_thread_behind(tmp_path: Path) -> None:
    # aiosqlite stops its worker thread after the failure; the thread then posted to a loop
    # `asyncio.run` had closed, and a traceback followed the CLI's one-line error (about one
    # run in five here).
    unopenable = tmp_path / "a-folder.sqlite3"
    unopenable.mkdir()  # a directory where the file should be: sqlite cannot open it
    failures: list[threading.ExceptHookArgs] = []
    previous = threading.excepthook
    threading.excepthook = failures.append
    try:
        for _ in range(25):
            with pytest.raises(StoreError, match="cannot open the database"):
                asyncio.run(open_store(unopenable))
    finally:
        threading.excepthook = previous
    assert [repr(f.exc_value) for f in failures] == []
