"""Registering webhooks: `forvarv library webhook add|list|remove|retry` and the admin API.

A webhook gets a signing secret when it is added, shown once; the library checks every POST with it.
"""

from __future__ import annotations

import secrets
from datetime import datetime
from typing import Any

import asyncpg

from gateway import registry
from gateway.errors import Conflict, NotFound
from gateway.outbox.webhook.address import check_registration
from gateway.store import db
from gateway.store.queries import load

Q = load("webhook_registry")

SECRET_PREFIX = "fvw_"  # noqa: S105 - a visible marker, not a secret

_SELECT = Q["list_webhooks"]


def _row(r: Any) -> dict[str, Any]:
    return {k: (v.isoformat() if isinstance(v, datetime) else v) for k, v in dict(r).items()}


async def add(conn: asyncpg.Connection, sigel: str, url: object, *, allow_private: bool) -> dict[str, Any]:
    """Register a webhook; the answer carries its `secret` (the only time it is shown)."""
    await registry.get_library(conn, sigel)
    checked = await check_registration(url, allow_private=allow_private)
    secret = SECRET_PREFIX + secrets.token_urlsafe(32)
    try:
        webhook_id = await conn.fetchval(
            Q["add_webhook"], sigel, checked, secret
        )
    except asyncpg.UniqueViolationError:
        raise Conflict(f"{sigel} has a webhook for {checked} already") from None
    except asyncpg.ForeignKeyViolationError:
        raise NotFound(f"no library {sigel}") from None
    found = await get(conn, sigel, int(webhook_id))
    return {**found, "secret": secret}


async def get(conn: asyncpg.Connection, sigel: str, webhook_id: int) -> dict[str, Any]:
    row = await conn.fetchrow(_SELECT, sigel, None, webhook_id) if db.is_row_id(webhook_id) else None
    if row is None:
        raise NotFound(f"library {sigel} has no webhook {webhook_id}")
    return _row(row)


async def list_webhooks(conn: asyncpg.Connection, sigel: str | None = None, state: str | None = None
                        ) -> list[dict[str, Any]]:
    """A library's webhooks (all libraries' without `sigel`); `state` 'failing' for the operator's list."""
    if sigel is not None:
        await registry.get_library(conn, sigel)
    rows = await conn.fetch(_SELECT, sigel, state, None)
    return [_row(r) for r in rows]


async def remove(conn: asyncpg.Connection, sigel: str, webhook_id: int) -> None:
    """Remove a webhook and its events (queued ones are not sent)."""
    await get(conn, sigel, webhook_id)
    await conn.execute(Q["remove_webhook"], sigel, webhook_id)


async def retry(conn: asyncpg.Connection, sigel: str, webhook_id: int) -> int:
    """Queue the webhook's failed events again (after the library fixed its endpoint); how many."""
    await get(conn, sigel, webhook_id)
    status = await conn.execute(
        Q["retry_failed"],
        webhook_id,
    )
    return int(status.split()[-1])
