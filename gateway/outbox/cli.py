"""`forvarv notifications list|show|resend`.

`register(subparsers)` adds the commands; each sets `func`, an
`async def (args, conn, settings) -> int` that the main CLI calls with a database connection.
"""

from __future__ import annotations

import argparse
import json
import sys
from typing import Any

import asyncpg

from gateway.config import Settings
from gateway.outbox import queue as outbox
from gateway.outbox.mail.render import MailContext, render


def register(subparsers: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    """Add the `notifications` subcommands."""
    parser = subparsers.add_parser(
        "notifications", help="e-mail notifications to libraries (the outbox)", description=__doc__
    )
    sub = parser.add_subparsers(dest="notifications_command", metavar="COMMAND", required=True)

    ls = sub.add_parser("list", help="list notifications, newest first")
    ls.add_argument(
        "--status",
        action="append",
        default=[],
        metavar="STATUS",
        help=f"only these statuses (repeat or comma-separate): {', '.join(outbox.STATUSES)}",
    )
    ls.add_argument("--sigel", help="only this library")
    ls.add_argument("--limit", type=int, default=50, help="at most this many (default 50)")
    ls.add_argument("--before", type=int, metavar="ID", help="only ids below this (paging)")
    ls.add_argument("--json", action="store_true", help="one JSON object per line")
    ls.set_defaults(func=list_command)

    show = sub.add_parser("show", help="show a notification and the message it sends")
    show.add_argument("id", type=int)
    show.set_defaults(func=show_command)

    resend = sub.add_parser("resend", help="send a notification again (failed, sent, held or skipped)")
    resend.add_argument("id", type=int)
    resend.set_defaults(func=resend_command)


_HEADER = (
    f"{'id':>8}  {'kind':<8}  {'sigel':<12}  {'delivery':>8}  {'status':<8}  "
    f"try  items  {'when':<19}  error"
)


def _line(row: dict[str, Any]) -> str:
    when = row["sent_at"] or (row["next_attempt_at"] if row["status"] == "pending" else row["created_at"])
    delivery = row["delivery_id"] if row["delivery_id"] is not None else "-"
    error = (row["last_error"] or "").replace("\n", " ")[:80]
    return (
        f"{row['id']:>8}  {row['kind']:<8}  {row['sigel']:<12}  {delivery!s:>8}  {row['status']:<8}  "
        f"{row['attempts']:>3}  {row['item_count']:>5}  {when:%Y-%m-%d %H:%M:%S}  {error}"
    )


async def list_command(args: argparse.Namespace, conn: asyncpg.Connection, settings: Settings) -> int:
    statuses = [s.strip() for part in args.status for s in part.split(",") if s.strip()]
    try:
        rows = await outbox.list_notifications(
            conn, statuses=statuses or None, sigel=args.sigel, before_id=args.before, limit=args.limit
        )
    except ValueError as exc:
        print(f"forvarv notifications list: {exc}", file=sys.stderr)
        return 2
    if args.json:
        for row in rows:
            print(json.dumps(outbox.jsonable(row), ensure_ascii=False, default=str))
        return 0
    print(_HEADER)
    for row in rows:
        print(_line(row))
    return 0


async def show_command(args: argparse.Namespace, conn: asyncpg.Connection, settings: Settings) -> int:
    row = await outbox.get(conn, args.id)
    outgoing = await outbox.load_outgoing(conn, args.id)
    if row is None or outgoing is None:
        print(f"no notification {args.id}", file=sys.stderr)
        return 1
    row.pop("content", None)
    for key, value in outbox.jsonable(row).items():
        print(f"{key}: {value}")
    print()
    print(render(outgoing, MailContext.from_settings(settings)).message.as_string())
    return 0


async def resend_command(args: argparse.Namespace, conn: asyncpg.Connection, settings: Settings) -> int:
    result = await outbox.resend(conn, args.id)
    if result is outbox.ResendResult.NOT_FOUND:
        print(f"no notification {args.id}", file=sys.stderr)
        return 1
    if result is outbox.ResendResult.IN_FLIGHT:
        print(f"notification {args.id} is being sent right now; try again in a moment", file=sys.stderr)
        return 3
    print(f"notification {args.id} queued; the sender in `forvarv serve` sends it")
    return 0
