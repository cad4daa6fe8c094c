"""Console sign-in: who a token belongs to, server-side sessions, and CSRF tokens.

A session is a random value in an HttpOnly cookie; the table keeps only its SHA-256, the role,
and the token it was opened with (a revoked supplier or library token ends its sessions at
once, a changed admin token ends admin sessions). Sessions last SESSION_SECONDS from sign-in.

CSRF: every form carries HMAC(secret, cookie value) of the session cookie, or, before sign-in,
of a random pre-session cookie; a POST whose form lacks the right value is refused (403).
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
from dataclasses import dataclass

import asyncpg

from gateway import library_tokens, registry
from gateway.store import queries

SESSION_COOKIE = "fvg_session"
PRE_COOKIE = "fvg_pre"
SESSION_SECONDS = 12 * 3600
SQL = queries.load("console")


@dataclass(frozen=True, slots=True)
class Viewer:
    """Who is signed in: the admin (sees everything), a supplier or a library."""

    role: str  # admin | supplier | library
    supplier_id: int | None = None
    supplier_code: str | None = None
    sigel: str | None = None
    name: str = ""

    @property
    def is_admin(self) -> bool:
        return self.role == "admin"


def _digest(value: str) -> bytes:
    return hashlib.sha256(value.encode("utf-8", "surrogateescape")).digest()


def csrf_token(secret: str, base: str) -> str:
    return hmac.new(secret.encode(), b"csrf:" + base.encode("utf-8", "surrogateescape"), "sha256").hexdigest()


def csrf_ok(secret: str, base: str | None, given: object) -> bool:
    if not base or not isinstance(given, str) or not given:
        return False
    return hmac.compare_digest(csrf_token(secret, base).encode(), given.encode("utf-8", "surrogateescape"))


def new_value() -> str:
    return secrets.token_urlsafe(32)


async def sign_in(conn: asyncpg.Connection, admin_token: str | None, token: str) -> tuple[str, Viewer] | None:
    """A new session for whoever `token` belongs to: (cookie value, viewer), or None if nobody."""
    token = token.strip()
    if not token or not token.isascii() or len(token) > 512:
        return None
    await conn.execute(SQL["sessions_expired_delete"])
    value = new_value()
    if admin_token and hmac.compare_digest(token.encode(), admin_token.encode("utf-8", "surrogateescape")):
        await conn.fetchval(SQL["session_insert"], _digest(value), "admin", _digest(admin_token), None, None,
                            SESSION_SECONDS)
        return value, Viewer("admin", name="admin")
    supplier = await registry.authenticate(conn, token)
    if supplier is not None:
        await conn.fetchval(SQL["session_insert"], _digest(value), "supplier", None, registry.hash_token(token),
                            None, SESSION_SECONDS)
        return value, Viewer("supplier", supplier.id, supplier.code, name=supplier.name)
    library = await library_tokens.authenticate(conn, token)
    if library is not None:
        await conn.fetchval(SQL["session_insert"], _digest(value), "library", None, None, library.id,
                            SESSION_SECONDS)
        return value, Viewer("library", sigel=library.sigel, name=library.name)
    return None


async def load(conn: asyncpg.Connection, admin_token: str | None, value: str) -> Viewer | None:
    """The viewer of a live session, or None (unknown, expired, or its token revoked)."""
    if not value or len(value) > 128:
        return None
    row = await conn.fetchrow(SQL["session_load"], _digest(value))
    if row is None:
        return None
    if row["role"] == "admin":
        if admin_token and hmac.compare_digest(bytes(row["admin_token_hash"]), _digest(admin_token)):
            return Viewer("admin", name="admin")
        return None
    if row["role"] == "supplier" and row["supplier_id"] is not None:
        return Viewer("supplier", row["supplier_id"], row["supplier_code"], name=row["supplier_name"])
    if row["role"] == "library" and row["sigel"] is not None:
        return Viewer("library", sigel=row["sigel"], name=row["library_name"])
    return None


async def sign_out(conn: asyncpg.Connection, value: str) -> None:
    await conn.execute(SQL["session_delete"], _digest(value))
