"""`dialguard jurisdiction show`: an operator reads a pack, with its sources and overrides;
and `check` decides per jurisdiction end to end."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

import dialguard.cli
import dialguard.cli.jurisdiction  # noqa: F401  (until it is registered in dialguard.cli)
from rules.jurisdictions import from_settings
from tests.cli.conftest import AU_TENANT, Cli

CID = "+61291234567"


def _cli(tmp_path: Path, extra: str = "") -> Cli:
    return Cli(tmp_path, '[guard]\nregister_missing = "allow"\n\n' + AU_TENANT + extra)


def test_show_prints_every_rule_with_its_source_and_unverified_marks(tmp_path: Path) -> None:
    result = _cli(tmp_path)("jurisdiction", "show", "US")
    assert result.exit_code == 0, result.output
    assert "hours solicitation [charity, telemarketing]" in result.output
    assert "source: 47 CFR 64.1200(c)(1)" in result.output
    assert "US-TX: Texas" in result.output
    assert "[unverified]" in result.output


def test_show_json_of_a_state(tmp_path: Path) -> None:
    result = _cli(tmp_path)("jurisdiction", "show", "US-FL", "--json")
    assert result.exit_code == 0, result.output
    pack = json.loads(result.output)
    assert pack["hours"][0]["days"]["mon"] == [["08:00", "20:00"]]
    assert pack["caps"][0]["limit"] == 3
    assert pack["caps"][0]["citation"].startswith("Fla. Stat. 501.616(6)(b)")
    assert pack["hours"][0]["standard_time"] is None


def test_show_names_the_places_a_blackout_of_a_place_also_holds(tmp_path: Path) -> None:
    # An operator declaring a blackout could not see which codes are one place and which
    # places hold others (the pack's same_places and parts).
    cli = _cli(tmp_path)
    text = cli("jurisdiction", "show", "FR").output
    assert "codes of the same place: " in text and "FR-974 = FR-LRE, FR-RE" in text
    assert "places within places: " in text and "FR-6AE: FR-67, FR-68" in text
    location = json.loads(cli("jurisdiction", "show", "ES", "--json").output)["location"]
    assert location["parts"]["ES-CT"] == ["ES-B", "ES-GI", "ES-L", "ES-T"]
    assert location["same_places"] == {}


def test_show_says_a_window_is_read_on_the_law_s_standard_time(tmp_path: Path) -> None:
    cli = _cli(tmp_path)
    assert "also read at UTC-06:00" in cli("jurisdiction", "show", "US-MS").output
    pack = json.loads(cli("jurisdiction", "show", "US-MS", "--json").output)
    assert pack["hours"][0]["standard_time"] == "-06:00"


def test_show_says_a_cap_counts_calendar_days_and_a_consent_lapses(tmp_path: Path) -> None:
    # Both are read by the guard; `show` said "per 720 h" and nothing of the 730 days.
    cli = _cli(tmp_path)
    assert "at most 4 calls per 30 calendar days on the callee's clock" in (
        cli("jurisdiction", "show", "FR").output
    )
    assert "express lapses after 730 days" in cli("jurisdiction", "show", "ES").output
    gb = cli("jurisdiction", "show", "GB").output
    assert "consent reg-19-automated [charity, political, telemarketing]: opt-in of automated" in gb
    assert (
        "no call for 24 h after an answering-machine verdict, per number, a person's call"
        " (no campaign) exempt" in gb
    )


def test_an_unknown_pack_is_an_input_error(tmp_path: Path) -> None:
    result = _cli(tmp_path)("jurisdiction", "show", "ZZ")
    assert result.exit_code == 2 and "no jurisdiction pack 'ZZ'" in result.output


OVERRIDE = """
[jurisdictions.US.states.TX]
hours = [{ name = "solicitation", days = { sun = [["13:00", "21:00"]] } }]

[jurisdictions.US.states.NV]
name = "Nevada override"

[[jurisdictions.US.states.FL.caps]]
name = "same-subject"
limit = 2

[[jurisdictions.AU.holidays]]
name = "state-substitute"
remove = true
"""


def test_overrides_change_a_window_a_cap_and_remove_a_rule(tmp_path: Path) -> None:
    run = _cli(tmp_path, OVERRIDE)
    tx = json.loads(run("jurisdiction", "show", "US-TX", "--json").output)
    assert tx["hours"][0]["days"]["sun"] == [["13:00", "21:00"]]
    assert tx["hours"][0]["days"]["mon"] == [["09:00", "21:00"]]  # untouched fields stay
    fl = json.loads(run("jurisdiction", "show", "US-FL", "--json").output)
    assert fl["caps"][0]["limit"] == 2
    au = json.loads(run("jurisdiction", "show", "AU", "--json").output)
    assert [h["name"] for h in au["holidays"]] == ["national"]
    assert run("callerid", "add", CID, "--tenant", "acme").exit_code == 0
    sunday_1230 = "2026-06-14T17:30:00Z"  # 12:30 in Dallas
    result = run(
        "check",
        "+12145550100",
        "--caller-id",
        CID,
        "--tenant",
        "acme",
        "--at",
        sunday_1230,
        "--json",
    )
    assert json.loads(result.output)["rule"] == "hours.us-tx-solicitation"


@pytest.mark.parametrize(
    ("raw", "key"),
    [
        (
            {
                "US": {
                    "states": {"TX": {"hours": [{"name": "solicitation", "days": {"sunday": []}}]}}
                }
            },
            "jurisdictions.US.states.TX.hours.solicitation.days.sunday",
        ),
        (
            {"US": {"states": {"FL": {"caps": [{"name": "same-subject", "limit": 0}]}}}},
            "jurisdictions.US.states.FL.caps.same-subject.limit",
        ),
        (  # longer than the 61 days of attempts the guard reads: it would count too few
            {"US": {"states": {"FL": {"caps": [{"name": "same-subject", "window_hours": 1465}]}}}},
            "jurisdictions.US.states.FL.caps.same-subject.window_hours",
        ),
        (
            {
                "FR": {
                    "caps": [
                        {
                            "name": "new",
                            "purposes": ["telemarketing"],
                            "window_hours": 5,
                            "limit": 1,
                        }
                    ]
                }
            },
            "jurisdictions.FR.caps.new.citation",
        ),
        ({"ZZ": {"hours": []}}, "jurisdictions.ZZ"),
        (
            {"AU": {"location": {"prefixes": {"75536x": {"regions": [], "timezones": []}}}}},
            "jurisdictions.AU.location.prefixes.75536x",
        ),
        (
            {"AU": {"location": {"prefixes": {"1" * 11: {"regions": [], "timezones": []}}}}},
            f"jurisdictions.AU.location.prefixes.{'1' * 11}",
        ),
        ({"DE": {"colour": "red"}}, "jurisdictions.DE.colour"),
        (
            {"ES": {"consent": [{"name": "opt-in-2023", "since": "2023-06-29"}]}},
            "jurisdictions.ES.consent.opt-in-2023.since",
        ),
        # Codes the holiday calendar does not know raised on every call they covered, and a
        # misspelt number type turned an opt-in regime off: refused at load.
        (
            {
                "US": {
                    "states": {
                        "AL": {"holidays": [{"name": "state-holidays", "subdivision": "Al"}]}
                    }
                }
            },
            "jurisdictions.US.states.AL.holidays.state-holidays.subdivision",
        ),
        (
            {"ES": {"holidays": [{"name": "festivos", "when_unknown": ["CAT"]}]}},
            "jurisdictions.ES.holidays.festivos.when_unknown",
        ),
        (
            {"FR": {"holidays": [{"name": "jours-feries", "aliases": {"FR-57": "Lorraine"}}]}},
            "jurisdictions.FR.holidays.jours-feries.aliases",
        ),
        (  # the library's own alias of 57: the rules read codes, so it matched nothing
            {"FR": {"holidays": [{"name": "jours-feries", "aliases": {"FR-57": "Moselle"}}]}},
            "jurisdictions.FR.holidays.jours-feries.aliases",
        ),
        (
            {"IE": {"consent": [{"name": "mobile-opt-in", "number_types": ["mobiles"]}]}},
            "jurisdictions.IE.consent.mobile-opt-in.number_types",
        ),
    ],
)
def test_every_bad_override_key_is_named(raw: dict[str, object], key: str) -> None:
    _, errors = from_settings(raw)
    assert any(error.startswith(key) for error in errors), errors


def test_a_bad_override_is_a_one_line_input_error_on_any_command(tmp_path: Path) -> None:
    run = Cli(
        tmp_path,
        '\n[jurisdictions.US.states.FL]\ncaps = [{ name = "same-subject", window_hours = -1 }]\n',
    )
    result = run("jurisdiction", "show", "US")
    assert result.exit_code == 2
    assert "jurisdictions.US.states.FL.caps.same-subject.window_hours" in result.output


@pytest.mark.parametrize(
    ("number", "at", "expected"),
    [
        ("+12125550100", "2026-06-11T00:59:59Z", None),  # 20:59:59 New York
        ("+12125550100", "2026-06-11T01:00:00Z", "hours.us-solicitation"),  # 21:00:00
        ("+13055550100", "2026-06-11T00:00:00Z", "hours.us-fl-solicitation"),  # 20:00 Miami
        ("+14015550100", "2026-11-26T16:00:00Z", "holiday.us-ri-state-holidays"),  # Thanksgiving
        ("+33145678901", "2026-07-14T09:00:00Z", "holiday.fr-jours-feries"),
        ("+33145678901", "2026-06-10T11:30:00Z", "hours.fr-prospection"),  # 13:30 Paris
        ("+34912345678", "2026-06-14T09:00:00Z", "hours.es-commercial"),  # Sunday
        ("+493012345678", "2026-06-10T09:00:00Z", "consent.de-opt-in"),
        ("+61298765432", "2026-12-26T00:00:00Z", "holiday.au-national"),
    ],
)
def test_check_decides_each_jurisdiction(
    tmp_path: Path, number: str, at: str, expected: str | None
) -> None:
    run = _cli(tmp_path)
    # France requires an ARCEP canvassing range as caller ID; Spain is opt-in, so the
    # callee has consented and the window is what remains to decide.
    cid = "+33162123456" if number.startswith("+33") else CID
    assert run("callerid", "add", cid, "--tenant", "acme").exit_code == 0
    if number.startswith("+34"):
        added = run(
            "consent",
            "add",
            number,
            "--tenant",
            "acme",
            "--kind",
            "express",
            "--date",
            "2026-01-01",
        )
        assert added.exit_code == 0, added.output
    result = run("check", number, "--caller-id", cid, "--tenant", "acme", "--at", at, "--json")
    decision = json.loads(result.output)
    assert decision["rule"] == expected, decision["reason"]
    assert result.exit_code == (0 if expected is None else 1)


def test_the_override_example_in_the_docs_is_valid() -> None:
    import tomllib

    doc = (Path(__file__).resolve().parents[2] / "docs" / "jurisdictions.md").read_text()
    example = doc.split("```toml")[1].split("```")[0]
    policy, errors = from_settings(tomllib.loads(example)["jurisdictions"])
    assert errors == []
    assert policy.packs["US"].states["NE"].hours[0].days["sun"] == ((13 * 3600, 21 * 3600),)
    [wireless] = [r for r in policy.packs["US"].consent if r.name == "tcpa-wireless"]
    assert wireless.number_types == {"mobile", "pager", "personal_number"}
    assert "PT" in policy.packs


def test_check_reads_an_automated_call_and_the_loader_its_regimes(tmp_path: Path) -> None:
    # `--automated` is DIALGUARD_AUTOMATED=yes: a US robocall needs written consent.
    run = Cli(tmp_path)
    at = "2026-06-10T16:00:00Z"
    robocall = run.check("+12125550123", at, "--automated")
    live = run.check("+12125550123", at)
    rule = "consent.us-tcpa-prerecorded"
    assert [f["verdict"] for f in robocall["findings"] if f["rule"] == rule] == ["block"]  # type: ignore[index, union-attr]
    assert all(f["rule"] != rule for f in live["findings"])  # type: ignore[index, union-attr]
    _, errors = from_settings(
        {"GB": {"consent": [{"name": "reg-19-automated", "automated": "yes"}]}}
    )
    assert errors == ["jurisdictions.GB.consent.reg-19-automated.automated: must be true or false"]
    _, errors = from_settings(
        {"US": {"consent": [{"name": "tcpa-wireless", "number_types": ["mobile", "mobiles"]}]}}
    )
    assert len(errors) == 1 and errors[0].endswith("('mobiles' is not one)"), errors


def test_an_override_can_take_toll_free_numbers_out_of_the_mobile_rule(tmp_path: Path) -> None:
    # The documented override for an operator whose informational robocalls go to
    # businesses' toll-free lines: the rule keeps holding mobiles.
    override = (
        '[guard]\nregister_missing = "allow"\n'
        "[[jurisdictions.US.consent]]\n"
        'name = "tcpa-wireless"\n'
        'number_types = ["mobile", "pager", "personal_number"]\n'
    )
    at = "2026-06-10T16:00:00Z"
    robocall = ("--automated", "--purpose", "informational")
    rule = "consent.us-tcpa-wireless"
    (tmp_path / "shipped").mkdir()
    (tmp_path / "narrowed").mkdir()
    shipped = Cli(tmp_path / "shipped", '[guard]\nregister_missing = "allow"\n')
    narrowed = Cli(tmp_path / "narrowed", override)
    cid = "+13125550100"
    for run in (shipped, narrowed):
        assert run("callerid", "add", cid, "--tenant", "acme").exit_code == 0
    assert shipped.check("+18005550100", at, *robocall, caller_id=cid)["rule"] == rule
    assert narrowed.check("+18005550100", at, *robocall, caller_id=cid)["verdict"] == "allow"
    assert narrowed.check("+12125550123", at, *robocall, caller_id=cid)["rule"] == rule
    text = narrowed(
        "check", "+12125550123", "--caller-id", cid, "--tenant", "acme", "--at", at,
        *robocall, "--line-type", "cell",
    )  # fmt: skip
    assert "\n  line type: mobile (as the call says)\n" in text.output
