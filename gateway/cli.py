"""The `forvarv` command: run the gateway, manage the registry, deliver files, inspect results.

Settings come from FORVARV_* environment variables, overridden by flags. Every command works
against the configured database: FORVARV_DATABASE_URL, or the embedded PostgreSQL in the data
directory (started on demand and reused).
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

import asyncpg

from gateway import cli_common, config, registry
from gateway.config import Settings
from gateway.errors import GatewayError
from gateway.intake import report
from gateway.ops import loop
from gateway.store import db, migrations

Command = Callable[[argparse.Namespace, asyncpg.Connection, Settings], Awaitable[int]]


def _print_json(value: Any) -> None:
    print(json.dumps(value, indent=2, ensure_ascii=False, default=str))


# --- registry ---------------------------------------------------------------------------------
async def supplier_add(args: argparse.Namespace, conn: asyncpg.Connection, _: Settings) -> int:
    async with conn.transaction():
        s = await registry.add_supplier(conn, args.code, args.name)
        token_id, token = await registry.create_token(conn, s.code)
    print(f"supplier {s.code} ({s.name}) added; API token {token_id} (shown only now):")
    print(token)
    return 0


async def supplier_list(args: argparse.Namespace, conn: asyncpg.Connection, _: Settings) -> int:
    rows = await registry.list_suppliers(conn)
    if args.json:
        _print_json(rows)
        return 0
    for r in rows:
        customers = ",".join(map(str, r["customers"]))  # type: ignore[call-overload]
        print(f"{r['code']:<16} {r['name']:<32} tokens={r['active_tokens']} customers={customers}")
    return 0


async def supplier_remove(args: argparse.Namespace, conn: asyncpg.Connection, _: Settings) -> int:
    await registry.remove_supplier(conn, args.code)
    print(f"supplier {args.code} removed")
    return 0


async def supplier_token(args: argparse.Namespace, conn: asyncpg.Connection, _: Settings) -> int:
    token_id, token = await registry.create_token(conn, args.code)
    print(f"new API token {token_id} for {args.code} (shown only now):")
    print(token)
    return 0


async def supplier_tokens(args: argparse.Namespace, conn: asyncpg.Connection, _: Settings) -> int:
    for t in await registry.list_tokens(conn, args.code):
        state = f"revoked {t['revoked_at']}" if t["revoked_at"] else "active"
        print(f"{t['id']:<6} {t['prefix']}…  created {t['created_at']}  {state}")
    return 0


async def supplier_revoke(args: argparse.Namespace, conn: asyncpg.Connection, _: Settings) -> int:
    count = await registry.revoke_token(conn, args.code, args.token_id)
    print(f"revoked {count} token(s) of {args.code}")
    return 0


async def library_add(args: argparse.Namespace, conn: asyncpg.Connection, _: Settings) -> int:
    lib = await registry.add_library(conn, args.sigel, args.name, args.email or [], language=args.language,
                                     registered=not args.unregistered, digest=args.digest)
    print(f"library {lib['sigel']} ({lib['name']}) added")
    return 0


async def library_update(args: argparse.Namespace, conn: asyncpg.Connection, _: Settings) -> int:
    changes: dict[str, object] = {}
    if args.name:
        changes["name"] = args.name
    if args.email or args.no_email:
        changes["emails"] = args.email or []
    if args.language:
        changes["language"] = args.language
    if args.registered is not None:
        changes["registered"] = args.registered == "yes"
    if args.digest is not None:
        changes["digest"] = args.digest == "yes"
    lib = await registry.update_library(conn, args.sigel, **changes)
    print(f"library {lib['sigel']} updated")
    return 0


async def library_list(args: argparse.Namespace, conn: asyncpg.Connection, _: Settings) -> int:
    rows = await registry.list_libraries(conn)
    if args.json:
        _print_json(rows)
        return 0
    for r in rows:
        flags = ("registered" if r["registered"] else "unregistered") + (" digest" if r["digest"] else "")
        print(f"{r['sigel']:<10} {r['name']:<36} {r['language']} {flags:<18} {', '.join(r['emails'])}")  # type: ignore[arg-type]
    return 0


async def library_remove(args: argparse.Namespace, conn: asyncpg.Connection, _: Settings) -> int:
    await registry.remove_library(conn, args.sigel)
    print(f"library {args.sigel} removed")
    return 0


async def customer_add(args: argparse.Namespace, conn: asyncpg.Connection, _: Settings) -> int:
    await registry.add_customer(conn, args.supplier, args.sigel)
    print(f"{args.sigel} is now a customer of {args.supplier}")
    return 0


async def customer_list(args: argparse.Namespace, conn: asyncpg.Connection, _: Settings) -> int:
    for r in await registry.list_customers(conn, args.supplier):
        print(f"{r['supplier']:<16} {r['sigel']:<10} {r['library']}")
    return 0


async def customer_remove(args: argparse.Namespace, conn: asyncpg.Connection, _: Settings) -> int:
    await registry.remove_customer(conn, args.supplier, args.sigel)
    print(f"{args.sigel} is no longer a customer of {args.supplier}")
    return 0


# --- deliveries -------------------------------------------------------------------------------
async def deliveries_list(args: argparse.Namespace, conn: asyncpg.Connection, _: Settings) -> int:
    supplier_id = (await registry.get_supplier(conn, args.supplier)).id if args.supplier else None
    for d in await report.listing(conn, supplier_id, args.limit, None):
        print(f"{d['id']:>8} {d['supplier']:<12} {d['status']:<10} {d['received_at']} records={d['record_count']}"
              f" {json.dumps(d['summary']) if d['summary'] else ''}")
    return 0


async def deliveries_show(args: argparse.Namespace, conn: asyncpg.Connection, _: Settings) -> int:
    _print_json(await report.build(conn, args.id, None))
    return 0


async def migrate(args: argparse.Namespace, conn: asyncpg.Connection, _: Settings) -> int:
    applied = await migrations.migrate(conn)
    for mig, _done in await migrations.status(conn):
        mark = "applied now" if mig in applied else "applied"
        print(f"{mig.version:04d}_{mig.name}: {mark}")
    return 0


# --- plumbing ---------------------------------------------------------------------------------
def _settings(args: argparse.Namespace) -> Settings:
    settings = config.from_env()
    if getattr(args, "data_dir", None):
        settings = settings.with_(data_dir=Path(args.data_dir))
    if getattr(args, "database_url", None):
        settings = settings.with_(database_url=args.database_url)
    return settings


async def _run_db_command(func: Command, args: argparse.Namespace, settings: Settings) -> int:
    url = db.resolve_url(settings)
    conn = await db.connect(url)
    try:
        if func is not migrate:
            await migrations.migrate(conn)
        return await func(args, conn, settings)
    finally:
        await conn.close()


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="forvarv", description="Förvärv Gateway: supplier deliveries in, "
                                "OAI-PMH and SRU out.")
    cli_common.add_global_options(p, top=True)
    sub = p.add_subparsers(dest="command", required=True, metavar="COMMAND")

    from gateway import serve

    serve.register(sub)
    from gateway.ops import runner

    runner.register(sub)  # web, worker, mailer: one role each

    m = sub.add_parser("migrate", help="apply schema migrations")
    m.set_defaults(func=migrate)

    from gateway.intake import deliver

    deliver.register(sub)

    sp = sub.add_parser("supplier", help="suppliers and their API tokens").add_subparsers(dest="action",
                                                                                      required=True)
    a = sp.add_parser("add", help="add a supplier; prints its first API token as the last line")
    a.add_argument("code")
    a.add_argument("--name", required=True)
    a.set_defaults(func=supplier_add)
    a = sp.add_parser("list", help="list suppliers with their token and customer counts")
    a.add_argument("--json", action="store_true")
    a.set_defaults(func=supplier_list)
    a = sp.add_parser("remove", help="remove a supplier")
    a.add_argument("code")
    a.set_defaults(func=supplier_remove)
    a = sp.add_parser("token", help="issue another API token (printed as the last line)")
    a.add_argument("code")
    a.set_defaults(func=supplier_token)
    a = sp.add_parser("tokens", help="list a supplier's tokens")
    a.add_argument("code")
    a.set_defaults(func=supplier_tokens)
    a = sp.add_parser("revoke", help="revoke one token (--token-id) or all of a supplier's tokens")
    a.add_argument("code")
    a.add_argument("--token-id", type=int)
    a.set_defaults(func=supplier_revoke)

    from gateway.sftp import cli as sftp_cli

    sftp_cli.register_keys(sp)
    sftp_cli.register_watch(sub)

    lp = sub.add_parser("library", help="libraries (sigel, contacts, language)").add_subparsers(
        dest="action", required=True)
    a = lp.add_parser("add", help="register a library (sigel, name, contact addresses)")
    a.add_argument("sigel")
    a.add_argument("--name", required=True)
    a.add_argument("--email", action="append", help="contact address (repeat for several)")
    a.add_argument("--language", choices=("sv", "en"), default="sv")
    a.add_argument("--unregistered", action="store_true", help="not a cataloguing library: no holdings")
    a.add_argument("--digest", action="store_true", help="one e-mail a day instead of one per delivery")
    a.set_defaults(func=library_add)
    a = lp.add_parser("update", help="change a library's name, addresses, language or flags")
    a.add_argument("sigel")
    a.add_argument("--name")
    emails = a.add_mutually_exclusive_group()
    emails.add_argument("--email", action="append", help="the new contact addresses (repeat for several)")
    emails.add_argument("--no-email", action="store_true", help="remove every contact address")
    a.add_argument("--language", choices=("sv", "en"))
    a.add_argument("--registered", choices=("yes", "no"))
    a.add_argument("--digest", choices=("yes", "no"))
    a.set_defaults(func=library_update)
    a = lp.add_parser("list", help="list libraries")
    a.add_argument("--json", action="store_true")
    a.set_defaults(func=library_list)
    a = lp.add_parser("remove", help="remove a library")
    a.add_argument("sigel")
    a.set_defaults(func=library_remove)
    from gateway.console import cli as console_cli

    console_cli.register_library_commands(lp)

    from gateway.outbox.webhook import cli as webhook_cli

    webhook_cli.register(lp)

    cp = sub.add_parser("customer", help="which supplier serves which library").add_subparsers(
        dest="action", required=True)
    a = cp.add_parser("add", help="make a library a customer of a supplier")
    a.add_argument("supplier")
    a.add_argument("sigel")
    a.set_defaults(func=customer_add)
    a = cp.add_parser("list", help="list customers (of one supplier, or all)")
    a.add_argument("supplier", nargs="?")
    a.set_defaults(func=customer_list)
    a = cp.add_parser("remove", help="end a customer relation")
    a.add_argument("supplier")
    a.add_argument("sigel")
    a.set_defaults(func=customer_remove)

    dp = sub.add_parser("deliveries", help="received deliveries and their reports").add_subparsers(
        dest="action", required=True)
    a = dp.add_parser("list", help="list received deliveries, newest first")
    a.add_argument("--supplier")
    a.add_argument("--limit", type=int, default=50)
    a.set_defaults(func=deliveries_list)
    a = dp.add_parser("show", help="print a delivery's report (JSON)")
    a.add_argument("id", type=int)
    a.set_defaults(func=deliveries_show)

    from gateway.intake import review_cli

    review_cli.register(sub)
    from gateway.outbox import cli as mail_cli

    mail_cli.register(sub)
    from gateway.intake import retention

    retention.register(sub)
    cli_common.finish_parser(p)
    return p


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        settings = _settings(args)
    except config.ConfigError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    cli_common.setup_logging(args, settings.log_format)
    func = getattr(args, "func", None)
    if func is None:
        parser.print_help()
        return 2
    try:
        if getattr(args, "standalone", False):
            result: int = func(args, settings)
            return result
        return loop.run(_run_db_command(func, args, settings), settings.event_loop)
    except GatewayError as exc:
        print(f"error: {exc.message}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        return 130
    except OSError as exc:  # a busy port, a folder that cannot be written: not a bug to trace
        print(f"error: {cli_common.os_error_line(exc)}", file=sys.stderr)
        return 1


if __name__ == "__main__":
    sys.exit(main())
