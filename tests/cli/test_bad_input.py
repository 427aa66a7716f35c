"""Bad input from an operator: one line naming what was wrong, exit status 2, nothing changed.

Cases found by a review of every command (each failed before its fix)."""

from __future__ import annotations

import contextlib
import json
import os
import re
import shutil
import sqlite3
import subprocess
import sys
import time
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import IO, Any

import pytest
from click.testing import CliRunner

from dialguard.cli.app import LAST_MIDNIGHT, parse_when
from dialguard.cli.app import cli as cli_group
from dialguard.settings import SettingsError, load_settings
from tests.cli.conftest import Cli

REPO = Path(__file__).resolve().parents[2]


def one_line(result) -> str:  # type: ignore[no-untyped-def]
    assert result.exit_code == 2, result.output
    assert result.output.count("\n") == 1 and "Traceback" not in result.output, result.output
    return str(result.output)


@pytest.mark.parametrize(
    ("args", "says"),
    [
        (["check", "0412345678", "--tenant", "acme"], "Missing option '--caller-id'"),
        (
            ["check", "0412345678", "--caller-id", "0291234567", "--purpose", "bogus"],
            "'bogus' is not one of",
        ),
        (["no-such-command"], "No such command"),
    ],
)
def test_click_usage_errors_are_one_line(run: Cli, args: list[str], says: str) -> None:
    output = one_line(run(*args))
    assert says in output and "--help" in output


def test_a_group_without_a_subcommand_still_shows_its_help_page(run: Cli) -> None:
    result = run("suppress")
    assert "Commands:" in result.output and result.output.count("\n") > 5


def test_todays_date_east_of_utc_is_not_the_future(run: Cli) -> None:
    # A date without a time is midnight UTC; in Kiribati (UTC+14) today's date can be
    # tomorrow's there. It is taken as now, so the opt-out is in force at once.
    ahead = (datetime.now(UTC) + timedelta(hours=14)).date().isoformat()
    added = run("suppress", "add", "+61412345678", "--date", ahead)
    assert added.exit_code == 0, added.output
    decision = run.check("+61412345678", datetime.now(UTC).isoformat())
    assert decision["rule"] == "suppression.global"


def test_a_locked_database_is_one_line_and_nothing_is_added(run: Cli) -> None:
    assert run("suppress", "list").exit_code == 0  # creates the database
    other = sqlite3.connect(run.db, isolation_level=None)
    other.execute("BEGIN EXCLUSIVE")  # another process holding it past the busy timeout
    try:
        output = one_line(run("suppress", "add", "0412345678", "--tenant", "acme"))
    finally:
        other.execute("ROLLBACK")
        other.close()
    assert "locked by another process" in output and "nothing was changed" in output
    assert run("suppress", "list").output.strip() == "no entries"


def test_a_database_from_a_newer_dialguard_ends_the_process_at_once(tmp_path: Path) -> None:
    db = tmp_path / "newer.sqlite3"
    with sqlite3.connect(db) as conn:
        conn.execute("PRAGMA user_version = 999")
    # The store's connection thread used to keep the process alive after the message.
    done = subprocess.run(
        [sys.executable, "-m", "dialguard.cli", "--db", str(db), "suppress", "list"],
        capture_output=True,
        text=True,
        timeout=30,
        cwd=REPO,
    )
    assert done.returncode == 2 and "schema version 999" in done.stderr
    assert done.stderr.count("\n") == 1


@pytest.mark.parametrize(
    ("args", "says"),
    [
        # An opt-out is in force from its request date: acknowledged now, it would not be.
        (["suppress", "add", "+61412345678", "--date", "2999-01-01"], "is in the future"),
        # Stored, these made every later read of the entry fail (year 10000 is out of range).
        (
            ["suppress", "add", "+61412345678", "--expires", "9999-12-31T23:59:59-05:00"],
            "is not between 1970 and 9998",
        ),
        (
            ["check", "0412345678", "--caller-id", "0291234567", "--at", "0001-01-01"],
            "is not between 1970 and 9998",
        ),
    ],
)
def test_dates_that_cannot_be_in_force_or_stored_are_refused(
    run: Cli, args: list[str], says: str
) -> None:
    assert says in one_line(run(*args))
    assert run("suppress", "list").output.strip() == "no entries"


def test_a_suppression_csv_with_an_unknown_column_imports_nothing(run: Cli, tmp_path: Path) -> None:
    # A misspelt `tenant` made every line a global, permanent opt-out, silently.
    path = tmp_path / "optouts.csv"
    path.write_text("number,tennant,expires\n0412345678,acme,2027-01-01\n", encoding="utf-8")
    assert "unknown CSV column tennant" in one_line(run("suppress", "import", str(path)))
    assert run("suppress", "list").output.strip() == "no entries"


def test_a_setting_that_is_not_true_or_false_is_named(tmp_path: Path) -> None:
    path = tmp_path / "dialguard.toml"
    path.write_text(
        '[ami]\nenabled = "no"\nusername = "dialguard"\nsecret = "x"\nhost = 12\n'
        '[registers.au-dncr]\nunverified = "no"\n',
        encoding="utf-8",
    )
    with pytest.raises(SettingsError) as raised:
        load_settings(path)  # `enabled = "no"` used to switch AMI on
    message = str(raised.value)
    assert "ami.enabled: must be true or false" in message
    assert "ami.host: must be a string" in message
    assert "registers.au-dncr.unverified: must be true or false" in message


def test_a_settings_file_with_a_byte_order_mark_loads(tmp_path: Path) -> None:
    path = tmp_path / "dialguard.toml"
    path.write_bytes(b'\xef\xbb\xbf[tenants.acme]\nregion = "AU"\n')
    assert load_settings(path).policy.region_for("acme") == "AU"


def test_a_secret_file_that_is_not_text_is_one_line(tmp_path: Path) -> None:
    secret = tmp_path / "secret.bin"
    secret.write_bytes(b"\xff\xfe\x00binary")
    path = tmp_path / "dialguard.toml"
    path.write_text(f'[ami]\nusername = "dialguard"\nsecret_file = "{secret}"\n', encoding="utf-8")
    with pytest.raises(SettingsError, match="is not UTF-8 text"):
        load_settings(path).ami.resolve_secret()  # type: ignore[union-attr]


def test_a_database_in_a_folder_that_does_not_exist_is_refused(run: Cli, tmp_path: Path) -> None:
    # A mistyped --db made a new folder and an empty database: `suppress list` said "no
    # entries" and an import went where the daemon never reads.
    typo = tmp_path / "nope" / "dialguard.sqlite3"
    mistyped = Cli(tmp_path)
    mistyped.db = typo
    output = one_line(mistyped("suppress", "list"))
    assert "folder does not exist" in output and str(typo) in output
    assert not typo.parent.exists()


def test_serve_refuses_a_database_in_a_folder_that_does_not_exist(tmp_path: Path) -> None:
    # It made the folders and served on an empty database: every call blocked for want of
    # caller IDs, while operators kept editing the real one.
    typo = tmp_path / "typo" / "dir" / "dialguard.sqlite3"
    mistyped = Cli(tmp_path)
    mistyped.db = typo
    output = one_line(mistyped("serve", "--agi", "127.0.0.1:4599", "--no-ami"))
    assert "folder does not exist" in output and str(typo) in output
    assert not typo.parent.exists()


def test_a_missing_database_is_created_and_said_so(tmp_path: Path) -> None:
    run = Cli(tmp_path)
    run.db.unlink()
    created = run("suppress", "list")
    assert created.exit_code == 0
    assert f"no database at {run.db}: created an empty one" in created.stderr
    assert "created" not in run("suppress", "list").stderr


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("2027-01-01", datetime(2027, 1, 1, 12, tzinfo=UTC)),  # a day: its last midnight
        ("20270101", datetime(2027, 1, 1, 12, tzinfo=UTC)),
        ("2027-01-01T10:00", datetime(2027, 1, 1, 10, tzinfo=UTC)),
        ("2027-01-01t10:00", datetime(2027, 1, 1, 10, tzinfo=UTC)),  # was a whole day
        ("2027-01-01_10:00", datetime(2027, 1, 1, 10, tzinfo=UTC)),  # was a whole day
        ("2027-01-01 10:00", datetime(2027, 1, 1, 10, tzinfo=UTC)),
    ],
)
def test_only_a_date_alone_is_read_as_a_day(text: str, expected: datetime) -> None:
    assert parse_when(text, "--expires", day_starts=LAST_MIDNIGHT) == expected


def test_serve_with_an_ami_user_and_no_secret_is_refused_before_it_starts(run: Cli) -> None:
    # Asterisk refuses an empty secret: the listener retried a failing login for ever.
    output = one_line(run("serve", "--agi", "127.0.0.1:4599", "--ami-user", "dialguard"))
    assert "--ami-secret-file" in output


def test_check_reads_its_purpose_tenant_and_campaign_as_the_agi_route_does(run: Cli) -> None:
    # The route lower-cases DIALGUARD_PURPOSE and strips the variables; `check` refused
    # `Research` and checked tenant " acme" (whose region it did not know).
    plain = run.check("0412345678", "2026-06-10T01:00:00Z", "--purpose", "research")
    spelt = run(
        "check", "0412345678", "--caller-id", "+61291234567", "--tenant", " acme ",
        "--at", "2026-06-10T01:00:00Z", "--purpose", "Research", "--json",
    )  # fmt: skip
    assert spelt.exit_code in (0, 1), spelt.output
    assert json.loads(spelt.output)["rule"] == plain["rule"]


def test_a_register_copy_dated_after_today_everywhere_is_refused(
    run: Cli, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # The limit was this machine's date plus one: on a machine east of UTC, a day no zone
    # has reached yet, a day of freshness the copy does not have.
    wash = tmp_path / "wash.txt"
    wash.write_text("0412345678\n", encoding="utf-8")
    latest = (datetime.now(UTC) + timedelta(hours=14)).date()
    monkeypatch.setenv("TZ", "Pacific/Kiritimati")  # UTC+14: its date is `latest`
    time.tzset()
    try:
        for as_of, status in ((latest + timedelta(days=1), 2), (latest, 0)):
            result = run(
                "registry", "import", str(wash), "--registry", "au-dncr", "--as-of", str(as_of)
            )
            assert result.exit_code == status, result.output
    finally:
        monkeypatch.undo()
        time.tzset()


def test_check_refuses_a_callee_region_of_no_state(run: Cli) -> None:
    # The AGI route refuses it; `check` took US-XX and decided on the number alone.
    output = one_line(
        run("check", "+13055550123", "--caller-id", "+61291234567", "--tenant", "acme",
            "--callee-region", "US-XX")
    )  # fmt: skip
    assert "--callee-region" in output and "'US-XX' is not a state of US" in output
    # As the AGI route, an emergency call is decided on its dial string alone.
    emergency = run("check", "000", "--caller-id", "+61291234567", "--tenant", "acme",
                    "--callee-region", "US-XX", "--callee-timezone", "Nowhere/City")  # fmt: skip
    assert emergency.exit_code == 0 and emergency.output.startswith("ALLOW")


def _dialguard(run: Cli, *args: str, stdout: int | IO[Any]) -> subprocess.Popen[str]:
    command = [sys.executable, "-m", "dialguard.cli", "--db", str(run.db), "--config"]
    return subprocess.Popen(
        [*command, str(run.config), *args], stdout=stdout, stderr=subprocess.PIPE,
        text=True, cwd=REPO,
    )  # fmt: skip


@pytest.mark.parametrize(("number", "status"), [("000", 0), ("0412345678", 1)])
def test_check_whose_reader_went_away_keeps_its_verdicts_status(
    run: Cli, number: str, status: int
) -> None:
    # `check ... | head -1` could exit 1, the status for "blocked", for an allowed call: click
    # turns a broken pipe into 1. A person dialling 000 is allowed; the mobile is blocked
    # (no register copy).
    check = _dialguard(
        run, "check", number, "--caller-id", "0291234567", "--tenant", "acme",
        stdout=subprocess.PIPE,
    )  # fmt: skip
    assert check.stdout is not None
    check.stdout.close()  # gone before the verdict is written
    assert check.wait(30) == status
    assert check.stderr is not None and check.stderr.read() == ""


@pytest.mark.skipif(not Path("/dev/full").exists(), reason="needs Linux's /dev/full")
def test_output_that_cannot_be_written_is_one_line(run: Cli) -> None:
    # `suppress export > /dev/full` (a full disk) ended in a traceback.
    assert run("suppress", "add", "+61412345678").exit_code == 0
    with Path("/dev/full").open("w") as full:
        export = _dialguard(run, "suppress", "export", stdout=full)
        assert export.wait(30) == 2
    assert export.stderr is not None
    said = export.stderr.read()
    assert said.count("\n") == 1 and "No space left on device" in said


@pytest.mark.parametrize("zone", ["Australia", "A" * 300])
def test_check_refuses_a_zone_the_file_system_rejects_in_one_line(run: Cli, zone: str) -> None:
    # A folder of the zone database, or a name too long for a file: an OSError out of
    # ZoneInfo, which `check` printed as a traceback.
    output = one_line(
        run("check", "0412345678", "--caller-id", "+61291234567", "--tenant", "acme",
            "--callee-timezone", zone)
    )  # fmt: skip
    assert "--callee-timezone" in output and "is not an IANA zone" in output
    assert len(output) < 200


def test_a_stderr_that_cannot_be_written_does_not_keep_the_process_alive(
    tmp_path: Path,
) -> None:
    # "created an empty one" failed on a closed stderr before the store was closed, and the
    # store's worker thread kept the process alive for ever.
    run = Cli(tmp_path)
    run.db.unlink()
    command = [sys.executable, "-m", "dialguard.cli", "--db", str(run.db), "--config"]
    child = subprocess.Popen(
        [*command, str(run.config), "suppress", "list"],
        stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, cwd=REPO,
    )  # fmt: skip
    try:
        assert child.stderr is not None
        child.stderr.close()  # the reader is gone before anything is written
        child.wait(30)  # raises TimeoutExpired if it hangs
    finally:
        child.kill()


TOO_LONG = "a" * 300  # longer than a file name may be (NAME_MAX 255): stat fails


@pytest.mark.parametrize(
    "args",
    [
        ["suppress", "import", TOO_LONG],
        ["registry", "import", TOO_LONG, "--registry", "au-dncr", "--as-of", "2026-01-01"],
        ["history", "import", TOO_LONG, "--tenant", "acme"],
        ["callerid", "import", TOO_LONG, "--tenant", "acme"],
        ["suppress", "import", "~no-such-user-of-dialguard/list.txt"],
    ],
)
def test_a_file_that_cannot_even_be_looked_up_is_one_line(run: Cli, args: list[str]) -> None:
    # Path.exists() raises for these (ENAMETOOLONG; EACCES on a folder that cannot be
    # entered; RuntimeError for ~user): each was a traceback with exit status 1.
    output = one_line(run(*args))
    assert ("File name too long" in output) or ("home directory" in output), output
    assert TOO_LONG not in output  # quoted shortened, not 300 characters


@pytest.mark.parametrize(
    ("db", "says"),
    [
        (f"{TOO_LONG}/dialguard.sqlite3", "cannot be reached: File name too long"),
        ("~no-such-user-of-dialguard/dialguard.sqlite3", "home directory"),
    ],
)
def test_a_database_path_that_cannot_even_be_looked_up_is_one_line(
    tmp_path: Path, db: str, says: str
) -> None:
    cli = Cli(tmp_path)
    result = CliRunner().invoke(cli_group, ["--db", db, "--config", str(cli.config), "log"])
    assert says in one_line(result)


@pytest.mark.parametrize(
    ("toml", "key"),
    [
        ('[ami]\nusername = "u"\nsecret = "s"\nreconnect_min_s = nan\n', "ami.reconnect_min_s"),
        ('[ami]\nusername = "u"\nsecret = "s"\nping_interval_s = inf\n', "ami.ping_interval_s"),
        ('[database]\npath = "~no-such-user-of-dialguard/x.sqlite3"\n', "database.path"),
        (
            '[ami]\nusername = "u"\nsecret_file = "~no-such-user-of-dialguard/secret"\n',
            "ami.secret_file",
        ),
        (
            '[[jurisdictions.US.states.FL.caps]]\nname = "same-subject"\nwindow_hours = nan\n',
            "jurisdictions.US.states.FL.caps.same-subject.window_hours: must be a positive",
        ),
    ],
)
def test_settings_that_cannot_be_used_are_named(tmp_path: Path, toml: str, key: str) -> None:
    path = tmp_path / "dialguard.toml"
    path.write_text(toml, encoding="utf-8")
    with pytest.raises(SettingsError) as raised:
        load_settings(path)
    assert key in str(raised.value)


@contextlib.contextmanager
def _read_only(path: Path) -> Iterator[None]:
    """Make `path` a file no one can write: immutable for root (who writes any mode), mode
    0444 for anyone else."""
    if os.geteuid() != 0:
        path.chmod(0o444)
        yield
        return
    if shutil.which("chattr") is None:
        pytest.skip("run as root without chattr: a file root cannot write cannot be made")
    if subprocess.run(["chattr", "+i", str(path)], capture_output=True).returncode != 0:
        pytest.skip("run as root on a file system without the immutable flag (chattr +i)")
    try:
        yield
    finally:
        subprocess.run(["chattr", "-i", str(path)], check=True)


def test_serve_refuses_a_database_it_cannot_write(run: Cli) -> None:
    # It served: the first calls were allowed with no audit record, then every call was
    # blocked (guard.error) once the records had waited 2 s, with only a warning logged.
    assert run("suppress", "list").exit_code == 0  # the schema is in place
    with _read_only(run.db):
        options = ["--db", str(run.db), "--config", str(run.config)]
        done = subprocess.run(
            [sys.executable, "-m", "dialguard.cli", *options, "serve", "--no-ami"],
            capture_output=True,
            text=True,
            timeout=30,
            cwd=REPO,
        )
    assert done.returncode == 2, done.stderr
    assert done.stderr.count("\n") == 1 and "Traceback" not in done.stderr
    assert "cannot be written" in done.stderr and "readonly" in done.stderr


@pytest.mark.parametrize(
    "setup",
    [
        "CREATE TABLE astdb (key VARCHAR(256), value VARCHAR(256))",  # Asterisk's own
        "PRAGMA user_version = -3",
        # Another application's versioned schema: switched to WAL before migrations refused it.
        "CREATE TABLE notes (body TEXT); PRAGMA user_version = 7",
        "CREATE TABLE notes (body TEXT); PRAGMA user_version = 2",
    ],
)
def test_another_application_s_sqlite_file_is_refused_and_left_as_it_was(
    run: Cli, setup: str
) -> None:
    with sqlite3.connect(run.db) as conn:
        conn.executescript(setup)
    before = run.db.read_bytes()
    output = one_line(run("suppress", "list"))
    assert "is not a dialguard database" in output
    assert run.db.read_bytes() == before  # not switched to WAL, no tables added


@pytest.mark.parametrize(
    ("toml", "says"),
    [
        ('[tenants.""]\nregion = "AU"\n', "tenants.'': a tenant's name may not be empty"),
        ('[tenants." acme"]\nregion = "AU"\n', "tenants.' acme': a tenant's name may not"),
        ('[agi]\nlisten = "[::1"\n', "agi.listen: '[::1' is not [IPv6]:PORT"),
        ('[agi]\nlisten = "[::1]4573"\n', "agi.listen: '[::1]4573' is not [IPv6]:PORT"),
    ],
)
def test_names_and_addresses_no_call_could_use_are_named(
    tmp_path: Path, toml: str, says: str
) -> None:
    path = tmp_path / "dialguard.toml"
    path.write_text(toml, encoding="utf-8")
    with pytest.raises(SettingsError, match=re.escape(says)):
        load_settings(path)


@pytest.mark.parametrize("subject", ["campaign:acme/", "campaign:/spring", "campaign: / "])
def test_a_campaign_subject_without_its_tenant_or_name_is_refused(run: Cli, subject: str) -> None:
    assert "must be" in one_line(run("suspend", subject, "--reason", "complaints"))
    assert run("suspensions", "--json").output.strip() == "[]"


def test_serve_refuses_no_ami_with_ami_options(run: Cli) -> None:
    output = one_line(run("serve", "--no-ami", "--ami-user", "dialguard"))
    assert "--no-ami cannot be given with" in output


LONG = "9" * 100_000


@pytest.mark.parametrize(
    "args",
    [
        ["log", "--number", LONG],
        ["consent", "add", LONG, "--tenant", "acme", "--kind", "express"],
        ["suspend", f"campaign{LONG}", "--reason", "r"],
        ["check", "0412345678", "--caller-id", "0291234567", "--at", LONG],
        ["suppress", "add", "+61412345678", "--expires", LONG],
        ["jurisdiction", "show", LONG],
        ["registry", "status", "--registry", LONG],
    ],
)
def test_a_huge_argument_is_not_repeated_whole_in_the_error(run: Cli, args: list[str]) -> None:
    output = one_line(run(*args))
    assert len(output) < 400, output[:200]


def test_a_named_pipe_given_as_a_file_is_refused_at_once(run: Cli, tmp_path: Path) -> None:
    fifo = tmp_path / "list.fifo"
    os.mkfifo(fifo)
    # In a child: the import used to wait for ever on a second open of the pipe.
    options = ["--db", str(run.db), "--config", str(run.config)]
    done = subprocess.run(
        [sys.executable, "-m", "dialguard.cli", *options, "suppress", "import", str(fifo)],
        capture_output=True,
        text=True,
        timeout=30,
        cwd=REPO,
    )
    assert done.returncode == 2 and done.stderr.count("\n") == 1
    assert "is a pipe or a device, not a file" in done.stderr


@pytest.mark.skipif(not Path("/proc/self/mem").exists(), reason="needs Linux's /proc")
def test_a_register_file_that_opens_and_cannot_be_read_is_named(run: Cli) -> None:
    # /proc/self/mem opens and fails every read (EIO): the import said "input/output
    # error" without naming the file.
    result = run("registry", "import", "/proc/self/mem", "--registry", "au-dncr")
    assert result.exit_code == 2
    assert one_line(result) == "dialguard: mem: cannot be read (Input/output error)\n"


def test_an_ami_secret_file_under_home_is_read_from_home(run: Cli, tmp_path: Path) -> None:
    # `--ami-secret-file=~/secret` reaches dialguard with its `~`: no shell expands it there.
    home = tmp_path / "home"
    home.mkdir()
    args = ["--db", str(run.db), "--config", str(run.config), "serve", "--ami", "127.0.0.1:1"]
    args += ["--ami-user", "dialguard", "--ami-secret-file=~/ami-secret"]
    result = CliRunner().invoke(cli_group, args, env={"HOME": str(home)})
    assert f"cannot read secret file {home / 'ami-secret'}" in one_line(result)


def test_a_database_path_in_a_symbolic_link_loop_is_named(tmp_path: Path) -> None:
    loop = tmp_path / "loop"
    loop.symlink_to(loop)
    path = tmp_path / "dialguard.toml"
    path.write_text(f'[database]\npath = "{loop}/dialguard.sqlite3"\n', encoding="utf-8")
    with pytest.raises(SettingsError, match=re.escape("database.path: ")):
        load_settings(path)


def test_a_tenant_s_campaign_may_hold_a_slash(run: Cli) -> None:
    # With --tenant, all after `campaign:` is the campaign's name, a `/` and all.
    result = run("suspend", "campaign:sale/", "--tenant", "acme", "--reason", "complaints")
    assert result.exit_code == 0, result.output
