"""xml_unsafe is said by the writer (migration 0006): the loader's answer, the SQL function's, and
the trigger that keeps it true to the text on other updates."""

from __future__ import annotations

import asyncpg
import pytest

from gateway import registry
from gateway.demo import synthetic
from gateway.intake import loader
from gateway.intake import receive as intake
from protocols.xmlchars import stored_xml_unsafe
from tests.intake.helpers import seed_registry

SAFE = '<record xmlns="http://www.loc.gov/MARC21/slim"><leader>00000nam a2200000 i 4500</leader></record>'
SAMPLES = [
    SAFE,
    SAFE.replace("nam", "n\x01m"),
    SAFE.replace("nam", "n\x1fm"),
    SAFE.replace("nam", "n\ufffem"),
    SAFE.replace("nam", "n\uffffm"),
    SAFE.replace("nam", "n\tm\r\n"),          # allowed controls
    SAFE.replace("nam", "né\u00e5m\u20ac"),   # non-Latin-1 text, allowed
    " " + SAFE,
    "\n" + SAFE,
    '<?xml version="1.0"?>' + SAFE,
    SAFE.replace("nam", "&#1;"),
    SAFE.replace("nam", "&#x1F;"),
    SAFE.replace("nam", "&#X0001f;"),
    SAFE.replace("nam", "&#65535;"),
    SAFE.replace("nam", "&#xFFFE;"),
    SAFE.replace("nam", "&#9;"),              # tab: allowed
    SAFE.replace("nam", "&#10;&#13;&#32;"),   # allowed
    SAFE.replace("nam", "&amp;#1;"),          # escaped text, not a reference
    SAFE.replace("nam", "&#x20;&#xd;"),       # allowed
    SAFE.replace("nam", "&#31;"),
    SAFE.replace("nam", "&#11;"),
]


async def test_python_and_sql_agree_on_what_must_be_cleaned(pool: asyncpg.Pool) -> None:
    async with pool.acquire() as conn:
        for text in SAMPLES:
            assert stored_xml_unsafe(text) == await conn.fetchval("SELECT xml_unsafe($1)", text), repr(text)
    assert sum(map(stored_xml_unsafe, SAMPLES)) == 14


async def test_the_loader_says_safe_and_other_updates_get_it_recomputed(pool: asyncpg.Pool) -> None:
    async with pool.acquire() as conn:
        await seed_registry(conn)
        supplier = await registry.get_supplier(conn, "BOKR")
    body = synthetic.delivery(30, ["Sods"], seed=11)

    async def one():  # type: ignore[no-untyped-def]
        yield body

    received = await intake.receive(pool, supplier, one(), content_type="application/xml", max_body=10**7)
    await loader.load_delivery(pool, received.id, org_code="FORVARV")
    async with pool.acquire() as conn:
        flags = await conn.fetch("SELECT xml_unsafe FROM bib_records UNION ALL SELECT xml_unsafe FROM holdings")
        assert len(flags) == 60 and all(r["xml_unsafe"] is False for r in flags)
        bib_id, holding_id = await conn.fetchrow("SELECT bib_id, id FROM holdings LIMIT 1")
        for table, row_id in (("bib_records", bib_id), ("holdings", holding_id)):
            await conn.execute(f"UPDATE {table} SET marcxml = replace(marcxml, '</leader>', "
                               "E'\\x02</leader>') WHERE id = $1", row_id)
            assert await conn.fetchval(f"SELECT xml_unsafe FROM {table} WHERE id = $1", row_id) is True
            await conn.execute(f"UPDATE {table} SET marcxml = replace(marcxml, E'\\x02', '') WHERE id = $1",
                               row_id)
            assert await conn.fetchval(f"SELECT xml_unsafe FROM {table} WHERE id = $1", row_id) is False


@pytest.mark.parametrize("flag", [None, True])
async def test_oai_cleans_a_row_whose_writer_did_not_say_or_said_unsafe(flag: bool | None) -> None:
    from protocols.oai.formats import _stored
    from protocols.oai.repository import BIB, Item

    text = SAFE.replace("nam", "n\x01m")
    item = Item(BIB, 1, None, False, [], [], text, flag is not False, {})  # type: ignore[arg-type]
    assert "\x01" not in _stored(item)
