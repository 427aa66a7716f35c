"""dialguard.toml: read, validate (every bad key named), and turn into `Settings`.

Precedence for the database path: `--db` / `DIALGUARD_DB`, then `[database] path`, then the
default under the user's data directory. Secrets (the AMI secret) come only from the settings
file or a file it names, never from a command line.
"""

from __future__ import annotations

import math
import os
import tomllib
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from pathlib import Path
from typing import Any

from dialguard.eventloop import EVENT_LOOPS
from rules import callerid as callerid_rules
from rules import detectors as detector_rules
from rules import jurisdictions as jurisdiction_rules
from rules.detectors import DetectorPolicy
from rules.facts import ConsentKind
from rules.jurisdictions.loader import consent_kind_table
from rules.jurisdictions.model import ATTEMPT_LOOKBACK
from rules.location import is_zone
from rules.models import Purpose, Verdict
from rules.numbers import shorten
from rules.policy import DEFAULT_REGISTERS, Policy, RegisterSpec, TenantSettings

MAX_AGI_WORKERS = 64


class SettingsError(Exception):
    """The settings file is unusable; the message names every bad key."""


def default_db_path() -> Path:
    base = os.environ.get("XDG_DATA_HOME") or str(Path.home() / ".local" / "share")
    return Path(base) / "dialguard" / "dialguard.sqlite3"


@dataclass(frozen=True, slots=True)
class AmiSettings:
    host: str = "127.0.0.1"
    port: int = 5038
    username: str = ""
    secret: str = field(default="", repr=False)
    secret_file: Path | None = None
    reconnect_min_s: float = 1.0
    reconnect_max_s: float = 30.0
    ping_interval_s: float = 10.0
    # The IANA zone Asterisk writes CDR times in (they carry no offset); None: this
    # machine's local zone, right when Asterisk runs here.
    cdr_timezone: str | None = None

    def resolve_secret(self) -> str:
        """The secret, read from its file when one is configured (at start-up, not at load)."""
        if self.secret_file is not None:
            return read_secret_file(self.secret_file)
        return self.secret


@dataclass(frozen=True, slots=True)
class Settings:
    db_path: Path
    agi_host: str = "127.0.0.1"
    agi_port: int = 4573
    ami: AmiSettings | None = None
    policy: Policy = field(default_factory=Policy)
    log_level: str = "info"
    source: Path | None = None
    # FastAGI worker processes sharing the port (SO_REUSEPORT); see dialguard/daemon.py.
    agi_workers: int = 1
    # "auto" (uvloop when it loads), "uvloop" or "asyncio"; see dialguard/eventloop.py.
    event_loop: str = "auto"
    # Decisions and outcomes older than this many days are deleted; 0 keeps them for ever.
    keep_history_days: int = 0
    # [ami] cdr_timezone, read whether or not the listener is on (`history import`).
    cdr_timezone: str | None = None


def load_settings(config: str | Path | None, db: str | Path | None = None) -> Settings:
    """Read the settings file (None: built-in defaults) and apply the `--db` override."""
    raw: dict[str, Any] = {}
    source: Path | None = None
    if config is not None:
        source = expand_path(Path(config), "settings file")
        try:
            raw = tomllib.loads(source.read_text(encoding="utf-8-sig"))
        except FileNotFoundError:
            raise SettingsError(f"settings file {source} does not exist") from None
        except (OSError, UnicodeDecodeError) as exc:
            raise SettingsError(f"cannot read settings file {source}: {exc}") from None
        except tomllib.TOMLDecodeError as exc:
            raise SettingsError(f"settings file {source} is not valid TOML: {exc}") from None
    settings = settings_from_mapping(raw, base_dir=source.parent if source else Path.cwd())
    overrides: dict[str, Any] = {"source": source}
    if db is not None:
        overrides["db_path"] = expand_path(Path(db), "--db")
    return _replace(settings, **overrides)


def expand_path(path: Path, what: str) -> Path:
    """`path` with `~` or `~user` expanded; a SettingsError naming `what` when it cannot be
    (no such user, no home directory), which pathlib raises as a RuntimeError."""
    try:
        return path.expanduser()
    except RuntimeError as exc:
        raise SettingsError(f"{what} {shorten(str(path))}: {exc}") from None


def settings_from_mapping(raw: Mapping[str, Any], base_dir: Path) -> Settings:
    errors: list[str] = []
    known = {
        "guard",
        "database",
        "agi",
        "ami",
        "tenants",
        "registers",
        "logging",
        "jurisdictions",
        "callerid",
        "detectors",
    }
    errors += [f"{key}: unknown section" for key in raw if key not in known]

    guard = _table(raw, "guard", errors)
    on_failure = _choice(guard, "guard", "on_failure", ("block", "allow"), "block", errors)
    deadline_ms = _int(guard, "guard", "deadline_ms", 250, errors, minimum=1, maximum=60_000)
    default_region = _region(guard.get("region"), "guard.region", errors)
    missing = _choice(guard, "guard", "register_missing", ("block", "allow"), "block", errors)
    _unknown(guard, "guard", {"on_failure", "deadline_ms", "region", "register_missing"}, errors)

    database = _table(raw, "database", errors)
    db_path = default_db_path()
    if "path" in database:
        if isinstance(database["path"], str) and database["path"]:
            try:
                db_path = (
                    base_dir / expand_path(Path(database["path"]), "database.path:")
                ).resolve()
            except SettingsError as exc:
                errors.append(str(exc))
            except (RuntimeError, OSError) as exc:  # a symbolic link loop (3.11-3.12)
                errors.append(f"database.path: {shorten(database['path'])}: {exc}")
        else:
            errors.append("database.path: must be a non-empty string")
    keep_days = _int(
        database, "database", "keep_history_days", 0, errors, minimum=0, maximum=36_500
    )
    _unknown(database, "database", {"path", "keep_history_days"}, errors)

    agi = _table(raw, "agi", errors)
    agi_host, agi_port = "127.0.0.1", 4573
    if "listen" in agi and not isinstance(agi["listen"], str):
        errors.append('agi.listen: must be a string such as "127.0.0.1:4573"')
    elif "listen" in agi:
        try:
            agi_host, agi_port = parse_host_port(agi["listen"], 4573)
        except ValueError as exc:
            errors.append(f"agi.listen: {exc}")
    agi_workers = _int(agi, "agi", "workers", 1, errors, minimum=1, maximum=MAX_AGI_WORKERS)
    event_loop = _choice(agi, "agi", "event_loop", EVENT_LOOPS, "auto", errors)
    _unknown(agi, "agi", {"listen", "workers", "event_loop"}, errors)

    ami, cdr_timezone = _ami(_table(raw, "ami", errors), base_dir, errors)

    tenants: dict[str, TenantSettings] = {}
    for name, value in _table(raw, "tenants", errors).items():
        if not isinstance(value, dict):
            errors.append(f"tenants.{name}: must be a table")
            continue
        if name != name.strip() or not name:
            # A call's tenant is read without the spaces around it: this one no call names.
            errors.append(
                f"tenants.{name!r}: a tenant's name may not be empty, nor begin or end with a space"
            )
            continue
        tenants[name] = TenantSettings(
            name, _region(value.get("region"), f"tenants.{name}.region", errors)
        )
        _unknown(value, f"tenants.{name}", {"region"}, errors)

    registers = dict(DEFAULT_REGISTERS)
    for name, value in _table(raw, "registers", errors).items():
        spec = _register(name, value, registers.get(name), errors)
        if spec is not None:
            registers[name] = spec

    logging_table = _table(raw, "logging", errors)
    log_level = _choice(
        logging_table, "logging", "level", ("debug", "info", "warning", "error"), "info", errors
    )
    _unknown(logging_table, "logging", {"level"}, errors)

    jurisdictions, errs = jurisdiction_rules.from_settings(_table(raw, "jurisdictions", errors))
    errors += errs
    callerid, errs = callerid_rules.from_settings(_table(raw, "callerid", errors))
    errors += errs
    detectors, errs = detector_rules.from_settings(_table(raw, "detectors", errors))
    errors += errs
    errors += _retention_errors(keep_days, detectors)

    if errors:
        raise SettingsError("invalid settings: " + "; ".join(errors))
    policy = Policy(
        tenants=tenants,
        default_region=default_region,
        registers=registers,
        block_when_register_missing=missing == "block",
        on_failure=Verdict.BLOCK if on_failure == "block" else Verdict.ALLOW,
        deadline_ms=deadline_ms,
        jurisdictions=jurisdictions,
        callerid=callerid,
        detectors=detectors,
    )
    return Settings(
        db_path,
        agi_host,
        agi_port,
        ami,
        policy,
        log_level,
        agi_workers=agi_workers,
        event_loop=event_loop,
        keep_history_days=keep_days,
        cdr_timezone=cdr_timezone,
    )


def _retention_errors(keep_days: int, detectors: DetectorPolicy) -> list[str]:
    """The history kept must cover all the rules read back: the attempts frequency caps count,
    and every enabled detector's window."""
    if not keep_days:
        return []
    window, detector = detectors.longest_lookback()
    longest, reader = ATTEMPT_LOOKBACK, "frequency caps count attempts"
    if detector is not None and window > longest:
        longest, reader = window, f"detectors.{detector} reads calls"
    minimum = math.ceil(longest / timedelta(days=1)) + 1  # a day's margin
    if keep_days >= minimum:
        return []
    return [
        f"database.keep_history_days: must be 0 (keep for ever) or at least {minimum}, as"
        f" {reader} {longest / timedelta(days=1):g} days back (got {keep_days})"
    ]


def parse_host_port(text: str, default_port: int) -> tuple[str, int]:
    """`HOST:PORT`, `HOST`, `[v6]:PORT` or `:PORT`."""
    text = text.strip()
    if text.startswith("["):
        host, closed, rest = text[1:].partition("]")
        if not closed or (rest and not rest.startswith(":")):
            raise ValueError(f"{shorten(text)!r} is not [IPv6]:PORT (a bracket is not closed)")
        port_text = rest[1:]
    elif text.count(":") == 1:
        host, port_text = text.split(":")
    else:
        host, port_text = text, ""
    host = host or "127.0.0.1"
    if not port_text:
        return host, default_port
    if not port_text.isdigit() or not 0 < int(port_text) < 65536:
        raise ValueError(f"{shorten(text)!r} has no valid port (1-65535)")
    return host, int(port_text)


def _replace(settings: Settings, **changes: Any) -> Settings:
    from dataclasses import replace

    return replace(settings, **changes)


def _table(raw: Mapping[str, Any], name: str, errors: list[str]) -> dict[str, Any]:
    value = raw.get(name, {})
    if not isinstance(value, dict):
        errors.append(f"{name}: must be a table")
        return {}
    return value


def _unknown(table: Mapping[str, Any], prefix: str, allowed: set[str], errors: list[str]) -> None:
    errors += [f"{prefix}.{key}: unknown setting" for key in table if key not in allowed]


def _choice(
    table: Mapping[str, Any],
    prefix: str,
    key: str,
    choices: tuple[str, ...],
    default: str,
    errors: list[str],
) -> str:
    value = table.get(key, default)
    if value not in choices:
        errors.append(f"{prefix}.{key}: must be one of {', '.join(choices)} (got {value!r})")
        return default
    return str(value)


def _int(
    table: Mapping[str, Any],
    prefix: str,
    key: str,
    default: int,
    errors: list[str],
    *,
    minimum: int,
    maximum: int,
) -> int:
    value = table.get(key, default)
    if isinstance(value, bool) or not isinstance(value, int) or not minimum <= value <= maximum:
        errors.append(f"{prefix}.{key}: must be a whole number from {minimum} to {maximum}")
        return default
    return value


def _region(value: Any, key: str, errors: list[str]) -> str | None:
    if value is None:
        return None
    import phonenumbers

    if not isinstance(value, str) or value.upper() not in phonenumbers.SUPPORTED_REGIONS:
        errors.append(
            f"{key}: must be an ISO 3166 country code such as AU, US or GB (got {value!r})"
        )
        return None
    return value.upper()


def _flag(
    table: Mapping[str, Any], prefix: str, key: str, default: bool, errors: list[str]
) -> bool:
    """A true/false setting; anything else is named (`enabled = "no"` used to read as true)."""
    value = table.get(key, default)
    if not isinstance(value, bool):
        errors.append(f"{prefix}.{key}: must be true or false")
        return default
    return value


def _ami(
    table: Mapping[str, Any], base_dir: Path, errors: list[str]
) -> tuple[AmiSettings | None, str | None]:
    """The listener's settings (None: no [ami], or `enabled = false`) and the CDR zone."""
    if not table:
        return None, None
    allowed = {
        "host",
        "port",
        "username",
        "secret",
        "secret_file",
        "reconnect_min_s",
        "reconnect_max_s",
        "ping_interval_s",
        "cdr_timezone",
        "enabled",
    }
    _unknown(table, "ami", allowed, errors)
    # Every value is checked, the listener off too: `history import` reads cdr_timezone
    # either way, and a mistake should not wait to be found until the listener is turned on.
    enabled = _flag(table, "ami", "enabled", True, errors)
    for key in ("host", "secret", "secret_file", "cdr_timezone"):
        if key in table and not isinstance(table[key], str):
            errors.append(f"ami.{key}: must be a string")
    secret, secret_file = "", None
    if "secret" in table and "secret_file" in table:
        errors.append("ami: give secret or secret_file, not both")
    elif "secret_file" in table:
        try:
            secret_file = base_dir / expand_path(
                Path(str(table["secret_file"])), "ami.secret_file:"
            )
        except SettingsError as exc:
            errors.append(str(exc))
    else:
        secret = str(table.get("secret", ""))
    username = table.get("username", "")
    if not isinstance(username, str) or (enabled and not username):
        errors.append("ami.username: required when [ami] is configured")
    port = _int(table, "ami", "port", 5038, errors, minimum=1, maximum=65535)
    floats: dict[str, float] = {}
    for key, default in (
        ("reconnect_min_s", 1.0),
        ("reconnect_max_s", 30.0),
        ("ping_interval_s", 10.0),
    ):
        value = table.get(key, default)
        if (
            isinstance(value, bool)
            or not isinstance(value, int | float)
            or not math.isfinite(value)  # TOML's nan and inf: asyncio.sleep(nan) raises
            or value <= 0
        ):
            errors.append(f"ami.{key}: must be a positive number of seconds")
            value = default
        floats[key] = float(value)
    cdr_timezone = table.get("cdr_timezone")
    if cdr_timezone is not None and not (isinstance(cdr_timezone, str) and is_zone(cdr_timezone)):
        errors.append(
            f"ami.cdr_timezone: {cdr_timezone!r} is not an IANA time zone (e.g. Australia/Sydney)"
        )
        cdr_timezone = None
    if not enabled:
        return None, cdr_timezone
    return (
        AmiSettings(
            str(table.get("host", "127.0.0.1")),
            port,
            str(username),
            secret,
            secret_file,
            **floats,
            cdr_timezone=cdr_timezone,
        ),
        cdr_timezone,
    )


def read_secret_file(path: Path) -> str:
    try:
        secret = path.read_text(encoding="utf-8").strip()
    except OSError as exc:
        raise SettingsError(f"cannot read secret file {path}: {exc.strerror}") from None
    except UnicodeDecodeError:
        raise SettingsError(f"secret file {path} is not UTF-8 text") from None
    if not secret:
        raise SettingsError(f"secret file {path} is empty")
    return secret


_REGISTER_KEYS = {
    "country",
    "covers",
    "max_age_days",
    "effective_after_days",
    "binds_until",
    "exemptions",
    "applies_to",
    "citation",
    "label",
    "unverified",
}


def _exemptions(
    value: Any, prefix: str, errors: list[str]
) -> tuple[tuple[ConsentKind, int | None], ...]:
    """`exemptions = { express = true, ebr-purchase = 18 }`: the consent kinds that lift the
    register, each for as long as its record is in force (true) or that many months; `{}`:
    nothing lifts it. Replaces the shipped table (some of whose entries are [U])."""
    key = f"{prefix}.exemptions"
    found: list[tuple[ConsentKind, int | None]] = []
    for kind, lasts in consent_kind_table(value, key, "{ express = true }", errors):
        if lasts is True:
            found.append((kind, None))
        elif isinstance(lasts, int) and not isinstance(lasts, bool) and 1 <= lasts <= 1200:
            found.append((kind, lasts))
        else:
            errors.append(f"{key}.{kind.value}: must be true, or a number of months from 1 to 1200")
    return tuple(found)


def _register(
    name: str, value: Any, base: RegisterSpec | None, errors: list[str]
) -> RegisterSpec | None:
    prefix = f"registers.{name}"
    if not isinstance(value, dict):
        errors.append(f"{prefix}: must be a table")
        return None
    _unknown(value, prefix, _REGISTER_KEYS, errors)
    spec = base or RegisterSpec(name, None)
    changes: dict[str, Any] = {}
    if "country" in value:
        changes["country"] = _region(value["country"], f"{prefix}.country", errors)
    elif base is None and value.get("applies_to", "callee") == "callee":
        errors.append(f"{prefix}.country: required for a new register")
    if "covers" in value:
        try:
            changes["covers"] = frozenset(Purpose(p) for p in value["covers"])
        except (ValueError, TypeError):
            errors.append(
                f"{prefix}.covers: must list purposes from {', '.join(p.value for p in Purpose)}"
            )
    if "max_age_days" in value:
        # At least a day: 0 was read as "no limit", and a register copy years old kept
        # lifting no call it should block.
        changes["max_age_days"] = _int(
            value, prefix, "max_age_days", 1, errors, minimum=1, maximum=3650
        )
    if "effective_after_days" in value:  # 0: a registration binds at once
        changes["effective_after_days"] = (
            _int(value, prefix, "effective_after_days", 0, errors, minimum=0, maximum=3650) or None
        )
    if "binds_until" in value:
        # Where a law ends the register (Bloctel with France's switch to opt-in, a date the
        # docs could not settle [U]): a TOML date, or false for no end.
        until = value["binds_until"]
        if until is False:
            changes["binds_until"] = None
        elif isinstance(until, date) and not isinstance(until, datetime):
            changes["binds_until"] = until
        else:
            errors.append(f"{prefix}.binds_until: must be a date (2026-08-10) or false")
    if "exemptions" in value:
        changes["exemptions"] = _exemptions(value["exemptions"], prefix, errors)
    if "applies_to" in value:
        changes["applies_to"] = _choice(
            value, prefix, "applies_to", ("callee", "caller_id"), "callee", errors
        )
    for key in ("citation", "label"):
        if key in value:
            if isinstance(value[key], str):
                changes[key] = value[key]
            else:
                errors.append(f"{prefix}.{key}: must be a string")
    if "unverified" in value:
        changes["unverified"] = _flag(value, prefix, "unverified", True, errors)
    from dataclasses import replace

    return replace(spec, **changes)
