"""Register files as the registers hand them out: plain text, gzip, or a zip holding one file
(and other lists, as text: `open_text`).

The FTC's National DNC downloads are zip files, and the ACMA returns a wash in the compression
it was sent in, .zip or .gz (regulations.md sections 1.4 and 2.7). They are read as they come,
decompressed as a stream in blocks and never unpacked to disk, so an import stays in constant
memory whatever the file. The format is recognised by its first bytes, not by its name.

The checksum is the sha256 of the file as given (the compressed file, for .gz and .zip), so
an operator can compare it with the download's.
"""

from __future__ import annotations

import gzip
import hashlib
import io
import lzma
import os
import zipfile
import zlib
from collections.abc import Callable, Iterator
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import IO, BinaryIO, Protocol, TextIO

GZIP_MAGIC = b"\x1f\x8b"
ZIP_MAGIC = b"PK\x03\x04"
DECOMPRESS_ERRORS = (OSError, EOFError, zlib.error, lzma.LZMAError, zipfile.BadZipFile)


class RegisterFileError(Exception):
    """The file cannot be read as a register file; the message names it and says why."""


@dataclass
class RegisterFile:
    """An open register file: its text's bytes in blocks, and how far reading has got."""

    kind: str  # "plain", "gzip" or "zip"
    blocks: Iterator[bytes]  # the text's bytes (decompressed), in blocks
    size: int  # the total `position` counts to, for a progress bar
    position: Callable[[], int]
    checksum: Callable[[], str]  # sha256 of the file as given; reads whatever is left


class _Reader(Protocol):
    def read(self, size: int, /) -> bytes: ...


class _Counted:
    """A file read through this is counted (and hashed, with `hashed`) as it goes."""

    def __init__(self, file: _Reader, *, hashed: bool = False) -> None:
        self.file = file
        self.digest = hashlib.sha256() if hashed else None
        self.bytes_read = 0

    def read(self, size: int, /) -> bytes:
        data = self.file.read(size)
        if self.digest is not None:
            self.digest.update(data)
        self.bytes_read += len(data)
        return data

    def seek(self, offset: int, /) -> int:
        # GzipFile asks for it, and uses it only to rewind, which an import never does.
        raise io.UnsupportedOperation("a register file is read once, from start to end")

    def finish(self) -> str:
        """The whole file's sha256: a reader may stop early, the rest is read here."""
        assert self.digest is not None
        while self.read(1 << 20):
            pass
        return self.digest.hexdigest()


@contextmanager
def open_register_file(path: Path, block_bytes: int) -> Iterator[RegisterFile]:
    """Open `path` for reading in blocks of about `block_bytes`, whatever its compression."""
    with ExitStack() as stack:
        raw: BinaryIO = stack.enter_context(path.open("rb"))
        size = os.fstat(raw.fileno()).st_size
        try:
            kind = _packing(raw)
        except OSError as exc:  # a file that opens and cannot be read (EIO)
            raise _unreadable(path, exc) from None
        if kind == "zip":
            yield _zip_member(path, raw, block_bytes, stack)
            return
        hashing = _Counted(raw, hashed=True)
        text: _Reader = hashing
        if kind == "gzip":
            text = stack.enter_context(gzip.GzipFile(fileobj=hashing, mode="rb"))
        yield RegisterFile(
            kind,
            _blocks(path, kind, text, block_bytes),
            size,
            lambda: hashing.bytes_read,
            hashing.finish,
        )


@contextmanager
def open_text(path: Path) -> Iterator[TextIO]:
    """`path` as UTF-8 text (a BOM dropped, line ends left for csv), decompressed as it is read
    when it is gzip or a zip holding one file: the other lists (`suppress import`) come as
    the registers do. Reading a damaged archive raises one of `DECOMPRESS_ERRORS`."""
    with ExitStack() as stack:
        raw: BinaryIO = stack.enter_context(path.open("rb"))
        kind = _packing(raw)
        binary: IO[bytes] | gzip.GzipFile = raw
        if kind == "zip":
            binary = _only_member(path, raw, stack)[1]
        elif kind == "gzip":
            binary = stack.enter_context(gzip.GzipFile(fileobj=raw, mode="rb"))
        yield stack.enter_context(io.TextIOWrapper(binary, encoding="utf-8-sig", newline=""))


def _packing(raw: BinaryIO) -> str:
    """ "zip", "gzip" or "plain", told by the file's first bytes (then read from the start)."""
    magic = raw.read(4)
    raw.seek(0)
    if magic.startswith(ZIP_MAGIC):
        return "zip"
    return "gzip" if magic.startswith(GZIP_MAGIC) else "plain"


def _only_member(path: Path, raw: BinaryIO, stack: ExitStack) -> tuple[zipfile.ZipInfo, IO[bytes]]:
    """The one file a zip holds, open for reading; anything else is a RegisterFileError."""
    try:
        archive = stack.enter_context(zipfile.ZipFile(raw))
    except DECOMPRESS_ERRORS as exc:
        raise RegisterFileError(f"{path.name}: not a readable zip file ({exc})") from None
    members = [info for info in archive.infolist() if not info.is_dir()]
    if len(members) != 1:
        names = ", ".join(info.filename for info in members[:5])
        more = ", ..." if len(members) > 5 else ""
        raise RegisterFileError(
            f"{path.name} holds {len(members)} files ({names}{more}): a zip must hold exactly"
            " one; unzip it first"
        )
    member = members[0]
    if member.flag_bits & 0x1:  # zipfile's own message prints the whole ZipInfo
        raise RegisterFileError(
            f"{path.name}: {member.filename} is encrypted; unzip it with its password first"
        )
    try:
        return member, stack.enter_context(archive.open(member))
    except (RuntimeError, NotImplementedError, *DECOMPRESS_ERRORS) as exc:  # method unknown
        raise RegisterFileError(f"{path.name}: cannot read {member.filename} ({exc})") from None


def _zip_member(path: Path, raw: BinaryIO, block_bytes: int, stack: ExitStack) -> RegisterFile:
    info, member = _only_member(path, raw, stack)
    counted = _Counted(member)

    def checksum() -> str:
        with path.open("rb") as again:  # the zip reader seeks about: hash the file apart
            return hashlib.file_digest(again, "sha256").hexdigest()

    return RegisterFile(
        "zip",
        _blocks(path, "zip", counted, block_bytes),
        info.file_size,
        lambda: counted.bytes_read,
        checksum,
    )


def _unreadable(path: Path, exc: OSError) -> RegisterFileError:
    return RegisterFileError(f"{path.name}: cannot be read ({exc.strerror or exc})")


def _blocks(path: Path, kind: str, text: _Reader, block_bytes: int) -> Iterator[bytes]:
    """The blocks of `text`, a damaged archive reported in one line."""
    while True:
        try:
            block = text.read(block_bytes)
        except DECOMPRESS_ERRORS as exc:
            if kind == "plain":
                if isinstance(exc, OSError):  # a disk or file that fails part-way (EIO)
                    raise _unreadable(path, exc) from None
                raise
            raise RegisterFileError(f"{path.name}: not a readable {kind} file ({exc})") from None
        if not block:
            return
        yield block
