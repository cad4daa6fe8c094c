"""What libraries read: deliveries POSTed through the gateway, loaded, and the e-mails received by a
real SMTP server, checked in Swedish (Sods) and English (Li)."""

from __future__ import annotations

from collections.abc import AsyncIterator
from email import message_from_bytes
from email.message import EmailMessage
from email.policy import default
from pathlib import Path
from urllib.parse import urlsplit

import asyncpg
import pytest
from aiohttp import web
from aiohttp.test_utils import TestClient, TestServer
from lxml import etree

from gateway import config, registry
from gateway.http.app import create_app
from gateway.outbox.service import SENDER_POLICY
from tests.intake import marcxml as mx
from tests.outbox.helpers import ADMIN_TOKEN, FAST, settings_for, status_counts, wait_until
from tests.outbox.smtp import SmtpServer
from tests.outbox.test_cli import forvarv
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


async def test_spooled_mail_is_listed_as_spooled_not_sent(
    db_url: str, pool: asyncpg.Pool, tmp_path: Path
) -> None:
    """No SMTP host: the messages are files in the spool folder, and the admin API and the CLI
    say `spooled`; the files say what the libraries would read, in both languages."""
    async with pool.acquire() as conn:
        await registry.add_supplier(conn, "BOKR", "Bokrondellen")
        _, token = await registry.create_token(conn, "BOKR")
        await registry.add_library(conn, "Sods", "Södertörns högskolebibliotek", ["forvarv@sh.example"])
        await registry.add_library(conn, "Li", "Linköping City Library", ["acq@li.example"], language="en")
        for sigel in ("Sods", "Li"):
            await registry.add_customer(conn, "BOKR", sigel)
    app = create_app(settings_for(tmp_path, None), database_url=db_url)
    app[SENDER_POLICY] = FAST
    async with TestClient(TestServer(app)) as client:
        await post(client, token, collection(bib("A1", "9789150222319", "Pippi Långstrump", "Lindgren, Astrid"),
                                             holding("Sods"), holding("Li")))

        async def written() -> bool:
            return (await status_counts(pool)).get("spooled", 0) == 2

        await wait_until(written)
        assert await status_counts(pool) == {"spooled": 2}
        auth = {"Authorization": f"Bearer {ADMIN_TOKEN}"}
        resp = await client.get("/admin/notifications?status=spooled", headers=auth)
        assert resp.status == 200
        assert sorted(n["sigel"] for n in (await resp.json())["notifications"]) == ["Li", "Sods"]
        resp = await client.get("/admin/notifications?status=sent", headers=auth)
        assert (await resp.json())["notifications"] == []
    bodies = {}
    for path in (tmp_path / "outbox").iterdir():
        msg = message_from_bytes(path.read_bytes(), policy=default)
        body = msg.get_body(("plain",))
        assert body is not None
        bodies[str(msg["To"])] = body.get_content()
    assert "Resultat: ny post skapad" in bodies["forvarv@sh.example"]
    assert "Outcome:   new record created" in bodies["acq@li.example"]
    code, out, err = await forvarv(db_url, tmp_path, "notifications", "list", "--status", "spooled")
    assert code == 0, err
    assert [line.split()[4] for line in out.splitlines()[1:]] == ["spooled", "spooled"]
    code, out, _ = await forvarv(db_url, tmp_path, "notifications", "list", "--help")
    assert "spooled" in out


async def test_the_default_sender_is_at_the_public_host(
    db_url: str, pool: asyncpg.Pool, smtp_server: SmtpServer, tmp_path: Path
) -> None:
    """Without FORVARV_SMTP_FROM the From and envelope sender are forvarv-gateway@ the host of
    FORVARV_PUBLIC_URL, not @localhost."""
    settings = config.from_env({
        "FORVARV_PUBLIC_URL": "https://forvarv.kb.example/",
        "FORVARV_SMTP_HOST": "127.0.0.1",
        "FORVARV_SMTP_PORT": str(smtp_server.port),
        "FORVARV_DATA_DIR": str(tmp_path),
        "FORVARV_ADMIN_TOKEN": ADMIN_TOKEN,
        "FORVARV_SECRET": "test",
    })
    assert settings.smtp.sender == "forvarv-gateway@forvarv.kb.example"
    assert config.from_env({"FORVARV_PUBLIC_URL": "http://10.0.0.7:8080"}).smtp.sender == (
        "forvarv-gateway@localhost")
    assert config.from_env({"FORVARV_PUBLIC_URL": "https://forvarv.kb.example",
                            "FORVARV_SMTP_FROM": "Acq <acq@kb.example>"}).smtp.sender == "Acq <acq@kb.example>"
    async with pool.acquire() as conn:
        await registry.add_supplier(conn, "BOKR", "Bokrondellen")
        _, token = await registry.create_token(conn, "BOKR")
        await registry.add_library(conn, "Sods", "Södertörns högskolebibliotek", ["forvarv@sh.example"])
        await registry.add_library(conn, "Li", "Linköping City Library", ["acq@li.example"], language="en")
        for sigel in ("Sods", "Li"):
            await registry.add_customer(conn, "BOKR", sigel)
    app = create_app(settings, database_url=db_url)
    app[SENDER_POLICY] = FAST
    async with TestClient(TestServer(app)) as client:
        await post(client, token, collection(bib("A1", "9789150222319", "Pippi Långstrump", "Lindgren, Astrid"),
                                             holding("Sods"), holding("Li")))
        by = await mails(pool, smtp_server, 2)
    assert "Resultat: ny post skapad" in by["forvarv@sh.example"]
    assert "Outcome:   new record created" in by["acq@li.example"]
    for r in smtp_server.received:
        assert r.mail_from == "forvarv-gateway@forvarv.kb.example"
        assert r.message["From"].addresses[0].addr_spec == "forvarv-gateway@forvarv.kb.example"
        assert "https://forvarv.kb.example/oai?" in r.message.get_body(("plain",)).get_content()


async def test_a_replayed_delivery_says_so_and_a_registry_refusal_says_what_to_do(
    gateway: tuple[Client, str], pool: asyncpg.Pool
) -> None:
    client, token = gateway
    body = collection(bib("A1", "9789150222319", "Pippi Långstrump", "Lindgren, Astrid"), holding("Newlib"))
    headers = {"Authorization": f"Bearer {token}", "Content-Type": "application/marcxml+xml"}
    resp = await client.post("/deliveries?wait=30", data=body, headers=headers)
    assert resp.status == 200
    assert "Idempotency-Replayed" not in resp.headers
    first = await resp.json()
    assert first["replayed"] is False
    (refused,) = first["records"][0]["holdings"]
    assert refused["outcome"] == "rejected"
    (error,) = refused["errors"]
    assert error["code"] == "HOLDING_UNKNOWN_LIBRARY"
    assert "Newlib" in error["message"]
    assert "ask the gateway's administrator to register it" in error["message"]
    assert "new Idempotency-Key" in error["message"]

    async with pool.acquire() as conn:  # the administrator registers the library
        await registry.add_library(conn, "Newlib", "Nya biblioteket", ["ny@example.org"])
        await registry.add_customer(conn, "BOKR", "Newlib")
    # the same file again: the old report, and now it says it is one
    for wait in ("?wait=30", ""):
        resp = await client.post(f"/deliveries{wait}", data=body, headers=headers)
        assert resp.status == 200
        assert resp.headers["Idempotency-Replayed"] == "true"
        again = await resp.json()
        assert (again["id"], again["replayed"]) == (first["id"], True)
    assert again["href"] == f"/deliveries/{first['id']}"
    # with a new Idempotency-Key it is a new delivery, and the holding is added
    resp = await client.post("/deliveries?wait=30", data=body, headers={**headers, "Idempotency-Key": "retry-1"})
    assert resp.status == 200
    assert "Idempotency-Replayed" not in resp.headers
    fresh = await resp.json()
    assert fresh["id"] != first["id"] and fresh["replayed"] is False
    assert fresh["records"][0]["holdings"][0]["outcome"] == "added"
    resp = await client.post("/deliveries", data=body, headers={**headers, "Idempotency-Key": "retry-1"})
    assert resp.headers["Idempotency-Replayed"] == "true"
    assert (await resp.json())["replayed"] is True


def both_parts(message: EmailMessage) -> tuple[str, str]:
    plain, html = message.get_body(("plain",)), message.get_body(("html",))
    assert plain is not None and html is not None
    return plain.get_content(), html.get_content()


async def test_an_ambiguous_match_is_said_with_its_candidates_in_both_languages(
    gateway: tuple[Client, str], pool: asyncpg.Pool, smtp_server: SmtpServer
) -> None:
    """Not "matched an existing record" under another record's title: the title as delivered, the
    match called ambiguous, and every candidate with its id and title, in Swedish and in English."""
    client, token = gateway
    first = await post(client, token, collection(mx.bib(own_id="M1", isbn=["9789127108509"], title="Äldst", level=" "),
                                                 mx.bib(own_id="M2", isbn=["9789150222319"], title="Yngre", level=" ")))
    oldest, younger = (r["record_id"] for r in first["records"])  # type: ignore[union-attr, index]
    await post(client, token, collection(mx.bib(own_id="M3", isbn=["9789127108509", "9789150222319"], title="Båda"),
                                         holding("Sods"), holding("Li")))
    await mails(pool, smtp_server, 2)
    by = {r.rcpt_tos[0]: r.message for r in smtp_server.received}
    sv, sv_html = both_parts(by["forvarv@sh.example"])
    en, en_html = both_parts(by["acq@li.example"])
    assert "1. Båda" in sv and "1. Båda" in en
    assert (f"Resultat: tvetydig matchning – titeln matchade 2 befintliga poster; beståndet ligger tills vidare "
            f"på den äldsta ({oldest})") in sv
    assert f"Kandidat: {oldest} Äldst" in sv and f"Kandidat: {younger} Yngre" in sv
    assert (f"Outcome:   ambiguous match – the title matched 2 existing records; the holding is on the oldest "
            f"({oldest}) for now") in en
    assert f"Candidate: {oldest} Äldst" in en and f"Candidate: {younger} Yngre" in en
    for text in (sv, en):
        assert "matchad mot befintlig post" not in text and "matched an existing record" not in text
        assert "1. Äldst" not in text
    assert f"Kandidat {younger} <bdi>Yngre</bdi>" in sv_html and f"Candidate {younger} <bdi>Yngre</bdi>" in en_html
    assert "1 tvetydig" in str(by["forvarv@sh.example"]["Subject"])
    assert "1 ambiguous" in str(by["acq@li.example"]["Subject"])


async def test_a_library_none_of_whose_holdings_loaded_is_told_so_and_why_in_its_language(
    gateway: tuple[Client, str], pool: asyncpg.Pool, smtp_server: SmtpServer
) -> None:
    """Hig (Swedish) and Lx (English) are registered but not the supplier's customers: each reads that
    nothing was loaded and why, in its own language, not that a delivery was loaded; Sods, in the
    same delivery, reads the usual message."""
    client, token = gateway
    async with pool.acquire() as conn:
        await registry.add_library(conn, "Hig", "Högskolan i Gävle", ["forvarv@hig.example"])
        await registry.add_library(conn, "Lx", "Lexington Library", ["acq@lx.example"], language="en")
    await post(client, token, collection(bib("A1", "9789150222319", "Pippi Långstrump", "Lindgren, Astrid"),
                                         holding("Hig"), holding("Lx"), holding("Sods")))
    await mails(pool, smtp_server, 3)
    by = {r.rcpt_tos[0]: r.message for r in smtp_server.received}
    hig, hig_html = both_parts(by["forvarv@hig.example"])
    assert "inget inläst" in str(by["forvarv@hig.example"]["Subject"])
    assert ("Förvärv Gateway har tagit emot en leverans från Bokrondellen (BOKR) med bestånd för er (Hig), men "
            "inget av det kunde läsas in: alla titlar avvisades.") in hig
    why = ("Hig är inte registrerat som kund hos leverantören BOKR i Förvärv Gateway. Gatewayens administratör "
           "registrerar kundkopplingen; sedan kan leverantören leverera igen. (HOLDING_NOT_CUSTOMER)")
    assert f"Orsak: {why}" in hig and f"Resultat: avvisad – {why}" in hig
    assert "har läst in en leverans" not in hig and "Så hämtar ni posterna" not in hig
    assert "is not a customer" not in hig + hig_html
    assert "inget av det kunde läsas in" in hig_html
    lx, lx_html = both_parts(by["acq@lx.example"])
    assert "none of them could be loaded" in lx_html and "is not registered as a customer" in lx_html
    assert "nothing loaded" in str(by["acq@lx.example"]["Subject"])
    assert ("Förvärv Gateway received a delivery from Bokrondellen (BOKR) with holdings for you (Lx), but none of "
            "them could be loaded: every title was rejected.") in lx
    assert ("Why: Lx is not registered as a customer of supplier BOKR in Förvärv Gateway. The gateway's "
            "administrator registers the customer link; then the supplier can deliver again. "
            "(HOLDING_NOT_CUSTOMER)") in lx
    assert "has loaded a delivery" not in lx and "How to fetch the records" not in lx
    sods, _ = both_parts(by["forvarv@sh.example"])
    assert "Förvärv Gateway har läst in en leverans som gäller ert bestånd (Sods)." in sods
    assert "Orsak:" not in sods and "Så hämtar ni posterna" in sods
