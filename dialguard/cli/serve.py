"""`dialguard serve`: run the FastAGI server and the AMI listener until SIGTERM or SIGINT."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import click

from dialguard.cli.app import AppContext, InputError, check_db_path, cli, pass_app
from dialguard.daemon import DaemonError, run_until_signalled
from dialguard.eventloop import EventLoopError, run
from dialguard.logs import configure_logging
from dialguard.settings import (
    MAX_AGI_WORKERS,
    AmiSettings,
    SettingsError,
    expand_path,
    parse_host_port,
    read_secret_file,
)
from dialguard.store import StoreError


@cli.command()
@click.option("--agi", "agi_listen", default=None, help="FastAGI listen address HOST:PORT.")
@click.option("--ami", "ami_address", default=None, help="Asterisk manager address HOST:PORT.")
@click.option("--ami-user", default=None, help="Manager user (read = call,cdr,user).")
@click.option(
    "--ami-secret-file",
    type=click.Path(dir_okay=False),
    default=None,
    help="File holding the manager secret (never on the command line).",
)
@click.option("--no-ami", is_flag=True, help="Run the FastAGI server only.")
@click.option(
    "--workers",
    type=int,
    default=None,
    help="FastAGI processes sharing the port (default [agi] workers, else 1).",
)
@pass_app
def serve(
    app: AppContext,
    agi_listen: str | None,
    ami_address: str | None,
    ami_user: str | None,
    ami_secret_file: str | None,
    no_ami: bool,
    workers: int | None,
) -> None:
    """Run the FastAGI server (default 127.0.0.1:4573) and the AMI listener."""
    settings = app.settings
    configure_logging(settings.log_level)
    check_db_path(settings.db_path)  # a new one is made (its `serving` line names it)
    if workers is not None:
        if not 1 <= workers <= MAX_AGI_WORKERS:
            raise InputError(f"--workers: must be a whole number from 1 to {MAX_AGI_WORKERS}")
        settings = replace(settings, agi_workers=workers)
    if agi_listen is not None:
        try:
            host, port = parse_host_port(agi_listen, 4573)
        except ValueError as exc:
            raise InputError(f"--agi: {exc}") from None
        settings = replace(settings, agi_host=host, agi_port=port)
    if no_ami and (ami_address, ami_user, ami_secret_file) != (None, None, None):
        # Which was meant cannot be told: one would be ignored without a word.
        raise InputError("--no-ami cannot be given with --ami, --ami-user or --ami-secret-file")
    ami = None if no_ami else _ami_settings(settings.ami, ami_address, ami_user, ami_secret_file)
    try:
        run(run_until_signalled(settings, ami=ami), settings.event_loop)
    except (DaemonError, StoreError, SettingsError, EventLoopError) as exc:
        raise InputError(str(exc)) from None


def _ami_settings(
    base: AmiSettings | None, address: str | None, user: str | None, secret_file: str | None
) -> AmiSettings | None:
    if base is None and address is None and user is None and secret_file is None:
        return None
    ami = base or AmiSettings()
    if address is not None:
        try:
            host, port = parse_host_port(address, 5038)
        except ValueError as exc:
            raise InputError(f"--ami: {exc}") from None
        ami = replace(ami, host=host, port=port)
    if user is not None:
        ami = replace(ami, username=user)
    if secret_file is not None:
        try:  # `--ami-secret-file=~/secret`: no shell expands that `~`
            path = expand_path(Path(secret_file), "--ami-secret-file")
        except SettingsError as exc:
            raise InputError(str(exc)) from None
        ami = replace(ami, secret_file=path, secret="")
    if not ami.username:
        raise InputError("--ami-user (or [ami] username) is required to connect to AMI")
    if ami.secret_file is None and not ami.secret:
        # Asterisk refuses an empty secret: the listener would retry a failing login for ever
        # while the operator believes outcomes are recorded.
        raise InputError(
            "--ami-secret-file (or [ami] secret_file or secret) is required to connect to AMI"
        )
    try:
        if ami.secret_file is not None:
            read_secret_file(ami.secret_file)
    except SettingsError as exc:
        raise InputError(str(exc)) from None
    return ami
