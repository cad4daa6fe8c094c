"""Connections: the asyncpg pool, and where the database comes from."""

from __future__ import annotations

import json
from typing import Any

import asyncpg

from gateway import embedded
from gateway.config import Settings


def resolve_url(settings: Settings) -> str:
    """The configured server, else the embedded one (started on demand)."""
    if settings.database_url:
        return settings.database_url
    return embedded.start(settings.data_dir)


async def _init_connection(conn: asyncpg.Connection) -> None:
    await conn.set_type_codec("jsonb", encoder=json.dumps, decoder=json.loads, schema="pg_catalog")
    await conn.set_type_codec("json", encoder=json.dumps, decoder=json.loads, schema="pg_catalog")


async def connect(url: str) -> asyncpg.Connection:
    conn: asyncpg.Connection = await asyncpg.connect(url)
    await _init_connection(conn)
    return conn


async def create_pool(url: str, *, min_size: int = 2, max_size: int = 10, **kwargs: Any) -> asyncpg.Pool:
    pool: asyncpg.Pool = await asyncpg.create_pool(
        url, min_size=min_size, max_size=max_size, init=_init_connection, **kwargs
    )
    return pool
