"""What libraries read: deliveries POSTed through the gateway, loaded, and the e-mails received by a
real SMTP server, checked in Swedish (Sods) and English (Li)."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path
from urllib.parse import urlsplit

import asyncpg
import pytest
from aiohttp import web
from aiohttp.test_utils import TestClient, TestServer
from lxml import etree

from gateway import registry
from gateway.http.app import create_app
from gateway.outbox.service import SENDER_POLICY
from tests.outbox.helpers import FAST, settings_for, wait_until
from tests.outbox.smtp import SmtpServer
from tests.outbox.test_end_to_end import bib, collection, holding

Client = TestClient[web.Request, web.Application]
OAI = "{http://www.openarchives.org/OAI/2.0/}"
MARC = "{http://www.loc.gov/MARC21/slim}"


@pytest.fixture
async def gateway(
    db_url: str, pool: asyncpg.Pool, smtp_server: SmtpServer, tmp_path: Path
) -> AsyncIterator[tuple[Client, str]]:
    async with pool.acquire() as conn:
        await registry.add_supplier(conn, "BOKR", "Bokrondellen")
        _, token = await registry.create_token(conn, "BOKR")
        await registry.add_library(conn, "Sods", "Södertörns högskolebibliotek", ["forvarv@sh.example"])
        await registry.add_library(conn, "Li", "Linköping City Library", ["acq@li.example"], language="en")
        for sigel in ("Sods", "Li"):
            await registry.add_customer(conn, "BOKR", sigel)
    app = create_app(settings_for(tmp_path, smtp_server.port), database_url=db_url)
    app[SENDER_POLICY] = FAST
    async with TestClient(TestServer(app)) as client:
        yield client, token


async def post(client: Client, token: str, body: bytes, key: str | None = None) -> dict[str, object]:
    headers = {"Authorization": f"Bearer {token}", "Content-Type": "application/marcxml+xml"}
    if key is not None:
        headers["Idempotency-Key"] = key
    resp = await client.post("/deliveries?wait=30", data=body, headers=headers)
    assert resp.status == 200, await resp.text()
    result: dict[str, object] = await resp.json()
    assert result["status"] == "done", result
    return result


async def mails(pool: asyncpg.Pool, smtp_server: SmtpServer, n: int) -> dict[str, str]:
    """The plain-text bodies of the first `n` messages, by recipient (one message each here)."""

    async def arrived() -> bool:
        return len(smtp_server.received) >= n

    await wait_until(arrived)
    out = {}
    for r in smtp_server.received:
        body = r.message.get_body(("plain",))
        assert body is not None
        out[r.rcpt_tos[0]] = body.get_content()
    return out


def links(text: str, marker: str) -> list[str]:
    return [line.strip() for line in text.splitlines() if line.strip().startswith("https://") and marker in line]


async def test_the_all_records_link_harvests_the_library_s_holdings(
    gateway: tuple[Client, str], pool: asyncpg.Pool, smtp_server: SmtpServer
) -> None:
    client, token = gateway
    await post(client, token, collection(bib("A1", "9789150222319", "Pippi Långstrump", "Lindgren, Astrid"),
                                         holding("Sods"), holding("Li")))
    by = await mails(pool, smtp_server, 2)
    for address, sigel in (("forvarv@sh.example", "Sods"), ("acq@li.example", "Li")):
        (url,) = links(by[address], "verb=ListRecords")
        assert url.endswith(f"metadataPrefix=marc21_withholdings&set=bib:{sigel}"), url
        # the link, followed against this gateway, gives the record with this library's holding
        parts = urlsplit(url)
        resp = await client.get(f"{parts.path}?{parts.query}")
        assert resp.status == 200
        tree = etree.fromstring(await resp.read())
        assert tree.find(f"{OAI}error") is None, await resp.text()
        (record,) = tree.iter(f"{MARC}record")
        sigels = {sf.text for df in record.iter(f"{MARC}datafield") if df.get("tag") in ("841", "852")
                  for sf in df.iter(f"{MARC}subfield") if sf.get("code") in ("5", "b")}
        assert sigel in sigels, etree.tostring(record)
