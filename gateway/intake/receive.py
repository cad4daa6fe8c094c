"""Receiving a delivery: stream the body into PostgreSQL, checking it on the way.

The body is read in pieces, never whole: each piece is decoded (gzip), counted against the
size limit, fed to an incremental well-formedness scanner that also counts the records, and
stored as a row of `delivery_chunks`. Everything happens in one transaction, so a delivery
exists — and is answered with 202 — only once its whole payload is committed. The
idempotency key (given, or the SHA-256 of the body) is set last; if another delivery already
holds it the transaction is rolled back and the existing delivery is returned instead.
"""

from __future__ import annotations

import hashlib
import json
import zlib
from collections.abc import AsyncIterator
from concurrent.futures.process import BrokenProcessPool
from dataclasses import dataclass

import asyncpg

from gateway.errors import GatewayError, Invalid
from gateway.intake import sniff
from gateway.intake.parse_process import ChildScanner, ParseProcess
from gateway.registry import Supplier
from gateway.store.queries import load
from protocols.marc.isoreader import IsoFault, IsoScanner
from protocols.marc.xmlreader import XMLFault
from protocols.marc.xmlscan import MarcXmlScanner

Q = load("receive")

CHUNK_SIZE = 1024 * 1024
NOTIFY_CHANNEL = "forvarv_deliveries"

XML_TYPES = frozenset({"application/marcxml+xml", "application/xml", "text/xml"})
ISO_TYPES = frozenset({"application/marc", "application/marc21", "application/octet-stream"})
LATIN1_NAMES = frozenset({"iso-8859-1", "latin1", "latin-1", "iso8859-1", "l1", "cp819"})


class UnsupportedMediaType(GatewayError):
    status = 415
    code = "unsupported_media_type"


class PayloadTooLarge(GatewayError):
    status = 413
    code = "payload_too_large"


class ScanUnavailable(GatewayError):
    """The second process that scans bodies died while this one was being received."""

    status = 503
    code = "unavailable"


class BadPayload(GatewayError):
    """The body as a whole is unusable (not well-formed, empty, no records)."""

    status = 400
    code = "bad_payload"


@dataclass(frozen=True, slots=True)
class Received:
    id: int
    status: str
    created: bool


def payload_format(content_type: str, charset: str | None) -> tuple[str, str | None]:
    """('marcxml'|'iso2709', declared charset for ISO 2709) for a request's content type."""
    mime = content_type.split(";")[0].strip().lower()
    if mime in XML_TYPES:
        return "marcxml", None
    if mime in ISO_TYPES:
        cs = (charset or "").strip().lower() or None
        if cs is not None and cs not in LATIN1_NAMES and cs not in {"utf-8", "utf8", "marc-8", "marc8"}:
            raise UnsupportedMediaType(f"charset {charset!r} is not supported for ISO 2709 (UTF-8, MARC-8 "
                                       "per Leader/09, or ISO-8859-1)")
        return "iso2709", ("iso-8859-1" if cs in LATIN1_NAMES else None)
    raise UnsupportedMediaType(
        f"unsupported content type {mime or '(none)'}: send MARCXML as application/marcxml+xml, "
        "application/xml or text/xml, or ISO 2709 as application/marc"
    )


class _Gunzip:
    """Streaming gzip decoding that never inflates more than `limit` bytes in total."""

    def __init__(self, limit: int) -> None:
        self._d = zlib.decompressobj(16 + zlib.MAX_WBITS)
        self._limit = limit
        self._out = 0

    def inflate(self, data: bytes) -> list[bytes]:
        pieces = []
        buf = data
        try:
            while buf:
                piece = self._d.decompress(buf, CHUNK_SIZE)
                self._out += len(piece)
                if self._out > self._limit:
                    raise PayloadTooLarge(f"the decoded body exceeds the limit of {self._limit} bytes")
                if piece:
                    pieces.append(piece)
                buf = self._d.unconsumed_tail
            return pieces
        except zlib.error as exc:
            raise BadPayload(f"the gzip content encoding is corrupt: {exc}") from None

    def close(self) -> None:
        if not self._d.eof:
            raise BadPayload("the gzip stream is truncated")


async def existing(conn: asyncpg.Connection, supplier_id: int, key: str) -> Received | None:
    row = await conn.fetchrow(
        Q["by_idempotency_key"], supplier_id, key
    )
    return Received(row["id"], row["status"], False) if row else None


async def receive(
    pool: asyncpg.Pool,
    supplier: Supplier,
    body: AsyncIterator[bytes],
    *,
    content_type: str,
    charset: str | None = None,
    gzip: bool = False,
    idempotency_key: str | None = None,
    max_body: int,
    source: str = "http",
    file: dict[str, str] | None = None,
    parse_process: ParseProcess | None = None,
) -> Received:
    """Store a delivery's body and answer for it; see the module docstring.

    With `parse_process` running (`forvarv serve` starts it), a MARCXML body is scanned there
    while this process reads, hashes and stores it. `file` describes the file a delivery came from
    (SFTP, `forvarv watch`: its name and the parts of a Libris-style name), kept with the delivery.
    """
    fmt, declared = payload_format(content_type, charset)
    if idempotency_key is not None:
        idempotency_key = idempotency_key.strip()
        if not idempotency_key or len(idempotency_key) > 255:
            raise Invalid("Idempotency-Key must be 1-255 characters")
        if not idempotency_key.isprintable():  # also refuses non-UTF-8 bytes (lone surrogates here)
            raise Invalid("Idempotency-Key must be printable UTF-8 text")
        async with pool.acquire() as conn:
            found = await existing(conn, supplier.id, idempotency_key)
        if found:
            return found

    child: ChildScanner | None = None
    if parse_process is not None and parse_process.running and fmt == "marcxml":
        child = ChildScanner(parse_process)
    scanner: MarcXmlScanner | IsoScanner = MarcXmlScanner() if fmt == "marcxml" else IsoScanner()
    gunzip = _Gunzip(max_body) if gzip else None
    digest = hashlib.sha256()
    async with pool.acquire() as conn:
        tx = conn.transaction()
        await tx.start()
        try:
            delivery_id = await conn.fetchval(
                Q["insert_delivery"],
                supplier.id, fmt, declared, source, json.dumps(file, ensure_ascii=False) if file else None,
            )
            size = 0
            seq = 0
            pending = bytearray()
            head = bytearray()  # the first bytes, to say what a refused body looks like instead

            async def flush(final: bool) -> None:
                nonlocal seq
                while len(pending) >= CHUNK_SIZE or (final and pending):
                    piece = bytes(pending[:CHUNK_SIZE])
                    del pending[:CHUNK_SIZE]
                    await conn.execute(
                        Q["insert_chunk"],
                        delivery_id, seq, piece,
                    )
                    seq += 1

            async for raw in body:
                for piece in gunzip.inflate(raw) if gunzip else [raw]:
                    digest.update(piece)  # of the decoded payload, however it was transferred
                    if len(head) < sniff.HEAD_SIZE:
                        head.extend(piece[:sniff.HEAD_SIZE - len(head)])
                    size += len(piece)
                    if size > max_body:
                        raise PayloadTooLarge(f"the body exceeds the limit of {max_body} bytes")
                    if child is not None:
                        await child.scan(piece)
                    else:
                        scanner.feed(piece)
                    pending.extend(piece)
                    await flush(final=False)
            if gunzip:
                gunzip.close()
            if size == 0:
                raise BadPayload("the body is empty")
            count = await child.close() if child is not None else scanner.close()
            if count == 0:
                raise BadPayload("the body holds no records")
            await flush(final=True)
            key = idempotency_key or digest.hexdigest()
            try:
                async with conn.transaction():  # savepoint: a duplicate key must not abort the rest
                    await conn.execute(
                        Q["seal_delivery"],
                        delivery_id, key, digest.digest(), size, count,
                    )
            except asyncpg.UniqueViolationError:
                await tx.rollback()
                found = await existing(conn, supplier.id, key)
                assert found is not None
                return found
            await conn.execute(Q["notify"], NOTIFY_CHANNEL, str(delivery_id))
        except BrokenProcessPool:
            await tx.rollback()
            raise ScanUnavailable("the gateway could not check the body (its scanning process stopped); "
                                  "send it again") from None
        except IsoFault as fault:
            await tx.rollback()
            raise BadPayload(f"not usable ISO 2709: {fault}{sniff.hint(bytes(head), sniff.ISO2709)}",
                             iso_code=fault.code, record=fault.position,
                             offset=fault.offset) from None
        except XMLFault as fault:
            await tx.rollback()
            raise BadPayload(
                f"not a usable MARCXML document: {fault}{sniff.hint(bytes(head), sniff.MARCXML)}",
                xml_code=fault.code, line=fault.line, column=fault.column,
            ) from None
        except BaseException:
            await tx.rollback()
            raise
        finally:
            if child is not None:
                child.forget()
        await tx.commit()
    return Received(int(delivery_id), "received", True)
