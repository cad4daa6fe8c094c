"""Library tokens: a library's staff sign in to the console with one and see only what concerns
their sigel. Like supplier tokens (gateway.registry): random, shown once, stored as SHA-256
digests, revocable; revoking one ends the console sessions opened with it."""

from __future__ import annotations

import secrets
from dataclasses import dataclass

import asyncpg

from gateway.errors import NotFound
from gateway.registry import get_library, hash_token
from gateway.store import db
from gateway.store.queries import load

Q = load("library_tokens")

TOKEN_PREFIX = "fvl_"  # noqa: S105 - a visible marker, not a secret


@dataclass(frozen=True, slots=True)
class LibraryToken:
    id: int
    sigel: str
    name: str


async def create_token(conn: asyncpg.Connection, sigel: str) -> tuple[int, str]:
    """A new token for the library: (token id, the token itself — shown only now)."""
    await get_library(conn, sigel)
    token = TOKEN_PREFIX + secrets.token_urlsafe(32)
    try:
        token_id = await conn.fetchval(
            Q["create_token"],
            sigel, hash_token(token), token[: len(TOKEN_PREFIX) + 6],
        )
    except asyncpg.ForeignKeyViolationError:  # removed since get_library read it
        raise NotFound(f"no library {sigel}") from None
    return int(token_id), token


async def list_tokens(conn: asyncpg.Connection, sigel: str) -> list[dict[str, object]]:
    await get_library(conn, sigel)
    rows = await conn.fetch(
        Q["list_tokens"], sigel
    )
    return [
        {
            "id": r["id"],
            "prefix": r["prefix"],
            "created_at": r["created_at"].isoformat(),
            "revoked_at": r["revoked_at"].isoformat() if r["revoked_at"] else None,
        }
        for r in rows
    ]


async def revoke_token(conn: asyncpg.Connection, sigel: str, token_id: int | None = None) -> int:
    """Revoke one token (by id) or all of a library's tokens; returns how many were revoked."""
    await get_library(conn, sigel)
    if token_id is not None and not db.is_row_id(token_id):
        raise NotFound(f"library {sigel} has no active token {token_id}")
    status = await conn.execute(
        Q["revoke_token"],
        sigel, token_id,
    )
    count = int(status.split()[-1])
    if token_id is not None and count == 0:
        raise NotFound(f"library {sigel} has no active token {token_id}")
    return count


async def authenticate(conn: asyncpg.Connection, token: str) -> LibraryToken | None:
    row = await conn.fetchrow(
        Q["authenticate"],
        hash_token(token),
    )
    return LibraryToken(row["id"], row["sigel"], row["name"]) if row else None
