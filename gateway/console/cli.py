"""`forvarv library token SIGEL | tokens SIGEL | revoke SIGEL [--token-id N]`: console sign-in
tokens for a library's staff (gateway.library_tokens)."""

from __future__ import annotations

import argparse

import asyncpg

from gateway import library_tokens
from gateway.config import Settings


async def token(args: argparse.Namespace, conn: asyncpg.Connection, _: Settings) -> int:
    token_id, value = await library_tokens.create_token(conn, args.sigel)
    print(f"library {args.sigel}: console token {token_id} (shown once, stored hashed):")
    print(value)
    return 0


async def tokens(args: argparse.Namespace, conn: asyncpg.Connection, _: Settings) -> int:
    for t in await library_tokens.list_tokens(conn, args.sigel):
        state = f"revoked {t['revoked_at']}" if t["revoked_at"] else "active"
        print(f"{t['id']:>6}  {t['prefix']}…  created {t['created_at']}  {state}")
    return 0


async def revoke(args: argparse.Namespace, conn: asyncpg.Connection, _: Settings) -> int:
    count = await library_tokens.revoke_token(conn, args.sigel, args.token_id)
    print(f"library {args.sigel}: {count} token(s) revoked")
    return 0


def register_library_commands(library_parsers: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    """Add token, tokens and revoke to the `forvarv library` group."""
    a = library_parsers.add_parser("token", help="issue a console sign-in token (printed as the last line)")
    a.add_argument("sigel")
    a.set_defaults(func=token)
    a = library_parsers.add_parser("tokens", help="list a library's console tokens")
    a.add_argument("sigel")
    a.set_defaults(func=tokens)
    a = library_parsers.add_parser("revoke", help="revoke one console token (--token-id) or all of them")
    a.add_argument("sigel")
    a.add_argument("--token-id", type=int)
    a.set_defaults(func=revoke)
