"""Record, search, review, registry and outbox pages over plain HTTP: content, actions, isolation."""

from __future__ import annotations

import asyncio
import re
from typing import Any

import asyncpg
from aiohttp.test_utils import TestClient

from gateway import registry
from gateway.http.appkeys import POOL
from tests.console.conftest import Tokens
from tests.console.helpers import page_csrf, sign_in
from tests.intake.helpers import deliver
from tests.intake.marcxml import bib, collection, holding


async def _load(client: TestClient, token: str, *records: str) -> dict[str, Any]:
    status, report = await deliver(client, token, collection(*records))
    assert status == 200, report
    return report


async def test_record_page_reads_like_a_catalogue(client: TestClient, tokens: Tokens) -> None:
    report = await _load(client, tokens.supplier, bib(own_id="P1", isbn=["9789100000127"], title="Skogens <röst>"),
                         holding("Sods"), bib(own_id="P1", isbn=["9789100000127"], title="Skogens <röst>"),
                         holding("Nyks"))
    rid = report["records"][0]["record_id"]
    await sign_in(client, tokens.admin)
    resp = await client.get(f"/console/records/{rid}", headers={"Accept-Language": "en"})
    assert resp.status == 200
    html = await resp.text()
    assert "Skogens &lt;röst&gt;" in html and "<röst>" not in html
    assert re.search(r'<th scope="row">245</th>\s*<td>10</td>', html)
    assert '<span class="code">$a</span>' in html
    assert "Sods – Södertörns" in html and "Nyks – Nyköpings" in html
    assert "9789100000127" in html  # identifiers
    assert f'href="/console/deliveries/{report["id"]}"' in html  # provenance
    oai = re.search(r'href="(/oai\?verb=GetRecord[^"]+)"', html)
    sru = re.search(r'href="(/sru\?query=rec.id%3D\d+)"', html)
    assert oai and sru
    got = await (await client.get(oai.group(1).replace("&amp;", "&"))).text()
    assert f"bib/{rid}</identifier>" in got and "Skogens" in got
    got = await (await client.get(sru.group(1))).text()
    assert re.search(r"<(\w+:)?numberOfRecords>1</", got), got


async def test_protect_and_unprotect(client: TestClient, pool: asyncpg.Pool, tokens: Tokens) -> None:
    report = await _load(client, tokens.supplier, bib(own_id="Q1", isbn=["9789100000134"]), holding("Sods"))
    rid = report["records"][0]["record_id"]
    await sign_in(client, tokens.admin)
    csrf = await page_csrf(client, f"/console/records/{rid}")
    assert (await client.post(f"/console/records/{rid}/protect", data={})).status == 403
    resp = await client.post(f"/console/records/{rid}/protect", data={"csrf": csrf}, allow_redirects=False)
    assert resp.status == 303
    async with pool.acquire() as conn:
        assert await conn.fetchval("SELECT protected FROM bib_records WHERE id = $1", int(rid))
    html = await (await client.get(f"/console/records/{rid}", headers={"Accept-Language": "en"})).text()
    assert "Unprotect" in html
    await client.post(f"/console/records/{rid}/unprotect", data={"csrf": csrf})
    async with pool.acquire() as conn:
        assert not await conn.fetchval("SELECT protected FROM bib_records WHERE id = $1", int(rid))
    await sign_in(client, tokens.supplier)
    csrf = await page_csrf(client, f"/console/records/{rid}")
    assert (await client.post(f"/console/records/{rid}/protect", data={"csrf": csrf})).status == 404


async def test_records_are_isolated(client: TestClient, tokens: Tokens) -> None:
    report = await _load(client, tokens.supplier, bib(own_id="I1", isbn=["9789100000141"]), holding("Sods"))
    rid = report["records"][0]["record_id"]
    await sign_in(client, tokens.other_supplier)
    assert (await client.get(f"/console/records/{rid}")).status == 404
    await sign_in(client, tokens.other_library)
    assert (await client.get(f"/console/records/{rid}")).status == 404
    await sign_in(client, tokens.library)
    assert (await client.get(f"/console/records/{rid}")).status == 200
    for path in ("/console/records/0", "/console/records/abc", "/console/records/99999999999999999999"):
        assert (await client.get(path)).status == 404


async def test_search_words_and_cql(client: TestClient, tokens: Tokens) -> None:
    report = await _load(client, tokens.supplier, bib(own_id="S1", isbn=["9789100000158"], title="Fjällens hemlighet"),
                         holding("Sods"))
    rid = report["records"][0]["record_id"]
    await sign_in(client, tokens.library)
    html = await (await client.get("/console/search", params={"q": "fjällens"})).text()
    assert f'href="/console/records/{rid}"' in html and "Fjällens hemlighet" in html
    html = await (await client.get("/console/search", params={"cql": "bath.isbn = 9789100000158"})).text()
    assert f'href="/console/records/{rid}"' in html
    html = await (await client.get("/console/search", params={"q": 'skogen "*'})).text()
    assert "0 " in html
    resp = await client.get("/console/search", params={"cql": "dc.title = ("})
    assert resp.status == 200
    assert 'role="alert"' in await resp.text()


async def test_review_item_side_by_side(client: TestClient, tokens: Tokens) -> None:
    await _load(client, tokens.supplier, bib(own_id="M1", isbn=["9789127108509"], title="Äldst", level=" "))
    await _load(client, tokens.supplier, bib(own_id="M2", isbn=["9789100000165"], title="Yngre", level=" "))
    c = await _load(client, tokens.supplier, bib(own_id="M3", isbn=["9789127108509", "9789100000165"], title="Båda"),
                    holding("Sods"))
    assert c["summary"]["ambiguous"] == 1
    await sign_in(client, tokens.admin)
    html = await (await client.get("/console/review", headers={"Accept-Language": "en"})).text()
    item = re.search(r'href="/console/review/(\d+)"', html)
    assert item and "Båda" in html
    html = await (await client.get(f"/console/review/{item.group(1)}", headers={"Accept-Language": "en"})).text()
    assert "Incoming record" in html and html.count("<h2 id=\"h-cand-") == 2
    assert 'class="diff"' in html  # the titles differ
    await sign_in(client, tokens.supplier)
    assert (await client.get("/console/review")).status == 404
    assert (await client.get(f"/console/review/{item.group(1)}")).status == 404


async def test_registry_forms(client: TestClient, tokens: Tokens) -> None:
    await sign_in(client, tokens.admin)
    csrf = await page_csrf(client, "/console/registry")
    resp = await client.post("/console/registry/suppliers", data={"csrf": csrf, "code": "NYA", "name": "Nya Bok AB"})
    assert resp.status == 201
    token = re.search(r'id="new-token" tabindex="-1">(fvg_[^<]+)<', await resp.text())
    assert token
    api = {"Authorization": f"Bearer {token.group(1)}"}
    assert (await client.get("/deliveries", headers=api)).status == 200
    # the token is not on the page any more
    assert token.group(1) not in await (await client.get("/console/registry/suppliers/NYA")).text()
    bad = await client.post("/console/registry/suppliers", data={"csrf": csrf, "code": "bad code", "name": "X"})
    assert bad.status == 400 and "invalid code" in await bad.text()
    dup = await client.post("/console/registry/suppliers", data={"csrf": csrf, "code": "NYA", "name": "X"})
    assert dup.status == 409 and "supplier NYA exists already" in await dup.text()
    html = await (await client.get("/console/registry/suppliers/NYA")).text()
    token_id = re.search(r'action="/console/registry/suppliers/NYA/tokens/(\d+)/revoke"', html)
    assert token_id
    resp = await client.post(f"/console/registry/suppliers/NYA/tokens/{token_id.group(1)}/revoke",
                             data={"csrf": csrf}, allow_redirects=False)
    assert resp.status == 303
    assert (await client.get("/deliveries", headers=api)).status == 401

    resp = await client.post("/console/registry/libraries", data={
        "csrf": csrf, "sigel": "Ny", "name": "Nytt bibliotek", "emails": "a@example.org\nb@example.org",
        "language": "en", "registered": "on"}, allow_redirects=False)
    assert resp.status == 303 and resp.headers["Location"] == "/console/registry/libraries/Ny"
    bad = await client.post("/console/registry/libraries/Ny", data={"csrf": csrf, "name": "Nytt", "emails": "nope",
                                                                    "language": "sv"})
    assert bad.status == 400 and "not an e-mail address" in await bad.text()
    ok = await client.post("/console/registry/libraries/Ny", data={"csrf": csrf, "name": "Nytt bibliotek",
                                                                   "emails": "c@example.org", "language": "sv",
                                                                   "digest": "on"})
    assert ok.status == 200
    async with client.server.app[POOL].acquire() as conn:
        lib = await registry.get_library(conn, "Ny")
    assert lib["emails"] == ["c@example.org"] and lib["digest"] and not lib["registered"]
    resp = await client.post("/console/registry/libraries/Ny/tokens", data={"csrf": csrf})
    assert resp.status == 201 and "fvl_" in await resp.text()

    resp = await client.post("/console/registry/customers/add", data={"csrf": csrf, "supplier": "NYA", "sigel": "Ny"})
    assert resp.status == 200
    async with client.server.app[POOL].acquire() as conn:
        assert [c["sigel"] for c in await registry.list_customers(conn, "NYA")] == ["Ny"]
    again = await client.post("/console/registry/customers/add", data={"csrf": csrf, "supplier": "NYA", "sigel": "Ny"})
    assert again.status == 409
    await client.post("/console/registry/customers/remove", data={"csrf": csrf, "supplier": "NYA", "sigel": "Ny"})
    async with client.server.app[POOL].acquire() as conn:
        assert await registry.list_customers(conn, "NYA") == []

    await sign_in(client, tokens.supplier)
    assert (await client.get("/console/registry")).status == 404
    csrf = await page_csrf(client)
    assert (await client.post("/console/registry/suppliers", data={"csrf": csrf, "code": "Z", "name": "Z"})).status \
        == 404


async def _notification(pool: asyncpg.Pool, sigel: str) -> int:
    for _ in range(200):
        async with pool.acquire() as conn:
            nid = await conn.fetchval("SELECT id FROM notifications WHERE sigel = $1 AND status = 'spooled'", sigel)
        if nid:
            return int(nid)
        await asyncio.sleep(0.1)
    raise AssertionError("no notification was written")


async def test_outbox_preview_and_resend(client: TestClient, pool: asyncpg.Pool, tokens: Tokens) -> None:
    await _load(client, tokens.supplier, bib(own_id="O1", isbn=["9789100000172"], title="Brevet <b>"),
                holding("Sods"), bib(own_id="O2", isbn=["9789100000189"], title="Annat"), holding("Nyks"))
    nid = await _notification(pool, "Sods")
    other = await _notification(pool, "Nyks")
    await sign_in(client, tokens.admin)
    html = await (await client.get("/console/outbox", headers={"Accept-Language": "en"})).text()
    assert f'href="/console/outbox/{nid}"' in html and f'href="/console/outbox/{other}"' in html
    html = await (await client.get(f"/console/outbox/{nid}", headers={"Accept-Language": "en"})).text()
    assert "Förvärv: leverans" in html and "sods@example.org" in html
    assert "Brevet &lt;b&gt;" in html  # the plain part, escaped
    frame = await client.get(f"/console/outbox/{nid}/html")
    assert frame.status == 200 and "sandbox" in frame.headers["Content-Security-Policy"]
    assert "Brevet &lt;b&gt;" in await frame.text()
    csrf = await page_csrf(client, f"/console/outbox/{nid}")
    assert (await client.post(f"/console/outbox/{nid}/resend", data={})).status == 403
    resp = await client.post(f"/console/outbox/{nid}/resend", data={"csrf": csrf}, allow_redirects=False)
    assert resp.status == 303 and resp.headers["Location"].endswith("?resend=queued")
    async with pool.acquire() as conn:
        assert await conn.fetchval("SELECT resends FROM notifications WHERE id = $1", nid) == 1

    await sign_in(client, tokens.library)
    html = await (await client.get("/console/outbox")).text()
    assert f'href="/console/outbox/{nid}"' in html and f'href="/console/outbox/{other}"' not in html
    assert (await client.get(f"/console/outbox/{other}")).status == 404
    assert (await client.get(f"/console/outbox/{other}/html")).status == 404
    csrf = await page_csrf(client)
    assert (await client.post(f"/console/outbox/{nid}/resend", data={"csrf": csrf})).status == 404
    await sign_in(client, tokens.supplier)
    assert (await client.get("/console/outbox")).status == 404


async def test_review_actions_refused_say_why(client: TestClient, pool: asyncpg.Pool, tokens: Tokens) -> None:
    from tests.intake import review_world
    from tests.intake.helpers import World

    s = await review_world.scene(client, World(tokens.supplier, tokens.other_supplier))
    async with pool.acquire() as conn:
        await conn.execute("UPDATE bib_records SET protected = true WHERE id = $1", int(s.a))
    await sign_in(client, tokens.admin)
    path = f"/console/review/{s.item}"
    html = await (await client.get(path, headers={"Accept-Language": "en"})).text()
    assert "Merge protected records too" in html
    csrf = await page_csrf(client, path)
    assert (await client.post(f"{path}/resolve", data={"choice": f"merge:{s.b}"})).status == 403
    resp = await client.post(f"{path}/resolve", data={"csrf": csrf, "choice": f"merge:{s.b}"})
    assert resp.status == 409 and "protected" in await resp.text()
    resp = await client.post(f"{path}/resolve", data={"csrf": csrf, "choice": "explode"})
    assert resp.status == 400 and "action must be one of" in await resp.text()
    resp = await client.post(f"{path}/resolve", data={"csrf": csrf, "choice": "keep:12345678"})
    assert resp.status == 404 and "no bibliographic record 12345678" in await resp.text()
    assert (await client.post("/console/review/999999/resolve", data={"csrf": csrf, "choice": "separate"})).status \
        == 404
    resp = await client.post(f"{path}/resolve", data={"csrf": csrf, "choice": f"merge:{s.b}",
                                                      "override_protected": "on"}, allow_redirects=False)
    assert resp.status == 303
    async with pool.acquire() as conn:
        assert await conn.fetchval("SELECT merged_into FROM bib_records WHERE id = $1", int(s.a)) == int(s.b)
    again = await client.post(f"{path}/resolve", data={"csrf": csrf, "choice": "separate"})
    assert again.status == 409 and "already resolved" in await again.text()
    await sign_in(client, tokens.supplier)
    csrf = await page_csrf(client)
    assert (await client.post(f"{path}/resolve", data={"csrf": csrf, "choice": "separate"})).status == 404


async def test_delivery_page_shows_ambiguous_matches_and_problems_in_the_viewer_s_language(
        client: TestClient, tokens: Tokens) -> None:
    """An ambiguous match is its own outcome on the delivery page (filterable, not among the matched),
    with every candidate's id and title; problems are in plain words in the viewer's language, from
    the texts the e-mails use (gateway.problem_texts)."""
    first = await _load(client, tokens.supplier, bib(own_id="K1", isbn=["9789127108509"], title="Äldst", level=" "),
                        bib(own_id="K2", isbn=["9789100000172"], title="Yngre <b>", level=" "))
    oldest, younger = (r["record_id"] for r in first["records"])
    report = await _load(client, tokens.supplier,
                         bib(own_id="K3", isbn=["9789127108509", "9789100000172"], title="Båda"), holding("Sods"),
                         bib(own_id="K4", isbn=["9789127108509"], title="Bara en"), holding("Other"))
    assert [r["outcome"] for r in report["records"]] == ["ambiguous", "matched"]
    did = report["id"]
    await sign_in(client, tokens.admin)
    for lang, ambiguous, matched, pending, refusal in (
            ("sv", "Tvetydiga", "Matchade", "lagd på den äldsta kandidaten (oförändrad)",
             "Other är inte registrerat som kund hos leverantören BOKR i Förvärv Gateway."),
            ("en", "Ambiguous", "Matched", "attached to the oldest candidate (left unchanged)",
             "Other is not registered as a customer of supplier BOKR in Förvärv Gateway.")):
        headers = {"Accept-Language": lang}
        html = await (await client.get(f"/console/deliveries/{did}?outcome=ambiguous", headers=headers)).text()
        row = re.search(r'<tr class="outcome-ambiguous">.*?</tr>', html, re.S)
        assert row, html
        assert f"<td>{ambiguous}<br>" in row.group(0) and pending in row.group(0)
        assert f'<a href="/console/records/{oldest}">{oldest}</a> <bdi>Äldst</bdi>' in row.group(0)
        assert f'<a href="/console/records/{younger}">{younger}</a> <bdi>Yngre &lt;b&gt;</bdi>' in row.group(0)
        assert "Bara en" not in html
        html = await (await client.get(f"/console/deliveries/{did}?outcome=matched", headers=headers)).text()
        assert "Bara en" in html and "Båda" not in html and f"<td>{matched}" in html
        html = await (await client.get(f"/console/deliveries/{did}?outcome=rejected", headers=headers)).text()
        assert refusal in html and "HOLDING_NOT_CUSTOMER" in html
        # the figures: one ambiguous, one matched (no longer counted twice)
        html = await (await client.get(f"/console/deliveries/{did}", headers=headers)).text()
        assert re.search(rf"<dt>{ambiguous}</dt><dd>1</dd>", html) and re.search(rf"<dt>{matched}</dt><dd>1</dd>", html)
