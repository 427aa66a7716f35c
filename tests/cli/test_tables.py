"""Terminal tables: a listed value never loses characters to a narrow terminal."""

from __future__ import annotations

import io

from rich.console import Console

from dialguard.cli.tables import print_table

COLUMNS = ["number", "tenant", "campaign", "reason", "source", "requested_at", "expires_at"]
ROW = [
    "+61412345678901",
    "acme-contact-centre",
    "spring-renewals-2026",
    "callee asked not to be called again during the IVR",
    "ivr",
    "2026-11-29T05:00:00+00:00",
    "2031-11-29T05:00:00+00:00",
]


def rendered(width: int) -> str:
    out = io.StringIO()
    print_table(COLUMNS, [ROW], whole={"number"}, console=Console(file=out, width=width))
    return out.getvalue()


def test_a_number_is_listed_whole_on_an_80_column_terminal() -> None:
    text = rendered(80)

    assert "+61412345678901" in text  # on one line, not cut with an ellipsis
    assert "…" not in text


def test_the_other_values_fold_onto_more_lines_and_keep_every_character() -> None:
    lines = rendered(80).splitlines()
    # Read each column top to bottom: the pieces of a folded value, joined, are the value.
    rows = [line for line in lines if line.startswith("│")]
    columns = zip(*(line.strip("│").split("│") for line in rows), strict=True)
    joined = ["".join(column).replace(" ", "") for column in columns]

    assert joined == [value.replace(" ", "") for value in ROW]
