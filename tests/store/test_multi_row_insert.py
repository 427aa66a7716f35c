"""The writer thread's batch statement: one INSERT for many rows, every row intact."""

from __future__ import annotations

import sqlite3

from hypothesis import given
from hypothesis import strategies as st

from dialguard.store.hotpath import multi_row_insert, multi_row_inserts

INSERT = "INSERT INTO t (a, b, c) VALUES (?, ?, ?)"
rows_strategy = st.lists(
    st.tuples(
        st.integers(-(2**63), 2**63 - 1),
        st.text(max_size=30),
        st.none() | st.floats(allow_nan=False),
    ),
    min_size=1,
    max_size=40,
)


@given(rows_strategy)
def test_one_statement_inserts_every_row_in_order(rows: list[tuple[object, ...]]) -> None:
    conn = sqlite3.connect(":memory:")
    conn.execute("CREATE TABLE t (id INTEGER PRIMARY KEY, a, b, c)")

    sql, params = multi_row_insert(INSERT, rows)
    conn.execute(sql, params)

    assert conn.execute("SELECT a, b, c FROM t ORDER BY id").fetchall() == rows
    assert sql.count("VALUES") == 1


@given(rows_strategy, st.integers(3, 50))  # at least one row of three columns
def test_statements_stay_within_the_bound_on_parameters(
    rows: list[tuple[object, ...]], bound: int
) -> None:
    # SQLite before 3.32 binds 999 parameters by default: a batch of 500 decisions (7,000)
    # failed there, batch after batch. A connection limited to `bound` shows the same.
    conn = sqlite3.connect(":memory:")
    conn.setlimit(sqlite3.SQLITE_LIMIT_VARIABLE_NUMBER, bound)
    conn.execute("CREATE TABLE t (id INTEGER PRIMARY KEY, a, b, c)")

    for sql, params in multi_row_inserts(INSERT, rows, conn.getlimit(
        sqlite3.SQLITE_LIMIT_VARIABLE_NUMBER
    )):  # fmt: skip
        conn.execute(sql, params)

    assert conn.execute("SELECT a, b, c FROM t ORDER BY id").fetchall() == rows
