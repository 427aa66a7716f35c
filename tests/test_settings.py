"""dialguard.toml: defaults, overrides, and one line naming every bad key."""

from __future__ import annotations

from datetime import date
from pathlib import Path

import pytest

from dialguard.settings import SettingsError, load_settings, parse_host_port
from rules.facts import ConsentKind
from rules.models import Verdict

REPO = Path(__file__).resolve().parents[1]


def _write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "dialguard.toml"
    path.write_text(text, encoding="utf-8")
    return path


def test_without_a_file_the_guard_blocks_on_failure_within_250_ms() -> None:
    settings = load_settings(None, db="/tmp/x.sqlite3")

    assert settings.policy.on_failure is Verdict.BLOCK
    assert settings.policy.deadline_ms == 250
    assert (settings.agi_host, settings.agi_port) == ("127.0.0.1", 4573)
    assert settings.ami is None
    assert settings.event_loop == "auto"
    assert settings.keep_history_days == 0  # history is kept for ever unless asked
    assert str(settings.db_path) == "/tmp/x.sqlite3"


def test_the_shipped_sample_settings_load() -> None:
    settings = load_settings(REPO / "asterisk-conf" / "dialguard.toml")

    assert settings.policy.region_for("acme") == "AU"
    assert settings.ami is not None and settings.ami.username == "dialguard"
    assert settings.ami.secret_file == Path("/etc/dialguard/ami-secret")


def test_every_bad_key_is_named_in_one_message(tmp_path: Path) -> None:
    path = _write(
        tmp_path,
        '[guard]\non_failure = "maybe"\ndeadline_ms = 0\nbogus = 1\n'
        '[tenants.x]\nregion = "ZZ"\n[agi]\nlisten = "127.0.0.1:99999"\nevent_loop = "trio"\n'
        '[ami]\nusername = "u"\ncdr_timezone = "Mars/Olympus"\n[nonsense]\n',
    )

    with pytest.raises(SettingsError) as caught:
        load_settings(path)

    message = str(caught.value)
    assert "\n" not in message
    for key in (
        "guard.on_failure",
        "guard.deadline_ms",
        "guard.bogus",
        "tenants.x.region",
        "agi.listen",
        "agi.event_loop",
        "ami.cdr_timezone",
        "nonsense",
    ):
        assert key in message


@pytest.mark.parametrize(("days", "accepted"), [(0, True), (62, True), (61, False), (1, False)])
def test_history_is_kept_at_least_as_long_as_frequency_caps_look_back(
    tmp_path: Path, days: int, accepted: bool
) -> None:
    # Attempts are read 61 days back (ATTEMPT_LOOKBACK); a day's margin on top.
    path = _write(tmp_path, f"[database]\nkeep_history_days = {days}\n")
    if accepted:
        assert load_settings(path).keep_history_days == days
    else:
        with pytest.raises(SettingsError, match=r"database\.keep_history_days: .*at least 62"):
            load_settings(path)


def test_history_is_kept_at_least_as_long_as_an_enabled_detector_looks_back(
    tmp_path: Path,
) -> None:
    window = "[detectors.abandoned_rate]\nus_window_days = 365\n"
    path = _write(tmp_path, f"[database]\nkeep_history_days = 100\n{window}")
    with pytest.raises(SettingsError, match=r"at least 366, as detectors\.abandoned_rate"):
        load_settings(path)
    # A detector that is off reads nothing.
    _write(tmp_path, f"[database]\nkeep_history_days = 100\n{window}enabled = false\n")
    assert load_settings(path).keep_history_days == 100


def test_malformed_toml_names_the_file(tmp_path: Path) -> None:
    path = _write(tmp_path, "[guard\n")

    with pytest.raises(SettingsError, match="not valid TOML"):
        load_settings(path)


def test_a_missing_file_is_named(tmp_path: Path) -> None:
    with pytest.raises(SettingsError, match="does not exist"):
        load_settings(tmp_path / "nope.toml")


def test_the_ami_secret_comes_from_its_file_at_start_up(tmp_path: Path) -> None:
    (tmp_path / "secret").write_text("s3cret\n", encoding="utf-8")
    path = _write(tmp_path, '[ami]\nusername = "dialguard"\nsecret_file = "secret"\n')

    ami = load_settings(path).ami

    assert ami is not None and ami.resolve_secret() == "s3cret"
    assert "s3cret" not in repr(ami)


def test_a_relative_database_path_is_read_beside_the_settings_file(tmp_path: Path) -> None:
    path = _write(tmp_path, '[database]\npath = "data/dg.sqlite3"\n')

    assert load_settings(path).db_path == tmp_path / "data" / "dg.sqlite3"


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("127.0.0.1:4573", ("127.0.0.1", 4573)),
        ("0.0.0.0", ("0.0.0.0", 4573)),
        ("[::1]:5000", ("::1", 5000)),
        (":4000", ("127.0.0.1", 4000)),
    ],
)
def test_listen_addresses(text: str, expected: tuple[str, int]) -> None:
    assert parse_host_port(text, 4573) == expected


def test_a_register_max_age_of_zero_is_refused_not_read_as_no_limit(tmp_path: Path) -> None:
    # Read as "no limit", a copy years old went on counting as fresh.
    path = _write(tmp_path, "[registers.au-dncr]\nmax_age_days = 0\n")
    with pytest.raises(SettingsError, match=r"registers\.au-dncr\.max_age_days"):
        load_settings(path)
    shortened = load_settings(_write(tmp_path, "[registers.au-dncr]\nmax_age_days = 7\n"))
    assert shortened.policy.registers["au-dncr"].max_age_days == 7


def test_bloctel_s_end_date_is_a_setting(tmp_path: Path) -> None:
    # The date France's opt-in replaces Bloctel is [U] (11 or 1 August 2026); with the
    # opt-in moved later by an override, Bloctel-listed numbers were callable in between.
    later = load_settings(_write(tmp_path, "[registers.fr-bloctel]\nbinds_until = 2026-09-30\n"))
    assert later.policy.registers["fr-bloctel"].binds_until == date(2026, 9, 30)
    never = load_settings(_write(tmp_path, "[registers.fr-bloctel]\nbinds_until = false\n"))
    assert never.policy.registers["fr-bloctel"].binds_until is None
    for bad in ('"2026-09-30"', "2026-09-30T00:00:00", "true"):
        path = _write(tmp_path, f"[registers.fr-bloctel]\nbinds_until = {bad}\n")
        with pytest.raises(SettingsError, match=r"registers\.fr-bloctel\.binds_until: must be"):
            load_settings(path)


def test_a_register_s_exemptions_are_a_setting(tmp_path: Path) -> None:
    # The shipped table is code, some of it [U] (Belgium's express consent): an operator
    # whose lawyer reads it otherwise could not change it.
    path = _write(tmp_path, "[registers.be-dncm]\nexemptions = { contract = 12 }\n")
    spec = load_settings(path).policy.registers["be-dncm"]
    assert spec.exemptions == ((ConsentKind.CONTRACT, 12),)
    closed = load_settings(_write(tmp_path, "[registers.be-dncm]\nexemptions = {}\n"))
    assert closed.policy.registers["be-dncm"].exemptions == ()
    for bad, problem in (
        ("{ contract = 0 }", "exemptions.contract: must be true, or a number of months"),
        ("{ friendship = true }", "exemptions.friendship: not a consent kind"),
        ('"express"', "exemptions: must be a table"),
    ):
        path = _write(tmp_path, f"[registers.be-dncm]\nexemptions = {bad}\n")
        with pytest.raises(SettingsError, match=problem):
            load_settings(path)


@pytest.mark.parametrize("value", ["4573", '["a"]', "true"])
def test_a_listen_address_that_is_not_a_string_is_named(tmp_path: Path, value: str) -> None:
    # `listen = 4573` loaded as host "4573": serve then said it could not listen on 4573:4573.
    with pytest.raises(SettingsError, match=r"agi\.listen: must be a string"):
        load_settings(_write(tmp_path, f"[agi]\nlisten = {value}\n"))


def test_a_disabled_ami_table_is_still_checked_and_keeps_its_cdr_timezone(
    tmp_path: Path,
) -> None:
    path = _write(tmp_path, '[ami]\nenabled = false\ncdr_timezone = "Australia/Perth"\n')
    settings = load_settings(path)
    assert settings.ami is None  # no listener, and no username needed for that
    assert settings.cdr_timezone == "Australia/Perth"
    _write(tmp_path, '[ami]\nenabled = false\nport = "5038"\ncdr_timezone = "Mars/Olympus"\n')
    with pytest.raises(SettingsError) as caught:
        load_settings(path)
    assert "ami.port" in str(caught.value) and "ami.cdr_timezone" in str(caught.value)
