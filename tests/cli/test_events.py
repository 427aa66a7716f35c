"""`dialguard events`: the audit trail, each change with who made it."""

from __future__ import annotations

import getpass
import json

import pytest

from tests.cli.conftest import Cli


def _events(run: Cli, *args: str) -> list[dict[str, object]]:
    result = run("events", "--json", *args)
    assert result.exit_code == 0, result.output
    return json.loads(result.output)  # type: ignore[no-any-return]


def test_each_change_names_its_operator(run: Cli, monkeypatch: pytest.MonkeyPatch) -> None:
    assert run("--operator", "alice", "suppress", "add", "+61412345678").exit_code == 0
    monkeypatch.setenv("DIALGUARD_OPERATOR", "bob")
    assert run("suppress", "remove", "+61412345678").exit_code == 0
    monkeypatch.delenv("DIALGUARD_OPERATOR")
    monkeypatch.setenv("SUDO_USER", "carol")  # `sudo dialguard ...` run by carol
    assert run("blackout", "add", "AU-QLD", "--reason", "cyclone").exit_code == 0

    login = getpass.getuser()
    trail = [(e["actor"], e["kind"]) for e in _events(run)]
    assert trail == [
        (f"cli:alice (login {login})", "suppression.add"),  # a name given, beside the login
        (f"cli:bob (login {login})", "suppression.remove"),
        ("cli:carol", "blackout.add"),
    ]
    assert [e["kind"] for e in _events(run, "--kind", "suppression")] == [
        "suppression.add",
        "suppression.remove",
    ]
    assert [e["kind"] for e in _events(run, "--actor", "cli:carol")] == ["blackout.add"]
    assert [e["kind"] for e in _events(run, "--limit", "1")] == ["blackout.add"]
    assert _events(run, "--since", "2999-01-01") == []
    plain = run("events").output.splitlines()
    assert len(plain) == 3 and f"\tcli:alice (login {login})\tsuppression.add\t" in plain[0]


def test_an_empty_operator_is_refused_in_one_line(run: Cli) -> None:
    result = run("--operator", " ", "suppress", "add", "+61412345678")
    assert result.exit_code == 2 and "--operator: give a name on one line" in result.output
