"""Playwright for Python driving Debian's chromium (never a downloaded browser), headless."""

from __future__ import annotations

import shutil
from collections.abc import AsyncIterator

import pytest
from playwright.async_api import Browser, Page, async_playwright

CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"
FLAGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update",
         "--disable-sync", "--no-first-run"]


@pytest.fixture
async def browser() -> AsyncIterator[Browser]:
    if not shutil.which("chromium") and not shutil.os.path.exists(CHROMIUM):  # type: ignore[attr-defined]
        pytest.skip("chromium is not installed (apt-get install chromium)")
    async with async_playwright() as p:
        b = await p.chromium.launch(executable_path=CHROMIUM, headless=True, args=FLAGS)
        yield b
        await b.close()


async def sign_in(page: Page, base: str, token: str) -> None:
    """Sign in with the form, from the keyboard."""
    await page.goto(base + "/")
    assert page.url.endswith("/console/sign-in")
    await page.get_by_label("Token").fill(token)
    await page.keyboard.press("Enter")
    await page.wait_for_url(base + "/")
