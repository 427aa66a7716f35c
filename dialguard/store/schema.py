"""The SQLite schema and its migrations, keyed on `PRAGMA user_version`.

Times are stored as UTC epoch seconds (REAL) so that range scans are plain comparisons;
calendar dates (register as-of dates) as ISO `YYYY-MM-DD` text. Numbers are E.164 text with
the `+`, except inside register copies, which store the E.164 digits as INTEGER keys: the
most compact form SQLite has, and one B-tree lookup per membership test.

Each migration is a list of statements applied in one transaction; never edit a released one,
append a new one.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable

import aiosqlite

from rules.engine import CALENDAR_SLACK
from rules.jurisdictions.model import ATTEMPT_LOOKBACK
from rules.numbers import FR_OVERSEAS_NATIONAL

# A suppression row that is a range (`+1900*`): the partial index's condition, which a
# query must repeat word for word to use it.
RANGE_ROW = "number GLOB '*[*]'"

# A step of a migration: an SQL statement, or a coroutine for what SQL alone cannot name (the
# tables of the register copies).
Step = str | Callable[[aiosqlite.Connection], Awaitable[None]]


def _overseas_ranges(column: str) -> list[tuple[str, str]]:
    """(condition, new value) per range of France's overseas numbers written under +33 in
    `column` (+33 692 12 34 56 -> +262 692 12 34 56): each a range of the text, so that an
    index on the column serves it."""
    return [
        (
            f"{column} >= '+33{prefix}' AND {column} < '+33{int(prefix) + 1}'"
            f" AND length({column}) = 12",
            f"'+{code}' || substr({column}, 4)",
        )
        for prefix, code in sorted(FR_OVERSEAS_NATIONAL.items())
    ]


def _overseas_rekeyed_unindexed(table: str, column: str) -> str:
    """As `_overseas_rekeyed` for a column without an index: one pass over the table."""
    codes = " ".join(
        f"WHEN '{prefix}' THEN '+{code}'" for prefix, code in sorted(FR_OVERSEAS_NATIONAL.items())
    )
    prefixes = ", ".join(f"'{prefix}'" for prefix in sorted(FR_OVERSEAS_NATIONAL))
    return (
        f"UPDATE {table} SET {column} = (CASE substr({column}, 4, 3) {codes} END)"
        f" || substr({column}, 4) WHERE {column} GLOB '+33*' AND length({column}) = 12"
        f" AND substr({column}, 4, 3) IN ({prefixes})"
    )


def _overseas_left(table: str, column: str, also: str = "") -> list[str]:
    """Deletes what a unique re-key left under +33: the row the new form already had won."""
    return [f"DELETE FROM {table} WHERE {where}{also}" for where, _ in _overseas_ranges(column)]


def _overseas_rekeyed(table: str, column: str, *, unique: bool = False) -> list[str]:
    verb = "UPDATE OR IGNORE" if unique else "UPDATE"
    return [
        f"{verb} {table} SET {column} = {new} WHERE {where}"
        for where, new in _overseas_ranges(column)
    ]


# An opt-out stored under both forms (before and after the upgrade) becomes one entry: the
# one under the new form, with the later expiry of the two (none, when either has none).
_SAME_ENTRY_OLD_FORM = (
    "SELECT {what} FROM suppressions o WHERE o.number = '+33' || substr(suppressions.number, 5)"
    " AND o.tenant = suppressions.tenant AND o.campaign = suppressions.campaign"
)
_MERGE_SUPPRESSION_EXPIRY = (
    "UPDATE suppressions SET expires_at = CASE"
    " WHEN expires_at IS NULL THEN NULL"
    f" WHEN EXISTS ({_SAME_ENTRY_OLD_FORM.format(what='1')} AND o.expires_at IS NULL) THEN NULL"
    f" ELSE max(expires_at, ({_SAME_ENTRY_OLD_FORM.format(what='max(o.expires_at)')})) END"
    " WHERE length(number) = 13"
    f" AND substr(number, 2, 3) IN ({', '.join(repr(c) for c in sorted(set(FR_OVERSEAS_NATIONAL.values())))})"
    f" AND EXISTS ({_SAME_ENTRY_OLD_FORM.format(what='1')})"
)


async def _overseas_rekeyed_in_registers(conn: aiosqlite.Connection) -> None:
    """The register copies' keys (E.164 digits) of +33 overseas numbers, under the
    department's code; a number the copy holds under both is kept once, and the copy's
    count says so."""
    async with conn.execute("SELECT table_name FROM register_copies") as cursor:
        tables = [str(row[0]) for row in await cursor.fetchall()]
    for table in tables:
        dropped = 0
        for prefix, code in sorted(FR_OVERSEAS_NATIONAL.items()):
            low = int(f"33{prefix}000000")
            high = low + 999_999
            shift = int(code) * 10**9 - 33 * 10**9
            where = f"number BETWEEN {low} AND {high}"
            await conn.execute(
                f'UPDATE OR IGNORE "{table}" SET number = number + {shift} WHERE {where}'
            )
            async with conn.execute(f'DELETE FROM "{table}" WHERE {where}') as cursor:
                dropped += max(cursor.rowcount, 0)
        if dropped:
            await conn.execute(
                "UPDATE register_copies SET count = count - ? WHERE table_name = ?",
                (dropped, table),
            )


MIGRATIONS: tuple[tuple[Step, ...], ...] = (
    (
        # Local suppression (opt-out) list. '' means "all" for tenant and campaign so that the
        # UNIQUE constraint makes re-adding an entry an update rather than a duplicate.
        """CREATE TABLE suppressions (
            id INTEGER PRIMARY KEY,
            number TEXT NOT NULL,
            tenant TEXT NOT NULL DEFAULT '',
            campaign TEXT NOT NULL DEFAULT '',
            reason TEXT NOT NULL DEFAULT '',
            source TEXT NOT NULL,
            requested_at REAL NOT NULL,
            expires_at REAL,
            created_at REAL NOT NULL,
            UNIQUE (number, tenant, campaign)
        )""",
        # One row per register: the copy in force. Its numbers live in the table named here,
        # which an import fills beside the old one and swaps in one transaction.
        """CREATE TABLE register_copies (
            register TEXT PRIMARY KEY,
            table_name TEXT NOT NULL,
            as_of TEXT NOT NULL,
            imported_at REAL NOT NULL,
            count INTEGER NOT NULL,
            checksum TEXT NOT NULL,
            source_file TEXT NOT NULL DEFAULT '',
            format TEXT NOT NULL DEFAULT 'plain'
        )""",
        """CREATE TABLE decisions (
            id INTEGER PRIMARY KEY,
            call_id TEXT,
            decided_at REAL NOT NULL,
            source TEXT NOT NULL,
            tenant TEXT NOT NULL,
            campaign TEXT,
            purpose TEXT NOT NULL,
            dialled TEXT NOT NULL,
            number TEXT,
            caller_id TEXT,
            verdict TEXT NOT NULL,
            rule TEXT,
            reason TEXT NOT NULL,
            latency_ms REAL NOT NULL,
            decision_json TEXT NOT NULL
        )""",
        "CREATE INDEX decisions_number ON decisions (number, decided_at)",
        "CREATE INDEX decisions_time ON decisions (decided_at)",
        "CREATE INDEX decisions_call ON decisions (call_id)",
        # One outcome per call attempt, keyed by the Uniqueid of the channel that dialled.
        """CREATE TABLE outcomes (
            call_id TEXT PRIMARY KEY,
            linkedid TEXT,
            number TEXT,
            dialled TEXT,
            caller_id TEXT,
            tenant TEXT,
            campaign TEXT,
            started_at REAL,
            answered_at REAL,
            ended_at REAL,
            disposition TEXT,
            cause INTEGER,
            cause_txt TEXT,
            billsec INTEGER,
            abandoned INTEGER NOT NULL DEFAULT 0,
            source TEXT NOT NULL DEFAULT 'ami',
            updated_at REAL NOT NULL
        )""",
        "CREATE INDEX outcomes_number ON outcomes (number, started_at)",
        "CREATE INDEX outcomes_campaign ON outcomes (tenant, campaign, started_at)",
        "CREATE INDEX outcomes_time ON outcomes (started_at)",
        """CREATE TABLE consents (
            id INTEGER PRIMARY KEY,
            number TEXT NOT NULL,
            tenant TEXT NOT NULL,
            campaign TEXT NOT NULL DEFAULT '',
            kind TEXT NOT NULL,
            granted_at REAL NOT NULL,
            expires_at REAL,
            revoked_at REAL,
            created_at REAL NOT NULL,
            note TEXT NOT NULL DEFAULT ''
        )""",
        "CREATE INDEX consents_number ON consents (number, tenant)",
        """CREATE TABLE caller_ids (
            number TEXT NOT NULL,
            tenant TEXT NOT NULL,
            pool TEXT NOT NULL DEFAULT '',
            source TEXT NOT NULL DEFAULT 'cli',
            created_at REAL NOT NULL,
            PRIMARY KEY (number, tenant)
        )""",
        "CREATE INDEX caller_ids_tenant ON caller_ids (tenant, pool)",
        """CREATE TABLE flags (
            id INTEGER PRIMARY KEY,
            subject TEXT NOT NULL,
            detector TEXT NOT NULL,
            status TEXT NOT NULL DEFAULT 'open',
            window_start REAL NOT NULL,
            window_end REAL NOT NULL,
            measured REAL NOT NULL,
            threshold REAL NOT NULL,
            evidence TEXT NOT NULL,
            detail TEXT NOT NULL DEFAULT '',
            opened_at REAL NOT NULL,
            updated_at REAL NOT NULL,
            closed_at REAL,
            note TEXT NOT NULL DEFAULT ''
        )""",
        # One open flag per subject and detector: a new finding updates it.
        "CREATE UNIQUE INDEX flags_open ON flags (subject, detector) WHERE status = 'open'",
        """CREATE TABLE suspensions (
            subject TEXT PRIMARY KEY,
            reason TEXT NOT NULL,
            created_at REAL NOT NULL,
            flag_id INTEGER
        )""",
        # Operator and daemon actions worth an audit trail (list changes, suspensions, AMI gaps).
        """CREATE TABLE events (
            id INTEGER PRIMARY KEY,
            at REAL NOT NULL,
            kind TEXT NOT NULL,
            detail TEXT NOT NULL
        )""",
        "CREATE INDEX events_time ON events (at)",
    ),
    (
        # A counter bumped in the same transaction as every change to the tables whose rows
        # the inline check caches (they do not depend on the callee's number): one read of it
        # per check tells whether the cache still holds, so a register swap, a suspension or
        # a caller-ID change is seen by the very next check (see `facts.FactsCache`).
        """CREATE TABLE facts_generation (
            id INTEGER PRIMARY KEY CHECK (id = 1),
            n INTEGER NOT NULL
        )""",
        "INSERT INTO facts_generation (id, n) VALUES (1, 0)",
        *(
            f"CREATE TRIGGER {table}_{event.lower()}_generation AFTER {event} ON {table}"
            " BEGIN UPDATE facts_generation SET n = n + 1; END"
            for table in ("register_copies", "caller_ids", "suspensions")
            for event in ("INSERT", "UPDATE", "DELETE")
        ),
    ),
    (
        # `history import` stored a Master.csv call as `cdr:<uniqueid>`; it now takes the
        # uniqueid itself, as the AMI listener does, so that a call both saw is one outcome.
        # Earlier imports are renamed (importing the file again then adds nothing), and the
        # copies of calls the listener recorded too are dropped: they counted twice.
        "UPDATE OR IGNORE outcomes SET call_id = substr(call_id, 5)"
        " WHERE source = 'history' AND call_id LIKE 'cdr:_%'",
        "DELETE FROM outcomes WHERE source = 'history' AND call_id LIKE 'cdr:_%'",
        # Rows without a uniqueid all became the one call `cdr:`: no call can be told from it.
        "DELETE FROM outcomes WHERE source = 'history' AND call_id = 'cdr:'",
        # Flags name their calls by id: renamed too, or a closed flag's calls came back as
        # new evidence under a new flag (and a breach suspended again). Only the ids.
        "UPDATE flags SET evidence = json_set(evidence, '$.call_ids', json((SELECT"
        " json_group_array(CASE WHEN value LIKE 'cdr:%' THEN substr(value, 5) ELSE value END)"
        " FROM json_each(flags.evidence, '$.call_ids'))))"
        " WHERE json_valid(evidence) AND evidence LIKE '%cdr:%'",
    ),
    (
        # A campaign as a subject is one tenant's, `campaign:TENANT/NAME` (rules.facts). The
        # detectors' flags and suspensions of `campaign:NAME` are given the tenant of their
        # calls, so that what an operator closed or lifted stays so: a flag under a new
        # subject would open again on the same calls. A detector's subject is known by its
        # calls' campaign (a name may hold a `/`). An operator's own suspension of
        # `campaign:NAME` (no flag) keeps meaning every tenant's campaign of that name, and
        # so does anything whose calls came from several tenants (the old detectors pooled
        # them), except closed flags, which are copied to each of those tenants.
        # Each detector flag of `campaign:NAME` with the subject its calls give it, and how
        # many tenants made them. Keyed on the flag (the statements below look it up per row).
        "CREATE TEMP TABLE flag_tenant (id INTEGER PRIMARY KEY, subject TEXT NOT NULL,"
        " tenants INTEGER NOT NULL)",
        "INSERT INTO flag_tenant SELECT f.id,"
        " 'campaign:' || min(coalesce(nullif(o.tenant, ''), 'default')) || '/' || min(o.campaign),"
        " count(DISTINCT coalesce(nullif(o.tenant, ''), 'default'))"
        " FROM flags f JOIN json_each(CASE WHEN json_valid(f.evidence) THEN f.evidence"
        " ELSE '{}' END, '$.call_ids') j JOIN outcomes o ON o.call_id = j.value"
        " WHERE f.subject = 'campaign:' || o.campaign GROUP BY f.id",
        # A `campaign:NAME` left every tenant's (an operator's, a pooled flag's) whose NAME
        # holds a `/` is no longer checked as such (it would read as tenant/campaign): it
        # becomes each calling tenant's. Gathered first, put back last, so that no other
        # step here deletes or moves what it adds.
        "CREATE TEMP TABLE slash_moves AS SELECT DISTINCT s.subject AS old,"
        " 'campaign:' || coalesce(nullif(o.tenant, ''), 'default') || '/' || o.campaign AS new,"
        " s.reason AS reason, s.created_at AS created_at FROM suspensions s JOIN outcomes o"
        " ON s.subject = 'campaign:' || o.campaign WHERE instr(o.campaign, '/') > 0"
        " AND (s.flag_id IS NULL OR s.flag_id NOT IN"
        " (SELECT id FROM flag_tenant WHERE tenants = 1))",
        "DELETE FROM suspensions WHERE subject IN (SELECT old FROM slash_moves)"
        " AND (flag_id IS NULL OR flag_id NOT IN (SELECT id FROM flag_tenant WHERE tenants = 1))",
        # One no stored call names cannot be placed: left as it was (it no longer blocks the
        # campaign it meant), and said so in the events (`dialguard log` does not show them;
        # the CHANGELOG does).
        "INSERT INTO events (at, kind, detail) SELECT strftime('%s', 'now'),"
        " 'migration.suspension_unplaced', json_object('subject', subject, 'reason', reason)"
        " FROM suspensions WHERE subject LIKE 'campaign:%/%' AND (flag_id IS NULL OR flag_id"
        " NOT IN (SELECT id FROM flag_tenant WHERE tenants = 1))",
        # Renamed in two steps, through a subject no row can have (a leading \x01), so that
        # a row renamed later in the same statement never blocks an earlier one's new name.
        # Suspensions first, while their flags still carry the old subject; one whose new
        # subject is suspended already is the same suspension.
        "UPDATE suspensions SET subject = char(1) || subject WHERE flag_id IN (SELECT id"
        " FROM flag_tenant WHERE tenants = 1) AND subject = (SELECT f.subject FROM flags f"
        " WHERE f.id = suspensions.flag_id)",
        "UPDATE OR IGNORE suspensions SET subject = (SELECT t.subject FROM flag_tenant t"
        " WHERE t.id = suspensions.flag_id) WHERE substr(subject, 1, 1) = char(1)",
        "DELETE FROM suspensions WHERE substr(subject, 1, 1) = char(1)",
        "INSERT OR IGNORE INTO suspensions (subject, reason, created_at, flag_id)"
        " SELECT new, reason, created_at, NULL FROM slash_moves",
        "DROP TABLE temp.slash_moves",
        "UPDATE flags SET subject = char(1) || subject"
        " WHERE id IN (SELECT id FROM flag_tenant WHERE tenants = 1)",
        "UPDATE OR IGNORE flags SET subject = (SELECT t.subject FROM flag_tenant t"
        " WHERE t.id = flags.id) WHERE substr(subject, 1, 1) = char(1)",
        # An open flag whose new subject has an open flag of its detector already keeps its
        # old one; when an open flag holds that too, it is closed under the new one (a closed
        # flag never clashes), so that the upgrade cannot fail.
        "UPDATE OR IGNORE flags SET subject = substr(subject, 2)"
        " WHERE substr(subject, 1, 1) = char(1)",
        "UPDATE flags SET subject = (SELECT t.subject FROM flag_tenant t WHERE t.id = flags.id),"
        " status = 'acknowledged', closed_at = updated_at, note = 'closed at the upgrade to"
        " schema 4: open flags of its detector held both its old and its new subject'"
        " WHERE substr(subject, 1, 1) = char(1)",
        "INSERT INTO flags (subject, detector, status, window_start, window_end, measured,"
        " threshold, evidence, detail, opened_at, updated_at, closed_at, note)"
        " SELECT DISTINCT 'campaign:' || coalesce(nullif(o.tenant, ''), 'default') || '/'"
        " || o.campaign, f.detector, f.status, f.window_start, f.window_end, f.measured,"
        " f.threshold, f.evidence, f.detail, f.opened_at, f.updated_at, f.closed_at, f.note"
        " FROM flag_tenant t JOIN flags f ON f.id = t.id JOIN json_each(f.evidence,"
        " '$.call_ids') j JOIN outcomes o ON o.call_id = j.value"
        " WHERE t.tenants > 1 AND f.status != 'open' AND f.subject = 'campaign:' || o.campaign",
        "DELETE FROM flags WHERE status != 'open'"
        " AND id IN (SELECT id FROM flag_tenant WHERE tenants > 1)",
        # A suspension keeps no number of a flag that is gone (a pooled closed one, copied).
        "UPDATE suspensions SET flag_id = NULL"
        " WHERE flag_id IS NOT NULL AND flag_id NOT IN (SELECT id FROM flags)",
        "DROP TABLE temp.flag_tenant",
    ),
    (
        # The AMDSTATUS the dialplan reported for the call (UserEvent DialguardAmd): MACHINE
        # locks a UK number for 24 h and counts in the abandoned-call rates; NULL when AMD did
        # not run, as for every call recorded before.
        "ALTER TABLE outcomes ADD COLUMN amd TEXT",
    ),
    (
        # France's overseas numbers are read under their departments' codes (+262 692...,
        # +596 596...), however they are written: what was stored under +33 is moved there,
        # or a stored opt-out, consent, caller ID, suspension, call or register entry would
        # match no call again.
        *_overseas_rekeyed("suppressions", "number", unique=True),
        _MERGE_SUPPRESSION_EXPIRY,
        *_overseas_left("suppressions", "number"),
        *_overseas_rekeyed("consents", "number"),
        *_overseas_rekeyed("caller_ids", "number", unique=True),
        *_overseas_left("caller_ids", "number"),
        *_overseas_rekeyed("decisions", "number"),
        *_overseas_rekeyed("outcomes", "number"),
        # The detectors group calls by caller ID: a suspension they made would name a
        # caller ID no check presents.
        _overseas_rekeyed_unindexed("decisions", "caller_id"),
        _overseas_rekeyed_unindexed("outcomes", "caller_id"),
        # An open flag whose detector has one open under the new form too is closed (one
        # open flag per subject and detector), as schema 4 closed such flags.
        *(
            "UPDATE flags SET status = 'acknowledged', closed_at = updated_at, note = 'closed"
            " at the upgrade to schema 6: an open flag of its detector names the caller ID"
            " under the code of its department'"
            f" WHERE status = 'open' AND subject LIKE 'callerid:%' AND {where}"
            " AND EXISTS (SELECT 1 FROM flags n WHERE n.status = 'open'"
            f" AND n.detector = flags.detector AND n.subject = 'callerid:' || {new})"
            for where, new in _overseas_ranges("substr(flags.subject, 10)")
        ),
        *(
            f"UPDATE OR IGNORE {table} SET subject = 'callerid:' || {new}"
            f" WHERE {where} AND subject LIKE 'callerid:%'"
            for table in ("suspensions", "flags")
            for where, new in _overseas_ranges("substr(subject, 10)")
        ),
        # A suspension under both forms stays under the new one.
        *_overseas_left("suspensions", "substr(subject, 10)", " AND subject LIKE 'callerid:%'"),
        _overseas_rekeyed_in_registers,
    ),
    (
        # Whether the guard decided a call as automated (DIALGUARD_AUTOMATED): the caps on
        # automated calls (TRACED's 3 in 30 days) count only those. The version before kept
        # it in the audit record alone; it is copied out for the attempts a cap can still
        # count (as far back as a check reads them; the decisions_time index bounds the
        # scan), older rows stay 0.
        "ALTER TABLE decisions ADD COLUMN automated INTEGER NOT NULL DEFAULT 0",
        # An imported call's own mark (`history import`, column `automated`).
        "ALTER TABLE outcomes ADD COLUMN automated INTEGER NOT NULL DEFAULT 0",
        # The inputs' mark: a decision of the failure policy has no other.
        "UPDATE decisions SET automated = 1"
        " WHERE decided_at >= CAST(strftime('%s', 'now') AS REAL)"
        f" - {int((ATTEMPT_LOOKBACK + CALENDAR_SLACK).total_seconds())}"
        " AND source = 'agi' AND verdict = 'allow'"
        " AND json_extract(decision_json, '$.inputs.automated') = 1",
        # Suppressed ranges (`+1900*`): entries whose number ends in `*`. The check looks
        # them up only while there is one, which it caches; so a range's change bumps the
        # generation (an opt-out of one number does not).
        f"CREATE INDEX suppressions_ranges ON suppressions (number) WHERE {RANGE_ROW}",
        *(
            f"CREATE TRIGGER suppressions_{event.lower()}_range_generation AFTER {event}"
            f" ON suppressions WHEN {when} BEGIN UPDATE facts_generation SET n = n + 1; END"
            for event, when in (
                ("INSERT", RANGE_ROW.replace("number", "NEW.number")),
                (
                    "UPDATE",
                    f"{RANGE_ROW.replace('number', 'OLD.number')}"
                    f" OR {RANGE_ROW.replace('number', 'NEW.number')}",
                ),
                ("DELETE", RANGE_ROW.replace("number", "OLD.number")),
            )
        ),
    ),
    (
        # Blackouts (`dialguard blackout`): a place (a country or a region of it) where calls
        # of some purposes (`purposes`, comma-separated; '' is every purpose) are not made
        # from `starts_at` until `ends_at` (NULL: until lifted). Few rows, kept once ended
        # for the record; the check caches them all behind the generation.
        """CREATE TABLE blackouts (
            id INTEGER PRIMARY KEY,
            place TEXT NOT NULL,
            tenant TEXT NOT NULL DEFAULT '',
            purposes TEXT NOT NULL DEFAULT '',
            starts_at REAL NOT NULL,
            ends_at REAL,
            reason TEXT NOT NULL DEFAULT '',
            created_at REAL NOT NULL
        )""",
        *(
            f"CREATE TRIGGER blackouts_{event.lower()}_generation AFTER {event} ON blackouts"
            " BEGIN UPDATE facts_generation SET n = n + 1; END"
            for event in ("INSERT", "UPDATE", "DELETE")
        ),
    ),
    (
        # Who made each change: the operator behind a command (`cli:alice`), or `serve` for
        # the daemon's own (IVR opt-outs, the detectors' suspensions). Earlier events: ''.
        "ALTER TABLE events ADD COLUMN actor TEXT NOT NULL DEFAULT ''",
        # `status` asks for the last AMI gap, and `events --kind` for one kind: without it,
        # a store whose AMI never dropped walked the whole table back to its start.
        "CREATE INDEX events_kind ON events (kind, at)",
    ),
    (
        # A suspension holds its subject named in any case of ASCII letters (rules.facts
        # `folded`: `campaign:Spring` holds the channel's `spring`); the check looks it up so.
        "CREATE INDEX suspensions_subject_nocase ON suspensions (subject COLLATE NOCASE)",
    ),
    (
        # A consent dated by a day alone keeps that day: it starts at the day's last
        # beginning (`granted_at`, UTC-12), and a span counted from it (an EBR's months)
        # ends from its first (UTC+14). Counted from `granted_at`, an EBR lifted the register
        # up to 26 hours too long. Earlier rows stored a day alone at that last beginning
        # (12:00 UTC) or, before, at midnight UTC: rows at either instant to the second are
        # taken for days, which can only end their spans sooner.
        "ALTER TABLE consents ADD COLUMN granted_on TEXT",
        "UPDATE consents SET granted_on = date(granted_at, 'unixepoch')"
        " WHERE granted_at = CAST(granted_at AS INTEGER)"
        " AND CAST(granted_at AS INTEGER) % 86400 IN (0, 43200)",
    ),
)


def actor_trigger(actor: str) -> str:
    """A TEMP trigger (this connection's alone) that names `actor` on every event the
    connection writes: the writes of events are many and spread over the store's modules,
    and one left out would be an unsigned change to a list."""
    quoted = actor.replace("'", "''")
    return (
        "CREATE TEMP TRIGGER IF NOT EXISTS events_actor AFTER INSERT ON main.events"
        f" WHEN NEW.actor = '' BEGIN UPDATE events SET actor = '{quoted}'"
        " WHERE rowid = NEW.rowid; END"
    )


SCHEMA_VERSION = len(MIGRATIONS)
