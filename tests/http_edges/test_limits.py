"""Bounded protocol requests over real HTTP: a large form is refused before it is read, a long
request line is answered with 414 (or by the protocol while it is within the limit)."""

from __future__ import annotations

import asyncio
import logging

import aiohttp
import pytest
from lxml import etree

from gateway.http.forms import MAX_FORM
from gateway.http.server import MAX_REQUEST_LINE
from tests.http_edges.conftest import Gateway

OAI = {"o": "http://www.openarchives.org/OAI/2.0/"}
FORM = "application/x-www-form-urlencoded"


async def raw_exchange(gateway: Gateway, head: bytes, body: bytes) -> bytes:
    """Send the head and only `body` (however long Content-Length says the body is), then read
    the answer: it must come without the rest of the body."""
    reader, writer = await asyncio.open_connection(gateway.host, gateway.port)
    try:
        writer.write(head + body)
        await writer.drain()
        async with asyncio.timeout(20):
            head_end = await reader.readuntil(b"\r\n\r\n")
            length = next((int(line.split(b":", 1)[1]) for line in head_end.split(b"\r\n")
                           if line.lower().startswith(b"content-length:")), 0)
            return head_end + await reader.readexactly(length)
    finally:
        writer.close()


def status_of(answer: bytes) -> int:
    return int(answer.split(b" ", 2)[1])


@pytest.mark.parametrize("path", ["/oai", "/sru"])
async def test_a_large_form_is_refused_from_its_length_before_the_body_arrives(
        gateway: Gateway, path: str) -> None:
    head = (f"POST {path} HTTP/1.1\r\nHost: x\r\nContent-Type: {FORM}\r\n"
            f"Content-Length: {30 * 1024 * 1024}\r\n\r\n").encode()
    answer = await raw_exchange(gateway, head, b"verb=Identify&x=" + b"a" * 4000)
    assert status_of(answer) == 413
    assert f"at most {MAX_FORM} bytes".encode() in answer


@pytest.mark.parametrize("path", ["/oai", "/sru"])
async def test_a_chunked_form_is_refused_once_it_passes_the_limit(gateway: Gateway, path: str) -> None:
    head = f"POST {path} HTTP/1.1\r\nHost: x\r\nContent-Type: {FORM}\r\nTransfer-Encoding: chunked\r\n\r\n".encode()
    chunk = b"x=" + b"a" * 8190
    body = b"".join(b"%x\r\n%s\r\n" % (len(chunk), chunk) for _ in range(3))  # more than MAX_FORM, no end
    answer = await raw_exchange(gateway, head, body)
    assert status_of(answer) == 413


async def test_a_form_within_the_limit_is_answered(gateway: Gateway) -> None:
    async with aiohttp.ClientSession() as s:
        data = {"verb": "Identify", "x": "a" * (MAX_FORM - 100)}
        async with s.post(f"{gateway.url}/oai", data=data) as r:
            assert r.status == 200
            root = etree.fromstring(await r.read())
            assert root.find("o:error", OAI).get("code") == "badArgument"
        async with s.post(f"{gateway.url}/oai", data={"verb": "Identify"}) as r:
            assert r.status == 200
            assert etree.fromstring(await r.read()).find("o:Identify", OAI) is not None
        async with s.post(f"{gateway.url}/sru", data={"operation": "searchRetrieve", "version": "1.2",
                                                      "query": "dc.title=" + "a" * (MAX_FORM - 100)}) as r:
            assert r.status == 200
            assert b"searchRetrieveResponse" in await r.read()


async def test_requests_go_on_while_a_30_mb_form_is_posted(gateway: Gateway) -> None:
    """The large form is answered 413 and the harvests next to it are all answered."""
    async with aiohttp.ClientSession() as s:
        async def big() -> int:
            try:
                async with s.post(f"{gateway.url}/oai", data=b"verb=Identify&x=" + b"a" * (30 * 1024 * 1024),
                                  headers={"Content-Type": FORM}) as r:
                    return r.status
            except aiohttp.ClientOSError:  # the server closed while the body was still going out
                return 413

        async def small() -> int:
            async with s.get(f"{gateway.url}/oai", params={"verb": "Identify"}) as r:
                await r.read()
                return r.status

        async with asyncio.timeout(60):
            statuses = await asyncio.gather(big(), *(small() for _ in range(20)))
    assert statuses == [413] + [200] * 20


async def test_a_request_line_over_8190_bytes_reaches_the_protocol(gateway: Gateway) -> None:
    async with aiohttp.ClientSession() as s:
        async with s.get(f"{gateway.url}/oai?verb=Identify&extra={'a' * 12000}") as r:
            assert r.status == 200
            assert etree.fromstring(await r.read()).find("o:error", OAI).get("code") == "badArgument"
        async with s.get(f"{gateway.url}/sru", params={"operation": "searchRetrieve", "version": "1.2",
                                                       "query": "dc.title=" + "b" * 12000}) as r:
            assert r.status == 200
            assert b"searchRetrieveResponse" in await r.read()


@pytest.mark.parametrize("path", ["/oai?verb=Identify&x=", "/sru?query=", "/deliveries?x="])
async def test_a_request_line_over_the_limit_gets_414_with_the_limit(
        gateway: Gateway, path: str, caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.INFO)
    line = f"GET {path}{'a' * MAX_REQUEST_LINE} HTTP/1.1\r\nHost: x\r\n\r\n".encode()
    answer = await raw_exchange(gateway, line, b"")
    assert status_of(answer) == 414
    assert f"longer than {MAX_REQUEST_LINE} bytes".encode() in answer
    assert b"Traceback" not in answer and b"aaaa" not in answer
    errors = [r for r in caplog.records if r.levelno >= logging.ERROR or r.exc_info]
    assert not errors, [r.getMessage() for r in errors]


async def test_a_header_over_the_limit_gets_431(gateway: Gateway) -> None:
    head = f"GET /oai?verb=Identify HTTP/1.1\r\nHost: x\r\nX-Long: {'a' * 9000}\r\n\r\n".encode()
    answer = await raw_exchange(gateway, head, b"")
    assert status_of(answer) == 431
