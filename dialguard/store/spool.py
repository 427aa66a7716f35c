"""Opt-outs the database would not take, kept until it does.

An opt-out is durable before it is acknowledged, and never lost. `PatientSink` waits a
failing database out for `MAX_FAILING_S`, then gives the write up so that the AMI listener
reads on; given up, an opt-out used to be only logged for adding by hand. Now one given up
(or cut short by `serve` stopping) goes to `PendingOptOuts`, which

- appends it, fsync'd, to a spool file beside the database (`spool_path`: the database's
  name + `.pending-optouts.jsonl`, one JSON object a line), so that it outlives the process;
- retries it in the background, with backoff (at most `MAX_DELAY_S` apart), until it lands,
  then takes it out of the spool;
- at `serve`'s start (`replay`), before the first call is checked, writes what the spool
  holds and takes out every entry written.

While it waits the opt-out is held by the checks all the same (`for_number`: this
process's own and every entry in the spool, which each process watches every `WATCH_S`),
and `serve`'s first process lands every entry in the spool, whichever process kept it (a
worker may have died since). Outcomes and events given up are not kept: they stay logged
only (`PatientSink`).

`serve`'s processes (the workers' IVR opt-outs too) share the spool: a change holds an
exclusive `flock` on it, and entries are taken out by writing the rest to a new file renamed
over it, so that a crash never leaves it half rewritten.
"""

from __future__ import annotations

import asyncio
import contextlib
import errno
import fcntl
import json
import os
import re
import sqlite3
import time
from collections.abc import Collection, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

from dialguard.logs import get_logger
from dialguard.store.core import Store
from dialguard.store.facts import suppression_as_dict
from dialguard.store.hotpath import STILL_FAILING_EVERY_S, fails_the_records
from dialguard.store.timeconv import to_epoch
from rules.facts import SuppressionEntry, to_add_by_hand

log = get_logger("dialguard.store")

SPOOL_SUFFIX = ".pending-optouts.jsonl"
FIRST_DELAY_S = 0.5
# How long an opt-out may wait after the database takes writes again.
MAX_DELAY_S = 2.0
# How often each process looks at the spool for the entries another one kept (a stat).
WATCH_S = 0.25


def spool_path(db_path: Path) -> Path:
    """The spool beside the database: `/var/lib/dialguard/dialguard.sqlite3.pending-optouts.jsonl`."""
    return db_path.with_name(db_path.name + SPOOL_SUFFIX)


@dataclass(frozen=True, slots=True)
class SpoolContents:
    entries: list[SuppressionEntry]
    unreadable: list[tuple[int, str]]  # (line number, text): whole lines that do not read
    torn: str | None  # a last line cut short: dialguard stopped while it was written


class OptOutSpool:
    """The spool file: appended to, read, and rewritten without the entries that landed."""

    def __init__(self, path: Path) -> None:
        self.path = path

    def append(self, entry: SuppressionEntry, error: str) -> None:
        """Add the entry (and why it waits, for a reader); on disk when this returns."""
        line = json.dumps({**suppression_as_dict(entry), "error": error[:300]}).encode() + b"\n"
        with self._locked(create=True) as fd:
            assert fd is not None  # made when missing
            size = os.fstat(fd).st_size
            if size and os.pread(fd, 1, size - 1) != b"\n":
                line = b"\n" + line  # after a torn line: this one must still read whole
            try:
                if os.write(fd, line) != len(line):
                    raise OSError(errno.ENOSPC, "no room for the whole line")
                os.fsync(fd)
            except OSError:
                # Not spooled (the caller says so): no part of it left to be taken for a line.
                with contextlib.suppress(OSError):
                    os.ftruncate(fd, size)
                raise
        _sync_folder(self.path.parent)  # the file's name, when it was just made

    def read(self) -> SpoolContents:
        """What the spool holds (nothing when there is none)."""
        try:
            data = self.path.read_bytes()
        except FileNotFoundError:
            data = b""
        return _parse(data)

    def remove(self, landed: Collection[SuppressionEntry], drop: Collection[str] = ()) -> None:
        """Take out the entries `landed` and the lines whose text is in `drop` (lines that do
        not read, whose salvaged opt-out landed); every other line stays. The spool goes
        once it holds nothing."""
        gone, dropped = set(landed), set(drop)
        with self._locked(create=False) as fd:
            if fd is None:
                return
            lines, torn = _lines(self.path.read_bytes())
            kept = [
                line + b"\n"
                for _, line in lines
                if _entry(line) not in gone and _text(line) not in dropped
            ]
            if torn is not None and _text(torn) not in dropped:
                kept.append(torn)  # still the last line, still without its newline
            if not kept:
                self.path.unlink()
            else:
                fresh = self.path.with_name(self.path.name + ".new")
                try:
                    fresh.write_bytes(b"".join(kept))
                    with fresh.open("rb") as written:
                        os.fsync(written.fileno())
                    fresh.replace(self.path)
                except OSError:
                    with contextlib.suppress(OSError):
                        fresh.unlink(missing_ok=True)  # the spool stands as it was
                    raise
        _sync_folder(self.path.parent)

    @contextlib.contextmanager
    def _locked(self, *, create: bool) -> Iterator[int | None]:
        """The spool's file, exclusively locked; None when there is none (and not `create`).
        A file renamed over while its lock was awaited is opened again: the lock held was
        the old file's."""
        flags = os.O_RDWR | os.O_APPEND | (os.O_CREAT if create else 0)
        while True:
            try:
                fd = os.open(self.path, flags, 0o640)
            except FileNotFoundError:
                if create:
                    raise
                yield None
                return
            try:
                fcntl.flock(fd, fcntl.LOCK_EX)
                try:
                    current = self.path.stat().st_ino
                except FileNotFoundError:
                    current = None
                if current == os.fstat(fd).st_ino:
                    yield fd
                    return
            finally:
                os.close(fd)  # releases the lock


def _text(line: bytes) -> str:
    return line.decode("utf-8", "replace")


def _sync_folder(folder: Path) -> None:
    fd = os.open(folder, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def _parse(data: bytes) -> SpoolContents:
    lines, torn = _lines(data)
    entries: list[SuppressionEntry] = []
    unreadable: list[tuple[int, str]] = []
    for number, line in lines:
        entry = _entry(line)
        if entry is None:
            unreadable.append((number, _text(line)))
        else:
            entries.append(entry)
    shown = None if torn is None else _text(torn)
    return SpoolContents(entries, unreadable, shown)


def _lines(data: bytes) -> tuple[list[tuple[int, bytes]], bytes | None]:
    """The spool's lines with their numbers, blank ones left out, and its last line when a
    crash cut it short (no newline, and it does not read; one that reads lacks only its
    newline)."""
    *lines, tail = data.split(b"\n")
    torn = None
    if tail and _entry(tail) is None:
        torn = tail
    elif tail:
        lines.append(tail)
    return [(n, line) for n, line in enumerate(lines, start=1) if line.strip()], torn


def _entry(line: bytes) -> SuppressionEntry | None:
    """The entry a spool line holds, or None when it does not read as one."""
    try:
        item = json.loads(line)
        number, reason, source = item["number"], item["reason"], item["source"]
        tenant, campaign = item["tenant"], item["campaign"]
        requested_at = _instant(item["requested_at"])
        expires = item.get("expires_at")
        expires_at = None if expires is None else _instant(expires)
    except Exception:  # anything a damaged line gives (RecursionError: `[[[[...` nested deep)
        return None
    texts = (number, reason, source)
    if not all(isinstance(t, str) for t in texts) or not number:
        return None
    if not all(t is None or isinstance(t, str) for t in (tenant, campaign)):
        return None
    return SuppressionEntry(number, tenant, campaign, reason, source, requested_at, expires_at)


# The fields of a line cut short that can still be read: whole JSON strings (or null) after
# their key. The number comes first and the tenant second (`suppression_as_dict`).
_TORN_FIELD = re.compile(
    r'"(number|tenant|campaign|source|requested_at)": ("(?:[^"\\]|\\.)*"|null)'
)
SALVAGED_REASON = "recovered from a spool line that does not read"


def salvage(torn: str) -> SuppressionEntry | None:
    """The opt-out a spool line that does not read still names (one cut short by a crash,
    then perhaps followed by others): its number, for the tenant and campaign it names
    whole, else for every tenant and campaign (the strictest reading: the line was an
    opt-out), at the instant it gives whole, else now. None when no number can be read."""
    fields: dict[str, str | None] = {}
    for key, value in _TORN_FIELD.findall(torn):
        try:
            fields[key] = json.loads(value)
        except ValueError:
            continue
    number = fields.get("number")
    if not isinstance(number, str) or not number.startswith("+"):
        return None
    try:
        requested_at = _instant(fields.get("requested_at"))
    except (TypeError, ValueError):
        requested_at = datetime.now(UTC)
    return SuppressionEntry(
        number,
        fields.get("tenant"),  # read whole, or None: every tenant's
        fields.get("campaign"),
        SALVAGED_REASON,
        fields.get("source") or "spool",
        requested_at,
    )


def salvaged(contents: SpoolContents) -> list[tuple[SuppressionEntry, str]]:
    """The opt-outs the spool's lines that do not read still name, with each line's text."""
    texts = [text for _, text in contents.unreadable]
    texts += [contents.torn] if contents.torn is not None else []
    return [(entry, text) for text in texts if (entry := salvage(text)) is not None]


def _instant(text: object) -> datetime:
    if not isinstance(text, str):
        raise TypeError("not a date")
    at = datetime.fromisoformat(text)
    if at.tzinfo is None:
        raise ValueError("no offset")
    return at


@dataclass
class _Waiting:
    since: float  # time.monotonic()
    spooled: bool  # in the spool, so written at the next start if this process stops first


class PendingOptOuts:
    """Opt-outs given up by `PatientSink`: spooled, and retried until they land."""

    def __init__(
        self,
        store: Store,
        *,
        first_delay_s: float = FIRST_DELAY_S,
        max_delay_s: float = MAX_DELAY_S,
    ) -> None:
        self.store = store
        self.spool = OptOutSpool(spool_path(store.path))
        self.first_delay_s = first_delay_s
        self.max_delay_s = max_delay_s
        self._waiting: dict[SuppressionEntry, _Waiting] = {}
        self._retry: asyncio.Task[None] | None = None
        # The spool's entries by number, as last read (any process's), and what it was.
        self._spooled: dict[str, tuple[SuppressionEntry, ...]] = {}
        self._spool_seen: tuple[int, int, int] | None = None
        self._refused: set[SuppressionEntry] = set()
        self._uncleared: set[SuppressionEntry] = set()  # written, but still in the spool
        self._watch: asyncio.Task[None] | None = None
        # Salvaged entries (from lines that do not read) by their line's text, to take the
        # line out once the entry is written.
        self._salvaged: dict[SuppressionEntry, str] = {}
        # Opt-outs being written now (a lock waited out): held by the checks meanwhile.
        self._writing: dict[SuppressionEntry, int] = {}
        self._own: dict[str, tuple[SuppressionEntry, ...]] = {}  # the two above, by number

    @property
    def waiting(self) -> list[SuppressionEntry]:
        return list(self._waiting)

    def for_number(self, number: str | None) -> tuple[SuppressionEntry, ...]:
        """The opt-outs of `number` kept or being written, not yet on the list (this
        process's, and the spool's), which the checks hold as if they were: a pending
        opt-out let the number's calls through until it landed, or for ever when the worker
        that kept it died."""
        if number is None or not (self._own or self._spooled):
            return ()
        return self._own.get(number, ()) + self._spooled.get(number, ())

    @contextlib.contextmanager
    def writing(self, entry: SuppressionEntry) -> Iterator[None]:
        """Hold `entry` in the checks while its write waits out a lock (`PatientSink`)."""
        self._writing[entry] = self._writing.get(entry, 0) + 1
        self._reindex()
        try:
            yield
        finally:
            if self._writing[entry] == 1:
                del self._writing[entry]
            else:
                self._writing[entry] -= 1
            self._reindex()

    def refresh(self) -> None:
        """Read the spool again if it changed since last read (a stat when it did not)."""
        seen = self._stat()
        if seen is None:
            self._spooled, self._spool_seen = {}, None
            return
        if seen == self._spool_seen:
            return
        self._spool_seen = seen  # a read that fails is not tried (and said) again till it changes
        contents = self.spool.read()
        by_number: dict[str, list[SuppressionEntry]] = {}
        for entry in (*contents.entries, *(e for e, _ in salvaged(contents))):
            by_number.setdefault(entry.number, []).append(entry)
        self._spooled = {number: tuple(entries) for number, entries in by_number.items()}

    def watch(self, *, land: bool) -> None:
        """Look at the spool every `WATCH_S` from now on, for `for_number`; with `land`
        (serve's first process), also write what it holds, whichever process kept it. A
        spool that cannot be read is said, and looked at again."""
        try:
            self.refresh()
        except OSError as exc:
            log.error("optout_spool_unreadable", spool=str(self.spool.path), error=str(exc))
        self._watch = asyncio.create_task(self._watch_forever(land), name="optout-spool-watch")

    def _stat(self) -> tuple[int, int, int] | None:
        try:
            stat = self.spool.path.stat()
        except FileNotFoundError:
            return None
        return (stat.st_ino, stat.st_size, stat.st_mtime_ns)

    def _reindex(self) -> None:
        by_number: dict[str, list[SuppressionEntry]] = {}
        for entry in (*self._waiting, *self._writing):
            by_number.setdefault(entry.number, []).append(entry)
        self._own = {number: tuple(entries) for number, entries in by_number.items()}

    async def keep(self, entry: SuppressionEntry, error: BaseException) -> None:
        """An opt-out whose write was given up: spooled (in a thread: a failing disk may take
        long to sync, and the checks share this event loop), and retried until it lands."""
        spooled = await asyncio.to_thread(self._spool, entry, repr(error))
        log.error(
            "optout_pending",
            number=entry.number,
            tenant=entry.tenant,
            source=entry.source,
            spool=str(self.spool.path) if spooled else None,
            error=repr(error)[:300],
            detail="held by the checks, not yet on the list: retried until the database takes it"
            + (", and written at serve's next start if it stops first" if spooled else ""),
        )
        self._wait_for(entry, spooled=spooled)

    def keep_at_stop(self, entry: SuppressionEntry) -> bool:
        """An opt-out whose write `serve`'s stop cut short: spooled for the next start
        (here, on the event loop: it is stopping). False when it could not be."""
        spooled = self._spool(entry, "dialguard stopped first")
        if spooled:
            log.warning(
                "optout_pending_at_stop",
                number=entry.number,
                tenant=entry.tenant,
                spool=str(self.spool.path),
                detail="written at serve's next start",
            )
        return spooled

    async def replay(self) -> None:
        """At `serve`'s start, before calls are checked: write what the spool holds and take
        it out. What the database does not take now is retried in the background."""
        try:
            contents = await asyncio.to_thread(self.spool.read)
        except OSError as exc:
            log.error("optout_spool_unreadable", spool=str(self.spool.path), error=str(exc))
            return
        recovered = salvaged(contents)
        texts = {text: entry for entry, text in recovered}
        self._salvaged.update((entry, text) for entry, text in recovered)
        if contents.torn is not None:
            torn = texts.get(contents.torn)
            log.warning(
                "optout_spool_torn_line",
                spool=str(self.spool.path),
                line=contents.torn[:300],
                detail="its last line was cut short (dialguard stopped while writing it): "
                + (
                    f"its number is written as an opt-out of {torn.scope}"
                    if torn is not None
                    else "no number can be read from it; see the log's optout_pending or"
                    " *_write_given_up lines of that time, and add the opt-out by hand"
                ),
            )
        for number, text in contents.unreadable:
            found = texts.get(text)
            if found is not None:  # a torn line that more lines followed
                log.warning(
                    "optout_spool_line_salvaged",
                    spool=str(self.spool.path),
                    line_number=number,
                    line=text[:300],
                    detail=f"does not read; its number is written as an opt-out of {found.scope}",
                )
                continue
            log.error(
                "optout_spool_line_unreadable",
                spool=str(self.spool.path),
                line_number=number,
                line=text[:300],
                detail="left in the spool: add its opt-out by hand, then delete the line",
            )
        written = held = 0
        landed: list[SuppressionEntry] = []
        failed: Exception | None = None
        entries = [*contents.entries, *(entry for entry, _ in recovered)]
        for entry in dict.fromkeys(entries):  # the same entry twice: written once
            if failed is not None:  # the database fails: the rest would wait as long
                self._wait_for(entry, spooled=True)
                continue
            try:
                wrote = await self._land(entry)
            except Exception as exc:
                if not _refused(entry, exc):
                    failed = exc
                    self._wait_for(entry, spooled=True)
                continue
            landed.append(entry)
            if wrote:
                written += 1
            else:
                held += 1
        # A line that does not read goes once what it names is written (until then it is read
        # again); a torn last line that names nothing is said above, and goes.
        nothing = [] if contents.torn is None or contents.torn in texts else [contents.torn]
        if landed or nothing:
            await self._unspool(landed, extra_drop=nothing)
        if contents.entries or contents.torn is not None:
            log.warning(
                "optouts_replayed",
                spool=str(self.spool.path),
                written=written,
                already_held=held,
                waiting=len(self._waiting),
                error=repr(failed)[:300] if failed else None,
            )

    async def landed(self) -> None:
        """Wait until every opt-out kept has landed (or been refused)."""
        while self._retry is not None and not self._retry.done():
            await asyncio.shield(self._retry)

    async def close(self) -> None:
        """Stop retrying: what is spooled is written at the next start; what could not be
        spooled is logged once more for adding by hand."""
        if self._watch is not None:
            self._watch.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._watch
        if self._retry is not None:
            self._retry.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._retry
        for entry, waiting in self._waiting.items():
            if not waiting.spooled:
                log.error(
                    "optout_not_recorded",
                    number=entry.number,
                    tenant=entry.tenant,
                    error="dialguard stopped before the database took it, and the spool"
                    f" {self.spool.path} could not be written",
                    **to_add_by_hand(entry),
                )

    # -- inside --------------------------------------------------------------------------

    def _spool(self, entry: SuppressionEntry, error: str) -> bool:
        try:
            self.spool.append(entry, error)
        except OSError as exc:
            log.error(
                "optout_spool_failed",
                spool=str(self.spool.path),
                error=str(exc),
                number=entry.number,
                tenant=entry.tenant,
                **to_add_by_hand(entry),  # if dialguard stops before the database takes it
            )
            return False
        return True

    async def _unspool(
        self, landed: list[SuppressionEntry], *, extra_drop: Collection[str] = ()
    ) -> None:
        """Take the written entries out of the spool, with the lines salvaged ones came
        from (and `extra_drop`)."""
        drop = [*(self._salvaged.pop(e) for e in landed if e in self._salvaged), *extra_drop]
        try:
            await asyncio.to_thread(self.spool.remove, landed, drop)
        except OSError as exc:  # they are written: the next start finds them held
            self._uncleared.update(landed)  # not written (nor said landed) again meanwhile
            log.warning("optout_spool_not_cleared", spool=str(self.spool.path), error=str(exc))

    async def _watch_forever(self, land: bool) -> None:
        landed_at = time.monotonic()
        said = ""
        while True:
            await asyncio.sleep(WATCH_S)
            try:
                # The stat here (microseconds); a thread only to read a spool that changed:
                # a thread's turn for the GIL every 0.25 s cost the checks some throughput.
                if self._stat() != self._spool_seen:
                    await asyncio.to_thread(self.refresh)
                if land and self._spooled and time.monotonic() - landed_at >= self.max_delay_s:
                    landed_at = time.monotonic()
                    await self._land_spooled()
            except Exception as exc:  # the watch goes on, and tries again
                if repr(exc) != said:  # said once, not every 0.25 s
                    said = repr(exc)
                    log.warning("optout_spool_watch_failed", error=said[:300])

    async def _land_spooled(self) -> None:
        """Write the spool's entries this process does not retry itself (another process
        kept them, and may have died); stop at the first the database does not take."""
        landed: list[SuppressionEntry] = []
        spooled = [entry for entries in self._spooled.values() for entry in entries]
        for entry in spooled:
            if entry in self._waiting or entry in self._refused or entry in self._uncleared:
                continue
            if entry.reason == SALVAGED_REASON:
                continue  # a line that does not read: the next start's replay writes it
            try:
                wrote = await self._land(entry)
            except Exception as exc:
                if not _refused(entry, exc):
                    break
                self._refused.add(entry)  # said once; it stays for the operator
                continue
            landed.append(entry)
            if wrote:
                log.warning("optout_pending_landed", number=entry.number, tenant=entry.tenant)
        if landed:
            await self._unspool(landed)

    def _wait_for(self, entry: SuppressionEntry, *, spooled: bool) -> None:
        self._waiting.setdefault(entry, _Waiting(time.monotonic(), spooled))
        self._reindex()
        if self._retry is None or self._retry.done():
            self._retry = asyncio.create_task(self._retry_until_landed(), name="optout-retry")

    async def _retry_until_landed(self) -> None:
        delay = self.first_delay_s
        said_at = time.monotonic()
        while self._waiting:
            await asyncio.sleep(delay)
            delay = min(delay * 2, self.max_delay_s)
            error = await self._land_waiting()
            if error is not None and time.monotonic() - said_at >= STILL_FAILING_EVERY_S:
                said_at = time.monotonic()  # an operator is needed: said every minute
                log.error(
                    "optouts_still_pending",
                    count=len(self._waiting),
                    spool=str(self.spool.path),
                    error=repr(error)[:300],
                )

    async def _land_waiting(self) -> Exception | None:
        """Write the waiting opt-outs, in the order they came; stop at the first the database
        does not take (the others would not land either). Its error, or None."""
        landed: list[SuppressionEntry] = []
        error: Exception | None = None
        for entry in list(self._waiting):
            try:
                await self._land(entry)
            except Exception as exc:
                if _refused(entry, exc):
                    del self._waiting[entry]
                    self._refused.add(entry)
                    self._reindex()
                    continue
                error = exc
                break
            waited = time.monotonic() - self._waiting.pop(entry).since
            self._reindex()
            landed.append(entry)
            log.warning(
                "optout_pending_landed",
                number=entry.number,
                tenant=entry.tenant,
                waited_s=round(waited, 1),
            )
        if landed:
            await self._unspool(landed)
        return error

    async def _land(self, entry: SuppressionEntry) -> bool:
        """Write the entry; False when the list holds it already as it would leave it (a
        write that landed after all, a spool replayed twice): no second write, no second
        event."""
        # Between transactions on the shared connection: inside another task's, an entry it
        # has not committed (and may roll back) would read as held, and leave the spool.
        async with (
            self.store.exclusive() as conn,
            conn.execute(
                "SELECT requested_at, expires_at FROM suppressions"
                " WHERE number = ? AND tenant = ? AND campaign = ?",
                (entry.number, entry.tenant or "", entry.campaign or ""),
            ) as cur,
        ):
            row = await cur.fetchone()
        if row is not None and _holds(row[0], row[1], entry):
            return False
        await self.store.add_suppression(entry)
        return True


def _holds(requested_at: float, expires_at: float | None, entry: SuppressionEntry) -> bool:
    """The stored entry covers all the request does: asked no later, ending no sooner."""
    ends = to_epoch(entry.expires_at)
    return requested_at <= entry.requested_at.timestamp() and (
        expires_at is None or (ends is not None and expires_at >= ends)
    )


def _refused(entry: SuppressionEntry, exc: Exception) -> bool:
    """The write itself is wrong (a constraint): no wait helps. Said, and left in the spool."""
    if not (isinstance(exc, sqlite3.Error) and fails_the_records(exc)):
        return False
    log.error(
        "optout_pending_refused",
        number=entry.number,
        tenant=entry.tenant,
        error=repr(exc)[:300],
        detail="the database refuses this entry: it stays in the spool; add it by hand",
        **to_add_by_hand(entry),
    )
    return True
