"""Read the telephone numbers (TNs) an Asterisk `stir_shaken.conf` signs calls for.

res_stir_shaken (Asterisk 18.22, 20.7, 21.2 and later) declares one object per telephone
number: a section named after the number whose `type` is `tn`, e.g.

    [+15551234567]
    type = tn
    private_key_file = /etc/asterisk/stir/tn.pem
    attest_level = A

The `type` may come from a template (`[tn-base](!)` ... `[15551234567](tn-base)`). A PBX that
signs calls for these numbers owns them, so they are the tenant's caller-ID inventory.

This reads Asterisk's config syntax as far as TN sections need it: `;` comments, `;-- --;`
block comments, `key = value` and `key => value`, template markers `(!)` and
`(template, ...)` inheritance. `#include` / `#exec` are not followed (reported in
`StirShakenFile.skipped`), because the guard must not run or read what the file points at.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

_SECTION = re.compile(r"^\[(?P<name>[^\]]+)\]\s*(?:\((?P<options>[^)]*)\))?\s*$")
_OPTION = re.compile(r"^(?P<key>[^=]+?)\s*=>?\s*(?P<value>.*)$")


class StirShakenError(ValueError):
    """The file cannot be read as stir_shaken.conf; the message names the line."""


@dataclass(frozen=True, slots=True)
class TelephoneNumber:
    """A `type = tn` section: the number as written (the section name) and where it is."""

    number: str
    line: int


@dataclass(slots=True)
class _Section:
    name: str
    line: int
    template: bool
    parents: list[str]
    options: dict[str, str] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class StirShakenFile:
    numbers: tuple[TelephoneNumber, ...]
    skipped: tuple[str, ...]  # directives not followed, e.g. "line 3: #include tns.conf"


def parse_stir_shaken(text: str) -> StirShakenFile:
    """The TN sections of a stir_shaken.conf, in file order."""
    sections: list[_Section] = []
    skipped: list[str] = []
    in_block_comment = False
    for lineno, raw in enumerate(text.splitlines(), start=1):
        line, in_block_comment = _strip_comments(raw, in_block_comment)
        line = line.strip()
        if not line:
            continue
        if line.startswith("#"):
            skipped.append(f"line {lineno}: {line}")
            continue
        if line.startswith("["):
            match = _SECTION.match(line)
            if match is None:
                raise StirShakenError(f"line {lineno}: {raw.strip()!r} is not a [section] header")
            options = [o.strip() for o in (match["options"] or "").split(",") if o.strip()]
            sections.append(
                _Section(
                    match["name"].strip(),
                    lineno,
                    template="!" in options,
                    parents=[o for o in options if o != "!"],
                )
            )
            continue
        option = _OPTION.match(line)
        if option is None:
            raise StirShakenError(f"line {lineno}: {raw.strip()!r} is not a key = value line")
        if not sections:
            raise StirShakenError(f"line {lineno}: {raw.strip()!r} comes before any [section]")
        sections[-1].options[option["key"].strip().lower()] = option["value"].strip()
    by_name = {s.name: s for s in sections}
    numbers = tuple(
        TelephoneNumber(s.name, s.line)
        for s in sections
        if not s.template and _type_of(s, by_name, set()) == "tn"
    )
    return StirShakenFile(numbers, tuple(skipped))


def _strip_comments(line: str, in_block: bool) -> tuple[str, bool]:
    """Remove `;` comments and `;-- ... --;` blocks (which may span lines); `\\;` is literal."""
    out: list[str] = []
    i = 0
    while i < len(line):
        if in_block:
            end = line.find("--;", i)
            if end < 0:
                return "".join(out), True
            i, in_block = end + 3, False
            continue
        if line.startswith(";--", i):
            in_block, i = True, i + 3
            continue
        if line[i] == "\\" and line.startswith(";", i + 1):
            out.append(";")
            i += 2
            continue
        if line[i] == ";":
            break
        out.append(line[i])
        i += 1
    return "".join(out), in_block


def _type_of(section: _Section, by_name: dict[str, _Section], seen: set[str]) -> str | None:
    if "type" in section.options:
        return section.options["type"].strip().lower()
    seen.add(section.name)
    # Asterisk applies templates in order, later ones overriding: look from the last.
    for parent in reversed(section.parents):
        base = by_name.get(parent)
        if base is not None and base.name not in seen:
            found = _type_of(base, by_name, seen)
            if found is not None:
                return found
    return None
