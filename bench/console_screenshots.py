"""Screenshots of the staff console for docs/console.md, taken in a real browser.

    python bench/console_screenshots.py [--out docs/console]

Runs the gateway on loopback against a scratch database (embedded PostgreSQL in a temporary
folder, or a scratch database on FORVARV_DATABASE_URL's server), loads the demo data
(gateway.demo.seed) plus an ambiguous match, a rejected record and a larger delivery to watch,
harvests a set, waits for the e-mails, and photographs the main pages with Playwright driving
Debian's chromium (/usr/bin/chromium; never a downloaded browser).
"""

from __future__ import annotations

import argparse
import asyncio
import sys
import tempfile
from pathlib import Path

import aiohttp
import asyncpg
from aiohttp import web

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

import benchdb  # noqa: E402  (bench/, beside this script)

from gateway.config import Settings  # noqa: E402
from gateway.demo import seed as demo  # noqa: E402
from gateway.demo import synthetic  # noqa: E402
from gateway.http.app import create_app  # noqa: E402

CHROMIUM = "/usr/bin/chromium"
FLAGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update",
         "--disable-sync", "--no-first-run"]
ADMIN = "screenshot-admin-token"
VIEWPORT = {"width": 1200, "height": 820}


def _bib(own: str, isbns: list[str], title: str | None, level: str = "8") -> str:
    fields = [f"<leader>00000cam a2200000{level}i 4500</leader>", f'<controlfield tag="001">{own}</controlfield>',
              '<controlfield tag="008">250101s2025    sw ||||j     |00| 0|swe d</controlfield>']
    fields += [f'<datafield tag="020" ind1=" " ind2=" "><subfield code="a">{i}</subfield></datafield>' for i in isbns]
    fields.append('<datafield tag="100" ind1="1" ind2=" "><subfield code="a">Lindgren, Malin</subfield></datafield>')
    if title:
        fields.append(f'<datafield tag="245" ind1="1" ind2="0"><subfield code="a">{title}</subfield></datafield>')
    return '<record type="Bibliographic">' + "".join(fields) + "</record>"


def _holding(sigel: str) -> str:
    return ('<record type="Holdings"><leader>XXXXXnx  a22XXXXX1n 4500</leader>'
            '<controlfield tag="008">170714||0000|||||000||||||000000</controlfield>'
            f'<datafield tag="852" ind1=" " ind2=" "><subfield code="b">{sigel}</subfield></datafield></record>')


def _collection(*records: str) -> bytes:
    return ('<?xml version="1.0" encoding="UTF-8"?><collection xmlns="http://www.loc.gov/MARC21/slim">'
            + "".join(records) + "</collection>").encode()


async def _deliver(http: aiohttp.ClientSession, base: str, token: str, body: bytes, wait: int = 60) -> int:
    async with http.post(f"{base}/deliveries?wait={wait}", data=body, headers={
            "Authorization": f"Bearer {token}", "Content-Type": "application/marcxml+xml"}) as resp:
        return int((await resp.json())["id"])


async def _until(pool: asyncpg.Pool, sql: str, *args: object, seconds: float = 120) -> None:
    async with asyncio.timeout(seconds):
        while True:
            if await pool.fetchval(sql, *args):
                return
            await asyncio.sleep(0.2)


async def run(url: str, out: Path) -> None:
    from playwright.async_api import async_playwright

    port = benchdb.free_port()
    base = f"http://127.0.0.1:{port}"
    with tempfile.TemporaryDirectory(prefix="forvarv-screens-") as tmp:
        settings = Settings(data_dir=Path(tmp), admin_token=ADMIN, secret="screenshots", port=port, public_url=base,
                            parse_process=False)
        seeded = await demo.seed(url, settings)
        runner = web.AppRunner(create_app(settings, database_url=url))
        await runner.setup()
        await web.TCPSite(runner, "127.0.0.1", port).start()
        pool = await asyncpg.create_pool(url, min_size=1, max_size=2)
        try:
            await _until(pool, "SELECT status = 'done' FROM deliveries WHERE id = $1", seeded.delivery_id)
            async with aiohttp.ClientSession() as http:
                token = seeded.supplier_token
                one, two, three = (synthetic.isbn13(n, "97862") for n in (1, 2, 3))  # not in the demo data
                await _deliver(http, base, token, _collection(_bib("A1", [one], "Trädgårdens minne", " ")))
                await _deliver(http, base, token, _collection(_bib("A2", [two], "Trädgårdens minnen", " ")))
                await _deliver(http, base, token, _collection(
                    _bib("A3", [one, two], "Trädgårdens minne : roman"), _holding("Sods"),
                    _bib("A4", [three], None), _holding("Sods")))
                async with http.get(f"{base}/oai?verb=ListRecords&metadataPrefix=marc21&set=bib:Sods") as resp:
                    await resp.read()
                await _until(pool, "SELECT count(*) > 0 FROM notifications WHERE status = 'spooled' AND sigel = 'Sods'")
                big = synthetic.delivery(3000, ["Sods", "Nyks", "Li", "G"], seed=11, start=10_000)
                async with http.post(f"{base}/deliveries", data=big, headers={
                        "Authorization": f"Bearer {token}", "Content-Type": "application/marcxml+xml"}) as resp:
                    loading = int((await resp.json())["id"])
            async with async_playwright() as p:
                browser = await p.chromium.launch(executable_path=CHROMIUM, headless=True, args=FLAGS)
                page = await browser.new_page(viewport=VIEWPORT, locale="en-GB")

                async def shot(name: str) -> None:
                    await page.screenshot(path=str(out / f"{name}.png"))
                    print(f"{out / (name + '.png')}")

                await page.goto(base + "/")
                await shot("01-sign-in")
                await page.get_by_label("Token").fill(ADMIN)
                await page.keyboard.press("Enter")
                await page.wait_for_url(base + "/")
                await page.goto(f"{base}/console/deliveries/{loading}")
                await page.wait_for_function(
                    "() => { const b = document.getElementById('progress-bar'); return b.value > b.max / 4; }")
                await shot("02-delivery-loading")
                await _until(pool, "SELECT status = 'done' FROM deliveries WHERE id = $1", loading)
                await page.goto(base + "/")
                await shot("03-overview")
                await page.goto(f"{base}/console/deliveries")
                await shot("04-deliveries")
                last = await pool.fetchval("SELECT max(id) FROM deliveries WHERE id <> $1", loading)
                await page.goto(f"{base}/console/deliveries/{last}")
                await page.evaluate("document.getElementById('h-summary').scrollIntoView()")
                await shot("05-delivery-report")
                rid = await pool.fetchval("SELECT min(id) FROM bib_records")
                await page.goto(f"{base}/console/records/{rid}")
                await shot("06-record")
                await page.goto(f"{base}/console/search?q=skogen")
                await shot("07-search")
                item = await pool.fetchval("SELECT min(id) FROM review_items")
                await page.goto(f"{base}/console/review/{item}")
                await page.locator(".side").scroll_into_view_if_needed()
                await shot("08-review")
                await page.goto(f"{base}/console/registry")
                await shot("09-registry")
                note = await pool.fetchval(
                    "SELECT min(id) FROM notifications WHERE sigel = 'Sods' AND status = 'spooled'")
                await page.goto(f"{base}/console/outbox/{note}")
                await page.evaluate("document.getElementById('h-preview').scrollIntoView()")
                await shot("10-mail-preview")
                library = await browser.new_page(viewport=VIEWPORT, locale="sv-SE")
                page = library
                await page.goto(base + "/")
                await page.get_by_label("Token").fill(seeded.library_token)
                await page.keyboard.press("Enter")
                await page.wait_for_url(base + "/")
                await shot("11-library-overview-sv")
                await browser.close()
        finally:
            await pool.close()
            await runner.cleanup()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--out", type=Path, default=ROOT / "docs" / "console")
    args = parser.parse_args()
    args.out.mkdir(parents=True, exist_ok=True)
    with benchdb.database("screens") as url:
        asyncio.run(run(url, args.out))


if __name__ == "__main__":
    main()
