"""Who may deliver and read what (bearer tokens, admin token), and deliveries that are received
once however often they are sent (body hash, Idempotency-Key, concurrent duplicates)."""

from __future__ import annotations

import asyncio
import json
from typing import Any

import asyncpg
import pytest
from aiohttp.test_utils import TestClient

from gateway import registry
from tests.intake.helpers import ADMIN_TOKEN, World, wait_done

MARC_NS = "http://www.loc.gov/MARC21/slim"
XML = "application/marcxml+xml"


def book(own_id: str, isbn: str, title: str, *sigels: str) -> str:
    holdings = "".join(
        '<record type="Holdings"><leader>00000nx  a2200000 n 4500</leader>'
        f'<datafield tag="852" ind1=" " ind2=" "><subfield code="b">{s}</subfield></datafield></record>'
        for s in sigels
    )
    return ('<record type="Bibliographic"><leader>00000nam a2200000 i 4500</leader>'
            f'<controlfield tag="001">{own_id}</controlfield>'
            f'<datafield tag="020" ind1=" " ind2=" "><subfield code="a">{isbn}</subfield></datafield>'
            f'<datafield tag="245" ind1="1" ind2="0"><subfield code="a">{title}</subfield></datafield>'
            f"</record>{holdings}")


def collection(*records: str) -> bytes:
    inner = "".join(records)
    return f'<?xml version="1.0"?><collection xmlns="{MARC_NS}">{inner}</collection>'.encode()


BODY = collection(book("a1", "9789150222319", "Första", "Sods"), book("a2", "9789100000018", "Andra", "Li"))
OTHER_BODY = collection(book("c1", "9789100000025", "Tredje", "G"))


def auth(token: str | None) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"} if token is not None else {}


async def counts(pool: asyncpg.Pool) -> dict[str, int]:
    async with pool.acquire() as conn:
        row = await conn.fetchrow(
            """SELECT (SELECT count(*) FROM deliveries) AS deliveries,
                      (SELECT count(*) FROM delivery_chunks) AS chunks,
                      (SELECT count(*) FROM delivery_records) AS results,
                      (SELECT count(*) FROM bib_records) AS bibs,
                      (SELECT count(*) FROM holdings) AS holdings"""
        )
    return dict(row)


NOTHING = {"deliveries": 0, "chunks": 0, "results": 0, "bibs": 0, "holdings": 0}


async def post(client: TestClient, headers: dict[str, str], body: bytes = BODY, query: str = "",
               content_type: str = XML) -> tuple[int, dict[str, Any], dict[str, str]]:
    resp = await client.post(f"/deliveries{query}", data=body,
                             headers={"Content-Type": content_type, **headers})
    return resp.status, await resp.json(), dict(resp.headers)


# --- authentication ---------------------------------------------------------------------------


def assert_401(status: int, answer: dict[str, Any], headers: dict[str, str]) -> None:
    assert status == 401, answer
    assert answer["error"] == "unauthorized"
    assert answer["message"]
    assert headers["WWW-Authenticate"].startswith("Bearer ")
    assert 'realm="forvarv"' in headers["WWW-Authenticate"]


@pytest.mark.parametrize("headers", [
    {},
    {"Authorization": ""},
    {"Authorization": "Bearer"},
    {"Authorization": "Bearer    "},
    {"Authorization": "Basic Qk9LUjpzZWNyZXQ="},
    {"Authorization": "fvg_notascheme"},
], ids=["none", "empty", "scheme-only", "blank-token", "basic", "no-scheme"])
async def test_missing_token_is_401(client: TestClient, world: World, pool: asyncpg.Pool,
                                    headers: dict[str, str]) -> None:
    status, answer, h = await post(client, headers)
    assert_401(status, answer, h)
    assert "token is required" in answer["message"]
    assert await counts(pool) == NOTHING


@pytest.mark.parametrize("token", ["fvg_unknown", "x" * 5000, ADMIN_TOKEN], ids=["unknown", "huge", "admin"])
async def test_unknown_token_is_401(client: TestClient, world: World, pool: asyncpg.Pool, token: str) -> None:
    status, answer, h = await post(client, auth(token))
    assert_401(status, answer, h)
    assert answer["message"] == "unknown or revoked token"
    assert await counts(pool) == NOTHING


async def test_other_suppliers_token_with_a_changed_letter_is_401(client: TestClient, world: World,
                                                                  pool: asyncpg.Pool) -> None:
    token = world.supplier_token
    forged = token[:-1] + ("A" if token[-1] != "A" else "B")
    status, answer, h = await post(client, auth(forged))
    assert_401(status, answer, h)


async def test_revoked_token_is_401_and_the_others_still_work(client: TestClient, world: World,
                                                              pool: asyncpg.Pool) -> None:
    async with pool.acquire() as conn:
        second_id, second = await registry.create_token(conn, "BOKR")
        await registry.revoke_token(conn, "BOKR", second_id)
    status, answer, h = await post(client, auth(second))
    assert_401(status, answer, h)
    assert answer["message"] == "unknown or revoked token"
    status, answer, _ = await post(client, auth(world.supplier_token), query="?wait=30")
    assert status == 200, answer
    async with pool.acquire() as conn:
        assert await registry.revoke_token(conn, "BOKR") == 1  # all the remaining ones
    for path in ("/deliveries", f"/deliveries/{answer['id']}"):
        resp = await client.get(path, headers=auth(world.supplier_token))
        assert_401(resp.status, await resp.json(), dict(resp.headers))
    status, answer, h = await post(client, auth(world.supplier_token), body=OTHER_BODY)
    assert_401(status, answer, h)
    assert (await counts(pool))["deliveries"] == 1


async def test_authentication_comes_before_looking_at_the_body(client: TestClient, world: World,
                                                               pool: asyncpg.Pool) -> None:
    status, answer, h = await post(client, {}, body=b"\x00garbage", content_type="text/plain",
                                   query="?wait=x")
    assert_401(status, answer, h)


async def raw_request(client: TestClient, method: str, path: str, headers: list[bytes],
                      body: bytes = b"") -> tuple[int, dict[str, Any]]:
    """A request written byte by byte, for header values no HTTP client library would send."""
    reader, writer = await asyncio.open_connection(client.server.host, client.server.port)
    head = [f"{method} {path} HTTP/1.1".encode(), b"Host: gateway", b"Connection: close",
            b"Content-Type: " + XML.encode(), b"Content-Length: %d" % len(body), *headers]
    writer.write(b"\r\n".join(head) + b"\r\n\r\n" + body)
    await writer.drain()
    response = await reader.read()
    writer.close()
    await writer.wait_closed()
    status_line, _, rest = response.partition(b"\r\n")
    _, _, payload = rest.partition(b"\r\n\r\n")
    return int(status_line.split()[1]), json.loads(payload)


@pytest.mark.parametrize(("method", "path"), [("POST", "/deliveries"), ("GET", "/deliveries"),
                                              ("GET", "/deliveries/1")])
async def test_token_that_is_not_utf8_is_401(client: TestClient, world: World, pool: asyncpg.Pool,
                                             method: str, path: str) -> None:
    status, answer = await raw_request(client, method, path, [b"Authorization: Bearer fvg_caf\xc3\xa9\xff"],
                                       BODY if method == "POST" else b"")
    assert status == 401, answer
    assert answer == {"error": "unauthorized", "message": "unknown or revoked token"}
    assert await counts(pool) == NOTHING


async def test_reading_requires_a_token(client: TestClient, world: World) -> None:
    for path in ("/deliveries", "/deliveries/1"):
        for headers in ({}, auth("fvg_unknown")):
            resp = await client.get(path, headers=headers)
            assert_401(resp.status, await resp.json(), dict(resp.headers))


# --- who sees which delivery ------------------------------------------------------------------


async def test_suppliers_see_only_their_own_deliveries(client: TestClient, world: World,
                                                       pool: asyncpg.Pool) -> None:
    status, mine, _ = await post(client, auth(world.supplier_token), query="?wait=30")
    assert status == 200, mine
    status, theirs, _ = await post(client, auth(world.other_token), body=OTHER_BODY, query="?wait=30")
    assert status == 200, theirs
    assert theirs["supplier"] == "ADLIB"

    resp = await client.get(f"/deliveries/{theirs['id']}", headers=auth(world.supplier_token))
    assert resp.status == 404
    assert await resp.json() == {"error": "not_found", "message": f"no delivery {theirs['id']}"}
    resp = await client.get(f"/deliveries/{mine['id']}", headers=auth(world.other_token))
    assert resp.status == 404

    resp = await client.get(f"/deliveries/{mine['id']}", headers=auth(world.supplier_token))
    assert resp.status == 200
    report = await resp.json()
    assert report["id"] == mine["id"]
    assert report["supplier"] == "BOKR"
    assert [r["title"] for r in report["records"]] == ["Första", "Andra"]

    resp = await client.get("/deliveries", headers=auth(world.supplier_token))
    listing = await resp.json()
    assert [d["id"] for d in listing["deliveries"]] == [mine["id"]]
    assert listing["deliveries"][0]["href"] == f"/deliveries/{mine['id']}"
    resp = await client.get("/deliveries", headers=auth(world.other_token))
    assert [d["id"] for d in (await resp.json())["deliveries"]] == [theirs["id"]]


async def test_admin_reads_every_delivery(client: TestClient, world: World, pool: asyncpg.Pool) -> None:
    _, mine, _ = await post(client, auth(world.supplier_token), query="?wait=30")
    _, theirs, _ = await post(client, auth(world.other_token), body=OTHER_BODY, query="?wait=30")
    for d, supplier in ((mine, "BOKR"), (theirs, "ADLIB")):
        resp = await client.get(f"/deliveries/{d['id']}", headers=auth(ADMIN_TOKEN))
        assert resp.status == 200
        report = await resp.json()
        assert report["supplier"] == supplier
        assert report["records"] == d["records"]
    resp = await client.get("/deliveries", headers=auth(ADMIN_TOKEN))
    listing = await resp.json()
    assert [(d["id"], d["supplier"]) for d in listing["deliveries"]] == [(theirs["id"], "ADLIB"),
                                                                        (mine["id"], "BOKR")]
    resp = await client.get("/deliveries/999999", headers=auth(ADMIN_TOKEN))
    assert resp.status == 404


@pytest.mark.parametrize("ident", ["abc", "0", "-1", "1.5", "99999999999999999999", "9223372036854775808"])
async def test_delivery_ids_that_name_nothing_are_404(client: TestClient, world: World, ident: str) -> None:
    resp = await client.get(f"/deliveries/{ident}", headers=auth(world.supplier_token))
    assert resp.status == 404
    answer = await resp.json()
    assert answer["error"] == "not_found"


@pytest.mark.parametrize("query", ["limit=0", "limit=-5", "limit=abc", "before=x",
                                   "before=99999999999999999999", "before=-1"])
async def test_listing_parameters_are_checked(client: TestClient, world: World, query: str) -> None:
    resp = await client.get(f"/deliveries?{query}", headers=auth(world.supplier_token))
    assert resp.status == 400, await resp.text()
    answer = await resp.json()
    assert answer["error"] == "invalid"
    assert ("limit" in answer["message"]) or ("before" in answer["message"])


async def test_listing_pages_backwards(client: TestClient, world: World, pool: asyncpg.Pool) -> None:
    ids = []
    for i in range(3):
        body = collection(book(f"p{i}", "9789150222319", f"Del {i}"))
        status, answer, _ = await post(client, auth(world.supplier_token), body=body)
        assert status == 202, answer
        ids.append(answer["id"])
    seen = []
    path = "/deliveries?limit=2"
    while path:
        resp = await client.get(path, headers=auth(world.supplier_token))
        page = await resp.json()
        seen.extend(d["id"] for d in page["deliveries"])
        path = page.get("next")
    assert seen == ids[::-1]


# --- answers: 202 now, or the report after waiting --------------------------------------------


async def test_without_wait_the_answer_is_202_with_location(client: TestClient, world: World,
                                                            pool: asyncpg.Pool) -> None:
    status, answer, headers = await post(client, auth(world.supplier_token))
    assert status == 202, answer
    assert answer == {"id": answer["id"], "status": "received", "href": f"/deliveries/{answer['id']}",
                      "replayed": False}
    assert headers["Location"] == f"/deliveries/{answer['id']}"
    assert await wait_done(pool, int(answer["id"])) == "done"
    resp = await client.get(headers["Location"], headers=auth(world.supplier_token))
    report = await resp.json()
    assert report["status"] == "done"
    assert report["summary"]["created"] == 2


async def test_wait_returns_the_report(client: TestClient, world: World, pool: asyncpg.Pool) -> None:
    status, report, headers = await post(client, auth(world.supplier_token), query="?wait=30")
    assert status == 200, report
    assert headers["Location"] == f"/deliveries/{report['id']}"
    assert report["status"] == "done"
    assert report["record_count"] == 4
    assert report["summary"]["created"] == 2
    assert report["summary"]["holdings_added"] == 2
    assert [(r["title"], [h["sigel"] for h in r["holdings"]]) for r in report["records"]] == [
        ("Första", ["Sods"]), ("Andra", ["Li"])]


@pytest.mark.parametrize("wait", ["abc", "-1", "601", "nan", "inf", ""])
async def test_bad_wait_is_400_and_nothing_is_stored(client: TestClient, world: World, pool: asyncpg.Pool,
                                                      wait: str) -> None:
    status, answer, _ = await post(client, auth(world.supplier_token), query=f"?wait={wait}")
    assert status == 400, answer
    assert answer["error"] == "invalid"
    assert "wait must be" in answer["message"]
    assert await counts(pool) == NOTHING


# --- idempotency ------------------------------------------------------------------------------


async def test_the_same_body_twice_is_received_once(client: TestClient, world: World,
                                                    pool: asyncpg.Pool) -> None:
    status, first, _ = await post(client, auth(world.supplier_token))
    assert status == 202, first
    await wait_done(pool, int(first["id"]))
    after_first = await counts(pool)
    assert after_first["bibs"] == 2
    assert after_first["results"] == 4

    status, again, headers = await post(client, auth(world.supplier_token))
    assert status == 200, again
    assert again == {"id": first["id"], "status": "done", "href": f"/deliveries/{first['id']}",
                     "replayed": True}
    assert headers["Idempotency-Replayed"] == "true"
    assert headers["Location"] == f"/deliveries/{first['id']}"
    status, waited, _ = await post(client, auth(world.supplier_token), query="?wait=5")
    assert status == 200
    assert waited["id"] == first["id"]
    assert waited["summary"]["created"] == 2
    assert await counts(pool) == after_first
    async with pool.acquire() as conn:
        positions = await conn.fetch("SELECT position FROM delivery_records ORDER BY position")
    assert [r["position"] for r in positions] == [1, 2, 3, 4]


async def test_same_idempotency_key_with_another_body_returns_the_first(client: TestClient, world: World,
                                                                        pool: asyncpg.Pool) -> None:
    key = {"Idempotency-Key": "order-2024-0042"}
    status, first, _ = await post(client, {**auth(world.supplier_token), **key}, query="?wait=30")
    assert status == 200, first
    before = await counts(pool)
    status, again, _ = await post(client, {**auth(world.supplier_token), **key}, body=OTHER_BODY)
    assert status == 200, again
    assert again["id"] == first["id"]
    assert again["status"] == "done"
    assert await counts(pool) == before
    async with pool.acquire() as conn:
        titles = {r["t"] for r in await conn.fetch("SELECT summary->>'title' AS t FROM bib_records")}
    assert titles == {"Första", "Andra"}
    # the key is the supplier's own: another supplier's identical key is another delivery
    status, theirs, _ = await post(client, {**auth(world.other_token), **key}, body=OTHER_BODY)
    assert status == 202, theirs
    assert theirs["id"] != first["id"]


async def test_an_explicit_key_names_a_new_delivery_even_for_a_known_body(client: TestClient, world: World,
                                                                          pool: asyncpg.Pool) -> None:
    status, first, _ = await post(client, auth(world.supplier_token), query="?wait=30")
    assert status == 200, first
    status, second, _ = await post(client, {**auth(world.supplier_token), "Idempotency-Key": "resend-1"},
                                   query="?wait=30")
    assert status == 200, second
    assert second["id"] != first["id"]
    assert [r["outcome"] for r in second["records"]] == ["matched", "matched"]
    assert (await counts(pool))["bibs"] == 2


@pytest.mark.parametrize("key", ["", "   ", "k" * 256])
async def test_bad_idempotency_key_is_400(client: TestClient, world: World, pool: asyncpg.Pool,
                                          key: str) -> None:
    status, answer, _ = await post(client, {**auth(world.supplier_token), "Idempotency-Key": key})
    assert status == 400, answer
    assert answer == {"error": "invalid", "message": "Idempotency-Key must be 1-255 characters"}
    assert await counts(pool) == NOTHING


async def test_idempotency_key_that_is_not_utf8_is_400(client: TestClient, world: World,
                                                        pool: asyncpg.Pool) -> None:
    token = f"Authorization: Bearer {world.supplier_token}".encode()
    for key in (b"order-\xff\xfe", b"order\t1"):  # (aiohttp itself refuses other control bytes)
        status, answer = await raw_request(client, "POST", "/deliveries", [token, b"Idempotency-Key: " + key], BODY)
        assert status == 400, answer
        assert answer == {"error": "invalid", "message": "Idempotency-Key must be printable UTF-8 text"}
    assert await counts(pool) == NOTHING
    # UTF-8 text is a fine key
    key = {"Idempotency-Key": "beställning-1".encode().decode("latin-1")}
    status, first, _ = await post(client, {**auth(world.supplier_token), **key})
    assert status == 202, first
    status, again, _ = await post(client, {**auth(world.supplier_token), **key}, body=OTHER_BODY)
    assert status == 200, again
    assert again["id"] == first["id"]


async def test_concurrent_identical_posts_make_one_delivery(client: TestClient, world: World,
                                                            pool: asyncpg.Pool) -> None:
    answers = await asyncio.gather(*[post(client, auth(world.supplier_token)) for _ in range(5)])
    statuses = sorted(status for status, _, _ in answers)
    assert statuses == [200, 200, 200, 200, 202], answers
    assert len({a["id"] for _, a, _ in answers}) == 1
    (delivery_id,) = {int(a["id"]) for _, a, _ in answers}
    assert await wait_done(pool, delivery_id) == "done"
    got = await counts(pool)
    assert got["deliveries"] == 1
    assert got["bibs"] == 2
    assert got["results"] == 4
    async with pool.acquire() as conn:
        assert await conn.fetchval("SELECT count(DISTINCT delivery_id) FROM delivery_chunks") == 1


async def test_concurrent_posts_with_one_key_and_different_bodies(client: TestClient, world: World,
                                                                  pool: asyncpg.Pool) -> None:
    headers = {**auth(world.supplier_token), "Idempotency-Key": "batch-7"}
    bodies = [collection(book(f"k{i}", "9789150222319", f"Version {i}")) for i in range(5)]
    answers = await asyncio.gather(*[post(client, headers, body=b) for b in bodies])
    assert sorted(s for s, _, _ in answers) == [200, 200, 200, 200, 202], answers
    assert len({a["id"] for _, a, _ in answers}) == 1
    got = await counts(pool)
    assert got["deliveries"] == 1
    async with pool.acquire() as conn:
        assert await conn.fetchval("SELECT record_count FROM deliveries") == 1

