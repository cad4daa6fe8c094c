"""The console in a real browser (Playwright + Debian's chromium) against a real gateway on loopback."""

from __future__ import annotations

import asyncio

import pytest
from aiohttp.test_utils import TestClient, TestServer
from playwright.async_api import Browser, expect

from gateway.demo import synthetic
from tests.console.browser import sign_in
from tests.console.conftest import Tokens
from tests.intake import review_world
from tests.intake.helpers import World, deliver
from tests.intake.marcxml import bib, collection, holding

RECORDS = 5000


def _base(server: TestServer) -> str:
    return str(server.make_url("")).rstrip("/")


async def test_admin_watches_a_large_delivery_load(browser: Browser, server: TestServer, client: TestClient,
                                                   tokens: Tokens) -> None:
    base = _base(server)
    page = await browser.new_page(locale="en-GB")
    await sign_in(page, base, tokens.admin)
    await expect(page.get_by_role("heading", level=1)).to_have_text("Overview")

    body = synthetic.delivery(RECORDS, ["Sods", "Nyks", "Li", "G"], seed=7)
    resp = await client.post("/deliveries", data=body, headers={
        "Authorization": f"Bearer {tokens.supplier}", "Content-Type": "application/marcxml+xml"})
    assert resp.status == 202
    did = (await resp.json())["id"]

    await page.goto(f"{base}/console/deliveries/{did}")
    seen: list[int] = []
    # a bound on the wait, not a speed target: under CI's load the 10,000 records can take minutes
    deadline = asyncio.get_running_loop().time() + 900
    while asyncio.get_running_loop().time() < deadline:
        text = (await page.locator("#progress-done").inner_text()).replace("\u202f", "").replace(",", "")
        text = text.replace("\xa0", "").replace(" ", "")
        value = int(text)
        if not seen or value != seen[-1]:
            seen.append(value)
        if await page.locator("#progress-finished").is_visible():
            break
        await asyncio.sleep(0.2)
    assert await page.locator("#progress-finished").is_visible()
    # the figures moved on the page without a reload: at least two values between 0 and the end
    assert seen[-1] == 2 * RECORDS, seen
    assert len([v for v in seen if 0 < v < 2 * RECORDS]) >= 2, seen
    assert seen == sorted(seen)

    await page.get_by_role("link", name="Refresh").first.click()
    await expect(page.locator("#delivery-status")).to_have_text("done")
    await expect(page.get_by_role("heading", name="Record by record")).to_be_visible()
    await page.get_by_label("Outcome").select_option("created")
    await page.get_by_role("button", name="Filter").last.click()
    await expect(page.locator("table.records tbody tr")).to_have_count(100)


async def test_supplier_and_library_see_only_theirs(browser: Browser, server: TestServer, client: TestClient,
                                                    tokens: Tokens) -> None:
    base = _base(server)
    title = "<script>document.title='pwned'</script>"
    status, mine = await deliver(client, tokens.supplier, collection(
        bib(own_id="X1", isbn=["9789100000103"], title=title), holding("Sods")))
    assert status == 200
    status, other = await deliver(client, tokens.supplier, collection(
        bib(own_id="X2", isbn=["9789100000110"], title="Nyköpings bok"), holding("Nyks")))
    assert status == 200

    page = await browser.new_page(locale="sv-SE")
    await sign_in(page, base, tokens.supplier)
    await expect(page.get_by_role("heading", level=1)).to_have_text("Översikt")
    await page.get_by_role("link", name="Leveranser").click()
    await page.get_by_role("link", name=str(mine["id"]), exact=True).click()
    # the title is shown as text, not run
    await expect(page.get_by_role("cell", name=title)).to_be_visible()
    assert await page.title() != "pwned"
    resp = await page.goto(f"{base}/console/deliveries/999999")
    assert resp is not None and resp.status == 404

    library = await browser.new_page(locale="en-GB")
    await sign_in(library, base, tokens.library)
    await library.goto(f"{base}/console/deliveries")
    await expect(library.get_by_role("link", name=str(mine["id"]), exact=True)).to_be_visible()
    await expect(library.get_by_role("link", name=str(other["id"]), exact=True)).to_have_count(0)
    resp = await library.goto(f"{base}/console/deliveries/{other['id']}")
    assert resp is not None and resp.status == 404
    await expect(library.get_by_role("heading", level=1)).to_have_text("Not found")

    # sign out from the keyboard-reachable button; the session is gone
    await library.get_by_role("button", name="Sign out").click()
    await library.wait_for_url(f"{base}/console/sign-in")
    resp = await library.goto(f"{base}/console/deliveries")
    assert library.url.endswith("/console/sign-in")


async def test_admin_opens_a_record_manages_the_registry_and_resends_a_mail(
        browser: Browser, server: TestServer, client: TestClient, tokens: Tokens) -> None:
    base = _base(server)
    status, report = await deliver(client, tokens.supplier, collection(
        bib(own_id="W1", isbn=["9789100000196"], title="Vinterns brev"), holding("Sods")))
    assert status == 200
    rid = report["records"][0]["record_id"]
    page = await browser.new_page(locale="en-GB")
    await sign_in(page, base, tokens.admin)

    # report -> record
    await page.get_by_role("link", name="Deliveries").click()
    await page.get_by_role("link", name=str(report["id"]), exact=True).click()
    await page.get_by_role("link", name=str(rid), exact=True).first.click()
    await expect(page.get_by_role("heading", level=1)).to_have_text(f"Record {rid}: Vinterns brev")
    await expect(page.get_by_role("table", name=f"MARC {rid}")).to_be_visible()
    await expect(page.get_by_role("heading", name="Sods – Södertörns högskolebibliotek")).to_be_visible()
    await page.get_by_role("button", name="Protect").click()
    await expect(page.locator("#protected")).to_have_text("yes")
    await page.get_by_role("button", name="Unprotect").click()
    await expect(page.locator("#protected")).to_have_text("no")

    # a new supplier, its token shown once, then revoked
    await page.get_by_role("link", name="Registry").click()
    await page.get_by_label("Code").fill("WEBB")
    await page.locator("#s-name").fill("Webbokhandeln")
    await page.locator("#s-name").press("Enter")
    token = (await page.locator("#new-token").inner_text()).strip()
    assert token.startswith("fvg_")
    api = {"Authorization": f"Bearer {token}"}
    assert (await client.get("/deliveries", headers=api)).status == 200
    await page.get_by_role("button", name="Revoke").click()
    await expect(page.get_by_role("cell", name="revoked")).to_have_count(1)
    assert (await client.get("/deliveries", headers=api)).status == 401

    # the library's e-mail: both parts previewed, then resent
    for _ in range(200):
        await page.goto(f"{base}/console/outbox?status=spooled")
        if await page.get_by_role("cell", name="Sods").count():
            break
        await asyncio.sleep(0.1)
    await page.get_by_role("row").filter(has_text="Sods").get_by_role("link").first.click()
    await expect(page.locator("pre.mail")).to_contain_text("Vinterns brev")
    frame = page.frame_locator("iframe.mail")
    await expect(frame.locator("body")).to_contain_text("Vinterns brev")
    await page.get_by_role("button", name="Resend").click()
    await expect(page.get_by_role("status")).to_have_text("Queued to be sent again.")


UNNAMED_CONTROLS = """() => [...document.querySelectorAll('input:not([type=hidden]), select, textarea, button')]
  .filter(el => !(el.labels && el.labels.length) && !el.getAttribute('aria-label')
                && !el.getAttribute('aria-labelledby') && !(el.tagName === 'BUTTON' && el.textContent.trim()))
  .map(el => el.outerHTML)"""


async def test_every_page_is_keyboard_and_screen_reader_usable(
        browser: Browser, server: TestServer, client: TestClient, tokens: Tokens) -> None:
    base = _base(server)
    status, report = await deliver(client, tokens.supplier, collection(
        bib(own_id="K1", isbn=["9789100000202"], title="Tangentbordet"), holding("Sods")))
    assert status == 200
    page = await browser.new_page(locale="sv-SE")
    problems: list[str] = []
    page.on("console", lambda msg: problems.append(msg.text) if msg.type == "error" else None)
    await sign_in(page, base, tokens.admin)
    paths = ["/", "/console/deliveries", f"/console/deliveries/{report['id']}",
             f"/console/records/{report['records'][0]['record_id']}", "/console/search?q=tangentbordet",
             "/console/review", "/console/registry", "/console/registry/libraries/Sods",
             "/console/registry/suppliers/BOKR", "/console/outbox"]
    for path in paths:
        await page.goto(base + path)
        assert await page.locator("html").get_attribute("lang") == "sv", path
        assert await page.locator("h1").count() == 1, path
        assert await page.evaluate(UNNAMED_CONTROLS) == [], path
        # the first Tab reaches the skip link, which moves focus to the content
        await page.keyboard.press("Tab")
        assert await page.evaluate("document.activeElement.className") == "skip", path
        await page.keyboard.press("Enter")
        assert await page.evaluate("document.activeElement.id") == "main", path
    assert problems == []  # no script error, no resource the Content-Security-Policy refused


@pytest.mark.parametrize("action", ["keep", "merge", "separate"])
async def test_a_cataloguer_settles_a_review_item(browser: Browser, server: TestServer, client: TestClient,
                                                  tokens: Tokens, action: str) -> None:
    """Each review action from the item's page, its effect then read through OAI-PMH and SRU."""
    s = await review_world.scene(client, World(tokens.supplier, tokens.other_supplier))
    base = _base(server)
    page = await browser.new_page(locale="en-GB")
    await sign_in(page, base, tokens.admin)
    await page.get_by_role("link", name="Review").click()
    await page.get_by_role("link", name=str(s.item), exact=True).click()
    await expect(page.get_by_role("heading", name="Incoming record")).to_be_visible()
    await expect(page.get_by_role("heading", name=f"Candidate {s.a}")).to_be_visible()
    await expect(page.get_by_role("heading", name=f"Candidate {s.b}")).to_be_visible()
    await page.get_by_label("Your name (optional)").fill("Kim")
    if action == "separate":
        await page.get_by_role("button", name="Separate (new record)").click()
    else:
        label = "Keep on this one" if action == "keep" else "Merge into this one"
        await page.get_by_role("button", name=f"{label} {s.b}").click()
    resolution = page.locator("#resolution")
    await expect(resolution).to_contain_text("admin (Kim)")
    target = (await resolution.get_by_role("link").first.inner_text()).strip()

    sods = await review_world.oai(client, set="bib:Sods", **{"from": s.since})
    if action == "keep":
        assert target == s.b
        assert sods == {review_world.bib_id(s.a): True, review_world.bib_id(s.b): False}
        assert await review_world.sru(client, "bath.possessingInstitution = Sods") == [s.b]
    elif action == "merge":
        assert target == s.b
        assert sods.get(review_world.bib_id(s.a)) is True and sods.get(review_world.bib_id(s.b)) is False
        assert await review_world.sru(client, f"rec.id = {s.a}") == []
        assert await review_world.sru(client, f"bath.isbn = {review_world.ISBN_A}") == [s.b]
    else:
        assert target not in (s.a, s.b)
        assert sods == {review_world.bib_id(s.a): True, review_world.bib_id(target): False}
        assert await review_world.sru(client, "bath.possessingInstitution = Sods") == [target]

    # the record's page shows the action in its provenance, with who did it
    await resolution.get_by_role("link").first.click()
    provenance = page.locator("#provenance")
    await expect(provenance).to_contain_text("admin (Kim)")
    await expect(provenance).to_contain_text({"keep": "kept", "merge": "merged", "separate": "separated"}[action])
    # and the item is closed: no more action buttons
    await page.goto(f"{base}/console/review/{s.item}")
    await expect(page.get_by_role("button", name="Separate (new record)")).to_have_count(0)
