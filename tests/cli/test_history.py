"""`dialguard history import`: Master.csv and our CSV, idempotent."""

from __future__ import annotations

import asyncio
import csv
import json
import sqlite3
import time
from datetime import UTC, datetime
from pathlib import Path

import pytest

from dialguard.cli.history import LocalTimes
from dialguard.store import open_store
from rules.outcomes import CallOutcome
from tests.cli.conftest import Cli


def test_master_csv_dial_rows_only_and_idempotent(run, fixtures_dir: Path) -> None:  # type: ignore[no-untyped-def]
    master = str(fixtures_dir / "cdr-csv" / "Master.csv")
    args = (
        "history",
        "import",
        master,
        "--tenant",
        "acme",
        "--timezone",
        "Australia/Sydney",
        "--json",
    )
    first = json.loads(run(*args).output)
    assert (first["format"], first["accepted"], first["added"], first["skipped"]) == (
        "cdr-csv",
        8,
        8,
        10,
    )
    second = json.loads(run(*args).output)
    assert (second["added"], second["duplicates"]) == (0, 8)
    log = json.loads(run("log", "--outcomes", "--json", "--limit", "100").output)
    assert len(log) == 8
    busy = next(e for e in log if e["disposition"] == "BUSY")
    assert busy["number"] == "+61400000002" and busy["source"] == "history"
    assert busy["at"] == "2026-11-27T23:20:22+00:00"  # 10:20:22 in Sydney (AEDT, +11)


def history_csv(tmp_path: Path, *rows: str) -> Path:
    path = tmp_path / "h.csv"
    header = "number,tenant,campaign,started_at,disposition,billsec"
    path.write_text("".join(f"{line}\n" for line in (header, *rows)), encoding="utf-8")
    return path


def test_csv_with_header_and_rejects(run, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    path = history_csv(
        tmp_path,
        "0412345678,acme,spring,2026-03-01T10:00:00+11:00,ANSWERED,30",
        "0412345678,acme,spring,2026-03-02T10:00:00+11:00,ABANDONED,0",
        "garbage,acme,spring,2026-03-02T10:00:00+11:00,BUSY,0",
        "0412345678,acme,spring,2026-03-02T10:00:00+11:00,MAYBE,0",
    )
    report = json.loads(run("history", "import", str(path), "--json").output)
    assert (report["format"], report["added"], report["rejected"]) == ("csv", 2, 2)
    assert [r["line"] for r in report["rejects"]] == [4, 5]
    assert json.loads(run("history", "import", str(path), "--json").output)["added"] == 0
    log = json.loads(run("log", "--number", "0412345678", "--tenant", "acme", "--json").output)
    assert [e["abandoned"] for e in log] == [True, False]


def test_nothing_importable_is_exit_2(run, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    path = tmp_path / "h.csv"
    path.write_text("number,tenant,campaign,started_at,disposition,billsec\nx,acme,,y,BUSY,0\n")
    result = run("history", "import", str(path))
    assert result.exit_code == 2 and "line 2" in result.output


def test_a_long_file_that_stops_being_utf8_imports_nothing(run, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    """Read as it streams and staged in batches, yet all or nothing."""
    path = tmp_path / "h.csv"
    good = "".join(
        f"04123{i:05d},acme,spring,2026-03-01T10:00:00+11:00,BUSY,0\n" for i in range(25_000)
    )
    header = "number,tenant,campaign,started_at,disposition,billsec\n"
    path.write_bytes((header + good).encode() + b"\xff\n")
    result = run("history", "import", str(path))
    assert result.exit_code == 2
    assert result.output.count("\n") == 1 and "is not UTF-8 text" in result.output
    assert json.loads(run("log", "--tenant", "acme", "--json").output) == []
    path.write_text(header + good, encoding="utf-8")
    report = json.loads(run("history", "import", str(path), "--json").output)
    assert (report["accepted"], report["added"], report["duplicates"]) == (25_000, 25_000, 0)


def test_a_field_beyond_the_csv_limit_is_one_line(run, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    path = tmp_path / "h.csv"
    header = "number,tenant,campaign,started_at,disposition,billsec\n"
    path.write_text(header + "0412345678,acme," + "x" * 200_000 + ",,BUSY,0\n", encoding="utf-8")
    result = run("history", "import", str(path))
    assert result.exit_code == 2
    assert result.output.count("\n") == 1 and "is not a readable CSV" in result.output
    assert json.loads(run("log", "--tenant", "acme", "--json").output) == []


def test_a_line_the_store_cannot_keep_is_rejected_naming_its_field(run, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    path = history_csv(
        tmp_path,
        "0412345678,acme,,2026-03-01T10:00:00+11:00,ANSWERED,30",
        "0412345678,acme,,9999-12-31T23:59:59-05:00,ANSWERED,30",  # broke every later read
        "0412345678,acme,,2026-13-01T10:00:00+11:00,ANSWERED,30",
        "0412345678,acme,,2026-03-02T10:00:00+11:00,ANSWERED,abc",
        "0412345678,acme,,2026-03-03T10:00:00+11:00,ANSWERED,99999999999999999999",  # a crash
    )
    report = json.loads(run("history", "import", str(path), "--json").output)
    assert (report["added"], report["rejected"]) == (1, 4)
    problems = [r["problem"] for r in report["rejects"]]
    assert "not between 1970 and 9998" in problems[0]
    # Each reason names its field (they were `month must be in 1..12`, `invalid literal`).
    assert problems[1].startswith("started_at '2026-13-01T10:00:00+11:00' is not")
    assert problems[2] == "billsec 'abc' is not a whole number of seconds, at most a year"
    assert problems[3].startswith("billsec '99999999999999999999' is not a whole number")
    assert run("log", "--number", "0412345678", "--tenant", "acme").exit_code == 0


def dial_rows(fixtures_dir: Path) -> list[list[str]]:
    with (fixtures_dir / "cdr-csv" / "Master.csv").open(newline="", encoding="utf-8") as f:
        return [row for row in csv.reader(f) if row[7] == "Dial"]


def test_a_master_csv_call_is_stored_under_the_id_the_ami_listener_uses(
    run, fixtures_dir: Path
) -> None:  # type: ignore[no-untyped-def]
    # The listener stores a call under its Dial leg's Uniqueid; Master.csv's rows were stored
    # as `cdr:<uniqueid>`, so caps and detectors counted a call both saw twice.
    master = fixtures_dir / "cdr-csv" / "Master.csv"
    recorded = run("history", "import", str(master), "--tenant", "acme", "--json")
    assert recorded.exit_code == 0, recorded.output
    log = json.loads(run("log", "--outcomes", "--json", "--limit", "100").output)
    assert {e["call_id"] for e in log} == {row[16] for row in dial_rows(fixtures_dir)}


def master_csv_of(path: Path, rows: list[list[str]]) -> Path:
    """A Master.csv holding `rows`."""
    with path.open("w", newline="", encoding="utf-8") as f:
        csv.writer(f).writerows(rows)
    return path


def test_master_csv_rows_without_a_uniqueid_are_told_apart(
    run, tmp_path: Path, fixtures_dir: Path
) -> None:  # type: ignore[no-untyped-def]
    rows = dial_rows(fixtures_dir)
    path = master_csv_of(tmp_path / "Master.csv", [[*row[:16], ""] for row in rows])
    report = json.loads(run("history", "import", str(path), "--tenant", "acme", "--json").output)
    assert (report["accepted"], report["added"]) == (len(rows), len(rows))


def test_a_master_csv_caller_id_is_stored_as_the_guard_reads_it(
    run, tmp_path: Path, fixtures_dir: Path
) -> None:  # type: ignore[no-untyped-def]
    # Kept as `0291234567`, it was flagged and suspended under a subject no check matched,
    # and counted apart from +61291234567 by the rotation detector.
    rows = [[row[0], "0291234567", *row[2:]] for row in dial_rows(fixtures_dir)]
    path = master_csv_of(tmp_path / "Master.csv", rows)
    assert run("history", "import", str(path), "--tenant", "acme").exit_code == 0
    log = json.loads(run("log", "--outcomes", "--json", "--limit", "100").output)
    assert {e["caller_id"] for e in log} == {"+61291234567"}


def test_csv_times_without_an_offset_are_utc_and_unknown_columns_are_named(
    run, tmp_path: Path
) -> None:  # type: ignore[no-untyped-def]
    path = history_csv(tmp_path, "0412345678,acme,spring,2026-03-01T10:00:00,BUSY,0")
    assert run("history", "import", str(path)).exit_code == 0
    [entry] = json.loads(run("log", "--outcomes", "--json").output)
    assert entry["at"] == "2026-03-01T10:00:00+00:00"
    typo = tmp_path / "typo.csv"
    typo.write_text("number,tenant,campagin,started_at,disposition,billsec\n", encoding="utf-8")
    result = run("history", "import", str(typo))
    assert result.exit_code == 2 and "campagin" in result.output


def test_master_csv_local_times_keep_each_rows_daylight_saving(monkeypatch) -> None:  # type: ignore[no-untyped-def]
    # This machine's offset today was used for every row: a July time read in January (AEDT,
    # +11) came out an hour off (AEST, +10).
    monkeypatch.setenv("TZ", "Australia/Sydney")
    time.tzset()
    try:
        july = LocalTimes(None).read("2026-07-14 10:20:19")
        january = LocalTimes(None).read("2026-01-14 10:20:19")
    finally:
        monkeypatch.undo()
        time.tzset()
    assert july == datetime(2026, 7, 14, 0, 20, 19, tzinfo=UTC)
    assert january == datetime(2026, 1, 13, 23, 20, 19, tzinfo=UTC)


def test_local_times_in_a_clock_change_are_read_at_the_later_instant_and_reported(
    run: Cli, tmp_path: Path, monkeypatch
) -> None:  # type: ignore[no-untyped-def]
    # 01:30 on 25 October 2026 happens twice in London (BST, then GMT), and 01:30 on 29
    # March not at all: Python's first reading was taken without a word, the earlier instant
    # for the repeated hour (a cap's window then ended an hour early).
    path = history_csv(
        tmp_path,
        "+442071234567,acme,spring,2026-10-25T01:30:00,BUSY,0",
        "+442071234568,acme,spring,2026-03-29T01:30:00,BUSY,0",
        "+442071234569,acme,spring,2026-10-25T03:30:00,BUSY,0",
    )
    result = run("history", "import", str(path), "--timezone", "Europe/London")
    assert result.exit_code == 0 and "2 local time(s) fell in a clock change" in result.output
    log = json.loads(run("log", "--outcomes", "--json").output)
    assert sorted(e["at"] for e in log) == [
        "2026-03-29T01:30:00+00:00",  # as if still on GMT: the later of 00:30 and 01:30 UTC
        "2026-10-25T01:30:00+00:00",  # the second 01:30, on GMT
        "2026-10-25T03:30:00+00:00",
    ]
    # This machine's zone (no --timezone, Master.csv) takes the later reading too.
    monkeypatch.setenv("TZ", "Europe/London")
    time.tzset()
    try:
        times = LocalTimes(None)
        repeated = times.read("2026-10-25 01:30:00")
        plain = times.read("2026-07-14 10:20:19")
    finally:
        monkeypatch.undo()
        time.tzset()
    assert repeated == datetime(2026, 10, 25, 1, 30, tzinfo=UTC) and times.clock_changes == 1
    assert plain == datetime(2026, 7, 14, 9, 20, 19, tzinfo=UTC)


@pytest.mark.parametrize(
    ("start", "answer", "end", "duration", "billsec", "stored"),
    [
        # 01:59:50 BST to 01:00:05 GMT: each time at its later instant ended the call an
        # hour before it started.
        ("01:59:50", "01:59:55", "01:00:05", "15", "10", ("00:59:50", "00:59:55", "01:00:05")),
        # 01:30 GMT (the second 01:30) to 02:30: the duration counted on the wall clock put
        # the start at the first 01:30, an hour early.
        ("01:30:00", "01:30:05", "02:30:00", "3600", "3595", ("01:30:00", "01:30:05", "02:30:00")),
        # 00:50 to 01:10 BST (the first 01:10): the end at its later instant made a 20-minute
        # call last 80.
        ("00:50:00", "00:50:05", "01:10:00", "1200", "1195", ("23:50:00", "23:50:05", "00:10:00")),
    ],
)
def test_a_call_across_a_clock_change_is_placed_by_its_duration(
    run: Cli,
    tmp_path: Path,
    fixtures_dir: Path,
    start: str,
    answer: str,
    end: str,
    duration: str,
    billsec: str,
    stored: tuple[str, str, str],
) -> None:
    [row, *_] = dial_rows(fixtures_dir)
    call = list(row)
    call[9:14] = [
        f"2026-10-25 {start}",
        f"2026-10-25 {answer}",
        f"2026-10-25 {end}",
        duration,
        billsec,
    ]
    path = master_csv_of(tmp_path / "Master.csv", [call])
    result = run("history", "import", str(path), "--tenant", "acme", "--timezone", "Europe/London")
    assert result.exit_code == 0, result.output
    db = sqlite3.connect(run.db)
    times = db.execute("SELECT started_at, answered_at, ended_at FROM outcomes").fetchone()
    as_text = tuple(datetime.fromtimestamp(t, UTC).strftime("%H:%M:%S") for t in times)
    assert as_text == stored


def test_a_header_with_a_misspelt_column_is_told_what_it_lacks(run: Cli, tmp_path: Path) -> None:
    # It was read as Master.csv, and the message spoke of cdr_csv's 17 columns.
    path = tmp_path / "calls.csv"
    path.write_text(
        "number,tenant,campaign,start_time,disposition,billsec\n"
        "+61400000001,acme,spring,2026-11-20T10:00:00Z,ANSWERED,30\n",
        encoding="utf-8",
    )
    result = run("history", "import", str(path))
    assert result.exit_code == 2
    assert "CSV header lacks started_at" in result.output


def test_master_csv_times_follow_cdr_timezone_with_the_listener_off(
    tmp_path: Path, fixtures_dir: Path
) -> None:
    # `[ami] enabled = false` dropped the whole table: Master.csv's times were then read on
    # this machine's clock, whatever cdr_timezone said.
    settings = (
        '[tenants.acme]\nregion = "AU"\n[ami]\nenabled = false\ncdr_timezone = "Australia/Sydney"\n'
    )
    run = Cli(tmp_path, settings)
    master = str(fixtures_dir / "cdr-csv" / "Master.csv")
    assert run("history", "import", master, "--tenant", "acme").exit_code == 0
    log = json.loads(run("log", "--outcomes", "--json", "--limit", "100").output)
    busy = next(e for e in log if e["disposition"] == "BUSY")
    assert busy["at"] == "2026-11-27T23:20:22+00:00"  # 10:20:22 in Sydney (AEDT, +11)


def test_imported_automated_calls_count_for_the_caps_on_automated_calls(
    run: Cli, tmp_path: Path
) -> None:
    path = tmp_path / "robocalls.csv"
    rows = [
        "number,tenant,started_at,disposition,billsec,automated",
        "+15155550100,acme,2026-06-01T15:00:00Z,ANSWERED,20,yes",
        "+15155550100,acme,2026-06-02T15:00:00Z,ANSWERED,20,TRUE",
        "+15155550100,acme,2026-06-03T15:00:00Z,NO ANSWER,0,no",
        "+15155550100,acme,2026-06-04T15:00:00Z,NO ANSWER,0,",
        "+15155550100,acme,2026-06-05T15:00:00Z,NO ANSWER,0,maybe",
    ]
    path.write_text("\n".join(rows) + "\n", encoding="utf-8")
    # The empty cell is a live call, as --automated no says of the calls without a mark.
    report = json.loads(run("history", "import", str(path), "--json", "--automated", "no").output)
    assert (report["added"], [r["line"] for r in report["rejects"]]) == (4, [6])
    assert (report["unmarked"], report["unmarked_taken_as"]) == (1, "live")
    assert report["rejects"][0]["problem"] == "automated 'maybe' is not yes or no"
    assert run("callerid", "add", "+13195550100", "--tenant", "acme").exit_code == 0

    def traced(at: str) -> dict[str, object]:
        decision = json.loads(
            run(
                *("check", "+15155550100", "--caller-id", "+13195550100", "--tenant", "acme"),
                *("--purpose", "informational", "--automated", "--at", at, "--json"),
            ).output
        )
        finding: dict[str, object] = next(
            f for f in decision["findings"] if f["rule"] == "frequency.us-traced-exempt-prerecorded"
        )
        return finding

    # Two automated calls imported, two live ones: the third robocall is still allowed.
    assert traced("2026-06-10T15:00:00Z")["verdict"] == "allow"
    more = tmp_path / "one-more.csv"
    more.write_text(
        f"{rows[0]}\n+15155550100,acme,2026-06-06T15:00:00Z,ANSWERED,20,1\n", encoding="utf-8"
    )
    assert run("history", "import", str(more)).exit_code == 0
    assert traced("2026-06-10T15:00:00Z")["verdict"] == "block"
    assert traced("2026-07-02T15:00:00Z")["verdict"] == "allow"  # the first is 31 days old


def test_a_history_imported_again_with_the_automated_column_marks_its_calls_once(
    run: Cli, tmp_path: Path
) -> None:
    rows = [f"+15155550100,acme,2026-06-0{day}T15:00:00Z,ANSWERED,20" for day in (1, 2, 3)]
    before = tmp_path / "before.csv"
    before.write_text("number,tenant,started_at,disposition,billsec\n" + "\n".join(rows))
    live = run("history", "import", str(before), "--json", "--automated", "no")
    assert json.loads(live.output)["added"] == 3
    marked = tmp_path / "marked.csv"
    marked.write_text(
        "number,tenant,started_at,disposition,billsec,automated\n"
        + "\n".join(f"{row},yes" for row in rows)
    )
    again = json.loads(run("history", "import", str(marked), "--json").output)
    assert (again["added"], again["duplicates"]) == (0, 3)
    assert len(json.loads(run("log", "--outcomes", "--json").output)) == 3
    assert run("callerid", "add", "+13195550100", "--tenant", "acme").exit_code == 0
    decision = run(
        *("check", "+15155550100", "--caller-id", "+13195550100", "--tenant", "acme"),
        *("--purpose", "research", "--automated", "--at", "2026-06-10T15:00:00Z", "--json"),
        *("--line-type", "landline"),
    )
    assert json.loads(decision.output)["rule"] == "frequency.us-traced-exempt-prerecorded"


def test_imported_calls_without_an_automated_mark_count_as_automated_unless_told(
    run: Cli, tmp_path: Path
) -> None:
    # Read as live, unmarked robocalls (every Master.csv row) escaped TRACED's 3 in 30 days.
    assert run("callerid", "add", "+13195550100", "--tenant", "acme").exit_code == 0

    def calls_to(number: str, *options: str) -> tuple[str, str]:
        path = tmp_path / f"calls-{number}.csv"
        path.write_text(
            "number,tenant,started_at,disposition,billsec\n"
            + "".join(f"{number},acme,2026-06-0{d}T15:00:00Z,ANSWERED,20\n" for d in (1, 2, 3)),
            encoding="utf-8",
        )
        imported = run("history", "import", str(path), *options)
        assert imported.exit_code == 0, imported.output
        check = run(
            *("check", number, "--caller-id", "+13195550100", "--tenant", "acme"),
            *("--purpose", "informational", "--automated", "--at", "2026-06-10T15:00:00Z"),
        )
        return imported.output, check.output

    imported, checked = calls_to("+15155550100")
    assert "3 attempt(s) without an automated mark counted as automated calls" in imported
    assert "block frequency.us-traced-exempt-prerecorded" in checked
    # Said to be live calls, they do not count.
    imported, checked = calls_to("+15155550101", "--automated", "no")
    assert "without an automated mark" not in imported
    assert "block frequency.us-traced" not in checked


def test_a_file_without_the_automated_column_leaves_the_marks_of_calls_stored_before(
    run: Cli, tmp_path: Path, fixtures_dir: Path
) -> None:
    # Its calls take the import's default, which overwrote a mark known before: calls
    # imported as live, and live calls the AMI listener recorded, became automated for good.
    rows = [f"+15155550100,acme,2026-06-0{day}T15:00:00Z,ANSWERED,20" for day in (1, 2, 3)]
    marked = tmp_path / "marked.csv"
    marked.write_text(
        "number,tenant,started_at,disposition,billsec,automated\n"
        + "\n".join(f"{row},no" for row in rows)
    )
    unmarked = tmp_path / "unmarked.csv"
    unmarked.write_text("number,tenant,started_at,disposition,billsec\n" + "\n".join(rows))
    empty_cells = tmp_path / "empty-cells.csv"  # the column, but two calls without a mark
    empty_cells.write_text(
        "number,tenant,started_at,disposition,billsec,automated\n"
        + "\n".join(f"{row},{mark}" for row, mark in zip(rows, ("", "", "no"), strict=True))
    )
    master = fixtures_dir / "cdr-csv" / "Master.csv"
    heard = {row[16] for row in dial_rows(fixtures_dir)}

    async def heard_by_the_listener() -> None:
        store = await open_store(run.db)
        try:
            for call_id in heard:
                await store.upsert_outcome(CallOutcome(call_id, tenant="acme", source="ami"))
        finally:
            await store.close()

    asyncio.run(heard_by_the_listener())
    for path in (marked, unmarked, empty_cells, master):
        assert run("history", "import", str(path), "--tenant", "acme").exit_code == 0
    with sqlite3.connect(run.db) as db:
        marks = db.execute("SELECT source, automated, count(*) FROM outcomes GROUP BY 1, 2")
        assert sorted(marks.fetchall()) == [("ami", 0, len(heard)), ("history", 0, 3)]
