"""Databases made by an earlier dialguard, opened by this one."""

from __future__ import annotations

import json
import sqlite3
from datetime import UTC, datetime
from pathlib import Path

from dialguard.store import open_store
from dialguard.store.schema import MIGRATIONS


def _at_version(path: Path, version: int) -> sqlite3.Connection:
    conn = sqlite3.connect(path, isolation_level=None)
    for statements in MIGRATIONS[:version]:
        for statement in statements:
            if callable(statement):
                continue  # a coroutine step re-keys register copies: a new file has none
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
    evidence = json.dumps(
        {"call_ids": call_ids, "callees": [], "citation": 'field "cdr:x" of Master.csv'}
    )
    cur = conn.execute(
        "INSERT INTO flags (subject, detector, status, window_start, window_end, measured,"
        " threshold, evidence, opened_at, updated_at) VALUES (?, 'breach', ?, 0, 0, 1, 0, ?, 0, 0)",
        (subject, status, evidence),
    )
    assert cur.lastrowid is not None
    return cur.lastrowid


# acme's campaign `winter`, and globex's campaign named `acme/winter`: the same subject in
# the two readings, every tenant's and one tenant's.
NAMESAKES = (("a1", "acme", "winter"), ("g1", "globex", "acme/winter"))


def _before_4(tmp_path: Path) -> tuple[Path, sqlite3.Connection]:
    path = tmp_path / "old.sqlite3"
    return path, _at_version(path, 3)


def _calls(conn: sqlite3.Connection, *calls: tuple[str, str | None, str]) -> None:
    """Outcomes recorded by the AMI listener: (call id, tenant, campaign)."""
    conn.executemany(
        "INSERT INTO outcomes (call_id, tenant, campaign, source, updated_at)"
        " VALUES (?, ?, ?, 'ami', 0)",
        calls,
    )


async def _upgraded(path: Path) -> tuple[list[sqlite3.Row], list[sqlite3.Row]]:
    """Open the store (migrating it); its flags by id and suspensions by subject."""
    store = await open_store(path)
    try:
        flags = await store.fetchall("SELECT * FROM flags ORDER BY id")
        suspended = await store.fetchall("SELECT * FROM suspensions ORDER BY subject")
    finally:
        await store.close()
    return flags, suspended


async def test_flags_and_suspensions_follow_their_calls_to_the_tenants_campaign(
    tmp_path: Path,
) -> None:
    # Left under `cdr:` ids and `campaign:NAME`, a flag an operator had closed no longer
    # matched the same calls: they opened a new flag, and a breach suspended again.
    path = tmp_path / "old.sqlite3"
    conn = _at_version(path, 2)
    conn.executemany(
        "INSERT INTO outcomes (call_id, tenant, campaign, source, updated_at) VALUES (?, ?, ?, ?, 0)",
        [
            ("cdr:h1", "acme", "winter", "history"),
            ("a2", "acme", "winter", "ami"),
            ("g1", "globex", "autumn", "ami"),
            ("a3", "acme", "autumn", "ami"),
            ("e1", "acme", "eu/winter", "ami"),
            ("n1", None, "summer", "ami"),
        ],
    )
    closed = _flag(conn, "campaign:winter", "dismissed", ["pruned", "cdr:h1"])  # first call gone
    opened = _flag(conn, "campaign:winter", "open", ["a2"])
    pooled_closed = _flag(conn, "campaign:autumn", "dismissed", ["g1", "a3"])
    pooled_open = _flag(conn, "campaign:autumn", "open", ["g1", "a3"])
    slashed = _flag(conn, "campaign:eu/winter", "open", ["e1"])
    no_tenant = _flag(conn, "campaign:summer", "open", ["n1"])
    conn.executemany(
        "INSERT INTO suspensions (subject, reason, created_at, flag_id) VALUES (?, 'x', 0, ?)",
        [
            ("campaign:winter", opened),
            ("campaign:acme/winter", None),  # already there: the two are one suspension
            ("campaign:autumn", pooled_open),  # several tenants' calls: every tenant's still
            ("campaign:eu/winter", slashed),
            ("campaign:spring", None),  # an operator's: every tenant's spring
        ],
    )
    conn.close()
    flags, suspended = await _upgraded(path)
    by_id = {r["id"]: (r["subject"], r["status"]) for r in flags}
    assert by_id[closed] == ("campaign:acme/winter", "dismissed")
    assert by_id[opened] == ("campaign:acme/winter", "open")
    assert pooled_closed not in by_id  # copied to each tenant whose calls it names
    copies = sorted(v for k, v in by_id.items() if k > no_tenant)
    assert copies == [
        ("campaign:acme/autumn", "dismissed"),
        ("campaign:globex/autumn", "dismissed"),
    ]
    assert by_id[pooled_open] == ("campaign:autumn", "open")
    assert by_id[slashed] == ("campaign:acme/eu/winter", "open")
    assert by_id[no_tenant] == ("campaign:default/summer", "open")
    assert [r["subject"] for r in suspended] == [
        "campaign:acme/eu/winter",
        "campaign:acme/winter",
        "campaign:autumn",
        "campaign:spring",
    ]
    evidence = {r["id"]: json.loads(r["evidence"]) for r in flags}
    assert evidence[closed]["call_ids"] == ["pruned", "h1"]
    # Only the ids: other text that holds "cdr: is left as it is.
    assert evidence[closed]["citation"] == 'field "cdr:x" of Master.csv'


async def test_renames_never_collide_and_slashed_names_keep_blocking_their_campaign(
    tmp_path: Path,
) -> None:
    # acme's `winter` and globex's campaign named `acme/winter`: renamed in one statement,
    # acme's new subject was still globex's old one, so acme's suspension was dropped. An
    # operator's `campaign:ops/promo` would have read as tenant ops' campaign promo.
    path, conn = _before_4(tmp_path)
    _calls(
        conn,
        *NAMESAKES,
        ("o1", "ops", "ops/promo"),
        ("a2", "acme", "autumn"),
        ("g2", "globex", "autumn"),
    )
    plain = _flag(conn, "campaign:winter", "open", ["a1"])  # renamed first
    slashed = _flag(conn, "campaign:acme/winter", "open", ["g1"])
    pooled = _flag(conn, "campaign:autumn", "acknowledged", ["a2", "g2"])
    conn.executemany(
        "INSERT INTO suspensions (subject, reason, created_at, flag_id) VALUES (?, 'x', 0, ?)",
        [
            ("campaign:winter", plain),
            ("campaign:acme/winter", slashed),
            ("campaign:ops/promo", None),
            ("campaign:autumn", pooled),
        ],
    )
    conn.close()
    flags, suspended = await _upgraded(path)
    subjects = {r["id"]: r["subject"] for r in flags}
    assert (subjects[plain], subjects[slashed]) == (
        "campaign:acme/winter",
        "campaign:globex/acme/winter",
    )
    assert [(r["subject"], r["flag_id"]) for r in suspended] == [
        ("campaign:acme/winter", plain),
        ("campaign:autumn", None),  # every tenant's still; its flag was copied per tenant
        ("campaign:globex/acme/winter", slashed),
        ("campaign:ops/ops/promo", None),
    ]


async def test_the_upgrade_never_fails_on_clashing_open_flags_and_keeps_slashed_suspensions(
    tmp_path: Path,
) -> None:
    # globex's `acme/winter` flag could take neither its new name (an open flag held it)
    # nor its old one (acme's flag had just taken it): the migration raised, and the daemon
    # could not start. A converted `campaign:x/y` suspension was deleted again by a later
    # step; one no call names is reported.
    path, conn = _before_4(tmp_path)
    _calls(
        conn,
        *NAMESAKES,
        ("a2", "acme", "x/y"),
        ("g2", "globex", "acme/x/y"),
    )
    plain = _flag(conn, "campaign:winter", "open", ["a1"])
    stuck = _flag(conn, "campaign:acme/winter", "open", ["g1"])
    holder = _flag(conn, "campaign:globex/acme/winter", "open", ["pruned"])
    conn.executemany(
        "INSERT INTO suspensions (subject, reason, created_at, flag_id) VALUES (?, 'x', 0, NULL)",
        [("campaign:x/y",), ("campaign:gone/campaign",)],
    )
    conn.close()
    flags, suspended = await _upgraded(path)
    events = sqlite3.connect(path).execute(
        "SELECT detail FROM events WHERE kind = 'migration.suspension_unplaced'"
    )
    by_id = {r["id"]: (r["subject"], r["status"]) for r in flags}
    assert by_id[plain] == ("campaign:acme/winter", "open")
    assert by_id[stuck] == ("campaign:globex/acme/winter", "acknowledged")
    assert by_id[holder] == ("campaign:globex/acme/winter", "open")
    assert [r["subject"] for r in suspended] == ["campaign:acme/x/y", "campaign:gone/campaign"]
    assert [json.loads(detail)["subject"] for (detail,) in events] == ["campaign:gone/campaign"]


async def test_overseas_numbers_stored_under_33_match_their_calls_after_the_upgrade(
    tmp_path: Path,
) -> None:
    # Martinique's 0596 60 12 34 was stored as +33 596 60 12 34 (phonenumbers took it for a
    # metropolitan line). Calls now read it as +596 596 60 12 34: the opt-out, the Bloctel
    # entry and the caller ID stored before stopped matching any call.
    from dialguard.guard import Guard
    from rules.models import CallAttempt
    from rules.policy import Policy, TenantSettings

    path = tmp_path / "old.sqlite3"
    conn = _at_version(path, 5)
    conn.executemany(
        "INSERT INTO suppressions (number, tenant, campaign, source, requested_at, expires_at,"
        " created_at) VALUES (?, ?, '', 'cli', 0, ?, 0)",
        [
            ("+33596601234", "acme", None),  # for ever
            ("+33692123456", "acme", 2e9),  # under both forms: the later expiry is kept
            ("+262692123456", "acme", 1.9e9),
            ("+33612345678", "acme", None),  # a metropolitan number: left alone
        ],
    )
    conn.execute(
        "INSERT INTO caller_ids (number, tenant, created_at) VALUES ('+33262123456', 'acme', 0)"
    )
    conn.executemany(
        "INSERT INTO suspensions (subject, reason, created_at) VALUES (?, 'x', 0)",
        [("callerid:+33590123456",), ("callerid:+33693999998",), ("callerid:+262693999998",)],
    )
    conn.execute(
        "INSERT INTO outcomes (call_id, number, caller_id, updated_at)"
        " VALUES ('o1', '+33692123457', '+33692999999', 0)"
    )
    conn.executemany(
        "INSERT INTO flags (subject, detector, window_start, window_end, measured, threshold,"
        " evidence, opened_at, updated_at) VALUES (?, 'short_calls', 0, 0, 1, 0, '{}', 0, 0)",
        # The last two are open under both forms: one open flag per subject and detector.
        [("callerid:+33692999999",), ("callerid:+33693000001",), ("callerid:+262693000001",)],
    )
    conn.execute("CREATE TABLE reg_fr (number INTEGER PRIMARY KEY, registered_on TEXT)")
    conn.executemany(
        "INSERT INTO reg_fr (number) VALUES (?)",
        [(33596601235,), (33694201234,), (594694201234,), (33612345679,)],
    )
    conn.execute(
        "INSERT INTO register_copies (register, table_name, as_of, imported_at, count, checksum)"
        " VALUES ('fr-bloctel', 'reg_fr', '2026-11-20', 0, 4, 'x')"
    )
    conn.close()
    store = await open_store(path)
    try:
        opted = await store.fetchall("SELECT number, expires_at FROM suppressions ORDER BY number")
        ids = await store.fetchall("SELECT number FROM caller_ids")
        suspended = await store.fetchall("SELECT subject FROM suspensions")
        keys = await store.fetchall("SELECT number FROM reg_fr ORDER BY number")
        count = await store.fetchone("SELECT count FROM register_copies")
        calls = await store.fetchall("SELECT number, caller_id FROM outcomes")
        flags = await store.fetchall("SELECT subject, status FROM flags ORDER BY id")
        policy = Policy(tenants={"acme": TenantSettings("acme", "FR")})
        at = datetime(2026, 12, 1, 10, 0, tzinfo=UTC)
        decision = await Guard(store, policy).evaluate(
            CallAttempt("0596601234", "+33612345678", at, tenant="acme", campaign="c")
        )
    finally:
        await store.close()
    assert [tuple(r) for r in opted] == [
        ("+262692123456", 2e9),
        ("+33612345678", None),
        ("+596596601234", None),
    ]
    assert [r["number"] for r in ids] == ["+262262123456"]
    assert sorted(r["subject"] for r in suspended) == [
        "callerid:+262693999998",
        "callerid:+590590123456",
    ]
    assert [r["number"] for r in keys] == [33612345679, 594694201234, 596596601235]
    assert count is not None and count["count"] == 3  # one number was there twice
    assert [tuple(r) for r in calls] == [("+262692123457", "+262692999999")]
    assert [tuple(r) for r in flags] == [
        ("callerid:+262692999999", "open"),
        ("callerid:+262693000001", "acknowledged"),
        ("callerid:+262693000001", "open"),
    ]
    assert decision.rule == "suppression.tenant", decision.reason


async def test_consents_stored_at_a_day_s_midnight_or_noon_utc_keep_that_day(
    tmp_path: Path,
) -> None:
    # A date alone was stored at its last beginning (12:00 UTC) and, before that, at
    # midnight UTC. Read as days, their EBRs end from the day's first beginning (UTC+14);
    # a consent given at any other time keeps being counted from that time.
    path = tmp_path / "old.sqlite3"
    conn = _at_version(path, 9)
    day = datetime(2025, 1, 15, tzinfo=UTC).timestamp()
    conn.executemany(
        "INSERT INTO consents (number, tenant, kind, granted_at, created_at)"
        " VALUES (?, 'acme', 'ebr-purchase', ?, 0)",
        [
            ("+12125550100", day + 43200),
            ("+12125550101", day),
            ("+12125550102", day + 43200.5),
            ("+12125550103", day + 46800),
        ],
    )
    conn.close()
    store = await open_store(path)
    try:
        rows = await store.fetchall("SELECT number, granted_on FROM consents ORDER BY number")
    finally:
        await store.close()
    assert [tuple(r) for r in rows] == [
        ("+12125550100", "2025-01-15"),
        ("+12125550101", "2025-01-15"),
        ("+12125550102", None),
        ("+12125550103", None),
    ]
