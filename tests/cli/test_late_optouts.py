"""`dialguard suppress late`: opt-outs the guard received after the law's limit to honour
them (US: 10 business days), with the calls made after that limit."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from pathlib import Path

from tests.cli.conftest import Cli

US = '[tenants.acme]\nregion = "US"\n[tenants.beta]\nregion = "US"\n'
NUMBER = "+12255550123"
NOW = datetime.now(UTC)
# 60 days is late whatever the weekdays and holidays; 2 days never is.
LONG_AGO = NOW - timedelta(days=60)


def _day(at: datetime) -> str:
    return at.strftime("%Y-%m-%d")


def _history(run: Cli, tmp_path: Path, *calls: tuple[str, datetime]) -> None:
    path = tmp_path / "history.csv"
    lines = ["number,tenant,campaign,started_at,disposition,billsec"]
    lines += [f"{NUMBER},{tenant},winter,{at.isoformat()},ANSWERED,30" for tenant, at in calls]
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    assert run("history", "import", str(path)).exit_code == 0


def test_a_late_opt_out_is_listed_with_the_calls_after_its_limit(tmp_path: Path) -> None:
    run = Cli(tmp_path, US)
    _history(
        run,
        tmp_path,
        ("acme", LONG_AGO + timedelta(days=1)),  # within the limit: not counted
        ("acme", LONG_AGO + timedelta(days=30)),  # after it, before the guard held it
        ("acme", LONG_AGO + timedelta(days=40)),
        ("beta", LONG_AGO + timedelta(days=30)),  # another tenant's: its opt-out is acme's
    )
    added = run("suppress", "add", NUMBER, "--tenant", "acme", "--date", _day(LONG_AGO))
    assert added.exit_code == 0
    assert "recorded after the limit of 10 business days" in added.output
    on_time = run("suppress", "add", "+12255550124", "--date", _day(NOW - timedelta(days=2)))
    assert on_time.exit_code == 0 and "note:" not in on_time.output

    [late] = json.loads(run("suppress", "late", "--json").output)
    assert (late["number"], late["tenant"], late["limit"]) == (NUMBER, "acme", "10 business days")
    assert late["calls_after_deadline"] == 2
    assert late["days"] > 10 and "64.1200(d)(3)" in late["citation"]
    deadline = datetime.fromisoformat(late["deadline"])
    assert LONG_AGO + timedelta(days=1) < deadline < LONG_AGO + timedelta(days=30)

    assert json.loads(run("suppress", "late", "--json", "--tenant", "beta").output) == []
    since = _day(LONG_AGO + timedelta(days=1))
    assert json.loads(run("suppress", "late", "--json", "--since", since).output) == []
    assert run("suppress", "late").output.startswith(f"{NUMBER}\tacme\t")


def test_an_import_says_how_many_lines_came_late_and_ranges_and_other_laws_are_not_listed(
    tmp_path: Path,
) -> None:
    run = Cli(tmp_path, US)
    path = tmp_path / "optouts.csv"
    old = _day(LONG_AGO)
    path.write_text(
        f"number,requested_at\n{NUMBER},{old}\n+61412345678,{old}\n"
        f"+12255550124,{_day(NOW - timedelta(days=1))}\n",
        encoding="utf-8",
    )
    imported = run("suppress", "import", str(path))
    assert imported.exit_code == 0, imported.output
    assert "note: 1 of the entries" in imported.output
    assert run("suppress", "add", "+1 900*").exit_code == 0
    assert [d["number"] for d in json.loads(run("suppress", "late", "--json").output)] == [NUMBER]


def test_nothing_late_says_so(run: Cli) -> None:
    result = run("suppress", "late")
    assert result.exit_code == 0 and "no opt-out was recorded after its limit" in result.output
