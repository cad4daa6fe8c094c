"""`forvarv supplier key add|list|remove` (SSH keys for SFTP) and `forvarv watch DIR`."""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import asyncpg

from gateway.config import Settings
from gateway.errors import Invalid
from gateway.sftp import keys


def register_keys(supplier_commands: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    """Add `key` under `forvarv supplier`."""
    kp = supplier_commands.add_parser("key", help="SSH public keys a supplier signs in to SFTP with")
    sub = kp.add_subparsers(dest="key_action", required=True, metavar="ACTION")
    a = sub.add_parser("add", help="register a public key (an OpenSSH .pub file; - reads standard input)")
    a.add_argument("code")
    a.add_argument("file")
    a.set_defaults(func=key_add)
    a = sub.add_parser("list", help="a supplier's keys")
    a.add_argument("code")
    a.add_argument("--json", action="store_true")
    a.set_defaults(func=key_list)
    a = sub.add_parser("remove", help="remove a key by its id or fingerprint")
    a.add_argument("code")
    a.add_argument("key", metavar="ID_OR_FINGERPRINT")
    a.set_defaults(func=key_remove)


def register_watch(commands: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    from gateway.sftp import watch

    watch.register(commands)


def _read(name: str) -> str:
    if name == "-":
        return sys.stdin.read()
    try:
        with Path(name).open(encoding="utf-8") as f:
            return f.read(keys.MAX_KEY_TEXT + 1)
    except (OSError, UnicodeDecodeError) as exc:
        raise Invalid(f"cannot read {name}: {exc}") from None


async def key_add(args: argparse.Namespace, conn: asyncpg.Connection, _: Settings) -> int:
    row = await keys.add_key(conn, args.code, _read(args.file))
    print(f"key {row['id']} ({row['algorithm']} {row['fingerprint']}) registered to {args.code}")
    return 0


async def key_list(args: argparse.Namespace, conn: asyncpg.Connection, _: Settings) -> int:
    rows = await keys.list_keys(conn, args.code)
    if args.json:
        print(json.dumps(rows, indent=2, ensure_ascii=False))
        return 0
    for r in rows:
        print(f"{r['id']:<6} {r['algorithm']:<20} {r['fingerprint']}  {r['comment']}  added {r['created_at']}")
    if not rows:
        print(f"{args.code} has no SSH keys")
    return 0


async def key_remove(args: argparse.Namespace, conn: asyncpg.Connection, _: Settings) -> int:
    key_id = await keys.remove_key(conn, args.code, args.key)
    print(f"key {key_id} of {args.code} removed")
    return 0
