"""Every event names who made the change (`actor`), however the store's code writes it."""

from __future__ import annotations

from datetime import date
from pathlib import Path

from dialguard.registers.readers import FORMATS
from dialguard.store import open_store
from dialguard.store.registers import import_register


async def test_every_event_of_a_store_names_its_actor(tmp_path: Path) -> None:
    path = tmp_path / "audit.sqlite3"
    store = await open_store(path, actor="cli:alice")
    try:
        await store.log_event("suppression.add", {"number": "+61412345678"})
        await store.write(  # as a module writing its own statement does
            "INSERT INTO events (at, kind, detail) VALUES (1.0, 'by.hand', '{}')"
        )
        await store.write(
            "INSERT INTO events (at, kind, detail, actor) VALUES (2.0, 'signed', '{}', 'x')"
        )
        wash = tmp_path / "wash.txt"
        wash.write_text("0412 345 679\n", encoding="utf-8")
        await import_register(store, "au-dncr", wash, FORMATS["plain"], "AU", date(2026, 3, 1))
        rows = await store.fetchall("SELECT kind, actor FROM events ORDER BY id")
    finally:
        await store.close()
    actors = {row["kind"]: row["actor"] for row in rows}
    assert actors == {
        "suppression.add": "cli:alice",
        "by.hand": "cli:alice",
        "signed": "x",  # an actor given is kept
        "registry.import": "cli:alice",  # on the import's own connection
    }

    other = await open_store(path, actor="serve")  # the trigger is each connection's own
    try:
        await other.log_event("ami_gap", {})
        row = await other.fetchone("SELECT actor FROM events WHERE kind = 'ami_gap'")
    finally:
        await other.close()
    assert row is not None and row["actor"] == "serve"
