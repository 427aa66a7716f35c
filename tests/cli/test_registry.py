"""`dialguard registry`: import report, status, and `registry.missing/stale` via `check --json`."""

from __future__ import annotations

import json
import os
import zipfile
from datetime import UTC, datetime, timedelta
from pathlib import Path


def test_missing_then_fresh_then_stale_around_the_boundary(run, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    assert (
        run.findings("0412345678", "2026-03-02T01:00:00Z", "registry")[0]["rule"]
        == "registry.missing"
    )
    path = tmp_path / "wash.txt"
    path.write_text("0412345678\n", encoding="utf-8")
    result = run("registry", "import", str(path), "--registry", "au-dncr", "--as-of", "2026-03-01")
    assert result.exit_code == 0, result.output
    # AU: 30 days allowed; the copy of 1 March is good through 31 March, stale from 1 April
    on_register = run.findings("0412345678", "2026-03-30T23:00:00Z", "registry")[0]
    assert (on_register["rule"], on_register["verdict"]) == ("registry.au-dncr", "block")
    stale = run.findings("0412345678", "2026-04-01T01:00:00Z", "registry")[0]
    assert (stale["rule"], stale["verdict"]) == ("registry.stale", "block")
    status = json.loads(run("registry", "status", "--on", "2026-04-01", "--json").output)
    au = next(s for s in status if s["register"] == "au-dncr")
    assert (au["present"], au["count"], au["stale_on"], au["stale"]) == (
        True,
        1,
        "2026-04-01",
        True,
    )
    assert next(s for s in status if s["register"] == "us-dnc")["present"] is False


def test_import_report_and_errors(run, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    path = tmp_path / "wash.txt"
    path.write_text("0412345678\nnope\n0412345678\n", encoding="utf-8")
    # A rejected line imports nothing (its number would be callable), in one line...
    strict = run("registry", "import", str(path), "--registry", "au-dncr")
    assert strict.exit_code == 2 and strict.output.count("\n") == 1
    assert "line 2" in strict.output and "--skip-bad" in strict.output
    # ...unless the operator says to import the rest.
    result = run("registry", "import", str(path), "--registry", "au-dncr", "--skip-bad", "--json")
    report = json.loads(result.output)
    assert (report["accepted"], report["duplicates"], report["rejected"]) == (2, 1, 1)
    assert report["rejects"][0]["line"] == 2
    unknown = run("registry", "import", str(path), "--registry", "xx-dnc")
    assert unknown.exit_code == 2 and "au-dncr" in unknown.output and "us-dnc" in unknown.output
    junk = tmp_path / "junk.txt"
    junk.write_text("header\njunk\n", encoding="utf-8")
    result = run("registry", "import", str(junk), "--registry", "au-dncr")
    assert result.exit_code == 2 and "every line was rejected" in result.output
    status = json.loads(run("registry", "status", "--json").output)
    assert next(s for s in status if s["register"] == "au-dncr")["count"] == 1


def test_a_zipped_wash_imports_and_a_zip_of_two_is_refused_in_one_line(  # type: ignore[no-untyped-def]
    run, tmp_path: Path
) -> None:
    one = tmp_path / "wash.zip"
    with zipfile.ZipFile(one, "w", compression=zipfile.ZIP_DEFLATED) as archive:
        archive.writestr("wash.txt", "0412345678\n0412345679\n")
    result = run("registry", "import", str(one), "--registry", "au-dncr", "--json")
    assert result.exit_code == 0, result.output
    assert json.loads(result.output)["count"] == 2
    two = tmp_path / "two.zip"
    with zipfile.ZipFile(two, "w") as archive:
        archive.writestr("a.txt", "0412345678\n")
        archive.writestr("b.txt", "0412345680\n")
    refused = run("registry", "import", str(two), "--registry", "au-dncr")
    assert refused.exit_code == 2
    assert refused.output.count("\n") == 1 and "holds 2 files (a.txt, b.txt)" in refused.output
    status = json.loads(run("registry", "status", "--json").output)
    assert next(s for s in status if s["register"] == "au-dncr")["count"] == 2


def test_register_specific_format_is_the_default(run) -> None:  # type: ignore[no-untyped-def]
    data = Path(__file__).resolve().parents[1] / "data" / "registers"
    result = run(
        "registry", "import", str(data / "uk-tps.txt"), "--registry", "uk-ctps", "--skip-bad"
    )
    assert result.exit_code == 0, result.output
    assert "4 accepted" in result.output and "rejected line 5" in result.output


def test_us_list_through_the_bulk_path(run, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    path = tmp_path / "us.txt"
    numbers = [f"2125550{i:03d}" for i in range(300)]
    path.write_bytes(("\r\n".join(["phone", *numbers, "212555x000", numbers[0]]) + "\r\n").encode())
    result = run("registry", "import", str(path), "--registry", "us-dnc", "--skip-bad", "--json")
    report = json.loads(result.output)
    assert (report["lines"], report["accepted"], report["duplicates"], report["count"]) == (
        302,
        301,
        1,
        300,
    )
    assert report["rejects"] == [{"line": 302, "problem": report["rejects"][0]["problem"]}]
    status = json.loads(run("registry", "status", "--json").output)
    assert next(s for s in status if s["register"] == "us-dnc")["count"] == 300


def test_area_code_files_import_as_one_copy(run, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    # The FTC hands out a full list one file per area code; each import replaces the copy,
    # so the files go to one import together.
    files = []
    for npa, numbers in (("201", ["2015550100", "2015550101"]), ("212", ["2125550100"])):
        path = tmp_path / f"{npa}.txt"
        path.write_text("".join(f"{n}\n" for n in numbers), encoding="utf-8")
        files.append(str(path))
    result = run("registry", "import", *files, "--registry", "us-dnc", "--format", "plain")
    assert result.exit_code == 0, result.output
    assert "us-dnc: copy of" in result.output and "3 numbers" in result.output
    assert copy_count(run, "us-dnc") == 3
    missing = run(
        "registry", "import", files[0], str(tmp_path / "none.txt"), "--registry", "us-dnc"
    )
    assert missing.exit_code == 2 and missing.output.count("\n") == 1
    assert copy_count(run, "us-dnc") == 3  # the copy stays as it was


def copy_count(run, register: str) -> int:  # type: ignore[no-untyped-def]
    status = json.loads(run("registry", "status", "--json").output)
    return int(next(s for s in status if s["register"] == register)["count"])


def test_a_copy_stale_on_arrival_is_imported_with_a_warning(run, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    # An old --as-of replaced a fresh copy silently, and every call it covers was blocked.
    path = tmp_path / "wash.txt"
    path.write_text("0412345678\n", encoding="utf-8")
    # As the check judges the copy: on the latest date anywhere (UTC+14's).
    latest = (datetime.now(UTC) + timedelta(hours=14)).date()
    for as_of, warned in (
        (latest - timedelta(days=30), False),
        (latest - timedelta(days=31), True),
    ):
        result = run(
            "registry", "import", str(path), "--registry", "au-dncr", "--as-of", as_of.isoformat()
        )
        assert result.exit_code == 0, result.output
        assert ("au-dncr copy of" in result.output and "registry.stale" in result.output) is warned


def copy_date(run, register: str) -> str:  # type: ignore[no-untyped-def]
    status = json.loads(run("registry", "status", "--json").output)
    return str(next(s for s in status if s["register"] == register)["as_of"])


def test_the_same_file_imported_again_without_a_date_keeps_its_copy_s_date(
    run, tmp_path: Path
) -> None:  # type: ignore[no-untyped-def]
    # Dated today, a stale copy imported again came back fresh: registry.stale lifted on the
    # same old numbers, with the same checksum printed.
    path = tmp_path / "wash.txt"
    path.write_text("0412345678\n0412345679\n", encoding="utf-8")
    old = (datetime.now(UTC) - timedelta(days=40)).date()
    run("registry", "import", str(path), "--registry", "au-dncr", "--as-of", old.isoformat())
    again = run("registry", "import", str(path), "--registry", "au-dncr")
    assert again.exit_code == 0, again.output
    assert f"copy of {old} now in force" in again.output
    assert f"the same file as the copy of {old}, which keeps its date" in again.output
    assert "registry.stale" in again.output  # warned as stale on arrival
    assert copy_date(run, "au-dncr") == old.isoformat()
    # A date the operator gives is the copy's, and another file is a new copy.
    today = datetime.now().date()  # this machine's day, as the CLI's default
    run("registry", "import", str(path), "--registry", "au-dncr", "--as-of", today.isoformat())
    assert copy_date(run, "au-dncr") == today.isoformat()


def test_a_copy_without_a_date_is_dated_by_its_file(run, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    # A file downloaded weeks ago, imported without --as-of, was dated today: fresh for a
    # month more than it was.
    path = tmp_path / "wash.txt"
    path.write_text("0412345678\n", encoding="utf-8")
    downloaded = datetime.now() - timedelta(days=20)
    os.utime(path, (downloaded.timestamp(), downloaded.timestamp()))
    run("registry", "import", str(path), "--registry", "au-dncr")
    assert copy_date(run, "au-dncr") == downloaded.date().isoformat()
    fresh = tmp_path / "fresh.txt"
    fresh.write_text("0412345670\n", encoding="utf-8")
    run("registry", "import", str(fresh), "--registry", "au-dncr")
    assert copy_date(run, "au-dncr") == datetime.now().date().isoformat()


def test_registrations_dated_after_the_copy_are_reported(run, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    # A registration dated after its copy binds at once (it cannot be right): the report
    # said nothing of them, so a file whose US-style 01/12/2026 was read as 1 December
    # passed as sound.
    path = tmp_path / "dncm.txt"
    path.write_text(
        "number;registered\n"
        "021234567;12/01/2026\n"
        "021234568;01/12/2026\n"  # 12 January, read as 1 December
        "021234569;2026-02-28\n"
        "021234570;03/11/2026\n"  # 11 March, read as 3 November
        "021234571;2026-03-01\n",  # the copy's own day: not after it
        encoding="utf-8",
    )
    args = ("registry", "import", str(path), "--registry", "be-dncm", "--as-of", "2026-03-01")
    report = json.loads(run(*args, "--json").stdout)  # stderr: stale on arrival
    assert report["registered_after_as_of"] == 2
    assert report["registered_after_as_of_lines"] == [
        {"file": "dncm.txt", "line": 3, "registered_on": "2026-12-01"},
        {"file": "dncm.txt", "line": 5, "registered_on": "2026-11-03"},
    ]
    text = run(*args)
    assert text.exit_code == 0, text.output
    assert "2 lines registered after the copy's date 2026-03-01" in text.output
    assert "line 3 of dncm.txt: registered on 2026-12-01" in text.output
    assert "line 5 of dncm.txt: registered on 2026-11-03" in text.output
    # A sound file says nothing of it.
    sound = tmp_path / "sound.txt"
    sound.write_text("021234567;2026-01-12\n", encoding="utf-8")
    quiet = run("registry", "import", str(sound), "--registry", "be-dncm", "--as-of", "2026-03-01")
    assert quiet.exit_code == 0, quiet.output
    assert "registered after" not in quiet.output


def test_registrations_are_counted_against_the_date_the_copy_keeps(run, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    # The file of the copy in force keeps that copy's date: a registration after it is
    # after the copy, whatever date the file now has.
    path = tmp_path / "dncm.txt"
    lines = [f"02123{n:04};2026-03-{n:02}" for n in range(1, 21)]  # 1 to 20 March
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    first = json.loads(
        run(
            "registry", "import", str(path), "--registry", "be-dncm", "--as-of", "2026-03-05",
            "--json",
        ).stdout
    )  # fmt: skip
    assert first["registered_after_as_of"] == 15
    shown = first["registered_after_as_of_lines"]
    assert [d["line"] for d in shown] == list(range(6, 16))  # the first ten, in file order
    touched = datetime(2026, 3, 25, 12).timestamp()  # a later download of the same file
    os.utime(path, (touched, touched))
    again = json.loads(
        run("registry", "import", str(path), "--registry", "be-dncm", "--json").stdout
    )
    assert again["as_of"] == "2026-03-05"
    assert again["registered_after_as_of"] == 15
    assert again["registered_after_as_of_lines"] == shown
