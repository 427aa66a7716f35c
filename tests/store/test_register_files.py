"""Register files as the registers hand them out: .gz and .zip are read as they come, streamed;
a damaged archive fails in one line and leaves the copy in force."""

from __future__ import annotations

import gzip
import hashlib
import itertools
import zipfile
from pathlib import Path

import pytest
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st

from dialguard.registers.blocks import MAX_LINE_BYTES, LineTooLong, line_blocks
from dialguard.registers.files import open_register_file
from dialguard.registers.readers import FORMATS
from dialguard.store import Store
from dialguard.store.registers import (
    RegisterImportError,
    is_listed,
    register_copy_rows,
    register_tables,
)
from tests.store.test_register_import import (
    DAY,
    US_LINES,
    import_register,
    load,
    table_rows,
    write,
)

TEXT = "".join(f"04123{i:05d}\n" for i in range(200)) + "junk\n"


def gzipped(tmp_path: Path, name: str, text: str) -> Path:
    path = tmp_path / name
    path.write_bytes(gzip.compress(text.encode()))
    return path


def zipped(tmp_path: Path, name: str, *, lzma: bool = False, **members: str) -> Path:
    path = tmp_path / name
    method = zipfile.ZIP_LZMA if lzma else zipfile.ZIP_DEFLATED
    with zipfile.ZipFile(path, "w", compression=method) as archive:
        for member, text in members.items():
            archive.writestr(member, text)
    return path


@pytest.mark.parametrize("kind", ["gz", "zip"])
async def test_a_compressed_file_imports_as_its_text_would(
    store: Store, tmp_path: Path, kind: str
) -> None:
    plain = write(tmp_path, "wash.txt", TEXT.rstrip("\n"))
    expected = await load(store, plain, block_bytes=64)
    expected_rows = await table_rows(store, "au-dncr")
    packed = (
        gzipped(tmp_path, "wash.txt.gz", TEXT)
        if kind == "gz"
        else zipped(tmp_path, "wash.zip", **{"wash.txt": TEXT})
    )

    report = await load(store, packed, block_bytes=64)

    keys = ("lines", "accepted", "duplicates", "rejected", "rejects", "count")
    assert {k: getattr(report, k) for k in keys} == {k: getattr(expected, k) for k in keys}
    assert await table_rows(store, "au-dncr") == expected_rows
    # The checksum is the file's as given, so it matches the download's.
    assert report.checksum == hashlib.sha256(packed.read_bytes()).hexdigest()  # type: ignore[attr-defined]


async def test_several_files_make_one_copy(store: Store, tmp_path: Path) -> None:
    # As the FTC hands out a full list: one file per area code, here one of them gzipped.
    first = write(tmp_path, "a.txt", "0412345678", "bad", "0412345679")
    second = gzipped(tmp_path, "b.txt.gz", "0412345679\n0412345680\nworse\n")
    seen: list[tuple[int, int]] = []

    def progress(phase: str, done: int, total: int) -> None:
        if phase == "reading":
            seen.append((done, total))

    report = await import_register(
        store, "au-dncr", [first, second], FORMATS["plain"], "AU", DAY, progress=progress
    )

    assert (report.lines, report.accepted, report.duplicates, report.count) == (6, 4, 1, 3)
    # A line number names its file; the copy's source and checksum name both.
    assert [(n, p.split(":")[0]) for n, p in report.rejects] == [(2, "a.txt"), (3, "b.txt.gz")]
    assert report.source_file == f"{first}, {second}"
    assert report.checksum == "; ".join(
        f"{p.name} {hashlib.sha256(p.read_bytes()).hexdigest()}" for p in (first, second)
    )
    for number in (61412345678, 61412345679, 61412345680):
        assert await is_listed(store, "au-dncr", number)
    total = first.stat().st_size + second.stat().st_size
    assert seen and all(t == total and 0 < d <= total for d, t in seen)
    assert seen[-1][0] == total


async def test_the_first_file_wins_a_number_several_name(store: Store, tmp_path: Path) -> None:
    first = write(tmp_path, "a.txt", "0470123455;2024-01-01", "0470123456;2024-01-05")
    second = write(tmp_path, "b.txt", "0470123456;2025-06-30")  # an earlier line, a later file
    await import_register(store, "be-dncm", [first, second], FORMATS["be-dncm"], "BE", DAY)
    assert (32470123456, "2024-01-05") in await table_rows(store, "be-dncm")


async def test_a_bad_file_among_several_leaves_the_copy_in_force(
    store: Store, tmp_path: Path
) -> None:
    await load(store, write(tmp_path, "first.txt", "0412345678"))
    before = await register_tables(store)
    good = write(tmp_path, "a.txt", "0412345679")
    packed = gzip.compress(TEXT.encode())
    (tmp_path / "b.txt.gz").write_bytes(packed[: len(packed) // 2])

    with pytest.raises(RegisterImportError, match=r"b\.txt\.gz: not a readable gzip file"):
        await import_register(
            store, "au-dncr", [good, tmp_path / "b.txt.gz"], FORMATS["plain"], "AU", DAY
        )

    assert await register_tables(store) == before
    assert await is_listed(store, "au-dncr", 61412345678)
    assert not await is_listed(store, "au-dncr", 61412345679)


@pytest.mark.parametrize(
    ("second_text", "problem"),
    [("", "no numbers found"), ("junk\nmore junk\n", r"every line was rejected \(2; line 1")],
)
async def test_a_file_without_numbers_among_several_is_refused_by_name(
    store: Store, tmp_path: Path, second_text: str, problem: str
) -> None:
    # An area code's file cut short to nothing, or in another format, would leave that area
    # code out of the copy: each file must name a number, as one file alone must.
    await load(store, write(tmp_path, "first.txt", "0412345678"))
    before = await register_tables(store)
    good = write(tmp_path, "a.txt", "0412345679", "0412345680")
    (tmp_path / "b.txt").write_text(second_text, encoding="utf-8")

    with pytest.raises(RegisterImportError, match=rf"b\.txt: {problem}") as raised:
        await import_register(
            store, "au-dncr", [good, tmp_path / "b.txt"], FORMATS["plain"], "AU", DAY
        )

    assert "a.txt" not in str(raised.value)
    assert await register_tables(store) == before
    assert not await is_listed(store, "au-dncr", 61412345679)


async def test_the_bulk_path_reads_through_gzip(store: Store, tmp_path: Path) -> None:
    path = tmp_path / "us.txt.gz"
    path.write_bytes(gzip.compress(("\r\n".join(US_LINES) + "\r\n").encode()))
    report = await import_register(
        store, "us-dnc", path, FORMATS["us-dnc"], "US", DAY, block_bytes=16
    )
    assert (report.accepted, report.duplicates, report.count) == (46, 2, 44)
    assert [n for n, _ in report.rejects] == [2, 9]


async def test_reading_progress_counts_the_file_as_given(store: Store, tmp_path: Path) -> None:
    path = gzipped(tmp_path, "wash.txt.gz", TEXT)
    seen: list[tuple[int, int]] = []

    def progress(phase: str, done: int, total: int) -> None:
        if phase == "reading":
            seen.append((done, total))

    await load(store, path, progress=progress, block_bytes=64)
    size = path.stat().st_size
    assert seen and all(total == size and 0 < done <= size for done, total in seen)


@pytest.mark.parametrize(
    ("name", "problem"),
    [
        ("truncated.gz", "not a readable gzip file"),
        ("two.zip", "holds 2 files (a.txt, b.txt)"),
        ("damaged.zip", "not a readable zip file"),
        ("encrypted.zip", "wash.txt is encrypted; unzip it with its password first"),
        ("damaged-lzma.zip", "not a readable zip file"),
    ],
)
async def test_a_bad_archive_fails_in_one_line_and_the_copy_stays(
    store: Store, tmp_path: Path, name: str, problem: str
) -> None:
    await load(store, write(tmp_path, "first.txt", "0412345678"))
    before = await register_tables(store)
    if name == "truncated.gz":
        packed = gzip.compress(TEXT.encode())
        (tmp_path / name).write_bytes(packed[: len(packed) // 2])
    elif name == "two.zip":
        zipped(tmp_path, name, **{"a.txt": TEXT, "b.txt": TEXT})
    elif name == "damaged.zip":
        good = zipped(tmp_path, "good.zip", **{"wash.txt": TEXT}).read_bytes()
        (tmp_path / name).write_bytes(good[:40])  # the header, no central directory
    elif name == "damaged-lzma.zip":  # damaged LZMA data raises lzma's own error
        packed = bytearray(
            zipped(tmp_path, "good.zip", **{"wash.txt": TEXT}, lzma=True).read_bytes()
        )
        start = packed.index(b"wash.txt") + len("wash.txt") + 10
        packed[start : start + 20] = bytes(b ^ 0xFF for b in packed[start : start + 20])
        (tmp_path / name).write_bytes(bytes(packed))
    else:  # zipfile cannot write an encrypted zip: set the "encrypted" flag bit by hand
        packed = bytearray(zipped(tmp_path, "good.zip", **{"wash.txt": TEXT}).read_bytes())
        central = packed.index(b"PK\x01\x02")
        packed[6] |= 1  # the local header's flags
        packed[central + 8] |= 1  # the central directory's
        (tmp_path / name).write_bytes(bytes(packed))

    with pytest.raises(RegisterImportError) as caught:
        await load(store, tmp_path / name, block_bytes=64)

    assert problem in str(caught.value) and "\n" not in str(caught.value)
    assert "ZipInfo" not in str(caught.value)
    assert await register_tables(store) == before
    assert await is_listed(store, "au-dncr", 61412345678)
    assert (await register_copy_rows(store))["au-dncr"].count == 1


@settings(
    max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(
    data=st.binary(max_size=3000),
    block=st.integers(min_value=1, max_value=512),
    kind=st.sampled_from(["plain", "gzip", "zip"]),
)
def test_the_blocks_are_the_text_whatever_the_packing_and_block_size(
    tmp_path: Path, data: bytes, block: int, kind: str
) -> None:
    path = tmp_path / f"f.{kind}"
    if kind == "plain":
        path.write_bytes(data)
    elif kind == "gzip":
        path.write_bytes(gzip.compress(data))
    else:
        with zipfile.ZipFile(path, "w", compression=zipfile.ZIP_DEFLATED) as archive:
            archive.writestr("member.txt", data)
    # A plain file that starts like an archive is read as one: not this property.
    assume(kind != "plain" or not data.startswith((b"\x1f\x8b", b"PK\x03\x04")))

    with open_register_file(path, block) as source:
        read = b"".join(source.blocks)
        checksum = source.checksum()

    assert read == data
    assert source.kind == kind
    assert checksum == hashlib.sha256(path.read_bytes()).hexdigest()


@pytest.mark.parametrize("kind", ["plain", "gz"])
async def test_a_line_too_long_for_a_register_fails_the_import_by_name_and_line(
    store: Store, tmp_path: Path, kind: str
) -> None:
    # A file without line ends was held whole in memory, a copy per block read.
    await load(store, write(tmp_path, "first.txt", "0412345678"))
    before = await register_tables(store)
    text = "0412345679\n0412345680\n" + "9" * (2 * MAX_LINE_BYTES) + "\n0412345681\n"
    path = gzipped(tmp_path, "b.txt.gz", text) if kind == "gz" else write(tmp_path, "b.txt", text)

    with pytest.raises(RegisterImportError, match=rf"{path.name}: line 3 is longer than"):
        await import_register(
            store, "au-dncr", path, FORMATS["plain"], "AU", DAY, block_bytes=64 * 1024
        )

    assert await register_tables(store) == before
    assert await is_listed(store, "au-dncr", 61412345678)
    assert not await is_listed(store, "au-dncr", 61412345679)


def test_line_blocks_holds_no_more_than_the_longest_line_allowed() -> None:
    endless = itertools.chain([b"0412345678\n0412"], itertools.repeat(b"5" * 100))
    blocks = line_blocks(endless, max_line=1000)
    assert next(blocks) == b"0412345678\n"
    with pytest.raises(LineTooLong, match="line 2 is longer than 1,000 bytes"):
        next(blocks)
    # A line that runs on to exactly the limit is a line.
    whole = b"".join(line_blocks([b"1" * 1000, b"\n2\n"], max_line=1000))
    assert whole == b"1" * 1000 + b"\n2\n"
    for ending in (b"\r", b"\r\n"):  # ended by a CR the next chunk may pair with a LF
        chunks = [b"a" + ending + b"1" * 1000 + b"\r", ending[1:] + b"2" + ending]
        assert b"".join(line_blocks(chunks, max_line=1000)) == b"a\n" + b"1" * 1000 + b"\n2\n"
