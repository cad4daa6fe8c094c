"""Versioned schema changes: `schemas/migrations/NNNN_name.sql`, applied in order, once each.

Applied at start and by `forvarv migrate`. An advisory lock keeps two gateway processes that
start together from applying the same file twice.
"""

from __future__ import annotations

import logging
import re
from dataclasses import dataclass
from importlib import resources

import asyncpg

from gateway.store.queries import load

Q = load("migrations")

log = logging.getLogger(__name__)

_LOCK_KEY = 0x466F7276  # "Forv"
_NAME = re.compile(r"^(\d{4})_([a-z0-9_]+)\.sql$")


@dataclass(frozen=True, slots=True)
class Migration:
    version: int
    name: str
    sql: str


def available() -> list[Migration]:
    found = []
    for entry in resources.files("schemas.migrations").iterdir():
        m = _NAME.match(entry.name)
        if m:
            found.append(Migration(int(m.group(1)), m.group(2), entry.read_text(encoding="utf-8")))
    found.sort(key=lambda mig: mig.version)
    versions = [mig.version for mig in found]
    if len(set(versions)) != len(versions):
        raise RuntimeError(f"duplicate migration versions: {versions}")
    return found


async def migrate(conn: asyncpg.Connection) -> list[Migration]:
    """Apply every migration not yet applied; return those applied now."""
    applied_now: list[Migration] = []
    await conn.execute(Q["lock"], _LOCK_KEY)
    try:
        await conn.execute(
            """CREATE TABLE IF NOT EXISTS schema_migrations (
                   version integer PRIMARY KEY,
                   name text NOT NULL,
                   applied_at timestamptz NOT NULL DEFAULT now())"""
        )
        done = {r["version"] for r in await conn.fetch(Q["applied"])}
        for mig in available():
            if mig.version in done:
                continue
            async with conn.transaction():
                await conn.execute(mig.sql)
                await conn.execute(
                    Q["record_applied"], mig.version, mig.name
                )
            log.info("applied migration %04d_%s", mig.version, mig.name)
            applied_now.append(mig)
    finally:
        await conn.execute(Q["unlock"], _LOCK_KEY)
    return applied_now


async def status(conn: asyncpg.Connection) -> list[tuple[Migration, bool]]:
    exists = await conn.fetchval(Q["table_exists"])
    done = set()
    if exists:
        done = {r["version"] for r in await conn.fetch(Q["applied"])}
    return [(mig, mig.version in done) for mig in available()]
