"""Through the whole gateway: a supplier POSTs a delivery, the lead's loader loads it and calls
enqueue_for_delivery in its finishing transaction, and the sender started by the app's
`gateway.outbox.service` delivers the messages to a real SMTP server."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path
from xml.sax.saxutils import escape

import asyncpg
import pytest
from aiohttp import web
from aiohttp.test_utils import TestClient, TestServer

from gateway import registry
from gateway.http.app import create_app
from gateway.outbox.service import SENDER_POLICY
from tests.outbox.helpers import FAST, settings_for, status_counts, wait_until
from tests.outbox.smtp import SmtpServer

Client = TestClient[web.Request, web.Application]

NS = "http://www.loc.gov/MARC21/slim"


def bib(own_id: str, isbn: str, title: str, author: str) -> str:
    return (
        '<record type="Bibliographic"><leader>00000cam a2200000 i 4500</leader>'
        f'<controlfield tag="001">{own_id}</controlfield>'
        '<controlfield tag="008">170327s2017    sw ||||j     |00| 0|swe d</controlfield>'
        f'<datafield tag="020" ind1=" " ind2=" "><subfield code="a">{isbn}</subfield></datafield>'
        f'<datafield tag="100" ind1="1" ind2=" "><subfield code="a">{escape(author)}</subfield></datafield>'
        f'<datafield tag="245" ind1="1" ind2="0"><subfield code="a">{title}</subfield></datafield>'
        "</record>"
    )


def holding(sigel: str, status: str = "n") -> str:
    return (
        f'<record type="Holdings"><leader>00000{status}x  a22000001n 4500</leader>'
        '<controlfield tag="008">170714||0000|||||000||||||000000</controlfield>'
        f'<datafield tag="852" ind1=" " ind2=" "><subfield code="b">{sigel}</subfield></datafield>'
        "</record>"
    )


def collection(*records: str) -> bytes:
    return (
        f'<?xml version="1.0" encoding="UTF-8"?><collection xmlns="{NS}">'
        + "".join(records)
        + "</collection>"
    ).encode()


@pytest.fixture
async def gateway_client(
    db_url: str, pool: asyncpg.Pool, smtp_server: SmtpServer, tmp_path: Path
) -> AsyncIterator[tuple[Client, str]]:
    async with pool.acquire() as conn:
        await registry.add_supplier(conn, "BOKR", "Bokrondellen")
        _, token = await registry.create_token(conn, "BOKR")
        await registry.add_library(conn, "Sods", "Södertörns högskolebibliotek", ["forvarv@sh.example"])
        await registry.add_library(conn, "Li", "Linköping City Library", ["acq@li.example"], language="en")
        await registry.add_library(conn, "Other", "Not a customer", ["other@example.org"])
        for sigel in ("Sods", "Li"):
            await registry.add_customer(conn, "BOKR", sigel)
    app = create_app(settings_for(tmp_path, smtp_server.port), database_url=db_url)
    app[SENDER_POLICY] = FAST
    async with TestClient(TestServer(app)) as client:
        yield client, token


async def post(client: Client, token: str, body: bytes) -> dict[str, object]:
    resp = await client.post(
        "/deliveries?wait=30",
        data=body,
        headers={"Authorization": f"Bearer {token}", "Content-Type": "application/marcxml+xml"},
    )
    assert resp.status == 200, await resp.text()
    result: dict[str, object] = await resp.json()
    assert result["status"] == "done", result
    return result


async def test_a_delivery_through_the_gateway_reaches_every_library(
    gateway_client: tuple[Client, str], pool: asyncpg.Pool, smtp_server: SmtpServer
) -> None:
    client, token = gateway_client
    hostile = "Farlig&#13;&#10;Bcc: victim@attacker.example"
    first = await post(
        client,
        token,
        collection(
            bib("A1", "9789150222319", "Pippi Långstrump", "Lindgren, Astrid"),
            holding("Sods"),
            holding("Li"),
            holding("Nope"),
            holding("Other"),
            bib("A2", "9789129688313", hostile, "Okänd"),
            holding("Sods"),
        ),
    )
    await wait_until(lambda: _sent(pool, 3))
    # A second delivery of the same book: matched for Sods, cancelled for Li.
    second = await post(
        client,
        token,
        collection(
            bib("A1", "9789150222319", "Pippi Långstrump", "Lindgren, Astrid"),
            holding("Sods"),
            holding("Li", status="d"),
        ),
    )
    await wait_until(lambda: _sent(pool, 5))

    by = {(r.rcpt_tos[0], r.message["X-Forvarv-Delivery"]): r.message for r in smtp_server.received}
    assert len(by) == 5
    d1, d2 = str(first["id"]), str(second["id"])
    sods1 = by[("forvarv@sh.example", d1)].get_body(("plain",)).get_content()  # type: ignore[union-attr]
    assert "1. Pippi Långstrump" in sods1
    assert "Resultat: ny post skapad" in sods1
    assert "2. Farlig Bcc: victim@attacker.example" in sods1
    li1 = by[("acq@li.example", d1)].get_body(("plain",)).get_content()  # type: ignore[union-attr]
    assert "Outcome:   new record created" in li1
    other = by[("other@example.org", d1)].get_body(("plain",)).get_content()  # type: ignore[union-attr]
    assert ("Resultat: avvisad – Other är inte registrerat som kund hos leverantören BOKR i Förvärv Gateway. "
            "Gatewayens administratör registrerar kundkopplingen; sedan kan leverantören leverera igen. "
            "(HOLDING_NOT_CUSTOMER)") in other
    assert "is not a customer of supplier" not in other
    sods2 = by[("forvarv@sh.example", d2)].get_body(("plain",)).get_content()  # type: ignore[union-attr]
    assert "Resultat: bestånd uppdaterat" in sods2
    li2 = by[("acq@li.example", d2)].get_body(("plain",)).get_content()  # type: ignore[union-attr]
    assert "Outcome:   order cancelled" in li2
    for r in smtp_server.received:
        assert b"attacker" not in r.data.split(b"\r\n\r\n", 1)[0]
    assert set(smtp_server.by_message_id().values()) == {1}


async def _sent(pool: asyncpg.Pool, n: int) -> bool:
    return (await status_counts(pool)).get("sent", 0) >= n
