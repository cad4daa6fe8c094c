"""`forvarv library webhook add|list|remove|retry`."""

from __future__ import annotations

import argparse
import json

import asyncpg

from gateway.config import Settings
from gateway.outbox.webhook import registry as webhooks


def register(library_commands: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    """Add `webhook` under `forvarv library`."""
    wp = library_commands.add_parser("webhook", help="webhooks to the library's systems (signed POSTs)")
    sub = wp.add_subparsers(dest="webhook_action", required=True, metavar="ACTION")
    a = sub.add_parser("add", help="register a URL; prints its signing secret as the last line (shown once)")
    a.add_argument("sigel")
    a.add_argument("url")
    a.set_defaults(func=webhook_add)
    a = sub.add_parser("list", help="a library's webhooks (every library's without SIGEL), with their state")
    a.add_argument("sigel", nargs="?")
    a.add_argument("--failing", action="store_true", help="only webhooks marked failing")
    a.add_argument("--json", action="store_true")
    a.set_defaults(func=webhook_list)
    a = sub.add_parser("remove", help="remove a webhook (its queued events are dropped)")
    a.add_argument("sigel")
    a.add_argument("id", type=int)
    a.set_defaults(func=webhook_remove)
    a = sub.add_parser("retry", help="queue a webhook's failed events again")
    a.add_argument("sigel")
    a.add_argument("id", type=int)
    a.set_defaults(func=webhook_retry)


async def webhook_add(args: argparse.Namespace, conn: asyncpg.Connection, settings: Settings) -> int:
    added = await webhooks.add(conn, args.sigel, args.url, allow_private=settings.webhook_allow_private)
    print(f"webhook {added['id']} of {args.sigel} added: {added['url']}")
    print("signing secret (shown only now; the library verifies X-Forvarv-Signature with it):")
    print(added["secret"])
    return 0


async def webhook_list(args: argparse.Namespace, conn: asyncpg.Connection, _: Settings) -> int:
    rows = await webhooks.list_webhooks(conn, args.sigel, "failing" if args.failing else None)
    if args.json:
        print(json.dumps(rows, indent=2, ensure_ascii=False))
        return 0
    for r in rows:
        line = (f"{r['id']:<6} {r['sigel']:<10} {r['state']:<8} pending={r['pending']} failed={r['failed']} "
                f"{r['url']}")
        if r["state"] == "failing":
            line += f"\n       last error: {r['last_error']}"
        print(line)
    if not rows:
        print("no webhooks")
    return 0


async def webhook_remove(args: argparse.Namespace, conn: asyncpg.Connection, _: Settings) -> int:
    await webhooks.remove(conn, args.sigel, args.id)
    print(f"webhook {args.id} of {args.sigel} removed")
    return 0


async def webhook_retry(args: argparse.Namespace, conn: asyncpg.Connection, _: Settings) -> int:
    count = await webhooks.retry(conn, args.sigel, args.id)
    print(f"{count} failed event(s) of webhook {args.id} queued again")
    return 0
