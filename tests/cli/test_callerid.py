"""`dialguard callerid` against a real SQLite file, and `check --json` showing caller-ID findings."""

from __future__ import annotations

import json
import sqlite3
from pathlib import Path

import pytest

import dialguard.cli  # noqa: F401  (registers the commands)
from dialguard.stirshaken import StirShakenError, parse_stir_shaken
from tests.cli.conftest import AU_TENANT, Cli

DATA = Path(__file__).resolve().parents[1] / "data" / "callerid"


@pytest.fixture(name="run")
def _run(tmp_path: Path) -> Cli:
    return Cli(tmp_path, AU_TENANT + '\n[tenants.globex]\nregion = "AU"\n')


def _listed(run: Cli, **filters: str) -> list[dict[str, object]]:
    args = ["callerid", "list", "--json"]
    for key, value in filters.items():
        args += [f"--{key}", value]
    result = run(*args)
    assert result.exit_code == 0, result.output
    rows: list[dict[str, object]] = json.loads(result.output)
    return rows


def _numbers(run: Cli, **filters: str) -> list[str]:
    return [str(row["number"]) for row in _listed(run, **filters)]


def test_add_normalises_with_the_tenant_region_and_lists(run: Cli) -> None:
    result = run("callerid", "add", "02 9123 4567", "--tenant", "acme", "--pool", "rotation")

    assert result.exit_code == 0, result.output
    assert "added +61291234567 for tenant acme in pool rotation" in result.output
    rows = _listed(run)
    assert [(r["number"], r["tenant"], r["pool"], r["source"]) for r in rows] == [
        ("+61291234567", "acme", "rotation", "cli")
    ]
    assert _numbers(run, pool="rotation") == ["+61291234567"]
    assert _numbers(run, tenant="globex") == []


def test_add_takes_a_number_written_in_groups_unquoted(run: Cli) -> None:
    result = run("callerid", "add", "02", "9123", "4567", "--tenant", "acme")

    assert result.exit_code == 0, result.output
    assert _numbers(run) == ["+61291234567"]


def test_adding_twice_keeps_one_entry(run: Cli) -> None:
    run("callerid", "add", "+61291234567", "--tenant", "acme")
    again = run("callerid", "add", "0291234567", "--tenant", "acme")

    assert again.exit_code == 0
    assert "already in tenant acme's inventory" in again.output
    assert _numbers(run) == ["+61291234567"]


@pytest.mark.parametrize(
    ("number", "problem"),
    [
        ("12345", "'12345' is not an assigned range"),
        ("banana", "'banana' is not a telephone number"),
        ("+6129123456789012", "'+6129123456789012' has the wrong number of digits"),
    ],
)
def test_a_bad_number_is_one_line_exit_2_and_writes_nothing(
    run: Cli, number: str, problem: str
) -> None:
    result = run("callerid", "add", number, "--tenant", "acme")

    assert result.exit_code == 2
    assert problem in result.output
    assert len(result.output.strip().splitlines()) == 1
    assert "Traceback" not in result.output
    assert _numbers(run) == []


def test_a_bad_pool_name_is_refused(run: Cli) -> None:
    result = run("callerid", "add", "+61291234567", "--tenant", "acme", "--pool", "a b")

    assert result.exit_code == 2
    assert "--pool: 'a b'" in result.output


def test_adding_an_inbound_only_number_warns(run: Cli) -> None:
    result = run("callerid", "add", "1300123456", "--tenant", "acme")

    assert result.exit_code == 0
    assert "warning: +611300123456 is an Australian 13/1300 inbound number" in result.output


def test_remove_and_removing_what_is_not_there(run: Cli) -> None:
    run("callerid", "add", "+61291234567", "--tenant", "acme")
    run("callerid", "add", "+61291234567", "--tenant", "globex")

    assert run("callerid", "remove", "02 9123 4567", "--tenant", "acme").exit_code == 0
    assert _listed(run)[0]["tenant"] == "globex"
    missing = run("callerid", "remove", "+61291234567", "--tenant", "acme")
    assert missing.exit_code == 2
    assert "+61291234567 is not in tenant acme's inventory" in missing.output


def test_import_csv_with_tenant_and_pool_columns(run: Cli, tmp_path: Path) -> None:
    csv_file = tmp_path / "cids.csv"
    csv_file.write_text(
        "number,tenant,pool\n"
        "02 9123 4567,acme,sydney\n"
        "+61398765432,,\n"
        "0291234567,acme,sydney\n"
        "\n"
        "0299998888,globex,\n"
    )
    result = run("callerid", "import", str(csv_file), "--tenant", "acme", "--json")

    assert result.exit_code == 0, result.output
    assert json.loads(result.output) == {
        "file": str(csv_file),
        "accepted": 3,
        "duplicates": 1,
        "added": 3,
        "updated": 0,
        "unchanged": 0,
    }
    rows = {(r["number"], r["tenant"], r["pool"]) for r in _listed(run)}
    assert rows == {
        ("+61291234567", "acme", "sydney"),
        ("+61398765432", "acme", None),
        ("+61299998888", "globex", None),
    }


def test_import_one_number_per_line(run: Cli, tmp_path: Path) -> None:
    plain = tmp_path / "cids.txt"
    plain.write_text("# our numbers\n02 9123 4567\n\n+61398765432\n")

    result = run("callerid", "import", str(plain), "--tenant", "acme", "--pool", "main")

    assert result.exit_code == 0, result.output
    assert "2 accepted (2 added" in result.output
    assert _numbers(run, pool="main") == ["+61291234567", "+61398765432"]


def test_import_with_a_bad_line_writes_nothing_and_names_the_lines(
    run: Cli, tmp_path: Path
) -> None:
    run("callerid", "add", "+61291234567", "--tenant", "acme")
    bad = tmp_path / "bad.csv"
    bad.write_text("number\n+61398765432\n12345\n0299998888\nbanana\n")

    result = run("callerid", "import", str(bad), "--tenant", "acme")

    assert result.exit_code == 2
    message = result.output.strip()
    assert len(message.splitlines()) == 1
    assert "2 lines rejected, nothing imported" in message
    assert "line 3: '12345'" in message and "line 5: 'banana'" in message
    assert _numbers(run) == ["+61291234567"]


def test_a_huge_rejected_line_is_quoted_short(run: Cli, tmp_path: Path) -> None:
    # Its whole 100,000 digits were the error "line"; the other imports cut it already.
    bad = tmp_path / "bad.csv"
    bad.write_text("number\n" + "9" * 100_000 + "\n")
    result = run("callerid", "import", str(bad), "--tenant", "acme")
    assert result.exit_code == 2
    assert "line 2: '" + "9" * 37 + "...'" in result.output and len(result.output) < 300
    added = run("callerid", "add", "9" * 100_000, "--tenant", "acme")
    assert added.exit_code == 2 and len(added.output) < 300


def test_import_rows_without_a_tenant_are_rejected(run: Cli, tmp_path: Path) -> None:
    no_tenant = tmp_path / "n.csv"
    no_tenant.write_text("number,tenant\n+61398765432,acme\n+61291234567,\n")

    result = run("callerid", "import", str(no_tenant))

    assert result.exit_code == 2
    assert "line 3: no tenant" in result.output
    assert _numbers(run) == []


def test_import_refuses_a_csv_without_a_number_column(run: Cli, tmp_path: Path) -> None:
    wrong = tmp_path / "w.csv"
    wrong.write_text("phone,tenant\n+61398765432,acme\n")

    result = run("callerid", "import", str(wrong), "--format", "csv", "--tenant", "acme")

    assert result.exit_code == 2
    assert "must name a `number` column" in result.output


def test_import_a_missing_file(run: Cli, tmp_path: Path) -> None:
    result = run("callerid", "import", str(tmp_path / "nope.csv"), "--tenant", "acme")

    assert result.exit_code == 2
    assert "no such file" in result.output


def test_import_stir_shaken_conf_reads_the_tn_sections(run: Cli) -> None:
    run("callerid", "add", "+61291234567", "--tenant", "acme", "--pool", "rotation")

    result = run("callerid", "import", str(DATA / "stir_shaken.conf"), "--tenant", "acme")

    assert result.exit_code == 0, result.output
    assert "3 accepted (2 added, 0 moved to another pool, 1 already there)" in result.output
    rows = {(r["number"], r["pool"], r["source"]) for r in _listed(run)}
    assert rows == {
        ("+61291234567", "rotation", "cli"),  # kept its pool: the file names none
        ("+61298765432", None, "stir-shaken"),
        ("+61391234567", None, "stir-shaken"),
    }


def test_changes_are_logged_as_events(run: Cli) -> None:
    run("callerid", "add", "+61291234567", "--tenant", "acme")
    run("callerid", "remove", "+61291234567", "--tenant", "acme")

    with sqlite3.connect(run.db) as conn:
        kinds = [row[0] for row in conn.execute("SELECT kind FROM events ORDER BY id")]
    assert kinds == ["callerid.save", "callerid.remove"]


def test_stir_shaken_parser_tolerates_asterisk_syntax() -> None:
    parsed = parse_stir_shaken(
        "#include more_tns.conf\n"
        "[base](!)\ntype = tn\n"
        "[+15551234567](base) ; inherits\n"
        "[15557654321]\ntype=tn\\;x\n"  # escaped ; is literal: type is 'tn;x', not a TN
        "[profile]\ntype => profile\n"
        "[+15550001111]\nTYPE => TN\n"
    )

    assert [tn.number for tn in parsed.numbers] == ["+15551234567", "+15550001111"]
    assert parsed.skipped == ("line 1: #include more_tns.conf",)


def test_stir_shaken_parser_names_the_bad_line() -> None:
    with pytest.raises(StirShakenError, match="line 2: 'garbage' is not a key = value line"):
        parse_stir_shaken("[+15551234567]\ngarbage\n")


def test_check_json_lists_the_caller_id_findings(run: Cli) -> None:
    run("callerid", "add", "+61298765432", "--tenant", "acme")
    args = ["check", "+61412345678", "--tenant", "acme", "--campaign", "spring", "--json"]
    args += ["--at", "2026-11-30T00:30:00Z"]

    spoofed = run(*args, "--caller-id", "0412345000")
    body = json.loads(spoofed.output)
    assert spoofed.exit_code == 1
    assert body["rule"] == "callerid.neighbour_spoof"
    assert "+61412345000" in body["reason"] and "neighbour spoofing" in body["reason"]
    callerid = {
        f["rule"]: f["verdict"] for f in body["findings"] if f["rule"].startswith("callerid.")
    }
    assert callerid["callerid.neighbour_spoof"] == "block"
    assert callerid["callerid.not_owned"] == "block"

    owned = json.loads(run(*args, "--caller-id", "02 9876 5432").output)
    assert owned["caller_id"] == "+61298765432"
    assert [
        f["rule"]
        for f in owned["findings"]
        if f["rule"].startswith("callerid.") and f["verdict"] == "block"
    ] == []


def test_callerid_settings_are_read_and_bad_keys_named(run: Cli) -> None:
    args = ["check", "+61412345678", "--caller-id", "0298765432", "--tenant", "acme", "--json"]
    args += ["--at", "2026-11-30T00:30:00Z"]
    strict = json.loads(run(*args).output)
    assert "callerid add +61298765432 --tenant acme" in next(
        f["reason"] for f in strict["findings"] if f["rule"] == "callerid.not_owned"
    )

    run.config.write_text(run.config.read_text() + "\n[callerid]\nrequire_inventory = false\n")
    relaxed = json.loads(run(*args).output)
    owned = next(f for f in relaxed["findings"] if f["rule"] == "callerid.not_owned")
    assert owned["verdict"] == "skip"

    run.config.write_text(run.config.read_text() + "colour = 'red'\n")
    bad = run(*args)
    assert bad.exit_code == 2
    assert "callerid.colour: unknown setting" in bad.output


def test_an_import_with_a_field_beyond_the_csv_limit_is_one_line_exit_2(
    run: Cli, tmp_path: Path
) -> None:
    path = tmp_path / "ids.csv"
    path.write_text("number,tenant\n0291234567,acme" + "x" * 200_000 + "\n", encoding="utf-8")
    result = run("callerid", "import", str(path), "--tenant", "acme")
    assert result.exit_code == 2, result.output
    assert result.output.count("\n") == 1 and "is not a readable CSV" in result.output


def test_an_import_s_tenant_column_in_another_case_is_warned_of(run, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    # Matched exactly: caller IDs imported for ACME are none of acme's.
    listing = tmp_path / "cids.csv"
    listing.write_text("number,tenant\n+61291234560,Acme\n")
    result = run("callerid", "import", str(listing))
    assert result.exit_code == 0, result.output
    assert "tenant 'Acme' is not in the settings, but 'acme' is" in result.stderr
