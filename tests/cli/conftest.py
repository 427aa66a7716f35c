"""`dialguard` as an operator runs it: a settings file and a fresh SQLite file per test."""

from __future__ import annotations

import json
import sqlite3
from pathlib import Path

import pytest
from click.testing import CliRunner, Result

import dialguard.cli  # noqa: F401  (registers the commands)
from dialguard.cli.app import cli

AU_TENANT = '[tenants.acme]\nregion = "AU"\n'
CALLER_ID = "+61291234567"


class Cli:
    """Runs `dialguard --db DB --config CONFIG ...`; `settings` is the TOML text."""

    def __init__(self, tmp_path: Path, settings: str = AU_TENANT) -> None:
        self.config = tmp_path / "dialguard.toml"
        self.config.write_text(settings, encoding="utf-8")
        self.db = tmp_path / "dialguard.sqlite3"
        # The operator's database exists (`serve` made it): commands on a missing one say so.
        sqlite3.connect(self.db).close()

    def __call__(self, *args: str) -> Result:
        return CliRunner().invoke(cli, ["--db", str(self.db), "--config", str(self.config), *args])

    def check(
        self, number: str, at: str, *extra: str, caller_id: str = CALLER_ID
    ) -> dict[str, object]:
        """`check --json` for tenant acme; the exit status must match the verdict."""
        result = self(
            "check",
            number,
            "--caller-id",
            caller_id,
            "--tenant",
            "acme",
            "--at",
            at,
            "--json",
            *extra,
        )
        assert result.exit_code in (0, 1), result.output
        decision: dict[str, object] = json.loads(result.output)
        assert result.exit_code == (0 if decision["verdict"] == "allow" else 1)
        return decision

    def findings(self, number: str, at: str, family: str) -> list[dict[str, object]]:
        """The findings of one rule family in the decision `check` takes."""
        findings = self.check(number, at)["findings"]
        assert isinstance(findings, list)
        return [f for f in findings if str(f["rule"]).startswith(f"{family}.")]


@pytest.fixture(name="run")
def _run(tmp_path: Path) -> Cli:
    return Cli(tmp_path)
