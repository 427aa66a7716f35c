"""`dialguard events`: the audit trail of changes (lists, registers, consents, suspensions,
blackouts, imports, AMI gaps), each with who made it."""

from __future__ import annotations

import json

import click

from dialguard.cli.app import AppContext, cli, emit_json, is_terminal, parse_when, pass_app
from dialguard.store.audit import list_events


@cli.command()
@click.option("--since", default=None, help="Events at or after this instant (ISO-8601).")
@click.option("--kind", default=None, help="Events whose kind begins so (suppression, registry).")
@click.option("--actor", default=None, help="Events of this actor (cli:alice, serve).")
@click.option(
    "--limit",
    type=click.IntRange(1, 1_000_000),
    default=50,
    show_default=True,
    help="The latest this many.",
)
@click.option("--json", "as_json", is_flag=True)
@pass_app
def events(
    app: AppContext,
    since: str | None,
    kind: str | None,
    actor: str | None,
    limit: int,
    as_json: bool,
) -> None:
    """Changes made to the store, oldest first: when, who (`cli:` and the operator, or
    `serve`), what."""
    start = parse_when(since, "--since")

    found = app.run(lambda store: list_events(store, start, kind, actor, limit))
    if as_json:
        emit_json(found)
        return
    if not found:
        click.echo("no events", err=True)
        return
    rows = [
        (
            str(e["id"]),
            e["at"][:19].replace("T", " "),
            e["actor"] or "-",
            e["kind"],
            json.dumps(e["detail"], ensure_ascii=False, separators=(",", ":"), default=str),
        )
        for e in found
    ]
    if is_terminal():
        from dialguard.cli.tables import print_table

        print_table(("id", "at (UTC)", "actor", "kind", "detail"), rows, whole={"id", "kind"})
        return
    for row in rows:
        click.echo("\t".join(row))
