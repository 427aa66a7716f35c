"""Lists of numbers an operator hands the CLI (`suppress import`, `scrub`): one number per
line, or a CSV whose header names `number`; gzip or a zip holding one file, read as they
come."""

from __future__ import annotations

import csv
import itertools
from collections.abc import Iterator
from pathlib import Path

from dialguard.cli.app import fail
from dialguard.registers.files import DECOMPRESS_ERRORS, RegisterFileError, open_text


def number_records(
    path: Path, columns: frozenset[str], *, ignored: list[str] | None = None
) -> Iterator[tuple[int, dict[str, str]]]:
    """(line number, fields) per data line, read as the file streams; fields always has
    `number`. A CSV is recognised by a header naming `number`; a column outside `columns`
    is refused by name (a misspelt one would be dropped silently), unless `ignored` is given:
    such columns are then listed there and not read. `#` lines of a plain list are
    comments."""
    try:
        with open_text(path) as text:
            blank, first = 0, ""  # the blank lines before the first line with something on it
            for line in text:
                if line.strip():
                    first = line
                    break
                blank += 1
            header = [h.strip().lower() for h in next(csv.reader([first]))] if first else []
            if "number" in header:
                unknown = sorted(set(header) - columns - {""})
                if unknown and ignored is not None:
                    ignored += unknown
                elif unknown:
                    known = ", ".join(sorted(columns))
                    fail(f"{path}: unknown CSV column {', '.join(unknown)} (known: {known})")
                reader = csv.DictReader(itertools.chain([first], text))
                reader.fieldnames = [h.strip().lower() for h in reader.fieldnames or []]
                for row in reader:
                    values = {k: (v or "").strip() for k, v in row.items() if isinstance(k, str)}
                    if any(values.values()):
                        yield blank + reader.line_num, values
                return
            for line_no, line in enumerate(itertools.chain([first], text), blank + 1):
                s = line.strip()
                if s and not s.startswith("#"):
                    yield line_no, {"number": s}
    except UnicodeDecodeError:
        fail(f"{path}: is not UTF-8 text")
    except csv.Error as exc:  # a field over the csv module's limit, a NUL byte
        fail(f"{path}: is not a readable CSV ({exc})")
    except RegisterFileError as exc:
        fail(str(exc))
    except DECOMPRESS_ERRORS as exc:
        fail(f"{path}: cannot be read ({exc})")
