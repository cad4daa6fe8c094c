"""Helpers for console tests: sign in through the form, read the CSRF token off a page."""

from __future__ import annotations

import re

from aiohttp.test_utils import TestClient

_CSRF = re.compile(r'name="csrf" value="([0-9a-f]+)"')


def csrf_of(html: str) -> str:
    found = _CSRF.search(html)
    assert found, "no CSRF field on the page"
    return found.group(1)


async def sign_in(client: TestClient, token: str) -> None:
    """Sign in as the form does (GET the form for its CSRF token, POST the token)."""
    page = await client.get("/console/sign-in")
    resp = await client.post("/console/sign-in", data={"csrf": csrf_of(await page.text()), "token": token},
                             allow_redirects=False)
    assert resp.status == 303, await resp.text()


async def page_csrf(client: TestClient, path: str = "/") -> str:
    resp = await client.get(path)
    assert resp.status == 200, await resp.text()
    return csrf_of(await resp.text())
