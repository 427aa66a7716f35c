"""Detector windows and the GIL: full collections deferred during a pass, big lists freed
in steps, long sorts in runs. The stalls themselves are measured by bench/detector_stall.py."""

from __future__ import annotations

import gc
import random
import sqlite3
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta

import pytest
from hypothesis import given
from hypothesis import strategies as st

import rules.detectors.windows as windows
from dialguard import gcdefer
from dialguard.enforcement import Enforcer
from dialguard.gcdefer import FullCollections, release_in_steps
from dialguard.store import Store
from rules.detectors.windows import sorted_in_steps
from rules.policy import Policy


@pytest.fixture(autouse=True)
def _thresholds() -> Iterator[None]:
    saved = gc.get_threshold()
    yield
    gc.set_threshold(*saved)


def test_full_collections_are_deferred_until_the_last_pass_ends() -> None:
    before = gc.get_threshold()
    full = FullCollections()
    with full.deferred():
        assert gc.get_threshold()[:2] == before[:2]  # the younger generations as before
        assert gc.get_threshold()[2] > 10**6
        with full.deferred():  # an overlapping pass
            pass
        assert gc.get_threshold()[2] > 10**6  # the first still holds its window
    assert gc.get_threshold() == before


def test_a_deferral_ends_after_its_longest_time_even_while_passes_overlap() -> None:
    now = [0.0]
    full = FullCollections(clock=lambda: now[0])
    before = gc.get_threshold()
    with full.deferred():
        now[0] = gcdefer.MAX_DEFERRAL_S + 1
        with full.deferred():  # passes overlapping for longer than that
            assert gc.get_threshold() == before
        with full.deferred():
            assert gc.get_threshold() == before  # not deferred again until all have ended
    assert gc.get_threshold() == before
    with full.deferred():
        assert gc.get_threshold()[2] > 10**6


def test_release_in_steps_empties_the_list() -> None:
    items = [object() for _ in range(3 * gcdefer.RELEASE_STEP + 5)]
    release_in_steps(items)
    assert items == []


@given(st.lists(st.integers(), max_size=60), st.booleans())
def test_sorted_in_steps_is_sorted(values: list[int], keyed: bool) -> None:
    saved = windows.SORT_RUN
    windows.SORT_RUN = 7  # many runs from a few items
    try:
        if keyed:  # stable, as sorted: equal keys keep their order
            pairs = list(enumerate(values))
            assert sorted_in_steps(pairs, key=lambda p: p[1] % 5) == sorted(
                pairs, key=lambda p: p[1] % 5
            )
        else:
            assert sorted_in_steps(values) == sorted(values)
    finally:
        windows.SORT_RUN = saved


async def test_a_sweep_runs_without_full_collections(store: Store, policy: Policy) -> None:
    """A full collection during a pass walked the window for nothing, the GIL held, 60-100 ms
    over 100,000 outcomes. Seen from the collector: none may be due while the sweep runs."""
    now = datetime(2026, 3, 2, 12, tzinfo=UTC)
    rng = random.Random(7)
    with sqlite3.connect(store.path) as conn:
        conn.executemany(
            "INSERT INTO outcomes (call_id, number, caller_id, tenant, campaign, started_at,"
            " answered_at, ended_at, disposition, billsec, abandoned, source, updated_at)"
            " VALUES (?, ?, '+61291234567', 'acme', 'spring', ?, ?, ?, 'ANSWERED', 60, 0,"
            " 'ami', 0)",
            [
                (f"c{i}", f"+6141{rng.randrange(10**7):07d}", t, t + 5, t + 65)
                for i in range(2000)
                for t in [(now - timedelta(hours=rng.uniform(0, 6))).timestamp()]
            ],
        )
    seen: list[int] = []

    def during(phase: str, info: dict[str, int]) -> None:
        if phase == "start":
            seen.append(gc.get_threshold()[2])

    before = gc.get_threshold()
    gc.callbacks.append(during)
    try:
        await Enforcer(store, policy).sweep(now)
    finally:
        gc.callbacks.remove(during)
    assert seen and min(seen) > 10**6  # collections ran, none of them could be a full one
    assert gc.get_threshold() == before
