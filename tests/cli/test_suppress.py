"""`dialguard suppress`: round trip, bad input, expiry honoured by `check`."""

from __future__ import annotations

import gzip
import json
import sqlite3
import zipfile
from datetime import UTC, datetime
from pathlib import Path

import pytest

from rules.facts import IMPORT_AS_IS_HEADER, SuppressionEntry, to_add_by_hand
from tests.cli.conftest import Cli


def listed(run) -> list[dict]:  # type: ignore[no-untyped-def,type-arg]
    result = run("suppress", "list", "--json")
    assert result.exit_code == 0, result.output
    return json.loads(result.output)  # type: ignore[no-any-return]


def test_add_list_remove_round_trip(run) -> None:  # type: ignore[no-untyped-def]
    assert (
        run("suppress", "add", "0412 345 678", "--tenant", "acme", "--reason", "asked").exit_code
        == 0
    )
    assert run("suppress", "add", "+61412345679").exit_code == 0
    entries = listed(run)
    assert [(e["number"], e["tenant"]) for e in entries] == [
        ("+61412345678", "acme"),
        ("+61412345679", None),
    ]
    assert [
        e["number"]
        for e in json.loads(run("suppress", "list", "--tenant", "acme", "--json").output)
    ] == ["+61412345678"]
    result = run("suppress", "remove", "0412345678", "--tenant", "acme")
    assert result.exit_code == 0 and "removed +61412345678" in result.output
    result = run("suppress", "remove", "0412345678", "--tenant", "acme")
    assert result.exit_code == 0 and "not on the list" in result.output
    assert [e["number"] for e in listed(run)] == ["+61412345679"]


def test_list_global_shows_the_entries_for_every_tenant_alone(run) -> None:  # type: ignore[no-untyped-def]
    # `--tenant ""` listed them until empty names were refused; --global says what it means.
    assert run("suppress", "add", "+61412345678", "--tenant", "acme").exit_code == 0
    assert (
        run("suppress", "add", "+61412345679", "--tenant", "acme", "--campaign", "x").exit_code == 0
    )
    assert run("suppress", "add", "+61412345680").exit_code == 0
    result = run("suppress", "list", "--global", "--json")
    assert result.exit_code == 0, result.output
    assert [(e["number"], e["tenant"]) for e in json.loads(result.output)] == [
        ("+61412345680", None)
    ]
    found = run("suppress", "list", "--global", "--number", "+61412345678", "--json")
    assert json.loads(found.output) == []
    both = run("suppress", "list", "--global", "--tenant", "acme")
    assert both.exit_code == 2 and "not both" in both.output


def test_bad_number_is_one_line_exit_2_and_writes_nothing(run) -> None:  # type: ignore[no-untyped-def]
    result = run("suppress", "add", "hello", "--tenant", "acme")
    assert result.exit_code == 2
    assert result.output.strip().count("\n") == 0 and "not a telephone number" in result.output
    assert run("suppress", "add", "1", "--campaign", "x").exit_code == 2  # campaign needs tenant
    assert listed(run) == []


def test_import_export_round_trip(run, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    plain = tmp_path / "plain.txt"
    plain.write_text("0412345678\n# comment\n\n+61412345679\n", encoding="utf-8")
    assert run("suppress", "import", str(plain), "--tenant", "acme").exit_code == 0
    csv_file = tmp_path / "list.csv"
    csv_file.write_text(
        "number,tenant,campaign,reason,expires\n0412345680,acme,spring,asked,2030-01-01\n",
        encoding="utf-8",
    )
    assert run("suppress", "import", str(csv_file)).exit_code == 0
    exported = run("suppress", "export", "--csv").output
    assert len(listed(run)) == 3
    # what export writes, import reads back into an empty store unchanged
    again = tmp_path / "again.csv"
    again.write_text(exported, encoding="utf-8")
    run("suppress", "remove", "0412345680", "--tenant", "acme", "--campaign", "spring")
    assert run("suppress", "import", str(again)).exit_code == 0
    assert run("suppress", "export", "--csv").output == exported
    assert json.loads(run("suppress", "export", "--json").output)[2]["campaign"] == "spring"


def test_import_with_a_bad_line_writes_nothing(run, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    path = tmp_path / "bad.txt"
    path.write_text("0412345678\nnope\n", encoding="utf-8")
    result = run("suppress", "import", str(path), "--tenant", "acme")
    assert result.exit_code == 2 and "line 2" in result.output
    assert listed(run) == []
    assert run("suppress", "import", str(path), "--tenant", "acme", "--skip-bad").exit_code == 0
    assert len(listed(run)) == 1


def test_an_export_imports_whole_even_with_numbers_no_longer_assigned(run, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    # Entries the opt-out routes stored, or stored before a numbering-plan update, are in
    # E.164: refusing them made an export fail to import (or lose them with --skip-bad).
    path = tmp_path / "export.csv"
    path.write_text(
        "number,tenant,campaign,reason,source,requested_at,expires_at\n"
        "+61512345678,acme,,asked,agi,2026-01-01T00:00:00+00:00,\n",
        encoding="utf-8",
    )
    result = run("suppress", "import", str(path))
    assert result.exit_code == 0, result.output
    assert [e["number"] for e in listed(run)] == ["+61512345678"]


def test_an_import_line_that_ends_before_it_begins_is_skipped_and_counted(
    run, tmp_path: Path
) -> None:  # type: ignore[no-untyped-def]
    # Merged with the entry in force, such a line dated it back; an earlier version stored
    # some (a past `expires` with the request dated at the import), so an export from it
    # must still import: the line adds nothing, and is counted.
    path = tmp_path / "list.csv"
    path.write_text(
        "number,tenant,requested_at,expires\n"
        "0412345678,acme,2026-02-01,2026-01-01\n"
        "0412345679,acme,2026-02-01,\n",
        encoding="utf-8",
    )
    result = run("suppress", "import", str(path))
    assert result.exit_code == 0, result.output
    assert "1 skipped as ended before they began" in result.output
    assert [e["number"] for e in listed(run)] == ["+61412345679"]


def test_a_date_too_long_to_be_one_is_reported_in_one_short_line(run, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    path = tmp_path / "list.csv"
    path.write_text("number,tenant,expires\n0412345678,acme," + "2" * 100_000 + "\n")
    result = run("suppress", "import", str(path))
    assert result.exit_code == 2 and len(result.output) < 300 and "too long" in result.output


def test_a_number_the_guard_calls_impossible_is_not_suppressed(run, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    # A UK `020 ...` read under an AU tenant became +61 20..., an entry no call ever matches:
    # reported as suppressed while the callee stayed unprotected.
    result = run("suppress", "add", "020 7946 0000", "--tenant", "acme")
    assert result.exit_code == 2 and "not an assigned range" in result.output
    assert "read in AU" in result.output
    # A typo in E.164 too: a digit short matches no call.
    assert run("suppress", "add", "+6141234567", "--tenant", "acme").exit_code == 2
    # A list with a `source` column of its own is no export: its numbers are checked.
    crm = tmp_path / "crm.csv"
    crm.write_text("number,reason,source\n0412 345 67,typo,crm\n", encoding="utf-8")
    assert run("suppress", "import", str(crm), "--tenant", "acme").exit_code == 2
    path = tmp_path / "list.txt"
    path.write_text("0412345678\n020 7946 0000\n", encoding="utf-8")
    imported = run("suppress", "import", str(path), "--tenant", "acme")
    assert imported.exit_code == 2 and "line 2" in imported.output
    assert listed(run) == []


def test_expiry_is_honoured_by_check(run, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    register = tmp_path / "dncr.txt"
    register.write_text("0499999999\n", encoding="utf-8")
    assert (
        run(
            "registry", "import", str(register), "--registry", "au-dncr", "--as-of", "2026-03-01"
        ).exit_code
        == 0
    )
    assert run(
        "suppress", "add", "0412345678", "--tenant", "acme",
        "--date", "2026-03-01", "--expires", "2026-03-10",
    ).exit_code == 0  # fmt: skip
    assert (
        run.findings("0412345678", "2026-03-09T01:00:00Z", "suppression")[0]["verdict"] == "block"
    )
    # A date alone lapses once the 10th has begun everywhere (at UTC-12): an opt-out read
    # as midnight UTC ended at 19:00 on the 9th in New York.
    assert (
        run.findings("0412345678", "2026-03-10T11:59:59Z", "suppression")[0]["verdict"] == "block"
    )
    assert (
        run.findings("0412345678", "2026-03-10T12:00:00Z", "suppression")[0]["verdict"] == "allow"
    )
    assert (
        run.findings("0412345678", "2026-02-28T01:00:00Z", "suppression")[0]["verdict"] == "allow"
    )  # not yet asked


def test_import_counts_new_listed_and_duplicate_lines_and_the_last_line_wins(  # type: ignore[no-untyped-def]
    run, tmp_path: Path
) -> None:
    assert (
        run("suppress", "add", "0412345678", "--tenant", "acme", "--reason", "old").exit_code == 0
    )
    path = tmp_path / "list.csv"
    path.write_text(
        "number,tenant,reason\n"
        "0412345678,acme,first\n"  # already listed
        "0412345679,acme,a\n"
        "0412345679,acme,b\n"  # a duplicate line: the later one wins
        "0412345680,acme,c\n",
        encoding="utf-8",
    )
    result = run("suppress", "import", str(path))
    assert result.exit_code == 0, result.output
    assert "imported 4 entries" in result.output
    assert "2 new, 1 already listed, 1 duplicate lines" in result.output
    reasons = {e["number"]: e["reason"] for e in listed(run)}
    assert reasons == {"+61412345678": "first", "+61412345679": "b", "+61412345680": "c"}


def test_a_file_that_stops_being_utf8_imports_nothing(run, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    path = tmp_path / "list.txt"
    path.write_bytes(b"".join(b"04123%05d\n" % i for i in range(30_000)) + b"\xff\xfe\n")
    result = run("suppress", "import", str(path), "--tenant", "acme")
    assert result.exit_code == 2
    assert result.output.count("\n") == 1 and "is not UTF-8 text" in result.output
    assert listed(run) == []


LIST_CSV = (
    "\n"  # a blank line first: line numbers still count it
    "number,tenant,reason\n0412345678,acme,asked\n+61412345679,,complaint\nhello,acme,x\n"
)


@pytest.mark.parametrize("kind", ["gz", "zip"])
def test_a_compressed_list_imports_as_its_text_would(run, tmp_path: Path, kind: str) -> None:  # type: ignore[no-untyped-def]
    plain = tmp_path / "list.csv"
    plain.write_text(LIST_CSV, encoding="utf-8")
    expected = run("suppress", "import", str(plain), "--skip-bad")
    assert expected.exit_code == 0, expected.output
    entries = listed(run)
    for entry in entries:  # back to an empty list
        scope = ["--tenant", entry["tenant"]] if entry["tenant"] else []
        assert run("suppress", "remove", entry["number"], *scope).exit_code == 0
    assert listed(run) == []
    packed = tmp_path / f"list.{kind}"
    if kind == "gz":
        packed.write_bytes(gzip.compress(LIST_CSV.encode()))
    else:
        with zipfile.ZipFile(packed, "w", compression=zipfile.ZIP_DEFLATED) as archive:
            archive.writestr("list.csv", LIST_CSV)

    result = run("suppress", "import", str(packed), "--skip-bad", "--source", "import:list.csv")

    assert result.exit_code == 0, result.output
    assert result.output.replace(str(packed), "FILE") == expected.output.replace(str(plain), "FILE")
    assert "line 5: " in result.output  # the bad line, numbered as in the text
    assert [(e["number"], e["tenant"], e["reason"]) for e in listed(run)] == [
        (e["number"], e["tenant"], e["reason"]) for e in entries
    ]


def test_a_damaged_or_ambiguous_archive_imports_nothing(run, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    assert run("suppress", "add", "+61412345670").exit_code == 0
    damaged = tmp_path / "list.txt.gz"
    whole = gzip.compress(b"".join(b"04123%05d\n" % i for i in range(30_000)))
    damaged.write_bytes(whole[: len(whole) // 2])
    two = tmp_path / "lists.zip"
    with zipfile.ZipFile(two, "w") as archive:
        archive.writestr("a.txt", "0412345678\n")
        archive.writestr("b.txt", "0412345679\n")
    oversize = tmp_path / "list.csv"  # a field beyond the csv module's limit
    oversize.write_text("number,reason\n0412345678," + "x" * 200_000 + "\n", encoding="utf-8")
    for path, says in (
        (damaged, "cannot be read"),
        (two, "holds 2 files"),
        (oversize, "is not a readable CSV"),
    ):
        result = run("suppress", "import", str(path), "--tenant", "acme")
        assert result.exit_code == 2
        assert result.output.count("\n") == 1 and says in result.output, result.output
        assert [e["number"] for e in listed(run)] == ["+61412345670"]  # the list as it was


def test_a_huge_line_is_reported_in_one_short_line(run, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    path = tmp_path / "list.txt"
    path.write_text("0412345678\n" + "9" * 1_000_000 + "\n", encoding="utf-8")
    result = run("suppress", "import", str(path), "--tenant", "acme")
    assert result.exit_code == 2 and "line 2" in result.output
    assert len(result.output) < 300 and "too long" in result.output


def test_an_opt_out_that_could_not_be_recorded_is_added_by_hand_as_logged(
    run: Cli, tmp_path: Path
) -> None:
    # The AGI and AMI opt-outs log this when their write fails; the AMI one used to say
    # `suppress add`, which refuses a range phonenumbers does not know yet (+61 5...).
    entry = SuppressionEntry(
        "+61512345678", "acme", None, "IVR opt-out keypress", "ami-userevent",
        datetime(2026, 11, 29, 2, 0, tzinfo=UTC),
    )  # fmt: skip
    logged = to_add_by_hand(entry)
    assert run("suppress", "add", entry.number, "--tenant", "acme").exit_code == 2
    by_hand = tmp_path / "by-hand.csv"
    by_hand.write_text(f"{IMPORT_AS_IS_HEADER}\n{logged['import_line']}\n", encoding="utf-8")
    assert run("suppress", "import", str(by_hand)).exit_code == 0
    assert [(e["number"], e["tenant"], e["source"]) for e in listed(run)] == [
        ("+61512345678", "acme", "ami-userevent")
    ]


def test_an_add_that_lapsed_before_the_entry_in_force_began_says_it_changed_nothing(
    run: Cli,
) -> None:
    assert run("suppress", "add", "+61412345678", "--date", "2026-03-01").exit_code == 0
    before = listed(run)

    result = run(
        "suppress", "add", "+61412345678", "--date", "2020-01-01", "--expires", "2020-06-01"
    )

    assert result.exit_code == 0, result.output
    assert result.output.startswith("unchanged: +61412345678 (global)"), result.output
    assert "suppressed" not in result.output
    assert listed(run) == before
    with sqlite3.connect(run.db) as conn:  # no audit event for a change that was not made
        kinds = [k for (k,) in conn.execute("SELECT kind FROM events ORDER BY id")]
    assert kinds.count("suppression.add") == 1


def test_a_tenant_or_campaign_with_spaces_around_it_is_the_one_calls_name(  # type: ignore[no-untyped-def]
    run, tmp_path: Path
) -> None:
    # The AGI route reads `DIALGUARD_TENANT` without the spaces around it, and so does check.
    assert run("suppress", "add", "0412345690", "--tenant", "acme ").exit_code == 0
    listing = tmp_path / "list.txt"
    listing.write_text("0412345691\n", encoding="utf-8")
    imported = run("suppress", "import", str(listing), "--tenant", " acme", "--campaign", " spring")
    assert imported.exit_code == 0, imported.output
    assert [(e["tenant"], e["campaign"]) for e in listed(run)] == [
        ("acme", None),
        ("acme", "spring"),
    ]
    at = "2026-11-30T00:00:00Z"
    assert run.findings("0412345690", at, "suppression")[0]["verdict"] == "block"
    findings = run.check("0412345691", at, "--campaign", "spring")["findings"]
    assert isinstance(findings, list)
    assert [f["verdict"] for f in findings if f["rule"].startswith("suppression.")] == ["block"]


@pytest.mark.parametrize("command", ["add", "remove", "list"])
@pytest.mark.parametrize("option", ["--tenant", "--campaign"])
def test_an_empty_tenant_or_campaign_is_refused_and_changes_nothing(  # type: ignore[no-untyped-def]
    run, command: str, option: str
) -> None:
    assert run("suppress", "add", "+61412345692").exit_code == 0  # a global opt-out
    number = [] if command == "list" else ["+61412345692"]
    scope = ["--tenant", "acme"] if option == "--campaign" else []
    result = run("suppress", command, *number, *scope, option, "  ")
    assert result.exit_code == 2
    assert result.output.strip().count("\n") == 0
    assert f"{option}" in result.output and "is empty" in result.output
    assert [(e["number"], e["tenant"]) for e in listed(run)] == [("+61412345692", None)]


def test_a_range_is_added_listed_exported_imported_and_removed(run, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    result = run("suppress", "add", "+1 900*", "--reason", "premium-rate")
    assert result.exit_code == 0 and "suppressed +1900* (global)" in result.output
    assert run("suppress", "add", "+19005550100").exit_code == 0
    assert run("suppress", "add", "+12125550100").exit_code == 0
    # --number lists the number's own entries and the ranges it is in.
    covering = json.loads(run("suppress", "list", "--number", "+19005550100", "--json").output)
    assert [e["number"] for e in covering] == ["+1900*", "+19005550100"]
    exported = run("suppress", "export").output
    assert "+1900*,,,premium-rate,cli," in exported
    assert run("suppress", "remove", "+1 900 *").exit_code == 0
    assert [e["number"] for e in listed(run)] == ["+12125550100", "+19005550100"]
    path = tmp_path / "back.csv"
    path.write_text(exported, encoding="utf-8")
    assert run("suppress", "import", str(path)).exit_code == 0
    assert "+1900*" in [e["number"] for e in listed(run)]
    blocked = run("check", "+19005559999", "--caller-id", "+13195550100", "--json")
    assert json.loads(blocked.output)["rule"] == "suppression.global"


def test_a_range_no_number_begins_is_added_with_a_note(run: Cli) -> None:
    odd = run("suppress", "add", "+44 6*")  # the UK has no 06 numbers: a typo for 07?
    assert odd.exit_code == 0
    assert "note: phonenumbers knows no number that +446* begins" in odd.output
    assert "+446*" in [entry["number"] for entry in listed(run)]
    usual = run("suppress", "add", "+1 900*")
    assert usual.exit_code == 0 and "note:" not in usual.output


def test_a_national_range_is_refused_in_one_line(run) -> None:  # type: ignore[no-untyped-def]
    result = run("suppress", "add", "02 9876*", "--tenant", "acme")
    assert result.exit_code == 2
    assert result.output.strip().splitlines() == [
        "dialguard: '02 9876*': a range is written in international form, + and at most 15"
        " digits then * (+1 900*)"
    ]
    assert listed(run) == []


REGIONS = (
    '[tenants.acme]\nregion = "AU"\n[tenants.uk]\nregion = "GB"\n[tenants.fr]\nregion = "FR"\n'
)


@pytest.mark.parametrize(
    ("written", "tenant", "called"),
    [
        ("+44 (0)20 7946*", "uk", "020 7946 0018"),  # the trunk prefix dropped
        ("+61 02 9876*", "acme", "02 9876 1234"),
        ("+33 692*", "fr", "0692 12 34 56"),  # Réunion, read under +262
        ("+33 6*", "fr", "0692 12 34 56"),
        ("+262 692*", "fr", "+33 692 12 34 56"),
    ],
)
def test_a_range_covers_the_numbers_as_the_tenant_dials_them(
    tmp_path: Path, written: str, tenant: str, called: str
) -> None:
    run = Cli(tmp_path, REGIONS)
    assert run("suppress", "add", written).exit_code == 0
    result = run("check", called, "--tenant", tenant, "--caller-id", "+61291234567", "--json")
    decision = json.loads(result.output)
    assert decision["rule"] == "suppression.global", result.output
    shown = run("suppress", "list", "--number", decision["number"], "--json")
    assert len(json.loads(shown.output)) == 1, shown.output


def test_a_tenant_named_as_a_declared_one_in_another_case_is_warned_of(run) -> None:  # type: ignore[no-untyped-def]
    # Matched exactly, as the channel names it: an opt-out for ACME meets none of acme's
    # calls. Added as asked, and said.
    result = run("suppress", "add", "+61412345678", "--tenant", "ACME")
    assert result.exit_code == 0, result.output
    assert "tenant 'ACME' is not in the settings, but 'acme' is" in result.stderr
    suspended = run("suspend", "campaign:spring", "--tenant", "Acme", "--reason", "r")
    assert "tenant 'Acme' is not in the settings" in suspended.stderr
    for quiet in (
        run("suppress", "add", "+61412345679", "--tenant", "acme"),
        run("suppress", "add", "+61412345670", "--tenant", "beta"),  # no tenant near it
    ):
        assert "warning" not in quiet.stderr, quiet.stderr


def test_an_import_s_tenant_column_in_another_case_is_warned_of_once(run, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    listing = tmp_path / "optouts.csv"
    listing.write_text("number,tenant\n+61412345671,ACME\n+61412345672,ACME\n+61412345673,acme\n")
    result = run("suppress", "import", str(listing))
    assert result.exit_code == 0, result.output
    assert result.stderr.count("tenant 'ACME' is not in the settings, but 'acme' is") == 1
