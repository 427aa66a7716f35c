"""`dialguard history import`: past call attempts, so caps and detectors count them.

Two layouts: our CSV (header `number,tenant,campaign,started_at,disposition,billsec`, and
optionally `automated`: yes for a prerecorded or artificial-voice call) and
Asterisk's cdr_csv `Master.csv` (no header; only the `Dial` row of a call is the attempt).
Rows become `outcomes` with `source = 'history'` and a stable call_id (a Master.csv row's
uniqueid, the id the AMI listener records the same call under, so a call both saw is stored
once; else `history:<sha1 of the row>`), so importing the same file twice adds nothing.
Times without an offset are read in `--timezone`; without it, our CSV's as UTC (as every
time the CLI reads) and Master.csv's in `[ami] cdr_timezone`, else this machine's zone (where
cdr_csv writes them). `ABANDONED` is stored as an answered call flagged abandoned. Parsing
lives here; the SQL is in `dialguard.store.history`.
"""

from __future__ import annotations

import csv
import hashlib
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, tzinfo
from itertools import chain
from pathlib import Path
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import click

from ami_listener.calls import local_readings
from dialguard.cli.app import (
    AppContext,
    InputError,
    cli,
    emit_json,
    fail,
    in_range,
    near_tenant_warner,
    pass_app,
    readable_file,
    scope_name,
)
from dialguard.store import Store
from dialguard.store.history import HistoryImport
from rules.models import automated_from_text
from rules.numbers import parse_number, shorten
from rules.outcomes import CallOutcome, placed_answer, placed_times
from rules.policy import Policy

DISPOSITIONS = frozenset({"ANSWERED", "NO ANSWER", "BUSY", "FAILED", "CONGESTION", "ABANDONED"})
CSV_HEADER = ["number", "tenant", "campaign", "started_at", "disposition", "billsec", "automated"]
# cdr_csv columns with loguniqueid, loguserfield and newcdrcolumns on (fixtures README).
CDR_COLUMNS = [
    "accountcode", "src", "dst", "dcontext", "clid", "channel", "dstchannel", "lastapp",
    "lastdata", "start", "answer", "end", "duration", "billsec", "disposition", "amaflags",
    "uniqueid", "userfield", "peeraccount", "linkedid", "sequence",
]  # fmt: skip
MAX_REJECTS_SHOWN = 10


@cli.group()
def history() -> None:
    """Past call attempts (CSV or Asterisk cdr_csv Master.csv)."""


@history.command("import")
@click.argument("file")
@click.option(
    "--tenant", callback=scope_name, default=None, help="Tenant of rows that do not name one."
)
@click.option(
    "--campaign", callback=scope_name, default=None, help="Campaign of rows that do not name one."
)
@click.option(
    "--format",
    "fmt",
    type=click.Choice(["auto", "csv", "cdr-csv"]),
    default="auto",
    show_default=True,
)
@click.option(
    "--timezone",
    "zone",
    default=None,
    help="Zone of times without an offset (default: UTC for our CSV; for Master.csv [ami]"
    " cdr_timezone, else this machine's zone).",
)
@click.option(
    "--automated",
    "automated_text",
    type=click.Choice(["yes", "no"]),
    default=None,
    help="What the calls without an automated mark were (every Master.csv row, an empty"
    " cell of ours): yes, a prerecorded or artificial voice; no, live. Default: automated,"
    " the strictest, so that the caps on automated calls (TRACED's) count them.",
)
@click.option("--json", "as_json", is_flag=True)
@pass_app
def import_(
    app: AppContext,
    file: str,
    tenant: str | None,
    campaign: str | None,
    fmt: str,
    zone: str | None,
    automated_text: str | None,
    as_json: bool,
) -> None:
    """Import FILE as past call attempts (idempotent)."""
    path = readable_file(file)
    rows = _rows(path)
    first = next(rows, None)
    if first is None:
        fail(f"{file}: is empty")
    if fmt == "auto":
        header = [c.strip().lower() for c in first[1]]
        # Our CSV names its columns; Master.csv has no header. Two names of ours are enough,
        # so that a header with one column misspelt is told what it lacks, not read as CDRs.
        fmt = "csv" if sum(c in CSV_HEADER for c in header) >= 2 else "cdr-csv"
    if zone is None and fmt == "cdr-csv":
        zone = app.settings.cdr_timezone
    times = LocalTimes(_zone(zone, utc=fmt == "csv"))
    policy = app.settings.policy
    parse = _parse_csv if fmt == "csv" else _parse_cdr
    unmarked = Unmarked(automated_text != "no")
    rejects: list[tuple[int, str]] = []  # the first few, for the report
    rejected = skipped = 0

    def attempts() -> Iterator[CallOutcome]:
        """The call attempts of the file, as it is read; rejects and other rows counted."""
        nonlocal rejected, skipped
        read = parse(chain([first], rows), tenant, campaign, times, policy, unmarked)
        for line_no, result in read:
            if isinstance(result, CallOutcome):
                yield result
            elif result is None:
                skipped += 1
            else:
                rejected += 1
                if len(rejects) < MAX_REJECTS_SHOWN:
                    rejects.append((line_no, result))

    async def body(store: Store) -> tuple[int, int] | None:
        """Stage the attempts as the file is read (constant memory), then copy them all at
        once: (accepted, added), or None when there is nothing to import."""
        async with HistoryImport(store) as staged:
            await staged.add(attempts())
            if not staged.staged:
                return None
            # Marks change calls stored before only from a file that gives every call's: an
            # empty cell takes the default, which would overwrite a mark known before.
            marks_given = unmarked.column_read and unmarked.count == 0
            return staged.staged, await staged.apply(str(path), marks_given=marks_given)

    imported = app.run(body)
    if imported is None:
        shown = "; ".join(f"line {n}: {p}" for n, p in rejects[:3]) or "no call attempts"
        fail(f"{file}: nothing to import ({shown})")
    accepted, added = imported
    report = {
        "file": str(path),
        "format": fmt,
        "accepted": accepted,
        "added": added,
        "duplicates": accepted - added,
        "skipped": skipped,
        "rejected": rejected,
        "rejects": [{"line": n, "problem": p} for n, p in rejects],
        "clock_change_times": times.clock_changes,
        "unmarked": unmarked.count,
        "unmarked_taken_as": "automated" if unmarked.automated else "live",
    }
    if as_json:
        emit_json(report)
        return
    click.echo(
        f"{file} ({fmt}): {accepted} attempts accepted, {added} new, "
        f"{accepted - added} duplicate, {rejected} rejected"
        + (f", {skipped} non-attempt rows skipped" if skipped else "")
    )
    if times.clock_changes:
        click.echo(
            f"  {times.clock_changes} local time(s) fell in a clock change (a time repeated or"
            " skipped): read at the later of their two instants, or as the call's end and"
            " duration place them"
        )
    if unmarked.count and automated_text is None:
        click.echo(
            f"  {unmarked.count} attempt(s) without an automated mark counted as automated"
            " calls (the strictest: the caps on automated calls count them); give"
            " --automated no if they were live calls"
        )
    for n, p in rejects:
        click.echo(f"  rejected line {n}: {p}")


@dataclass
class Unmarked:
    """What a call without an automated mark is taken as, and how many there were. Read as
    live, an unmarked robocall escaped TRACED's 3 in 30 days: unknown is automated unless
    the operator says otherwise (`--automated no`)."""

    automated: bool
    count: int = 0
    column_read: bool = False  # the file has an automated column

    def mark(self, text: str | None) -> bool:
        """`text`: the row's cell; None, a file without the column."""
        self.column_read = self.column_read or text is not None
        if text and text.strip():
            return automated_from_text(text)
        self.count += 1
        return self.automated


def _zone(name: str | None, *, utc: bool) -> tzinfo | None:
    """The zone of times without an offset; None: this machine's, with its daylight saving
    time on each row's own date (its offset today read a July row an hour off in January)."""
    if name is None and utc:
        return UTC
    if name is None:
        return None
    try:
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError):
        fail(f"--timezone: {shorten(name)!r} is not an IANA time zone")


def _rows(path: Path) -> Iterator[tuple[int, list[str]]]:
    """(line number, cells) of each non-blank CSV row, read as the file streams."""
    try:
        with path.open(encoding="utf-8-sig", newline="") as text:
            reader = csv.reader(text)
            for row in reader:
                if any(cell.strip() for cell in row):
                    yield reader.line_num, row
    except UnicodeDecodeError:
        fail(f"{path}: is not UTF-8 text")
    except csv.Error as exc:  # a field over the csv module's limit, a NUL byte
        fail(f"{path}: is not a readable CSV ({exc})")


Parsed = Iterator[tuple[int, CallOutcome | str | None]]


class LocalTimes:
    """Reads the file's date-times; one without an offset is on `tz` (None: this machine's
    zone, with its daylight saving time on the row's own date).

    A local time that a clock change repeats (autumn) or skips (spring) has two readings an
    hour (on Lord Howe Island half an hour) apart. `read` takes the later instant: the call
    then counts in a cap's or a detector's window as long as either reading would. A
    Master.csv call's times are placed together from their `readings` by its duration
    (`rules.outcomes.placed_times`). `clock_changes` counts such times for the report."""

    def __init__(self, tz: tzinfo | None) -> None:
        self.tz = tz
        self.clock_changes = 0

    def read(self, text: str, field: str = "started_at") -> datetime:
        return self.readings(text, field)[-1]

    def readings(self, text: str, field: str) -> list[datetime]:
        """The instants `text` can be, earliest first: one, or two in a clock change."""
        try:
            value = datetime.fromisoformat(text.strip().replace("Z", "+00:00"))
        except ValueError:
            raise ValueError(f"{field} {shorten(text)!r} is not an ISO-8601 date-time") from None
        values = [value]
        if value.tzinfo is None:
            try:
                values = local_readings(value, self.tz)  # as the AMI listener reads a Cdr
            except (OverflowError, ValueError, OSError):  # astimezone: outside the C library's
                raise ValueError(
                    f"{field} {shorten(text)!r} is not between 1970 and 9998"
                ) from None
            if len(values) > 1:
                self.clock_changes += 1
        try:
            return [in_range(v, text, field) for v in values]
        except InputError as exc:
            raise ValueError(exc.format_message()) from None


# A billsec beyond a year is a wrong field, not a call; beyond 2**63 SQLite cannot store it,
# and one such row failed the whole import with a traceback.
MAX_BILLSEC = 366 * 86_400


def _billsec(text: str, field: str = "billsec") -> int | None:
    if not text:
        return None
    try:
        seconds = int(text)
    except ValueError:
        seconds = -1
    if not 0 <= seconds <= MAX_BILLSEC:
        raise ValueError(
            f"{field} {shorten(text)!r} is not a whole number of seconds, at most a year"
        )
    return seconds


def _number(raw: str, tenant: str | None, policy: Policy) -> str | str:
    parsed = parse_number(raw, policy.region_for(tenant) if tenant else policy.default_region)
    if parsed.e164 is None:
        raise ValueError(f"number {shorten(raw)!r} {parsed.problem}")
    return parsed.e164


def _caller_id(raw: str, tenant: str, policy: Policy) -> str | None:
    """A CDR's `src` as the guard reads a caller ID (E.164 when it parses in the tenant's
    region, else as it is), as the AMI listener stores it: kept raw, `0291234567` was
    flagged and suspended as `callerid:0291234567`, which no check matched, and counted
    apart from `+61291234567` in the rotation detector."""
    if not raw:
        return None
    return parse_number(raw, policy.region_for(tenant)).e164 or raw


def _parse_csv(
    rows: Iterator[tuple[int, list[str]]],
    tenant: str | None,
    campaign: str | None,
    times: LocalTimes,
    policy: Policy,
    unmarked: Unmarked,
) -> Parsed:
    header = [c.strip().lower() for c in next(rows)[1]]
    missing = [c for c in ("number", "started_at", "disposition") if c not in header]
    if missing:
        fail(f"CSV header lacks {', '.join(missing)} (expected {','.join(CSV_HEADER)})")
    unknown = [c for c in header if c not in CSV_HEADER]
    if unknown:  # a misspelt `campaign` would import every row without one
        fail(f"unknown CSV column {', '.join(unknown)} (known: {','.join(CSV_HEADER)})")
    # A row's id leaves its automated cell out: a file imported again with the column added
    # holds the same calls, which then take their mark (HistoryImport.apply).
    marked = header.index("automated") if "automated" in header else None
    warn_of_near = near_tenant_warner(policy)
    for line_no, cells in rows:
        f = dict(zip(header, (c.strip() for c in cells), strict=False))
        try:
            row_tenant = f.get("tenant") or tenant
            warn_of_near(f.get("tenant"))
            if not row_tenant:
                raise ValueError("no tenant (give a tenant column or --tenant)")
            number = _number(f.get("number", ""), row_tenant, policy)
            disposition = f.get("disposition", "").upper()
            if disposition not in DISPOSITIONS:
                raise ValueError(
                    f"disposition {shorten(f.get('disposition') or '')!r} is not one of {', '.join(sorted(DISPOSITIONS))}"
                )
            started = times.read(f["started_at"])
            billsec = _billsec(f.get("billsec", ""))
            automated = unmarked.mark(f.get("automated"))
        except (ValueError, KeyError) as exc:
            yield line_no, str(exc) if not isinstance(exc, KeyError) else f"missing {exc}"
            continue
        abandoned = disposition == "ABANDONED"
        yield (
            line_no,
            CallOutcome(
                call_id=_row_id(cells if marked is None else cells[:marked] + cells[marked + 1 :]),
                number=number,
                dialled=f.get("number"),
                tenant=row_tenant,
                campaign=f.get("campaign") or campaign,
                started_at=started,
                disposition="ANSWERED" if abandoned else disposition,
                billsec=billsec,
                abandoned=abandoned,
                source="history",
                automated=automated,
            ),
        )


def _row_id(cells: list[str]) -> str:
    """The call id of a row that names none: the same row imported twice is one call."""
    return "history:" + hashlib.sha1(",".join(cells).encode()).hexdigest()


def _parse_cdr(
    rows: Iterator[tuple[int, list[str]]],
    tenant: str | None,
    campaign: str | None,
    times: LocalTimes,
    policy: Policy,
    unmarked: Unmarked,
) -> Parsed:
    for line_no, cells in rows:
        if len(cells) < 17:
            yield line_no, f"has {len(cells)} columns; a cdr_csv row has at least 17"
            continue
        f = dict(zip(CDR_COLUMNS, cells, strict=False))
        if f["lastapp"] != "Dial":
            yield line_no, None  # the other legs of a call are not attempts
            continue
        try:
            row_tenant = f["accountcode"] or tenant
            if not row_tenant:
                raise ValueError("no tenant (empty accountcode; give --tenant)")
            number = _number(f["dst"], row_tenant, policy)
            disposition = f["disposition"].upper()
            if disposition not in DISPOSITIONS:
                raise ValueError(
                    f"disposition {shorten(f['disposition'])!r} is not a CDR disposition"
                )
            duration, billsec = _billsec(f["duration"], "duration"), _billsec(f["billsec"])
            ends = times.readings(f["end"], "end") if f["end"] else []
            started, ended = placed_times(times.readings(f["start"], "start"), ends, duration)
            answers = times.readings(f["answer"], "answer") if f["answer"] else []
            answered = placed_answer(answers, started, ended, billsec)
            if started is None:  # the start always has a reading
                raise ValueError("start is missing")
        except ValueError as exc:
            yield line_no, str(exc)
            continue
        uniqueid = f["uniqueid"].strip()
        if not uniqueid:  # cdr_csv without loguniqueid: rows told apart by their content
            uniqueid = _row_id(cells)
        yield (
            line_no,
            CallOutcome(
                call_id=uniqueid,
                linkedid=f.get("linkedid") or None,
                number=number,
                dialled=f["dst"],
                caller_id=_caller_id(f["src"], row_tenant, policy),
                tenant=row_tenant,
                campaign=campaign,
                started_at=started,
                answered_at=answered,
                ended_at=ended,
                disposition=disposition,
                billsec=billsec,
                source="history",
                automated=unmarked.mark(None),  # cdr_csv has no such column
            ),
        )
