"""The console's rules over plain HTTP: sign-in and sessions, CSRF, headers, escaping, isolation,
language, and what the pages show (through a real gateway with its workers on loopback)."""

from __future__ import annotations

import json
import re

import asyncpg
import pytest
from aiohttp.test_utils import TestClient, TestServer

from gateway import library_tokens, registry
from gateway.config import Settings
from gateway.console import sessions
from gateway.http.app import create_app
from tests.console.conftest import Tokens
from tests.console.helpers import csrf_of, page_csrf, sign_in
from tests.intake.helpers import deliver
from tests.intake.marcxml import bib, collection, holding

XSS = "<script>alert('x')</script>"


async def _deliver_one(client: TestClient, token: str, sigel: str, isbn: str, title: str = "En bok") -> str:
    body = collection(bib(own_id=f"B{isbn}", isbn=[isbn], title=title), holding(sigel))
    status, report = await deliver(client, token, body)
    assert status == 200, report
    return str(report["id"])


async def test_signed_out_visitor_is_sent_to_the_sign_in_form(client: TestClient) -> None:
    for path in ("/", "/console/deliveries", "/console/deliveries/1"):
        resp = await client.get(path, allow_redirects=False)
        assert resp.status == 303
        assert resp.headers["Location"] == "/console/sign-in"
    resp = await client.get("/console/sign-in")
    assert resp.status == 200
    html = await resp.text()
    assert 'type="password"' in html and 'method="post"' in html
    assert "default-src 'none'" in resp.headers["Content-Security-Policy"]
    assert resp.headers["X-Content-Type-Options"] == "nosniff"


async def test_a_bad_token_opens_no_session(client: TestClient) -> None:
    csrf = await page_csrf(client, "/console/sign-in")
    resp = await client.post("/console/sign-in", data={"csrf": csrf, "token": "fvg_nope"}, allow_redirects=False)
    assert resp.status == 401
    assert sessions.SESSION_COOKIE not in resp.cookies
    assert (await client.get("/", allow_redirects=False)).status == 303


async def test_session_cookie_is_httponly_and_samesite(client: TestClient, tokens: Tokens) -> None:
    page = await client.get("/console/sign-in")
    resp = await client.post("/console/sign-in", data={"csrf": csrf_of(await page.text()), "token": tokens.admin},
                             allow_redirects=False)
    cookie = resp.cookies[sessions.SESSION_COOKIE]
    assert cookie["httponly"] and cookie["samesite"] == "Lax" and not cookie["secure"]
    assert tokens.admin not in resp.headers.getall("Set-Cookie")[0]


async def test_cookie_is_secure_behind_https(db_url: str, settings: Settings, tokens: Tokens) -> None:
    app = create_app(settings.with_(public_url="https://forvarv.example.org"), database_url=db_url, run_workers=False)
    async with TestClient(TestServer(app, host="127.0.0.1")) as c:
        page = await c.get("/console/sign-in")
        pre = page.cookies[sessions.PRE_COOKIE]
        assert pre["secure"]
        # the client keeps a Secure cookie for https only: send it by hand over this loopback http
        resp = await c.post("/console/sign-in", data={"csrf": csrf_of(await page.text()), "token": tokens.admin},
                            headers={"Cookie": f"{sessions.PRE_COOKIE}={pre.value}"}, allow_redirects=False)
        assert resp.cookies[sessions.SESSION_COOKIE]["secure"]


async def test_a_post_without_its_csrf_token_is_403(client: TestClient, tokens: Tokens) -> None:
    await client.get("/console/sign-in")  # the pre-session cookie exists; the form field does not
    resp = await client.post("/console/sign-in", data={"token": tokens.admin}, allow_redirects=False)
    assert resp.status == 403
    resp = await client.post("/console/sign-in", data={"token": tokens.admin, "csrf": "0" * 64},
                             allow_redirects=False)
    assert resp.status == 403
    await sign_in(client, tokens.admin)
    for path in ("/console/sign-out", "/console/language"):
        resp = await client.post(path, data={"lang": "en"}, allow_redirects=False)
        assert resp.status == 403, path
    assert (await client.get("/", allow_redirects=False)).status == 200  # still signed in


async def test_sign_out_ends_the_session(client: TestClient, pool: asyncpg.Pool, tokens: Tokens) -> None:
    await sign_in(client, tokens.admin)
    value = client.session.cookie_jar.filter_cookies(client.make_url("/"))[sessions.SESSION_COOKIE].value
    csrf = await page_csrf(client)
    resp = await client.post("/console/sign-out", data={"csrf": csrf}, allow_redirects=False)
    assert resp.status == 303
    async with pool.acquire() as conn:
        assert await conn.fetchval("SELECT count(*) FROM console_sessions") == 0
        assert await sessions.load(conn, tokens.admin, value) is None
    assert (await client.get("/", allow_redirects=False)).status == 303


async def test_sessions_expire(client: TestClient, pool: asyncpg.Pool, tokens: Tokens) -> None:
    await sign_in(client, tokens.supplier)
    assert (await client.get("/", allow_redirects=False)).status == 200
    async with pool.acquire() as conn:
        await conn.execute("UPDATE console_sessions SET expires_at = now() - interval '1 second'")
    assert (await client.get("/", allow_redirects=False)).status == 303


async def test_revoking_a_token_ends_its_sessions(client: TestClient, pool: asyncpg.Pool, tokens: Tokens) -> None:
    await sign_in(client, tokens.supplier)
    assert (await client.get("/", allow_redirects=False)).status == 200
    async with pool.acquire() as conn:
        await registry.revoke_token(conn, "BOKR")
    assert (await client.get("/", allow_redirects=False)).status == 303
    await sign_in(client, tokens.library)
    assert (await client.get("/", allow_redirects=False)).status == 200
    async with pool.acquire() as conn:
        await library_tokens.revoke_token(conn, "Sods")
    assert (await client.get("/", allow_redirects=False)).status == 303


async def test_isolation_supplier_and_library_get_404(client: TestClient, tokens: Tokens) -> None:
    mine = await _deliver_one(client, tokens.supplier, "Sods", "9789100000011")
    other_library = await _deliver_one(client, tokens.supplier, "Nyks", "9789100000028")
    async with client.server.app[POOL_KEY].acquire() as conn:  # type: ignore[index]
        await registry.add_customer(conn, "ADLIB", "Sods")
    others = await _deliver_one(client, tokens.other_supplier, "Sods", "9789100000035")

    await sign_in(client, tokens.supplier)
    for path in (f"/console/deliveries/{mine}", f"/console/deliveries/{mine}/progress",
                 f"/console/deliveries/{mine}/payload", f"/console/deliveries/{mine}/report.json"):
        assert (await client.get(path)).status == 200, path
    for path in (f"/console/deliveries/{others}", f"/console/deliveries/{others}/progress",
                 f"/console/deliveries/{others}/payload", f"/console/deliveries/{others}/report.json",
                 "/console/deliveries/99999999", "/console/deliveries/x"):
        resp = await client.get(path)
        assert resp.status == 404, path
    listing = await (await client.get("/console/deliveries")).text()
    assert f"/console/deliveries/{mine}\"" in listing and f"/console/deliveries/{others}\"" not in listing

    await sign_in(client, tokens.library)  # Sods: the first and third deliveries concern it
    assert (await client.get(f"/console/deliveries/{mine}")).status == 200
    assert (await client.get(f"/console/deliveries/{others}")).status == 200
    assert (await client.get(f"/console/deliveries/{other_library}")).status == 404
    assert (await client.get(f"/console/deliveries/{mine}/payload")).status == 404
    assert (await client.get(f"/console/deliveries/{mine}/report.json")).status == 404


async def test_record_data_is_escaped(client: TestClient, tokens: Tokens) -> None:
    did = await _deliver_one(client, tokens.supplier, "Sods", "9789100000042", title=XSS)
    await sign_in(client, tokens.admin)
    html = await (await client.get(f"/console/deliveries/{did}")).text()
    assert XSS not in html
    assert "&lt;script&gt;alert(&#39;x&#39;)&lt;/script&gt;" in html


async def test_downloads_are_the_payload_and_the_api_report(client: TestClient, tokens: Tokens) -> None:
    body = collection(bib(own_id="D1", isbn=["9789100000059"], title="Nedladdning"), holding("Sods"))
    status, api_report = await deliver(client, tokens.supplier, body)
    assert status == 200
    await sign_in(client, tokens.supplier)
    payload = await client.get(f"/console/deliveries/{api_report['id']}/payload")
    assert payload.headers["Content-Type"] == "application/marcxml+xml"
    assert "attachment" in payload.headers["Content-Disposition"]
    assert await payload.read() == body
    got = json.loads(await (await client.get(f"/console/deliveries/{api_report['id']}/report.json")).read())
    api = await client.get(f"/deliveries/{api_report['id']}", headers={"Authorization": f"Bearer {tokens.supplier}"})
    assert got == await api.json()
    assert got["records"] == api_report["records"]


async def test_delivery_page_lists_records_with_plain_problems(client: TestClient, tokens: Tokens) -> None:
    body = collection(bib(own_id="R1", isbn=["9789100000066"], title="Bra bok"), holding("Sods"),
                      bib(own_id="R2", isbn=["9789100000073"], title=None), holding("Sods"))
    status, report = await deliver(client, tokens.supplier, body)
    assert status == 200 and report["summary"]["rejected"] == 1
    await sign_in(client, tokens.admin)
    html = await (await client.get(f"/console/deliveries/{report['id']}?outcome=rejected")).text()
    assert "Den bibliografiska posten saknar titel (fält 245)." in html and "MISSING_245" in html
    assert "Bra bok" not in html
    html = await (await client.get(f"/console/deliveries/{report['id']}?outcome=rejected",
                                   headers={"Accept-Language": "en"})).text()
    assert "The bibliographic record has no title (field 245)." in html and "MISSING_245" in html
    html = await (await client.get(f"/console/deliveries/{report['id']}")).text()
    assert "Bra bok" in html and f"/console/records/{report['records'][0]['record_id']}" in html
    progress = await (await client.get(f"/console/deliveries/{report['id']}/progress")).json()
    assert progress == {"status": "done", "done": 4, "total": 4}
    bad = await client.get(f"/console/deliveries/{report['id']}?outcome=nonsense")
    assert bad.status == 400


async def test_deliveries_filter(client: TestClient, tokens: Tokens) -> None:
    first = await _deliver_one(client, tokens.supplier, "Sods", "9789100000080")
    await sign_in(client, tokens.admin)
    html = await (await client.get("/console/deliveries?status=done&supplier=BOKR")).text()
    assert f'href="/console/deliveries/{first}"' in html
    html = await (await client.get("/console/deliveries?status=failed")).text()
    assert f'href="/console/deliveries/{first}"' not in html
    html = await (await client.get("/console/deliveries?supplier=ADLIB")).text()
    assert f'href="/console/deliveries/{first}"' not in html
    html = await (await client.get("/console/deliveries?from=2000-01-01&to=2000-01-02")).text()
    assert f'href="/console/deliveries/{first}"' not in html
    assert (await client.get("/console/deliveries?from=yesterday")).status == 400


@pytest.mark.parametrize(("accept", "heading"), [("en-GB,en;q=0.9", "Overview"), ("sv", "Översikt"),
                                                 ("de, en;q=0.5", "Overview"), ("", "Översikt")])
async def test_language_from_accept_language(client: TestClient, tokens: Tokens, accept: str, heading: str) -> None:
    await sign_in(client, tokens.admin)
    html = await (await client.get("/", headers={"Accept-Language": accept})).text()
    assert f"<h1>{heading}</h1>" in html


async def test_language_switch_sticks(client: TestClient, tokens: Tokens) -> None:
    await sign_in(client, tokens.admin)
    csrf = await page_csrf(client)
    resp = await client.post("/console/language", data={"csrf": csrf, "lang": "en", "next": "https://evil.example/"},
                             headers={"Accept-Language": "sv"}, allow_redirects=False)
    assert resp.status == 303 and resp.headers["Location"] == "/"
    html = await (await client.get("/", headers={"Accept-Language": "sv"})).text()
    assert "<h1>Overview</h1>" in html and '<html lang="en">' in html


async def test_overview_counts_and_last_harvest(client: TestClient, tokens: Tokens) -> None:
    await _deliver_one(client, tokens.supplier, "Sods", "9789100000097")
    resp = await client.get("/oai", params={"verb": "ListRecords", "metadataPrefix": "marc21", "set": "bib:Sods"})
    assert resp.status == 200
    await sign_in(client, tokens.admin)
    html = await (await client.get("/", headers={"Accept-Language": "en"})).text()
    assert "<h2 id=\"h-today\">Today</h2>" in html and "BOKR" in html
    sods_row = html[html.index("Södertörns"):]
    sods_row = sods_row[: sods_row.index("</tr>")]
    assert "never" in sods_row  # hold:Sods was not harvested
    assert sods_row.count("never") == 1
    await sign_in(client, tokens.supplier)
    html = await (await client.get("/", headers={"Accept-Language": "en"})).text()
    assert "Last harvest" not in html and "Open review items" not in html
    await sign_in(client, tokens.library)
    html = await (await client.get("/", headers={"Accept-Language": "en"})).text()
    assert "<h3>Holdings (Sods)</h3>" in html and "<dt>Created</dt>" not in html
    assert "Södertörns" in html and "Nyköpings" not in html  # only its own last harvest


async def test_library_tokens_through_admin_api_and_cli(client: TestClient, pool: asyncpg.Pool) -> None:
    auth = {"Authorization": "Bearer test-admin-token"}
    resp = await client.post("/admin/libraries/Li/tokens", headers=auth)
    assert resp.status == 201
    issued = await resp.json()
    assert issued["token"].startswith(library_tokens.TOKEN_PREFIX)
    listed = await (await client.get("/admin/libraries/Li/tokens", headers=auth)).json()
    assert [t["id"] for t in listed["tokens"]] == [issued["token_id"]]
    assert issued["token"] not in json.dumps(listed)
    async with pool.acquire() as conn:
        stored = await conn.fetchval("SELECT token_hash FROM library_tokens WHERE id = $1", issued["token_id"])
        assert bytes(stored) == registry.hash_token(issued["token"])
    await sign_in(client, issued["token"])
    resp = await client.delete(f"/admin/libraries/Li/tokens/{issued['token_id']}", headers=auth)
    assert (await resp.json())["revoked"] == 1
    assert (await client.get("/", allow_redirects=False)).status == 303
    assert (await client.post("/admin/libraries/Nope/tokens", headers=auth)).status == 404
    assert (await client.post("/admin/libraries/Li/tokens")).status == 401


POOL_KEY = __import__("gateway.http.appkeys", fromlist=["POOL"]).POOL


async def test_library_token_cli(db_url: str, tmp_path, pool: asyncpg.Pool, tokens: Tokens) -> None:  # type: ignore[no-untyped-def]
    from tests.outbox.test_cli import forvarv

    code, out, err = await forvarv(db_url, tmp_path, "library", "token", "G")
    assert code == 0, err
    token = out.strip().splitlines()[-1]
    async with pool.acquire() as conn:
        found = await library_tokens.authenticate(conn, token)
        assert found is not None and found.sigel == "G"
    code, out, _ = await forvarv(db_url, tmp_path, "library", "tokens", "G")
    assert code == 0 and token[:10] in out and token not in out and "active" in out
    code, out, _ = await forvarv(db_url, tmp_path, "library", "revoke", "G")
    assert code == 0 and "1 token(s) revoked" in out
    async with pool.acquire() as conn:
        assert await library_tokens.authenticate(conn, token) is None
    code, _, err = await forvarv(db_url, tmp_path, "library", "token", "Nope")
    assert code == 1 and "no library Nope" in err


async def test_console_forms_are_small_and_urlencoded(client: TestClient, tokens: Tokens) -> None:
    await sign_in(client, tokens.admin)
    csrf = await page_csrf(client)
    resp = await client.post("/console/sign-out", data={"csrf": csrf, "pad": "x" * 70_000})
    assert resp.status == 413
    resp = await client.post("/console/sign-out", data=f"csrf={csrf}".encode(),
                             headers={"Content-Type": "text/plain"})
    assert resp.status == 415
    assert (await client.get("/", allow_redirects=False)).status == 200  # neither signed out


async def test_a_library_sees_its_part_of_a_delivery(client: TestClient, tokens: Tokens) -> None:
    status, report = await deliver(client, tokens.supplier, collection(
        bib(own_id="L1", isbn=["9789100000219"], title="Södertörns bok"), holding("Sods"),
        bib(own_id="L2", isbn=["9789100000226"], title="Nyköpings bok"), holding("Nyks"),
        bib(own_id="L3", isbn=["9789100000233"], title="Båda"), holding("Nyks"), holding("Sods")))
    assert status == 200
    await sign_in(client, tokens.library)
    html = await (await client.get(f"/console/deliveries/{report['id']}", headers={"Accept-Language": "en"})).text()
    assert "Södertörns bok" in html and "Båda" in html and "Nyköpings bok" not in html
    added = re.search(r"<dt>Holdings Sods: added</dt><dd>(\d+)</dd>", html)
    assert added and added.group(1) == "2"
    assert "<dt>Created</dt>" not in html  # the whole delivery's counts are not the library's
