"""HEAD on every GET route answers headers only, so a keep-alive client can go on using its connection."""

from __future__ import annotations

import asyncio
import http.client
import json
import logging
import re

import asyncpg
import pytest

from gateway import registry
from tests.http_edges.conftest import ADMIN_TOKEN, Gateway

ADMIN = {"Authorization": f"Bearer {ADMIN_TOKEN}"}
#: Answers that change from one request to the next by design (/metrics counts the HEAD itself).
CHANGING = frozenset({"/metrics"})
MARCXML = (
    b'<collection xmlns="http://www.loc.gov/MARC21/slim"><record><leader>00000nam a2200000 a 4500</leader>'
    b'<controlfield tag="001">e1</controlfield><datafield tag="245" ind1="1" ind2="0">'
    b'<subfield code="a">Kantfall</subfield></datafield></record></collection>'
)


def head_then_get(host: str, port: int, path: str, headers: dict[str, str]) -> tuple[
        int, bytes, dict[str, str], int, bytes]:
    """HEAD, then GET on the same connection (http.client keeps it open unless told to close)."""
    conn = http.client.HTTPConnection(host, port, timeout=20)
    try:
        conn.request("HEAD", path, headers=headers)
        head = conn.getresponse()
        head_body = head.read()  # http.client reads nothing after a HEAD: any body stays on the wire
        head_headers = {k.lower(): v for k, v in head.getheaders()}
        sock = conn.sock
        assert sock is not None, f"HEAD {path}: the server closed the connection"
        conn.request("GET", path, headers=headers)
        get = conn.getresponse()
        body = get.read()
        assert conn.sock is sock or conn.sock is None, f"GET {path} went out on another connection"
        return head.status, head_body, head_headers, get.status, body
    finally:
        conn.close()


def paths(gateway: Gateway) -> list[str]:
    """Every GET route of the app, path parameters filled with an id that does not exist."""
    found = set()
    for route in gateway.app.router.routes():
        if route.method == "GET":
            found.add(re.sub(r"\{[^}]*\}", "999", route.resource.canonical if route.resource else ""))
    return sorted(found)


async def test_every_get_route_answers_head_without_a_body(
        gateway: Gateway, pool: asyncpg.Pool, caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.INFO)
    async with pool.acquire() as conn:
        await registry.add_supplier(conn, "EDGE", "Edge supplier")
        _, token = await registry.create_token(conn, "EDGE")
    supplier = {"Authorization": f"Bearer {token}"}
    delivery = await asyncio.to_thread(_post, gateway, token)

    checks: list[tuple[str, dict[str, str]]] = [(p, ADMIN) for p in paths(gateway)]
    assert {"/oai", "/sru", "/deliveries", "/deliveries/999", "/admin/libraries"} <= {p for p, _ in checks}
    checks += [
        ("/oai?verb=Identify", {}),
        ("/oai?verb=ListRecords&metadataPrefix=marc21", {}),
        ("/oai?verb=ListSets", {"Accept-Encoding": "gzip"}),
        ("/sru?operation=searchRetrieve&version=1.2&query=dc.title%3Dkantfall", {}),
        (f"/deliveries/{delivery}", supplier),
        (f"/deliveries/{delivery}", ADMIN),
        ("/deliveries", supplier),
    ]
    for path, headers in checks:
        head_status, head_body, head_headers, get_status, body = await asyncio.to_thread(
            head_then_get, gateway.host, gateway.port, path, headers)
        assert head_status == get_status, path
        assert head_body == b"", path
        assert head_headers.get("connection", "").lower() != "close", path
        assert "transfer-encoding" not in head_headers or get_status >= 400, path
        assert body or 300 <= get_status < 400, path  # the GET after it was read whole, correctly framed
        if "content-length" in head_headers and "content-encoding" not in head_headers and path not in CHANGING:
            assert int(head_headers["content-length"]) == len(body), path
    errors = [r for r in caplog.records if r.levelno >= logging.ERROR]
    assert not errors, [r.getMessage() for r in errors]


def _post(gateway: Gateway, token: str) -> str:
    conn = http.client.HTTPConnection(gateway.host, gateway.port, timeout=20)
    try:
        conn.request("POST", "/deliveries", body=MARCXML, headers={
            "Authorization": f"Bearer {token}", "Content-Type": "application/marcxml+xml"})
        response = conn.getresponse()
        body = response.read()
        assert response.status == 202, body
        return str(json.loads(body)["id"])
    finally:
        conn.close()
