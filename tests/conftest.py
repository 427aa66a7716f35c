"""Shared fixtures: the recorded Asterisk traffic, a fresh SQLite store, a policy."""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import pytest
import structlog

from dialguard.store import Store, open_store
from rules.policy import Policy, TenantSettings

REPO = Path(__file__).resolve().parents[1]
# CI lays shared/ beside the clone; a developer's checkout has it at ../shared too.
FIXTURES = REPO.parent / "shared" / "fixtures" / "asterisk-22"


@pytest.fixture(autouse=True)
def _structlog_defaults() -> Iterator[None]:
    """Each test starts from structlog's defaults: an in-process CLI run configures logging at
    "warning", which would otherwise hide info lines from a later test's `capture_logs`."""
    structlog.reset_defaults()
    yield
    structlog.reset_defaults()


@pytest.fixture(name="fixtures_dir")
def _fixtures_dir() -> Path:
    assert FIXTURES.is_dir(), f"recorded Asterisk traffic not found at {FIXTURES}"
    return FIXTURES


@pytest.fixture(name="store")
async def _store(tmp_path: Path) -> AsyncIterator[Store]:
    store = await open_store(tmp_path / "dialguard.sqlite3")
    try:
        yield store
    finally:
        await store.close()


@pytest.fixture(name="policy")
def _policy() -> Policy:
    """A policy with one Australian tenant, `acme`, as in the recordings."""
    return Policy(tenants={"acme": TenantSettings("acme", "AU")})
