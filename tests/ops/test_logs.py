"""The access log of a real `forvarv web` process: one line per request (JSON with
FORVARV_LOG_FORMAT=json), refusals with their reason, X-Request-Id echoed or made, and no token
anywhere in what the process wrote."""

from __future__ import annotations

import json
from pathlib import Path

import aiohttp
import asyncpg

from gateway.demo import synthetic
from tests.intake.helpers import seed_registry
from tests.ops import procs

QUERY_SECRET = "q-secret-value-77c1"


async def _run_requests(session: aiohttp.ClientSession, url: str, supplier: str, other: str) -> dict[str, str]:
    """Requests of every kind; the X-Request-Id of each answer by name."""
    ids: dict[str, str] = {}

    async def go(name: str, method: str, path: str, **kwargs: object) -> int:
        async with session.request(method, url + path, **kwargs) as resp:  # type: ignore[arg-type]
            await resp.read()
            ids[name] = resp.headers["X-Request-Id"]
            return resp.status

    auth = {"Authorization": f"Bearer {supplier}", "Content-Type": "application/marcxml+xml"}
    assert await go("post", "POST", "/deliveries", data=synthetic.delivery(3, ["Sods"]), headers=auth) == 202
    assert await go("bad-token", "GET", "/deliveries", headers={"Authorization": "Bearer not-a-real-token"}) == 401
    assert await go("other", "GET", "/deliveries/1", headers={"Authorization": f"Bearer {other}"}) == 404
    assert await go("admin", "GET", "/admin/suppliers",
                    headers={"Authorization": f"Bearer {procs.ADMIN_TOKEN}", "X-Request-Id": "proxy-id-123"}) == 200
    assert await go("no-admin", "GET", "/admin/suppliers", headers={"Authorization": f"Bearer {supplier}"}) == 401
    assert await go("query-token", "GET", f"/nowhere?token={QUERY_SECRET}&access_key={QUERY_SECRET}&x=1") == 404
    assert await go("resume", "GET", "/oai?verb=ListRecords&resumptionToken=abc.def") == 200
    assert await go("unsupported", "POST", "/oai", data=b"{}", headers={"Content-Type": "application/json"}) == 415
    assert await go("sign-in", "POST", "/console/sign-in", data={"token": supplier, "csrf": "forged"},
                    allow_redirects=False) == 403
    assert await go("bad-id", "GET", "/health", headers={"X-Request-Id": "bad id with spaces\t"}) == 200
    return ids


async def test_one_json_line_per_request_and_never_a_token(db_url: str, pool: asyncpg.Pool, tmp_path: Path) -> None:
    async with pool.acquire() as conn:
        world = await seed_registry(conn)
    environ = procs.env(db_url, tmp_path, FORVARV_LOG_FORMAT="json")
    async with procs.running("web", environ) as web, aiohttp.ClientSession() as session:
        ids = await _run_requests(session, web.url, world.supplier_token, world.other_token)
        assert await web.stop() == 0
    lines = [json.loads(line) for line in web.err if line.strip()]  # every line is a JSON object
    access = {e["request_id"]: e for e in lines if e["logger"] == "gateway.access"}
    assert len(access) == len([e for e in lines if e["logger"] == "gateway.access"]) == len(ids)
    assert ids["admin"] == "proxy-id-123"
    assert len(ids["bad-id"]) == 32 and ids["bad-id"] != "bad id with spaces"
    post = access[ids["post"]]
    assert (post["method"], post["path"], post["status"], post["supplier"]) == ("POST", "/deliveries", 202, "BOKR")
    assert isinstance(post["duration_ms"], float) and "reason" not in post
    assert access[ids["admin"]]["admin"] == "yes"
    refusals = {name: (access[ids[name]]["status"], access[ids[name]]["reason"]) for name in
                ("bad-token", "other", "no-admin", "query-token", "unsupported", "sign-in")}
    assert refusals == {
        "bad-token": (401, "unknown or revoked token"),
        "other": (404, "no delivery 1"),
        "no-admin": (401, "a valid admin token is required (Authorization: Bearer …)"),
        "query-token": (404, "no such path"),
        "unsupported": (415, "OAI-PMH requests are POSTed as application/x-www-form-urlencoded"),
        "sign-in": (403, "the console form's CSRF token is missing or wrong"),
    }
    assert access[ids["other"]]["supplier"] == "ADLIB"
    assert access[ids["query-token"]]["path"] == "/nowhere?token=***&access_key=***&x=1"
    assert access[ids["resume"]]["path"] == "/oai?verb=ListRecords&resumptionToken=abc.def"
    everything = "\n".join(web.err + web.out)
    for secret in (world.supplier_token, world.other_token, procs.ADMIN_TOKEN, QUERY_SECRET, "not-a-real-token"):
        assert secret not in everything


async def test_text_lines_by_default(db_url: str, pool: asyncpg.Pool, tmp_path: Path) -> None:
    async with pool.acquire() as conn:
        world = await seed_registry(conn)
    environ = procs.env(db_url, tmp_path)
    async with procs.running("web", environ) as web, aiohttp.ClientSession() as session:
        ids = await _run_requests(session, web.url, world.supplier_token, world.other_token)
        assert await web.stop() == 0
    access = [line for line in web.err if " INFO gateway.access: " in line]
    assert len(access) == len(ids)
    line = next(a for a in access if ids["bad-token"] in a)
    assert line.endswith(" GET /deliveries 401 " + line.split(" 401 ")[1].split("ms")[0] +
                         "ms refused: unknown or revoked token")
    assert any(ids["post"] in a and " supplier=BOKR" in a for a in access)
    everything = "\n".join(web.err + web.out)
    for secret in (world.supplier_token, world.other_token, procs.ADMIN_TOKEN, QUERY_SECRET):
        assert secret not in everything
