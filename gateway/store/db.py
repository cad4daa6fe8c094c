"""Connections: the asyncpg pool, and where the database comes from."""

from __future__ import annotations

import json
from typing import Any
from urllib.parse import urlsplit

import asyncpg

from gateway.config import Settings
from gateway.errors import DatabaseUnavailable
from gateway.store import embedded

#: Row ids are bigint: a larger number names no row (and PostgreSQL would refuse it as a parameter).
MAX_ID = 2**63 - 1


def is_row_id(value: int) -> bool:
    """Whether `value` can be the id of a row (ids are positive bigints)."""
    return 0 < value <= MAX_ID


def resolve_url(settings: Settings) -> str:
    """The configured server, else the embedded one (started on demand)."""
    if settings.database_url:
        return settings.database_url
    return embedded.start(settings.data_dir)


_dumps = json.JSONEncoder(ensure_ascii=False, check_circular=False).encode
_loads = json.loads


_JSONB_EMPTY_LIST = b"\x01[]"


def _jsonb_encode(value: Any) -> bytes:
    if value.__class__ is list and not value:  # the most common value by far (no identifiers, ...)
        return _JSONB_EMPTY_LIST
    return b"\x01" + _dumps(value).encode()


def _jsonb_decode(data: bytes) -> Any:
    if data == _JSONB_EMPTY_LIST:  # most errors/warnings columns: no parser needed
        return []
    if data[:1] != b"\x01":  # the only jsonb binary format version there is
        raise ValueError(f"unsupported jsonb binary format version {data[:1]!r}")
    return _loads(data[1:])


def _json_encode(value: Any) -> bytes:
    return _dumps(value).encode()


async def _init_connection(conn: asyncpg.Connection) -> None:
    """json and jsonb as Python values, in the binary wire format.

    Binary codecs let the loader write jsonb columns with COPY (`copy_records_to_table` only
    speaks binary). The binary format of jsonb is a version byte (1) and the JSON text; that of
    json is the text alone.
    """
    await conn.set_type_codec("jsonb", encoder=_jsonb_encode, decoder=_jsonb_decode, schema="pg_catalog",
                              format="binary")
    await conn.set_type_codec("json", encoder=_json_encode, decoder=_loads, schema="pg_catalog",
                              format="binary")


def unavailable(url: str, exc: BaseException) -> DatabaseUnavailable:
    """The error for a database that could not be connected to: where (never the password) and why."""
    parts = urlsplit(url)
    where = f"{parts.hostname or 'localhost'}:{parts.port or 5432}{parts.path or ''}"
    if isinstance(exc, ConnectionRefusedError):
        why = "connection refused (is PostgreSQL running there?)"
    elif isinstance(exc, TimeoutError):
        why = "no answer in time"
    elif isinstance(exc, OSError):
        why = exc.strerror or str(exc)
    else:
        why = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
    return DatabaseUnavailable(f"cannot use the database at {where}: {why}")


#: What connecting can fail with when the server is down, unreachable or refuses us.
CONNECT_ERRORS = (OSError, TimeoutError, asyncpg.PostgresError, asyncpg.InterfaceError)


async def connect(url: str) -> asyncpg.Connection:
    try:
        conn: asyncpg.Connection = await asyncpg.connect(url)
    except CONNECT_ERRORS as exc:
        raise unavailable(url, exc) from exc
    await _init_connection(conn)
    return conn


async def create_pool(url: str, *, min_size: int = 2, max_size: int = 10, **kwargs: Any) -> asyncpg.Pool:
    try:
        pool: asyncpg.Pool = await asyncpg.create_pool(
            url, min_size=min_size, max_size=max_size, init=_init_connection, **kwargs
        )
    except CONNECT_ERRORS as exc:
        raise unavailable(url, exc) from exc
    return pool
