"""Who may deliver what: suppliers and their API tokens, libraries, customer links.

Tokens are random, shown once, and stored only as SHA-256 digests: a database leak does not
leak usable credentials, and lookup by digest is a plain unique-index probe.
"""

from __future__ import annotations

import hashlib
import re
import secrets
from dataclasses import dataclass

import asyncpg

from gateway.errors import Conflict, Invalid, NotFound
from gateway.store import db
from gateway.store.queries import load

Q = load("registry")

TOKEN_PREFIX = "fvg_"  # noqa: S105 - a visible marker, not a secret
_EMAIL = re.compile(r"^[^@\s<>\"',;\x00-\x1f\x7f]+@[^@\s<>\"',;\x00-\x1f\x7f]+\.[^@\s<>\"',;\x00-\x1f\x7f]+$")
_LANGUAGES = ("sv", "en")


# --- checks: every value is checked before it reaches SQL, and a refusal names its field ------
def _key(field: str, value: object, rule: str) -> str:
    """A code or sigel as given; its pattern is the schema's CHECK (a NUL never gets that far)."""
    if not isinstance(value, str) or "\x00" in value:
        raise Invalid(f"invalid {field} {value!r}: {rule}", field=field)
    return value


def _text(field: str, value: object) -> str:
    if not isinstance(value, str) or not value.strip():
        raise Invalid(f"{field} must be a non-empty string", field=field)
    if "\x00" in value:
        raise Invalid(f"{field} must not contain NUL characters", field=field)
    return value.strip()


def _flag(field: str, value: object) -> bool:
    if not isinstance(value, bool):
        raise Invalid(f"{field} must be true or false", field=field)
    return value


def _language(field: str, value: object) -> str:
    if not isinstance(value, str) or value not in _LANGUAGES:
        raise Invalid(f"{field} must be sv or en", field=field)
    return value


def _emails(field: str, value: object) -> list[str]:
    """A list (or tuple) of addresses; blank entries are dropped."""
    if not isinstance(value, list | tuple) or not all(isinstance(e, str) for e in value):
        raise Invalid(f"{field} must be a list of e-mail addresses", field=field)
    cleaned = [e.strip() for e in value if e.strip()]
    for e in cleaned:
        if not _EMAIL.match(e):
            raise Invalid(f"{field}: not an e-mail address: {e!r}", field=field)
    return cleaned


def _refused(what: str, exc: asyncpg.PostgresError) -> Invalid:
    """A value the schema refused that the checks above let through: still the caller's 400."""
    column = getattr(exc, "column_name", None)
    detail = {"field": column} if column else {}
    return Invalid(f"{what}: {exc.message}", **detail)


@dataclass(frozen=True, slots=True)
class Supplier:
    id: int
    code: str
    name: str


def hash_token(token: str) -> bytes:
    return hashlib.sha256(token.encode("utf-8")).digest()


# --- suppliers -------------------------------------------------------------------------------
async def add_supplier(conn: asyncpg.Connection, code: str, name: str) -> Supplier:
    rule = "letters, digits, _ . - (1-64)"
    values = _key("code", code, rule), _text("name", name)
    try:
        row = await conn.fetchrow(
            Q["add_supplier"], *values
        )
    except asyncpg.UniqueViolationError:
        raise Conflict(f"supplier {code} exists already") from None
    except asyncpg.CheckViolationError as exc:
        if exc.constraint_name == "suppliers_code_check":
            raise Invalid(f"invalid code {code!r}: {rule}", field="code") from None
        raise _refused(f"supplier {code} refused", exc) from None
    except (asyncpg.IntegrityConstraintViolationError, asyncpg.DataError) as exc:
        raise _refused(f"supplier {code} refused", exc) from None
    return Supplier(row["id"], row["code"], row["name"])


async def get_supplier(conn: asyncpg.Connection, code: str) -> Supplier:
    row = await conn.fetchrow(Q["get_supplier"], code)
    if row is None:
        raise NotFound(f"no supplier {code}")
    return Supplier(row["id"], row["code"], row["name"])


async def list_suppliers(conn: asyncpg.Connection) -> list[dict[str, object]]:
    rows = await conn.fetch(
        Q["list_suppliers"]
    )
    return [
        {
            "code": r["code"],
            "name": r["name"],
            "created_at": r["created_at"].isoformat(),
            "active_tokens": r["active_tokens"],
            "customers": list(r["customers"]),
        }
        for r in rows
    ]


async def remove_supplier(conn: asyncpg.Connection, code: str) -> None:
    try:
        status = await conn.execute(Q["remove_supplier"], code)
    except asyncpg.ForeignKeyViolationError:
        raise Conflict(
            f"supplier {code} has deliveries or records; revoke its tokens instead of removing it"
        ) from None
    if status.endswith(" 0"):
        raise NotFound(f"no supplier {code}")


# --- tokens ----------------------------------------------------------------------------------
async def create_token(conn: asyncpg.Connection, code: str) -> tuple[int, str]:
    """A new API token for the supplier: (token id, the token itself — shown only now)."""
    supplier = await get_supplier(conn, code)
    token = TOKEN_PREFIX + secrets.token_urlsafe(32)
    try:
        token_id = await conn.fetchval(
            Q["create_token"],
            supplier.id,
            hash_token(token),
            token[: len(TOKEN_PREFIX) + 6],
        )
    except asyncpg.ForeignKeyViolationError:  # removed since get_supplier read it
        raise NotFound(f"no supplier {code}") from None
    return int(token_id), token


async def list_tokens(conn: asyncpg.Connection, code: str) -> list[dict[str, object]]:
    supplier = await get_supplier(conn, code)
    rows = await conn.fetch(
        Q["list_tokens"],
        supplier.id,
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


async def revoke_token(conn: asyncpg.Connection, code: str, token_id: int | None = None) -> int:
    """Revoke one token (by id) or all of a supplier's tokens; returns how many were revoked."""
    supplier = await get_supplier(conn, code)
    if token_id is not None and not db.is_row_id(token_id):
        raise NotFound(f"supplier {code} has no active token {token_id}")
    status = await conn.execute(
        Q["revoke_token"],
        supplier.id,
        token_id,
    )
    count = int(status.split()[-1])
    if token_id is not None and count == 0:
        raise NotFound(f"supplier {code} has no active token {token_id}")
    return count


async def authenticate(conn: asyncpg.Connection, token: str) -> Supplier | None:
    row = await conn.fetchrow(
        Q["authenticate"],
        hash_token(token),
    )
    return Supplier(row["id"], row["code"], row["name"]) if row else None


# --- libraries -------------------------------------------------------------------------------
_LIBRARY_FIELDS = {"name": _text, "emails": _emails, "language": _language, "registered": _flag, "digest": _flag}
_SIGEL = "1-32 characters, no white space, : or /"


async def add_library(
    conn: asyncpg.Connection,
    sigel: str,
    name: str,
    emails: list[str],
    *,
    language: str = "sv",
    registered: bool = True,
    digest: bool = False,
) -> dict[str, object]:
    values = (
        _key("sigel", sigel, _SIGEL),
        _text("name", name),
        _emails("emails", emails),
        _language("language", language),
        _flag("registered", registered),
        _flag("digest", digest),
    )
    try:
        row = await conn.fetchrow(
            Q["add_library"],
            *values,
        )
    except asyncpg.UniqueViolationError:
        raise Conflict(f"library {sigel} exists already") from None
    except asyncpg.CheckViolationError as exc:
        if exc.constraint_name == "libraries_sigel_check":
            raise Invalid(f"invalid sigel {sigel!r}: {_SIGEL}", field="sigel") from None
        raise _refused(f"library {sigel} refused", exc) from None
    except (asyncpg.IntegrityConstraintViolationError, asyncpg.DataError) as exc:
        raise _refused(f"library {sigel} refused", exc) from None
    return dict(row)


async def update_library(conn: asyncpg.Connection, sigel: str, /, **changes: object) -> dict[str, object]:
    """Change any of name, emails, language, registered and digest: all of them or, if any value is
    refused (Invalid, naming the field), none. One UPDATE in a transaction of its own (a savepoint in
    the caller's, which a refusal leaves usable)."""
    unknown = sorted(set(changes) - set(_LIBRARY_FIELDS))
    if unknown:
        raise Invalid(f"cannot change {', '.join(unknown)}: only {', '.join(_LIBRARY_FIELDS)}", field=unknown[0])
    values = {column: check(column, changes[column]) for column, check in _LIBRARY_FIELDS.items()
              if column in changes}
    if not values:
        return await get_library(conn, sigel)
    # Column names come from the fixed set above, never from the caller.
    assignments = ", ".join(f"{column} = ${n}" for n, column in enumerate(values, start=2))
    try:
        async with conn.transaction():
            row = await conn.fetchrow(
                f"""UPDATE libraries SET {assignments} WHERE sigel = $1
                    RETURNING sigel, name, emails, language, registered, digest""",  # noqa: S608
                sigel,
                *values.values(),
            )
    except (asyncpg.IntegrityConstraintViolationError, asyncpg.DataError) as exc:
        raise _refused(f"library {sigel} refused the change", exc) from None
    if row is None:
        raise NotFound(f"no library {sigel}")
    return dict(row)


async def get_library(conn: asyncpg.Connection, sigel: str) -> dict[str, object]:
    row = await conn.fetchrow(
        Q["get_library"], sigel
    )
    if row is None:
        raise NotFound(f"no library {sigel}")
    return dict(row)


async def list_libraries(conn: asyncpg.Connection) -> list[dict[str, object]]:
    rows = await conn.fetch(
        Q["list_libraries"]
    )
    return [dict(r) for r in rows]


async def remove_library(conn: asyncpg.Connection, sigel: str) -> None:
    try:
        status = await conn.execute(Q["remove_library"], sigel)
    except asyncpg.ForeignKeyViolationError:
        raise Conflict(
            f"library {sigel} has holdings; mark it unregistered instead of removing it"
        ) from None
    if status.endswith(" 0"):
        raise NotFound(f"no library {sigel}")


# --- customer links --------------------------------------------------------------------------
async def add_customer(conn: asyncpg.Connection, code: str, sigel: str) -> None:
    supplier = await get_supplier(conn, code)
    await get_library(conn, sigel)
    try:
        await conn.execute(Q["add_customer"], supplier.id, sigel)
    except asyncpg.UniqueViolationError:
        raise Conflict(f"{sigel} is already a customer of {code}") from None
    except asyncpg.ForeignKeyViolationError as exc:  # removed since it was read above
        gone = f"no library {sigel}" if exc.constraint_name == "customers_sigel_fkey" else f"no supplier {code}"
        raise NotFound(gone) from None


async def remove_customer(conn: asyncpg.Connection, code: str, sigel: str) -> None:
    supplier = await get_supplier(conn, code)
    status = await conn.execute(
        Q["remove_customer"], supplier.id, sigel
    )
    if status.endswith(" 0"):
        raise NotFound(f"{sigel} is not a customer of {code}")


async def list_customers(conn: asyncpg.Connection, code: str | None = None) -> list[dict[str, object]]:
    rows = await conn.fetch(
        Q["list_customers"],
        code,
    )
    return [dict(r) for r in rows]
