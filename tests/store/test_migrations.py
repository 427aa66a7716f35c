"""Databases made by an earlier dialguard, opened by this one."""

from __future__ import annotations

import json
import sqlite3
from pathlib import Path

from dialguard.store import open_store
from dialguard.store.schema import MIGRATIONS


def _at_version(path: Path, version: int) -> sqlite3.Connection:
    conn = sqlite3.connect(path, isolation_level=None)
    for statements in MIGRATIONS[:version]:
        for statement in statements:
            conn.execute(statement)
    conn.execute(f"PRAGMA user_version = {version}")
    return conn


async def test_history_calls_take_the_ids_the_ami_listener_uses(tmp_path: Path) -> None:
    # Version 2 stored Master.csv calls as `cdr:<uniqueid>`: importing the file again after
    # the upgrade would add them twice, and a call the listener recorded counted twice.
    path = tmp_path / "old.sqlite3"
    conn = _at_version(path, 2)
    insert = "INSERT INTO outcomes (call_id, source, updated_at) VALUES (?, ?, 0)"
    conn.executemany(
        insert,
        [
            ("cdr:1.1", "history"),
            ("1.1", "ami"),
            ("cdr:2.2", "history"),
            ("cdr:", "history"),  # every row without a uniqueid, as one
            ("history:ab", "history"),
        ],
    )
    conn.close()
    store = await open_store(path)
    try:
        rows = await store.fetchall("SELECT call_id, source FROM outcomes ORDER BY call_id")
    finally:
        await store.close()
    assert [tuple(r) for r in rows] == [
        ("1.1", "ami"),
        ("2.2", "history"),
        ("history:ab", "history"),
    ]


def _flag(conn: sqlite3.Connection, subject: str, status: str, call_ids: list[str]) -> int:
    evidence = json.dumps({"call_ids": call_ids, "callees": [], "action": "suspend"})
    cur = conn.execute(
        "INSERT INTO flags (subject, detector, status, window_start, window_end, measured,"
        " threshold, evidence, opened_at, updated_at) VALUES (?, 'breach', ?, 0, 0, 1, 0, ?, 0, 0)",
        (subject, status, evidence),
    )
    assert cur.lastrowid is not None
    return cur.lastrowid


async def test_flags_follow_the_calls_they_name(tmp_path: Path) -> None:
    # Left under `cdr:` ids and `campaign:NAME`, a flag an operator had closed no longer
    # matched the same calls: they opened a new flag, and a breach suspended again.
    path = tmp_path / "old.sqlite3"
    conn = _at_version(path, 2)
    conn.execute(
        "INSERT INTO outcomes (call_id, tenant, campaign, source, updated_at)"
        " VALUES ('cdr:h1', 'acme', 'winter', 'history', 0)"
    )
    dismissed = _flag(conn, "campaign:winter", "dismissed", ["cdr:h1"])
    opened = _flag(conn, "campaign:autumn", "open", ["cdr:h1"])
    conn.execute(
        "INSERT INTO suspensions (subject, reason, created_at, flag_id) VALUES"
        " ('campaign:autumn', 'breach', 0, ?), ('campaign:spring', 'an operator''s', 0, NULL)",
        (opened,),
    )
    conn.close()
    store = await open_store(path)
    try:
        flags = await store.fetchall("SELECT id, subject, evidence FROM flags ORDER BY id")
        suspended = await store.fetchall("SELECT subject FROM suspensions ORDER BY subject")
    finally:
        await store.close()
    assert [(r["id"], r["subject"]) for r in flags] == [
        (dismissed, "campaign:acme/winter"),
        (opened, "campaign:acme/autumn"),
    ]
    assert all(json.loads(r["evidence"])["call_ids"] == ["h1"] for r in flags)
    assert [r["subject"] for r in suspended] == ["campaign:acme/autumn", "campaign:spring"]
