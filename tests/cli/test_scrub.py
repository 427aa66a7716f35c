"""`dialguard scrub`: a lead list decided as the AGI route decides each call, recording nothing."""

from __future__ import annotations

import csv
import gzip
import json
from pathlib import Path

from tests.cli.conftest import AU_TENANT, CALLER_ID, Cli

# A Tuesday, 14:00 in Sydney and 11:00 in Perth: inside the AU telemarketing window on every
# clock an Australian mobile may be on.
AT = "2026-12-01T03:00:00Z"


def loaded(run: Cli, tmp_path: Path) -> Cli:
    """acme owns the caller ID; the AU register holds 0412000002; 0412000001 opted out."""
    register = tmp_path / "dncr.txt"
    register.write_text("0412000002\n", encoding="utf-8")
    assert run("registry", "import", str(register), "--registry", "au-dncr").exit_code == 0
    assert run("callerid", "add", CALLER_ID, "--tenant", "acme").exit_code == 0
    assert run("suppress", "add", "0412000001", "--tenant", "acme").exit_code == 0
    return run


def scrub(run: Cli, path: Path, *extra: str) -> dict:  # type: ignore[type-arg]
    result = run(
        "scrub", str(path), "--caller-id", CALLER_ID, "--tenant", "acme", "--campaign", "spring",
        "--at", AT, "--json", *extra,
    )  # fmt: skip
    assert result.exit_code == 0, result.output
    return json.loads(result.output)  # type: ignore[no-any-return]


def test_each_number_is_decided_as_the_agi_route_would_and_nothing_is_recorded(
    run: Cli, tmp_path: Path
) -> None:
    loaded(run, tmp_path)
    leads = tmp_path / "leads.txt"
    leads.write_text(
        "# spring campaign\n0412000001\n0412000002\n0412000003\n000\nnot a number\n0412000004\n",
        encoding="utf-8",
    )
    summary = scrub(run, leads)
    assert (summary["numbers"], summary["allowed"], summary["blocked"]) == (6, 2, 4)
    assert summary["blocked_by"] == {
        "suppression.tenant": 1,
        "registry.au-dncr": 1,
        "emergency.campaign": 1,
        "number.invalid": 1,
    }
    # The same verdicts as `check`, one by one.
    for number, verdict in (("0412000001", "block"), ("0412000003", "allow")):
        assert run.check(number, AT)["verdict"] == verdict
    # A dry run: no decision recorded, so the list's numbers count toward no cap.
    log = json.loads(run("log", "--json").output)
    assert log == []


def test_a_csv_gives_each_callee_s_address_and_a_bad_one_is_reported_by_line(
    run: Cli, tmp_path: Path
) -> None:
    loaded(run, tmp_path)
    leads = tmp_path / "leads.csv"
    # 20:00 in Sydney is after the window; Perth is three hours behind (17:00 there).
    leads.write_text(
        "number,callee_region\n0412000003,AU-WA\n0412000004,AU-NSW\n0412000005,AU-XX\n",
        encoding="utf-8",
    )
    out = tmp_path / "verdicts.csv"
    summary = scrub(run, leads, "--at", "2026-12-01T09:00:00Z", "--out", str(out))
    assert (summary["allowed"], summary["blocked_by"]) == (1, {"hours.au-telemarketing": 1})
    assert summary["rejected"] == 1 and summary["rejects"][0]["line"] == 4
    assert "AU-XX" in summary["rejects"][0]["problem"]
    with out.open(encoding="utf-8", newline="") as stream:
        rows = list(csv.DictReader(stream))
    assert [(r["line"], r["e164"], r["verdict"], r["rule"]) for r in rows] == [
        ("2", "+61412000003", "allow", ""),
        ("3", "+61412000004", "block", "hours.au-telemarketing"),
        ("4", "", "rejected", ""),
    ]
    assert [p.name for p in tmp_path.iterdir() if ".partial" in p.name] == []


def test_a_line_s_own_tenant_campaign_purpose_caller_id_and_mark_are_read(
    tmp_path: Path,
) -> None:
    run = loaded(Cli(tmp_path, AU_TENANT + '[tenants.uk]\nregion = "GB"\n'), tmp_path)
    assert run("callerid", "add", CALLER_ID, "--tenant", "globex").exit_code == 0
    opt_out = ("suppress", "add", "+61412000003", "--tenant", "globex", "--campaign", "autumn")
    assert run(*opt_out).exit_code == 0
    leads = tmp_path / "leads.csv"
    leads.write_text(
        "number,tenant,campaign,purpose,caller_id,automated\n"
        "+61412000003,,,,,\n"  # the options' call: telemarketing, after 20:00 in Sydney
        "+61412000003,,,research,,no\n"  # research may go on until 20:30
        "+61412000003,globex,autumn,research,,\n"  # globex's autumn campaign: opted out
        "+61412000003,globex,winter,research,,\n"
        "+61412000003,,,research,+61299999999,\n"  # a caller ID acme does not own
        "07400 123456,uk,,research,,\n"  # read in the line's tenant's region (GB)
        "+61412000003,,,maybe,,\n"
        "+61412000003,,,,,perhaps\n"
        "000,,,lunch,,\n",  # an emergency number needs nothing else: decided
        encoding="utf-8",
    )
    out = tmp_path / "verdicts.csv"
    summary = scrub(run, leads, "--at", "2026-12-01T09:15:00Z", "--out", str(out))
    with out.open(encoding="utf-8", newline="") as stream:
        rows = [(r["line"], r["e164"], r["verdict"], r["rule"]) for r in csv.DictReader(stream)]
    assert rows == [
        ("2", "+61412000003", "block", "hours.au-telemarketing"),
        ("3", "+61412000003", "allow", ""),
        ("4", "+61412000003", "block", "suppression.campaign"),
        ("5", "+61412000003", "allow", ""),
        ("6", "+61412000003", "block", "callerid.not_owned"),
        ("7", "+447400123456", "block", "callerid.not_owned"),
        ("8", "", "rejected", ""),
        ("9", "", "rejected", ""),
        ("10", "", "block", "emergency.campaign"),  # no E.164 form
    ]
    problems = [r["problem"] for r in summary["rejects"]]
    assert "purpose 'maybe' is not one dialguard knows" in problems[0]
    assert "automated 'perhaps' is not yes or no" in problems[1]
    assert summary["ignored_columns"] == []


def test_a_line_s_automated_mark_decides_a_call_to_an_emergency_number(
    run: Cli, tmp_path: Path
) -> None:
    leads = tmp_path / "leads.csv"
    leads.write_text("number,automated\n000,no\n000,yes\n000,perhaps\n", encoding="utf-8")
    out = tmp_path / "verdicts.csv"
    result = run(
        "scrub", str(leads), "--caller-id", CALLER_ID, "--tenant", "acme", "--at", AT,
        "--out", str(out), "--json",
    )  # fmt: skip
    assert result.exit_code == 0, result.output
    with out.open(encoding="utf-8", newline="") as stream:
        rows = [(r["verdict"], r["rule"]) for r in csv.DictReader(stream)]
    # A person's call is allowed; a robocall, or one whose mark cannot be read, is not.
    assert rows == [
        ("allow", ""),
        ("block", "emergency.automated"),
        ("block", "emergency.automated"),
    ]


def test_a_gzipped_list_and_the_report_on_stdout(run: Cli, tmp_path: Path) -> None:
    loaded(run, tmp_path)
    leads = tmp_path / "leads.txt.gz"
    leads.write_bytes(gzip.compress(b"0412000002\n0412000003\n"))
    result = run(
        "scrub", str(leads), "--caller-id", CALLER_ID, "--tenant", "acme", "--at", AT,
        "--out", "-",
    )  # fmt: skip
    assert result.exit_code == 0, result.output
    lines = result.stdout.splitlines()  # the counts go to stderr
    assert "1 allowed, 1 blocked" in result.stderr
    assert lines[0] == "line,number,e164,verdict,rule,reason"
    assert lines[1].startswith("1,0412000002,+61412000002,block,registry.au-dncr,")
    assert lines[2].startswith("2,0412000003,+61412000003,allow,,")


def test_a_lead_list_s_other_columns_are_named_and_not_read(run: Cli, tmp_path: Path) -> None:
    loaded(run, tmp_path)
    leads = tmp_path / "leads.csv"
    leads.write_text(
        "name,number,email\nAda,0412000003,a@example.com\nBob,,b@example.com\n", encoding="utf-8"
    )
    summary = scrub(run, leads)
    assert (summary["allowed"], summary["rejected"]) == (1, 1)
    assert summary["ignored_columns"] == ["email", "name"]
    assert summary["rejects"] == [{"line": 3, "problem": "has no number"}]


def test_bad_input_is_one_line_and_leaves_no_report(run: Cli, tmp_path: Path) -> None:
    leads = tmp_path / "leads.csv"
    leads.write_text("number,callee_region\n0412000003,AU-WA\n", encoding="utf-8")
    out = tmp_path / "out.csv"
    cases = [
        (["scrub", str(leads), "--caller-id", CALLER_ID, "--out", ""], "give a file name"),
        (["scrub", str(tmp_path / "none.txt"), "--caller-id", CALLER_ID], "no such file"),
        (["scrub", str(leads), "--caller-id", CALLER_ID, "--out", str(leads)], "is the list being scrubbed"),
        (["scrub", str(leads), "--caller-id", CALLER_ID, "--out", "-", "--json"], "both want stdout"),
        (["scrub", str(leads), "--caller-id", CALLER_ID, "--at", "tuesday"], "--at"),
    ]  # fmt: skip
    for args, message in cases:
        result = run(*args)
        assert result.exit_code == 2 and message in result.output, (args, result.output)
        assert "Traceback" not in result.output
    assert not out.exists() and [p for p in tmp_path.iterdir() if ".partial" in p.name] == []
    # A list with no number fails, and leaves an earlier report where it was.
    empty = tmp_path / "empty.txt"
    empty.write_text("# nothing yet\n\n", encoding="utf-8")
    out.write_text("an earlier report\n", encoding="utf-8")
    result = run("scrub", str(empty), "--caller-id", CALLER_ID, "--out", str(out))
    assert result.exit_code == 2 and "no numbers found" in result.output
    assert out.read_text(encoding="utf-8") == "an earlier report\n"


def test_an_automated_list_is_decided_as_robocalls(tmp_path: Path) -> None:
    # `--automated` is DIALGUARD_AUTOMATED=yes for every line: a UK robocall needs consent.
    run = Cli(tmp_path, '[guard]\nregister_missing = "allow"\n[tenants.acme]\nregion = "GB"\n')
    assert run("callerid", "add", "+441614960001", "--tenant", "acme").exit_code == 0
    leads = tmp_path / "leads.txt"
    leads.write_text("02079460000\n", encoding="utf-8")
    base = ["scrub", str(leads), "--caller-id", "+441614960001", "--tenant", "acme"]
    at = ["--at", "2026-12-01T11:00:00Z", "--json"]
    robo = json.loads(run(*base, "--automated", *at).output)
    live = json.loads(run(*base, *at).output)
    assert robo["blocked_by"] == {"consent.gb-reg-19-automated": 1}
    assert "consent.gb-reg-19-automated" not in live["blocked_by"]


def test_a_us_robocall_list_holds_mobiles_and_lines_of_unknown_type(tmp_path: Path) -> None:
    # 47 U.S.C. 227(b)(1)(A)(iii): an informational robocall to a mobile needs express
    # consent. A line's `line_type` column (or --line-type for the whole list) tells which
    # lines are landlines; an unreadable one is reported, not guessed.
    run = Cli(tmp_path, '[guard]\nregister_missing = "allow"\n[tenants.acme]\nregion = "US"\n')
    assert run("callerid", "add", "+12125550100", "--tenant", "acme").exit_code == 0
    leads = tmp_path / "leads.csv"
    leads.write_text(
        "number,line_type\n2125550101,landline\n2125550102,Wireless\n2125550103,\n2125550104,fax\n",
        encoding="utf-8",
    )
    out = tmp_path / "verdicts.csv"
    base = ["scrub", str(leads), "--caller-id", "+12125550100", "--tenant", "acme"]
    at = ["--at", "2026-12-01T17:00:00Z", "--purpose", "informational", "--automated"]
    summary = json.loads(run(*base, *at, "--out", str(out), "--json").output)
    with out.open(encoding="utf-8", newline="") as stream:
        rows = [(r["verdict"], r["rule"], r["reason"]) for r in csv.DictReader(stream)]
    assert [r[:2] for r in rows[:3]] == [
        ("allow", ""),
        ("block", "consent.us-tcpa-wireless"),
        ("block", "consent.us-tcpa-wireless"),
    ]
    assert (summary["allowed"], summary["blocked"], summary["rejected"]) == (1, 2, 1)
    assert "line type 'fax' is not mobile or landline" in rows[3][2]
    # --line-type gives the lines without their own; a line's own word still wins.
    landlines = json.loads(run(*base, *at, "--line-type", "landline", "--json").output)
    assert (landlines["allowed"], landlines["blocked"]) == (2, 1)
    # `check` takes the same option, with every word the channel variable takes.
    for given, read, rule in (
        ("landline", "landline", None),
        ("Wireless", "mobile", "consent.us-tcpa-wireless"),
    ):
        checked = run(
            "check", "+12125550101", "--caller-id", "+12125550100", "--tenant", "acme",
            *at, "--line-type", given, "--json",
        )  # fmt: skip
        decision = json.loads(checked.output)
        assert (decision["rule"], decision["line_type"]) == (rule, read), checked.output
    bad = run("check", "+12125550101", "--caller-id", "+12125550100", *at, "--line-type", "fax")
    assert bad.exit_code == 2 and "line type 'fax' is not mobile or landline" in bad.output
    # A line whose line type cannot be read is still decided when it is an emergency number.
    emergency = tmp_path / "emergency.csv"
    emergency.write_text("number,line_type\n911,fax\n", encoding="utf-8")
    person = run("scrub", str(emergency), "--caller-id", "+12125550100", "--tenant", "acme",
                 "--at", "2026-12-01T17:00:00Z", "--json")  # fmt: skip
    assert (json.loads(person.output)["allowed"], json.loads(person.output)["rejected"]) == (1, 0)
