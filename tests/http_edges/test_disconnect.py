"""A harvester that goes away in the middle of a page is normal: one short line, no ERROR, no traceback."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import socket
import struct
from pathlib import Path

import asyncpg
import pytest

from gateway.config import Settings
from gateway.http.app import create_app
from gateway.http.server import start
from tests.http_edges.conftest import ADMIN_TOKEN, Gateway
from tests.oai.seed import add_bib, add_supplier
from tests.ports import free_port

NOTE = '<datafield tag="500" ind1=" " ind2=" "><subfield code="a">{}</subfield></datafield>'


async def seed_large_page(pool: asyncpg.Pool, records: int = 500) -> None:
    """A first ListRecords page of several megabytes: far more than the socket buffers hold."""
    async with pool.acquire() as conn, conn.transaction():
        for i in range(records):
            await add_bib(conn, f"Bok {i}", extra=NOTE.format("lång anmärkning " * 400))


async def seed_large_report(pool: asyncpg.Pool, records: int = 20_000) -> int:
    """A delivery whose report runs to several megabytes (its per-record results written directly)."""
    async with pool.acquire() as conn, conn.transaction():
        supplier = await add_supplier(conn, "BIGR", "Big report supplier")
        delivery: int = await conn.fetchval(
            """INSERT INTO deliveries (supplier_id, format, sha256, size, record_count, source)
               VALUES ($1, 'marcxml', 'x', 1, $2, 'test') RETURNING id""", supplier, records)
        await conn.execute(
            """INSERT INTO delivery_records (delivery_id, position, kind, outcome, title)
               SELECT $1, n, 'bib', 'created', repeat('Lång titel ', 20) || n
                 FROM generate_series(1, $2) AS n""", delivery, records)
    return delivery


def _disconnect_mid_page(host: str, port: int, path: str, headers: str = "") -> bytes:
    sock = socket.socket()
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)  # the server soon waits for us
    sock.connect((host, port))
    try:
        sock.sendall(f"GET {path} HTTP/1.1\r\nHost: x\r\n{headers}\r\n".encode())
        first = sock.recv(1024)
        assert first.startswith(b"HTTP/1.1 200"), first
        sock.settimeout(0.5)
        with contextlib.suppress(TimeoutError):  # take a little more, then stop reading
            sock.recv(4096)
        return first
    finally:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))  # reset, not FIN
        sock.close()


async def test_a_harvester_that_leaves_mid_page_is_one_line(
        gateway: Gateway, pool: asyncpg.Pool, caplog: pytest.LogCaptureFixture) -> None:
    await seed_large_page(pool)
    await left_mid_stream(gateway, caplog, "/oai?verb=ListRecords&metadataPrefix=marc21")


async def test_a_client_that_leaves_mid_report_is_one_line(
        gateway: Gateway, pool: asyncpg.Pool, caplog: pytest.LogCaptureFixture) -> None:
    delivery = await seed_large_report(pool)
    await left_mid_stream(gateway, caplog, f"/deliveries/{delivery}", f"Authorization: Bearer {ADMIN_TOKEN}\r\n")


async def left_mid_stream(gateway: Gateway, caplog: pytest.LogCaptureFixture, path: str, headers: str = "") -> None:
    caplog.set_level(logging.DEBUG)
    await asyncio.to_thread(_disconnect_mid_page, gateway.host, gateway.port, path, headers)
    for _ in range(300):  # the server notices at its next write
        if any("went away" in r.getMessage() or r.levelno >= logging.ERROR for r in caplog.records):
            break
        await asyncio.sleep(0.1)
    await asyncio.sleep(0.5)  # anything else it would log about this request
    loud = [r for r in caplog.records if r.levelno >= logging.WARNING or r.exc_info]
    assert not loud, [(r.levelname, r.getMessage()) for r in loud]
    lines = [r for r in caplog.records if "went away" in r.getMessage()]
    assert len(lines) == 1 and lines[0].levelno <= logging.INFO
    assert path.split("?")[0] in lines[0].getMessage() and "\n" not in lines[0].getMessage()


async def test_the_line_of_a_client_that_left_masks_secret_looking_arguments(
        gateway: Gateway, pool: asyncpg.Pool, caplog: pytest.LogCaptureFixture) -> None:
    """As the access log does (gateway/ops/access.py): a token put in the URL by mistake is not logged."""
    delivery = await seed_large_report(pool)
    secret = "s3cret-in-the-url"
    await left_mid_stream(gateway, caplog, f"/deliveries/{delivery}?access_token={secret}",
                          f"Authorization: Bearer {ADMIN_TOKEN}\r\n")
    assert not [r.getMessage() for r in caplog.records if secret in r.getMessage()]


async def test_a_request_cut_short_by_a_stopping_server_is_logged_as_that(
        db_url: str, pool: asyncpg.Pool, tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    """A harvest page still being written when the server stops (after its stop timeout) is one
    access line that says so, not "an unexpected error (logged above)" with nothing logged above."""
    await seed_large_page(pool)
    port = free_port()
    settings = Settings(data_dir=tmp_path, admin_token=ADMIN_TOKEN, secret="edges-secret",
                        public_url=f"http://127.0.0.1:{port}", oai_page_size=500, workers=0)
    runner = await start(create_app(settings, database_url=db_url, run_workers=False), "127.0.0.1", port,
                         shutdown_timeout=0.5)
    caplog.set_level(logging.INFO)
    sock = socket.socket()
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)  # the server soon waits for us
    try:
        await asyncio.to_thread(sock.connect, ("127.0.0.1", port))
        request = b"GET /oai?verb=ListRecords&metadataPrefix=marc21 HTTP/1.1\r\nHost: x\r\n\r\n"
        await asyncio.to_thread(sock.sendall, request)
        first = await asyncio.to_thread(sock.recv, 1024)
        assert first.startswith(b"HTTP/1.1 200"), first
        await runner.cleanup()  # the page is not finished: its handler is cancelled after 0.5 s
    finally:
        sock.close()
    lines = [r for r in caplog.records if r.name == "gateway.access" and "/oai" in r.getMessage()]
    assert len(lines) == 1, [r.getMessage() for r in lines]
    message = lines[0].getMessage()
    assert " 503 " in message and "the server stopped" in message and "logged above" not in message, message
    assert not [r for r in caplog.records if r.levelno >= logging.ERROR or r.exc_info]
