"""The writer thread's batch statement: one INSERT for many rows, every row intact."""

from __future__ import annotations

import sqlite3

from hypothesis import given
from hypothesis import strategies as st

from dialguard.store.hotpath import multi_row_insert

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
