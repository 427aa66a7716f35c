"""A second SQLite connection on one dedicated thread, for the queries of the inline check.

Why not aiosqlite here: it hops to its worker thread and back for every statement and every
fetch, and a check needs about ten statements (see `facts.py`). Running them as one function
on a thread of our own makes the whole check one hop. Everything else keeps using aiosqlite.
Both connections share the file in WAL mode, so each sees what the other committed.
"""

from __future__ import annotations

import asyncio
import sqlite3
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import ParamSpec, TypeVar

P = ParamSpec("P")
T = TypeVar("T")


class HotPath:
    def __init__(self, path: Path, busy_timeout_ms: int) -> None:
        self._path = path
        self._busy_timeout_ms = busy_timeout_ms
        self._executor = ThreadPoolExecutor(max_workers=1, thread_name_prefix="dialguard-hot")
        self._conn: sqlite3.Connection | None = None

    async def open(self) -> None:
        await asyncio.get_running_loop().run_in_executor(self._executor, self._connect)

    def _connect(self) -> None:
        conn = sqlite3.connect(self._path, isolation_level=None, check_same_thread=False)
        conn.row_factory = sqlite3.Row
        conn.execute(f"PRAGMA busy_timeout = {int(self._busy_timeout_ms)}")
        conn.execute("PRAGMA synchronous = NORMAL")
        self._conn = conn

    async def run(self, fn: Callable[..., T], *args: object) -> T:
        """Run `fn(connection, *args)` on the hot-path thread."""
        conn = self._conn
        if conn is None:
            raise RuntimeError("the hot path is not open")
        return await asyncio.get_running_loop().run_in_executor(self._executor, fn, conn, *args)

    async def close(self) -> None:
        conn, self._conn = self._conn, None
        if conn is not None:
            await asyncio.get_running_loop().run_in_executor(self._executor, conn.close)
        self._executor.shutdown(wait=True)
