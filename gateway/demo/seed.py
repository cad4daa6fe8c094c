"""`forvarv serve --demo`: a supplier, four libraries and a first delivery, so there is something to see.

Idempotent: the registry entries are created once, the demo delivery is received once (its
idempotency key is fixed) and loaded by the gateway's own workers after start. The demo
supplier's token and a library token for Sods are issued once and printed at every start (with
the console's URL and the admin token); they stay valid across restarts on the same data folder
(kept in DATA_DIR/demo-tokens.json) unless revoked, when the next start issues new ones.
"""

from __future__ import annotations

import contextlib
import json
import os
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path

import asyncpg

from gateway import library_tokens, registry
from gateway.config import Settings
from gateway.demo import synthetic
from gateway.errors import Conflict
from gateway.intake import receive as intake
from gateway.store import db, migrations

SUPPLIER = ("DEMO", "Demo Bokhandel AB")
LIBRARIES = (
    ("Sods", "Södertörns högskolebibliotek", "forvarv@sh.example.org", "sv"),
    ("Nyks", "Nyköpings stadsbibliotek", "media@nykoping.example.org", "sv"),
    ("Li", "Linköpings stadsbibliotek", "acquisitions@linkoping.example.org", "en"),
    ("G", "Göteborgs universitetsbibliotek", "forvarv@ub.gu.example.org", "sv"),
)
RECORDS = 250
TOKENS_FILE = "demo-tokens.json"


async def _body() -> AsyncIterator[bytes]:
    for chunk in synthetic.delivery_chunks(RECORDS, [lib[0] for lib in LIBRARIES], seed=2026):
        yield chunk


@dataclass(frozen=True, slots=True)
class Seeded:
    """What a newcomer signs in with (this run's tokens) and the demo delivery."""

    supplier_token: str
    library_token: str
    delivery_id: int


def _read_kept(path: Path) -> dict[str, str]:
    with contextlib.suppress(OSError, ValueError):
        loaded = json.loads(path.read_text())
        if isinstance(loaded, dict):
            return {k: v for k, v in loaded.items() if isinstance(v, str)}
    return {}


def _keep(path: Path, tokens: dict[str, str]) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as f:
        json.dump(tokens, f)


async def _tokens(conn: asyncpg.Connection, data_dir: Path) -> tuple[str, str]:
    """The demo supplier's and library's tokens: those of an earlier start while they are still
    valid (a supplier that was handed one keeps using it), else new ones. Kept in the data folder
    (mode 0600, beside the secret) because only their hashes are in the database."""
    path = data_dir / TOKENS_FILE
    kept = _read_kept(path)
    token = kept.get("supplier", "")
    found = await registry.authenticate(conn, token) if token else None
    if found is None or found.code != SUPPLIER[0]:
        _, token = await registry.create_token(conn, SUPPLIER[0])
    library_token = kept.get("library", "")
    lib = await library_tokens.authenticate(conn, library_token) if library_token else None
    if lib is None or lib.sigel != LIBRARIES[0][0]:
        _, library_token = await library_tokens.create_token(conn, LIBRARIES[0][0])
    if kept != {"supplier": token, "library": library_token}:
        _keep(path, {"supplier": token, "library": library_token})
    return token, library_token


async def seed(url: str, settings: Settings) -> Seeded:
    pool = await db.create_pool(url, min_size=1, max_size=2)
    try:
        async with pool.acquire() as conn:
            await migrations.migrate(conn)
            with contextlib.suppress(Conflict):
                await registry.add_supplier(conn, *SUPPLIER)
            for sigel, name, email, language in LIBRARIES:
                with contextlib.suppress(Conflict):
                    await registry.add_library(conn, sigel, name, [email], language=language)
                with contextlib.suppress(Conflict):
                    await registry.add_customer(conn, SUPPLIER[0], sigel)
            token, library_token = await _tokens(conn, settings.data_dir)
            supplier = await registry.get_supplier(conn, SUPPLIER[0])
            sftp = ""
            if settings.sftp_port is not None:
                from gateway.sftp import demo as sftp_demo

                key = await sftp_demo.demo_key(conn, settings.data_dir, SUPPLIER[0])
                sftp = sftp_demo.instructions(key, settings.sftp_host or settings.host, settings.sftp_port,
                                              SUPPLIER[0])
        received = await intake.receive(pool, supplier, _body(), content_type="application/marcxml+xml",
                                        idempotency_key="demo-delivery-1", max_body=settings.max_body,
                                        source="demo")
    finally:
        await pool.close()
    base = settings.public_url
    print(f"""
Demo data: supplier {SUPPLIER[0]}, libraries {', '.join(lib[0] for lib in LIBRARIES)}, delivery {received.id}
({RECORDS} records with holdings; loaded by the workers in a few seconds).

Start here: the staff console at {base}/ — sign in with one of these tokens:
  admin (sees everything):   {settings.admin_token or '(none: set FORVARV_ADMIN_TOKEN)'}
  supplier {SUPPLIER[0]:<17} {token}
  library {LIBRARIES[0][0]:<18} {library_token}

  the delivery's report:     curl -H 'Authorization: Bearer {token}' {base}/deliveries/{received.id}
  deliver a file:            curl -H 'Authorization: Bearer {token}' -H 'Content-Type: application/marcxml+xml' \\
                                  --data-binary @records.xml '{base}/deliveries?wait=30'
  harvest Sods's records:    {base}/oai?verb=ListRecords&metadataPrefix=marc21_withholdings&set=bib:Sods
  search:                    {base}/sru?query=dc.title%3Dskogen&maximumRecords=5
{sftp}""", flush=True)
    return Seeded(token, library_token, received.id)
