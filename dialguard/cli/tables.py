"""Tables for a terminal (rich): every value shown whole, whatever the terminal's width."""

from __future__ import annotations

from collections.abc import Collection, Iterable, Sequence

from rich.console import Console
from rich.table import Table


def print_table(
    headers: Sequence[str],
    rows: Iterable[Sequence[str]],
    *,
    whole: Collection[str] = (),
    console: Console | None = None,
) -> None:
    """Print `rows` under `headers`. rich's default cuts a value that does not fit with an
    ellipsis, so on an 80-column terminal a listed number lost its last digits: the
    columns in `whole` (numbers, subjects, ids) keep their widest value on one line, and
    the others fold onto further lines instead of losing characters."""
    table = Table()
    cells = [list(row) for row in rows]
    for index, header in enumerate(headers):
        if header in whole:
            widest = max([len(header), *(len(row[index]) for row in cells)])
            table.add_column(header, no_wrap=True, min_width=widest)
        else:
            table.add_column(header, overflow="fold")
    for row in cells:
        table.add_row(*row)
    (console or Console()).print(table)
