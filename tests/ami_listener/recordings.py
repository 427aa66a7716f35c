"""Reading recorded `ami.txt` bytes into event dicts, as Asterisk framed them."""

from __future__ import annotations

from pathlib import Path


def parse_ami(raw: bytes) -> list[dict[str, str | list[str]]]:
    """Every `Event:` message of a recording: `\\r\\n` lines, blank-line separated; a header
    repeated within a message becomes a list (as panoramisk gives it)."""
    events: list[dict[str, str | list[str]]] = []
    for block in raw.decode("utf-8").split("\r\n\r\n"):
        headers: dict[str, str | list[str]] = {}
        for line in block.split("\r\n"):
            key, sep, value = line.partition(": ")
            if not sep:
                key, sep, value = line.partition(":")  # `AccountCode:` with nothing after
                if not sep:
                    continue
            if key in headers:
                old = headers[key]
                headers[key] = [*(old if isinstance(old, list) else [old]), value]
            else:
                headers[key] = value
        if "Event" in headers:
            events.append(headers)
    return events


def load(fixtures_dir: Path, scenario: str) -> list[dict[str, str | list[str]]]:
    return parse_ami((fixtures_dir / scenario / "ami.txt").read_bytes())
