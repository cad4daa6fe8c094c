"""Test infrastructure: one real PostgreSQL per test session, one fresh database per test.

The embedded server starts once; the schema is migrated once into a template database, and
every test that asks for a database gets its own copy (CREATE DATABASE … TEMPLATE), so tests
are isolated without paying for migrations each time (the procrastinate way).
"""

from __future__ import annotations

import asyncio
import itertools
import os
import tempfile
from collections.abc import AsyncIterator, Callable, Iterator
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

import asyncpg
import pytest

from gateway import config as config_module
from gateway.ops import loop
from gateway.store import db, embedded, migrations

TEMPLATE = "forvarv_template"
_counter = itertools.count(1)


def pytest_asyncio_loop_factories(config: pytest.Config,
                                  item: pytest.Item) -> dict[str, Callable[[], asyncio.AbstractEventLoop]]:
    """The tests run on the event loop the gateway runs on (gateway/ops/loop.py): uvloop, unless
    FORVARV_EVENT_LOOP=asyncio asks for asyncio's own (or uvloop is not installed)."""
    made = loop.factory(config_module.event_loop(os.environ.get("FORVARV_EVENT_LOOP", "uvloop")))
    return {"asyncio": asyncio.new_event_loop} if made is None else {"uvloop": made}


def _with_database(url: str, name: str) -> str:
    parts = urlsplit(url)
    return urlunsplit(parts._replace(path="/" + name))


@pytest.fixture(scope="session")
def pg_server_url() -> Iterator[str]:
    """URL of a maintenance database on the session's server.

    FORVARV_TEST_DATABASE_URL points the suite at an existing server (a superuser role is needed
    to create databases); otherwise an embedded server is started in a temporary folder.
    """
    external = os.environ.get("FORVARV_TEST_DATABASE_URL")
    if external:
        yield external
        return
    with tempfile.TemporaryDirectory(prefix="forvarv-test-") as tmp:
        os.chmod(tmp, 0o755)  # the embedded server runs as an unprivileged user when we are root
        url = embedded.start(Path(tmp))
        try:
            yield _with_database(url, "postgres")
        finally:  # now, while its folder is still there: at exit it could no longer be stopped
            embedded.stop(Path(tmp))


@pytest.fixture(scope="session")
async def template_db(pg_server_url: str) -> str:
    conn = await asyncpg.connect(pg_server_url)
    try:
        await conn.execute(f"DROP DATABASE IF EXISTS {TEMPLATE}")
        await conn.execute(f"CREATE DATABASE {TEMPLATE}")
    finally:
        await conn.close()
    tconn = await db.connect(_with_database(pg_server_url, TEMPLATE))
    try:
        await migrations.migrate(tconn)
    finally:
        await tconn.close()
    return TEMPLATE


@pytest.fixture
async def db_url(pg_server_url: str, template_db: str) -> AsyncIterator[str]:
    """A fresh, migrated database of this test's own."""
    name = f"test_{os.getpid()}_{next(_counter)}"
    conn = await asyncpg.connect(pg_server_url)
    try:
        await conn.execute(f"CREATE DATABASE {name} TEMPLATE {template_db}")
    finally:
        await conn.close()
    yield _with_database(pg_server_url, name)
    conn = await asyncpg.connect(pg_server_url)
    try:
        await conn.execute(f"DROP DATABASE IF EXISTS {name} WITH (FORCE)")
    finally:
        await conn.close()


@pytest.fixture
async def pool(db_url: str) -> AsyncIterator[asyncpg.Pool]:
    p = await db.create_pool(db_url, min_size=1, max_size=6)
    yield p
    await p.close()
