"""SSH public keys registered to suppliers: what they sign in to the SFTP server with.

A key is stored in its OpenSSH one-line form with its SHA-256 fingerprint (unique: one key, one
supplier). Only public keys are accepted; a private key sent by mistake is refused, not stored.
"""

from __future__ import annotations

from typing import Any

import asyncpg
import asyncssh

from gateway.errors import Conflict, Invalid, NotFound
from gateway.registry import Supplier, get_supplier
from gateway.store import db
from gateway.store.queries import load

Q = load("sftp_keys")

#: A public key file is one line; anything much larger is not one.
MAX_KEY_TEXT = 16 * 1024


def parse_public_key(text: str) -> tuple[asyncssh.SSHKey, str]:
    """(key, comment) of an OpenSSH public key line (or an RFC 4716 block); Invalid otherwise."""
    if not isinstance(text, str) or not text.strip():
        raise Invalid("key must be an SSH public key, e.g. the contents of id_ed25519.pub", field="key")
    if len(text) > MAX_KEY_TEXT or "\x00" in text:
        raise Invalid("key is not an SSH public key", field="key")
    if "PRIVATE KEY" in text:
        raise Invalid("that is a private key: register the public key (the .pub file) and keep the private "
                      "key with the supplier", field="key")
    try:
        key = asyncssh.import_public_key(text.strip())
    except (asyncssh.KeyImportError, ValueError, UnicodeError) as exc:
        raise Invalid(f"key is not an SSH public key: {exc}", field="key") from None
    comment = key.get_comment() or ""
    return key, comment.replace("\n", " ").strip()[:200]


def fingerprint(key: asyncssh.SSHKey) -> str:
    return str(key.get_fingerprint("sha256"))


def _row(r: Any) -> dict[str, Any]:
    return {
        "id": r["id"],
        "algorithm": r["algorithm"],
        "fingerprint": r["fingerprint"],
        "comment": r["comment"],
        "created_at": r["created_at"].isoformat(),
    }


async def add_key(conn: asyncpg.Connection, code: str, text: str) -> dict[str, Any]:
    supplier = await get_supplier(conn, code)
    key, comment = parse_public_key(text)
    line = key.export_public_key("openssh").decode("ascii").split()
    try:
        row = await conn.fetchrow(
            Q["add_key"],
            supplier.id, line[0], " ".join(line[:2]), fingerprint(key), comment,
        )
    except asyncpg.UniqueViolationError:
        owner = await conn.fetchval(
            Q["key_owner"],
            fingerprint(key),
        )
        raise Conflict(f"this key is registered already (to {owner})") from None
    except asyncpg.ForeignKeyViolationError:
        raise NotFound(f"no supplier {code}") from None
    return {"supplier": supplier.code, **_row(row)}


async def list_keys(conn: asyncpg.Connection, code: str) -> list[dict[str, Any]]:
    supplier = await get_supplier(conn, code)
    rows = await conn.fetch(
        Q["list_keys"],
        supplier.id,
    )
    return [_row(r) for r in rows]


async def remove_key(conn: asyncpg.Connection, code: str, which: str) -> int:
    """Remove a key by its id or its fingerprint; return its id."""
    supplier = await get_supplier(conn, code)
    key_id = int(which) if which.isdigit() and db.is_row_id(int(which)) else None
    removed = await conn.fetchval(
        Q["remove_key"],
        supplier.id, key_id, which,
    )
    if removed is None:
        raise NotFound(f"supplier {code} has no key {which}")
    return int(removed)


async def supplier_for_key(conn: asyncpg.Connection, username: str, key: asyncssh.SSHKey) -> Supplier | None:
    """The supplier signing in as `username` with `key`, if that key is registered to it."""
    row = await conn.fetchrow(
        Q["supplier_for_key"],
        fingerprint(key), username,
    )
    if row is None:
        return None
    # the fingerprint found it; the whole key must be the same too
    offered = " ".join(key.export_public_key("openssh").decode("ascii").split()[:2])
    if offered != row["public_key"]:
        return None
    return Supplier(row["id"], row["code"], row["name"])
