"""The dependency direction of architecture.md, held by reading every module's imports."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]

# What each package may import from the project's own packages.
ALLOWED = {
    "rules": {"rules"},
    "agi": {"agi", "rules"},
    "ami_listener": {"ami_listener", "rules"},
    "dialguard": {"dialguard", "agi", "ami_listener", "rules"},
}
# rules/ performs no I/O: none of these may appear in it.
RULES_FORBIDDEN = {
    "asyncio",
    "aiosqlite",
    "sqlite3",
    "panoramisk",
    "socket",
    "subprocess",
    "structlog",
    "click",
    "rich",
    "urllib",
    "http",
    "os",
    "time",
}


def _imports(path: Path) -> set[str]:
    tree = ast.parse(path.read_text(encoding="utf-8"))
    names: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            names.update(alias.name.split(".")[0] for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            names.add(node.module.split(".")[0])
    return names


def _modules(package: str) -> list[Path]:
    return sorted((REPO / package).rglob("*.py"))


@pytest.mark.parametrize("package", sorted(ALLOWED))
def test_packages_import_only_in_the_allowed_direction(package: str) -> None:
    own = set(ALLOWED)
    offenders = {
        str(path.relative_to(REPO)): sorted((_imports(path) & own) - ALLOWED[package])
        for path in _modules(package)
    }

    assert {k: v for k, v in offenders.items() if v} == {}


def test_rules_imports_no_io_library_and_reads_no_clock() -> None:
    offenders = {
        str(path.relative_to(REPO)): sorted(_imports(path) & RULES_FORBIDDEN)
        for path in _modules("rules")
    }
    clock_reads = [
        str(path.relative_to(REPO))
        for path in _modules("rules")
        if any(call in path.read_text(encoding="utf-8") for call in (".now(", ".today(", "utcnow("))
    ]

    assert {k: v for k, v in offenders.items() if v} == {}
    assert clock_reads == []
