"""The root `dialguard` command group and what every subcommand shares.

Exit statuses (the contract): 0 success (and `check`: allowed), 1 `check`: blocked, 2 usage or
input error, reported as one line naming what was wrong, never a traceback.
"""

from __future__ import annotations

import asyncio
import errno
import getpass
import io
import json
import os
import sqlite3
import stat
import sys
from collections.abc import Awaitable, Callable, Coroutine
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta, tzinfo
from pathlib import Path
from typing import Any, NoReturn, TypeVar

import click

from dialguard.logs import configure_logging
from dialguard.settings import Settings, SettingsError, default_db_path, load_settings
from dialguard.store import Store, StoreError, open_store
from dialguard.store.hotpath import StoreUnavailable, is_lock_error

# A date alone is a day that starts at different instants across the world's zones, from
# UTC+14 to UTC-12. Where its bound decides whether a call may be made, read it on the side
# that blocks: an opt-out lapses, and a consent starts, only once the day has begun
# everywhere (LAST_MIDNIGHT); a consent lapses, or is withdrawn, as soon as it has begun
# anywhere (FIRST_MIDNIGHT), and so does a span counted from its date (an EBR's months:
# `ConsentRecord.counted_from`). Read as midnight UTC, `--expires 2026-11-26` ended an
# opt-out at 19:00 on the 25th in New York.
from rules.facts import FIRST_MIDNIGHT as FIRST_MIDNIGHT
from rules.facts import LAST_MIDNIGHT as LAST_MIDNIGHT
from rules.models import FIRST_YEAR, LAST_YEAR  # what the store's epoch seconds hold
from rules.numbers import shorten
from rules.policy import Policy

T = TypeVar("T")


class InputError(click.ClickException):
    """Bad input from the operator: printed as one line, exit status 2."""

    exit_code = 2

    def show(self, file: Any = None) -> None:
        click.echo(f"dialguard: {self.format_message()}", err=True)


class Interrupted(click.ClickException):
    """Ctrl-C: one line and exit status 130, not click's `Aborted!` with status 1, which
    `check` uses for "blocked"."""

    exit_code = 130

    def __init__(self) -> None:
        super().__init__(
            "interrupted; an import is all or nothing (`registry status`, `suppress list`"
            " show what is in force)"
        )

    def show(self, file: Any = None) -> None:
        click.echo(f"dialguard: {self.format_message()}", err=True)


class OneLineGroup(click.Group):
    """The root group: click's usage errors (a missing option, a bad choice) are one line
    naming what was wrong and where to look, like every other input error."""

    def make_context(self, *args: Any, **kwargs: Any) -> click.Context:
        try:
            return super().make_context(*args, **kwargs)
        except _HELP_PAGE:
            raise
        except click.UsageError as exc:
            raise _one_line(exc) from None

    def invoke(self, ctx: click.Context) -> Any:
        try:
            return super().invoke(ctx)
        except _HELP_PAGE:
            raise
        except click.UsageError as exc:
            raise _one_line(exc) from None
        except (KeyboardInterrupt, click.exceptions.Abort):
            raise Interrupted() from None
        except BrokenPipeError:
            # The reader stopped reading (`| head`): its choice, not an error, and nothing more
            # can be said on stdout. click made it exit status 1, which `check` means "blocked".
            silence_stdout()
            ctx.exit(0)
        except OSError as exc:
            # Writing the output failed (a full disk under `suppress export > FILE`): one line,
            # not a traceback. Any other OSError is a fault of ours, and keeps its traceback.
            if exc.errno not in _OUTPUT_ERRNOS:
                raise
            silence_stdout()
            where = f" ({exc.filename})" if exc.filename else ""
            raise InputError(f"input/output error{where}: {exc.strerror or exc}") from None


# What a full or failing disk (or quota) raises when the output is written.
_OUTPUT_ERRNOS = frozenset({errno.ENOSPC, errno.EDQUOT, errno.EFBIG, errno.EIO})


def silence_stdout() -> None:
    """Point stdout at /dev/null, so that the interpreter's last flush cannot fail again."""
    try:
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
    except (OSError, AttributeError, ValueError, io.UnsupportedOperation):
        pass  # not a real file (tests' CliRunner): nothing to flush later


# A group run without a subcommand shows its help page: a UsageError since click 8.2.
_HELP_PAGE: tuple[type[BaseException], ...] = tuple(
    kind for kind in (getattr(click.exceptions, "NoArgsIsHelpError", None),) if kind is not None
)


def _one_line(exc: click.UsageError) -> InputError:
    where = exc.ctx.command_path if exc.ctx is not None else "dialguard"
    message = " ".join(exc.format_message().split())
    return InputError(f"{message} (see `{where} --help`)")


def check_db_path(path: Path) -> bool:
    """Whether the database at `path` is still to be created; raises InputError for one in a
    folder that does not exist (the default path's folder is made). A mistyped --db would
    otherwise make an empty database: `serve` blocked every call on it, the lists looked
    empty, and imports went where the daemon never reads."""
    try:
        exists, folder = path.exists(), path.parent.is_dir()
    except OSError as exc:  # a folder on the way that cannot be entered, a name too long
        raise InputError(
            f"the database {shorten(str(path))} cannot be reached: {exc.strerror or exc}"
        ) from None
    if exists:
        return False
    if not folder and path != default_db_path():
        raise InputError(
            f"no database at {path}: its folder does not exist (check --db,"
            " DIALGUARD_DB or [database] path in the settings)"
        )
    return True


@dataclass
class AppContext:
    config: str | None
    db: str | None
    operator: str | None = None
    _settings: Settings | None = None

    @property
    def actor(self) -> str:
        """Who the events of this command's changes name: `cli:` and the operator, with the
        login beside a name the operator gave (`--operator` is a claim, the login is not)."""
        login = login_name()
        if self.operator is None or self.operator == login:
            return f"cli:{login}"
        return f"cli:{self.operator} (login {login})"

    @property
    def settings(self) -> Settings:
        if self._settings is None:
            try:
                self._settings = load_settings(self.config, self.db)
            except SettingsError as exc:
                raise InputError(str(exc)) from None
        return self._settings

    def run(self, body: Callable[[Store], Awaitable[T]]) -> T:
        """Open the store, run `body` with it, close it; store errors become one line."""

        async def main() -> T:
            path = self.settings.db_path
            created = check_db_path(path)
            try:
                store = await open_store(path, actor=self.actor)
            except StoreError as exc:
                raise InputError(str(exc)) from None
            try:
                # Inside: a stderr that cannot be written must still close the store, whose
                # worker thread otherwise kept the process alive for ever.
                if created:
                    click.echo(f"dialguard: no database at {path}: created an empty one", err=True)
                return await body(store)
            finally:
                await store.close()

        return run_async(main())


def run_async(coro: Coroutine[Any, Any, T]) -> T:
    try:
        return asyncio.run(coro)
    except (StoreError, StoreUnavailable) as exc:
        raise InputError(str(exc)) from None
    except sqlite3.Error as exc:  # once open: another process's lock, a read-only file, ...
        raise InputError(database_problem(exc)) from None


def database_problem(exc: sqlite3.Error) -> str:
    text = str(exc)
    if isinstance(exc, sqlite3.OperationalError) and is_lock_error(exc):
        return f"the database is locked by another process ({text}); nothing was changed"
    if "readonly" in text or "read-only" in text:
        return f"the database cannot be written ({text}); nothing was changed"
    return f"the database failed ({type(exc).__name__}: {text})"


@click.group(
    cls=OneLineGroup,
    context_settings={"help_option_names": ["-h", "--help"], "max_content_width": 100},
)
@click.option(
    "--db",
    envvar="DIALGUARD_DB",
    type=click.Path(dir_okay=False),
    default=None,
    help="SQLite database file (env DIALGUARD_DB).",
)
@click.option(
    "--config",
    envvar="DIALGUARD_CONFIG",
    type=click.Path(dir_okay=False),
    default=None,
    help="Settings file, TOML (env DIALGUARD_CONFIG).",
)
@click.option(
    "--operator",
    envvar="DIALGUARD_OPERATOR",
    default=None,
    help="Who is making the changes, for the events table (env DIALGUARD_OPERATOR), recorded"
    " beside the login name (the user behind sudo, else the login; alone by default).",
)
@click.version_option(package_name="dialguard")
@click.pass_context
def cli(ctx: click.Context, db: str | None, config: str | None, operator: str | None) -> None:
    """dialguard: the compliance guard for outbound calls on Asterisk."""
    # Operator commands keep stdout for their output; `serve` raises the level from settings.
    configure_logging("warning")
    name = operator.strip() if operator else None
    if operator is not None and (not name or not name.isprintable()):
        raise InputError("--operator: give a name on one line")
    ctx.obj = AppContext(config=config, db=db, operator=name)


def login_name() -> str:
    """The person at the terminal: the user `sudo` ran for, else the login name."""
    sudo = os.environ.get("SUDO_USER")
    if sudo:
        return sudo
    try:
        return getpass.getuser()
    except (OSError, KeyError):  # no such variable and no passwd entry (a bare container)
        return f"uid {os.getuid()}"


pass_app = click.make_pass_decorator(AppContext)


def emit_json(value: Any) -> None:
    click.echo(json.dumps(value, indent=2, default=str, ensure_ascii=False))


def parse_when(text: str | None, option: str, *, day_starts: tzinfo = UTC) -> datetime | None:
    """An ISO-8601 date or date-time; naive values are read as UTC, a date alone as its
    midnight in `day_starts`. None passes through."""
    if text is None:
        return None
    try:
        value = datetime.fromisoformat(text.strip().replace("Z", "+00:00"))
    except ValueError:
        raise InputError(
            f"{option}: {shorten(text)!r} is not an ISO-8601 date or date-time"
        ) from None
    if value.tzinfo is None:
        value = value.replace(tzinfo=day_starts if _is_date_alone(text) else UTC)
    return in_range(value, text, option)


def _is_date_alone(text: str) -> bool:
    return date_alone(text) is not None


def date_alone(text: str) -> date | None:
    """The date `text` gives when it gives no time: `2026-11-26` (or `20261126`), not a
    date-time in any of ISO's spellings (`t` and `_` separate a time too, and such a value
    was read as a whole day)."""
    try:
        return date.fromisoformat(text.strip())
    except ValueError:
        return None


# How far ahead of this machine's clock a date may be and still be "now" somewhere: east of
# UTC, today's date is "tomorrow" here. A date past it is in the future, which an opt-out or
# a consent cannot be dated.
DATE_SLACK = timedelta(days=1)


def not_in_the_future(
    text: str | None, option: str, now: datetime, *, what: str, day_starts: tzinfo = UTC
) -> datetime:
    """When something the operator reports happened (default: now), such as an opt-out
    request received or a consent withdrawn: it is in force from then, so a date in the
    future, recorded now, would not be. Up to `DATE_SLACK` ahead is today east of UTC, taken
    as now; further ahead is refused, naming `what` the date should be."""
    when = parse_when(text, option, day_starts=day_starts) or now
    if when > now + DATE_SLACK:
        fail(f"{option} {shorten(text or '')!r} is in the future: give the date {what}")
    return min(when, now)


def in_range(value: datetime, text: str, option: str) -> datetime:
    """`value`, unless it is outside the years the store can keep: stored, such a date made
    every later read of the entry fail (`year 10000 is out of range`)."""
    try:
        year = value.astimezone(UTC).year
    except OverflowError:
        year = 0
    if not FIRST_YEAR <= year <= LAST_YEAR:
        raise InputError(f"{option}: {shorten(text)!r} is not between {FIRST_YEAR} and {LAST_YEAR}")
    return value


def parse_day(text: str | None, option: str) -> date | None:
    if text is None:
        return None
    try:
        return date.fromisoformat(text.strip())
    except ValueError:
        raise InputError(f"{option}: {shorten(text)!r} is not a date (YYYY-MM-DD)") from None


def fail(message: str) -> NoReturn:
    raise InputError(message)


def scope_name(ctx: click.Context, param: click.Parameter, value: str | None) -> str | None:
    """A `--tenant` or `--campaign` as the AGI route reads its channel variables: spaces
    around it dropped. An empty one is refused: `--tenant "$T"` with T unset would otherwise
    add (or remove) a global opt-out, and `"acme "` one that no call of acme's matches."""
    if value is None:
        return None
    name = value.strip()
    if not name:
        raise click.BadParameter("is empty: give a name, or leave the option out")
    if param.name == "tenant":
        _warn_of_a_near_tenant(ctx, name)
    return name


def _warn_of_a_near_tenant(ctx: click.Context, name: str) -> None:
    """Names are matched exactly, as the channel gives them: `--tenant ACME` for the settings'
    `acme` adds an opt-out (or a suspension) that none of acme's calls meets. Said, on a
    tenant the settings do not declare that differs from one they do only in case."""
    app = ctx.find_object(AppContext)
    if app is None:
        return
    try:
        policy = app.settings.policy
    except InputError:
        return  # the command itself reports a bad settings file
    near_tenant_warner(policy)(name)


def near_tenant_warner(policy: Policy) -> Callable[[str | None], None]:
    """A warning on stderr for each tenant name, once, that is not in the settings but
    differs from one that is only in case (`--tenant`, and an import's tenant column)."""
    said: set[str] = set()

    def warn(name: str | None) -> None:
        if not name or name in said:
            return
        said.add(name)
        if near := policy.tenants_like(name):
            click.echo(
                f"dialguard: warning: tenant {shorten(name)!r} is not in the settings, but"
                f" {', '.join(repr(t) for t in near)} is: a tenant's settings, consents and"
                " caller IDs are matched exactly, as the channel names them",
                err=True,
            )

    return warn


# What Path.exists() reads as "not there" (pathlib's _ignore_error): a dangling link too.
_NO_SUCH_FILE = frozenset({errno.ENOENT, errno.ENOTDIR, errno.EBADF, errno.ELOOP})


def readable_file(path: str) -> Path:
    name = shorten(path)
    try:
        p = Path(path).expanduser()
        mode = p.stat().st_mode  # one look, for all the questions below
    except RuntimeError as exc:  # ~nosuchuser, or no home directory to expand ~ to
        fail(f"{name}: {exc}")
    except OSError as exc:
        if exc.errno in _NO_SUCH_FILE:
            fail(f"{name}: no such file")
        # a folder on the way that cannot be entered, a name too long
        fail(f"{name}: cannot be read ({exc.strerror or exc})")
    if stat.S_ISDIR(mode):
        fail(f"{name}: is a folder, not a file")
    if not stat.S_ISREG(mode):
        # A named pipe was opened here and again to read it, and the second open waited
        # for a writer for ever; the imports read their file more than once.
        fail(f"{name}: is a pipe or a device, not a file: save it to a file first")
    try:
        with p.open("rb"):
            pass
    except OSError as exc:
        fail(f"{name}: cannot be read ({exc.strerror})")
    return p


def is_terminal() -> bool:
    return sys.stderr.isatty()
