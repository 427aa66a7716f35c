"""`dialguard scrub`: a lead list decided as the AGI route would decide each call, recording
nothing: how many numbers a campaign could call at one instant, and why the others would be
blocked (the "wash" scrub services sell, against this guard's own lists and rules).

The list is read as it streams, and every number is decided at the same instant (`--at`,
default now) against the store as it is: the list's own numbers are not calls, so they count
toward no cap, as `check` records nothing. `--out` writes every line's verdict as CSV (to a
file beside it first, renamed into place once complete, so a failed run leaves no half
report).
"""

from __future__ import annotations

import asyncio
import contextlib
import csv
import os
import sys
from collections import Counter
from collections.abc import Iterator
from dataclasses import replace
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, TextIO

import click

from dialguard.cli.app import (
    AppContext,
    cli,
    emit_json,
    fail,
    is_terminal,
    parse_when,
    pass_app,
    readable_file,
)
from dialguard.cli.check import call_options, callee_address_problems
from dialguard.cli.listfile import number_records
from dialguard.guard import Guard, dry_run_guard
from dialguard.store import Store
from rules.models import (
    CallAttempt,
    Decision,
    LineType,
    Purpose,
    automated_at_strictest,
    automated_from_text,
    line_type_from_text,
    purpose_from_text,
)
from rules.numbers import is_emergency, shorten

# A line's own call settings (the options give them to lines without).
CALL_COLUMNS = ("tenant", "campaign", "purpose", "caller_id", "automated", "line_type")
SCRUB_COLUMNS = frozenset({"number", "callee_timezone", "callee_region", *CALL_COLUMNS})
# The event loop gets a turn every so many lines: the reads are synchronous, and without one
# a Ctrl-C waited for the end of the list.
YIELD_EVERY = 256
OUT_COLUMNS = ["line", "number", "e164", "verdict", "rule", "reason"]
MAX_REJECTS_SHOWN = 10


@cli.command()
@click.argument("file")
@call_options
@click.option("--at", "at_text", default=None, help="Decision clock, ISO-8601 (default: now).")
@click.option(
    "--out",
    "out",
    default=None,
    help="Write every line's verdict, rule and reason as CSV to this file (- for stdout).",
)
@click.option("--json", "as_json", is_flag=True, help="Print the counts as JSON.")
@pass_app
def scrub(
    app: AppContext,
    file: str,
    caller_id: str,
    tenant: str,
    campaign: str | None,
    purpose: str,
    automated: bool,
    line_type: LineType | None,
    at_text: str | None,
    out: str | None,
    as_json: bool,
) -> None:
    """Decide every number of FILE as the AGI route would, at one instant, recording nothing:
    how many could be called, and what blocks the others. FILE: one number per line, or a CSV
    whose header names `number` and optionally `callee_timezone`, `callee_region`, and a
    line's own `tenant`, `campaign`, `purpose`, `caller_id`, `automated`, `line_type` (the
    options give them to lines without; other columns are not read, and named); gzip or a
    zip holding one file. Exit 0 whatever the verdicts."""
    path = readable_file(file)
    if out == "-" and as_json:
        fail("--out - and --json both want stdout: give --out a file")
    out_path = _out_path(out, path) if out not in (None, "-") else None
    at = parse_when(at_text, "--at") or datetime.now(UTC)
    template = CallAttempt(
        destination="",
        caller_id=caller_id,
        at=at,
        tenant=tenant,
        campaign=campaign,
        purpose=Purpose(purpose),
        automated=automated,
        line_type=line_type,
    )
    report = Report()
    with _csv_out(out, out_path) as rows:

        async def body(store: Store) -> None:
            guard = dry_run_guard(store, app.settings.policy)
            records = number_records(path, SCRUB_COLUMNS, ignored=report.ignored_columns)
            with _progress() as advance:
                for line_no, fields in records:
                    result = await _decided(guard, template, fields)
                    number = fields.get("number", "")
                    report.add(line_no, number, result)
                    if rows is not None:
                        rows.writerow(_row(line_no, number, result))
                    advance()
                    if report.lines % YIELD_EVERY == 0:
                        await asyncio.sleep(0)
            if report.lines == 0:  # before --out replaces a file with a bare header
                fail(f"{file}: no numbers found")

        app.run(body)
    summary = report.as_dict(str(path), at, out)
    if as_json:
        emit_json(summary)
        return
    _print(summary, err=out == "-")


# -- deciding ------------------------------------------------------------------------------


async def _decided(guard: Guard, template: CallAttempt, fields: dict[str, str]) -> Decision | str:
    """The decision for one line, or what is wrong with its address (the AGI route blocks
    such a call as bad input, and `check` refuses it: here the line is reported)."""
    number = fields.get("number", "")
    if not number:
        return "has no number"
    try:
        call = _line_call(template, fields)
    except ValueError as exc:
        # As the AGI route: a call to an emergency number needs nothing else (a person's is
        # allowed, any mark but an explicit no makes it automated and blocked).
        call = _provisional_call(template, fields)
        if not is_emergency(number, guard.policy.region_for(call.tenant)):
            return str(exc)
        return await guard.evaluate(replace(call, destination=number))
    zone = fields.get("callee_timezone") or None
    region = fields.get("callee_region") or None
    problems = callee_address_problems(
        number, call.tenant, zone, region, guard.policy, "callee_timezone", "callee_region"
    )
    if problems:
        return "; ".join(problems)
    attempt = replace(call, destination=number, callee_timezone=zone, callee_region=region)
    return await guard.evaluate(attempt)


def _provisional_call(template: CallAttempt, fields: dict[str, str]) -> CallAttempt:
    """A line whose settings cannot all be read, as the AGI route's provisional attempt."""
    mark = fields.get("automated", "")
    return replace(
        template,
        tenant=fields.get("tenant", "").strip() or template.tenant,
        campaign=fields.get("campaign", "").strip() or template.campaign,
        automated=automated_at_strictest(mark) if mark.strip() else template.automated,
    )


def _line_call(template: CallAttempt, fields: dict[str, str]) -> CallAttempt:
    """The options' call, with what the line's own columns say instead (an empty cell says
    nothing). Read as the AGI route reads the channel's variables."""
    given = {name: fields[name].strip() for name in CALL_COLUMNS if fields.get(name, "").strip()}
    if not given:
        return template
    return replace(
        template,
        tenant=given.get("tenant", template.tenant),
        campaign=given.get("campaign", template.campaign),
        purpose=(purpose_from_text(given["purpose"]) if "purpose" in given else template.purpose),
        caller_id=given.get("caller_id", template.caller_id),
        automated=(
            automated_from_text(given["automated"]) if "automated" in given else template.automated
        ),
        line_type=(
            line_type_from_text(given["line_type"]) if "line_type" in given else template.line_type
        ),
    )


class Report:
    """Counts by verdict and by deciding rule, and the first rejected lines."""

    def __init__(self) -> None:
        self.lines = 0
        self.allowed = 0
        self.blocked_by: Counter[str] = Counter()
        self.unverified = 0  # decided on a rule built on an unverified figure
        self.rejected = 0
        self.rejects: list[tuple[int, str]] = []
        self.ignored_columns: list[str] = []  # a lead list's other columns (name, address...)

    def add(self, line_no: int, number: str, result: Decision | str) -> None:
        self.lines += 1
        if isinstance(result, str):
            self.rejected += 1
            if len(self.rejects) < MAX_REJECTS_SHOWN:
                self.rejects.append((line_no, f"{shorten(number)}: {result}" if number else result))
        elif result.allowed:
            self.allowed += 1
        else:
            self.blocked_by[result.rule or "(none)"] += 1
            deciding = next((f for f in result.findings if f.rule == result.rule), None)
            self.unverified += deciding is not None and deciding.unverified

    def as_dict(self, file: str, at: datetime, out: str | None) -> dict[str, Any]:
        return {
            "file": file,
            "at": at.isoformat(),
            "numbers": self.lines - self.rejected,
            "allowed": self.allowed,
            "blocked": sum(self.blocked_by.values()),
            "blocked_by": dict(self.blocked_by.most_common()),
            "blocked_on_unverified_figures": self.unverified,
            "rejected": self.rejected,
            "rejects": [{"line": n, "problem": p} for n, p in self.rejects],
            "ignored_columns": self.ignored_columns,
            "out": out,
        }


def _row(line_no: int, number: str, result: Decision | str) -> list[object]:
    if isinstance(result, str):
        return [line_no, number, "", "rejected", "", result]
    return [
        line_no,
        number,
        result.number or "",
        result.verdict.value,
        result.rule or "",
        result.reason,
    ]


# -- output ------------------------------------------------------------------------------


def _out_path(out: str, source: Path) -> Path:
    if not out.strip():
        fail("--out: give a file name, or - for stdout")
    path = Path(out).expanduser()
    if path.exists() and path.resolve() == source.resolve():
        fail(f"--out {shorten(out)}: is the list being scrubbed")
    if path.is_dir():
        fail(f"--out {shorten(out)}: is a directory")
    if not path.parent.is_dir():
        fail(f"--out {shorten(out)}: its folder does not exist")
    return path


@contextlib.contextmanager
def _csv_out(out: str | None, path: Path | None) -> Iterator[Any]:
    """A csv writer for `--out` (None without it). A file is written beside its place and
    renamed there once the run has ended well; a run that fails leaves nothing."""
    if out is None:
        yield None
        return
    if path is None:  # "-": stdout
        writer = csv.writer(sys.stdout, lineterminator="\n")
        writer.writerow(OUT_COLUMNS)
        yield writer
        return
    partial = path.with_name(f".{path.name}.partial-{os.getpid()}")
    try:
        stream: TextIO = partial.open("w", encoding="utf-8", newline="")
    except OSError as exc:
        fail(f"--out {shorten(str(path))}: cannot be written ({exc.strerror})")
    try:
        with stream:
            writer = csv.writer(stream, lineterminator="\n")
            writer.writerow(OUT_COLUMNS)
            yield writer
        partial.replace(path)
    except OSError as exc:  # a full disk, a folder gone
        fail(f"--out {shorten(str(path))}: cannot be written ({exc.strerror})")
    finally:
        partial.unlink(missing_ok=True)


@contextlib.contextmanager
def _progress() -> Iterator[Any]:
    """A callable to advance by one number: a live count on a terminal, nothing elsewhere."""
    if not is_terminal():
        yield lambda: None
        return
    from rich.console import Console
    from rich.progress import Progress, SpinnerColumn, TextColumn, TimeElapsedColumn

    with Progress(
        SpinnerColumn(),
        TextColumn("{task.completed:,} numbers decided"),
        TimeElapsedColumn(),
        console=Console(stderr=True),  # stdout may be the CSV (--out -)
        transient=True,
    ) as bar:
        task = bar.add_task("scrub", total=None)
        yield lambda: bar.advance(task)


def _print(summary: dict[str, Any], *, err: bool) -> None:
    numbers = summary["numbers"]
    lines = [
        f"{summary['file']}: {numbers:,} number{'s' if numbers != 1 else ''} at {summary['at']}: "
        f"{summary['allowed']:,} allowed, {summary['blocked']:,} blocked"
    ]
    lines += [f"  blocked by {rule}: {count:,}" for rule, count in summary["blocked_by"].items()]
    if summary["blocked_on_unverified_figures"]:
        lines.append(
            f"  ({summary['blocked_on_unverified_figures']:,} of the blocks rest on a figure"
            " marked unverified: see `dialguard jurisdiction show`)"
        )
    if summary["rejected"]:
        lines.append(f"  {summary['rejected']:,} line(s) rejected:")
        lines += [f"    line {r['line']}: {r['problem']}" for r in summary["rejects"]]
    if summary["ignored_columns"]:
        lines.append(f"  columns not read: {', '.join(summary['ignored_columns'])}")
    if summary["out"] not in (None, "-"):
        lines.append(f"  every line's verdict: {summary['out']}")
    click.echo("\n".join(lines), err=err)
