"""Random requests against the real server and database: every answer is a valid document."""

from __future__ import annotations

import random
from datetime import UTC, datetime

import asyncpg

from gateway.oai.repository import SqlRepository
from protocols.oai.arguments import VERBS
from protocols.oai.server import Server, ServerConfig
from tests.oai import seed
from tests.oai.conftest import XSD, check_document
from tests.xmlschemas import schema

KEYS = ["verb", "metadataPrefix", "set", "from", "until", "identifier", "resumptionToken", "foo", "Verb"]
VALUES = {
    "verb": ["Identify", "ListMetadataFormats", "ListSets", "GetRecord", "ListIdentifiers", "ListRecords", "", "x"],
    "metadataPrefix": ["marc21", "marcxml", "marc21_withholdings", "oai_dc", "nope", "", "a b", "<&>"],
    "set": ["bib", "hold", "bib:S", "hold:S", "supplier:BOKR", "bib:", "x:y:z", "", "bib:Å", "bib:S\x01"],
    "from": ["2024-03-01", "2024-03-01T12:00:00Z", "2024-3-1", "", "2100-01-01", "0001-01-01", "2024-03-01T12:00Z"],
    "until": ["2024-03-01", "2024-03-01T12:00:00Z", "9999-12-31", "", "1999-01-01", "2024-02-30"],
    "identifier": [
        "oai:forvarv.example.org:bib/100001",
        "oai:forvarv.example.org:hold/500001",
        "oai:forvarv.example.org:bib/9",
        "bib/100001",
        "",
        "oai:forvarv.example.org:bib/99999999999999999999",
        'a"b<c>&d',
    ],
    "resumptionToken": ["", "abc", "abc.def", "\ufffe", "x" * 300],
}


def _value(rng: random.Random, key: str) -> str:
    options = VALUES.get(key, ["bar", "", "\x7f"])
    if rng.random() < 0.1:
        return "".join(
            chr(rng.choice([rng.randint(32, 126), rng.randint(160, 0x2FFF)])) for _ in range(rng.randint(0, 12))
        )
    return rng.choice(options)


async def test_random_requests_always_get_valid_documents(pool: asyncpg.Pool) -> None:
    schema(XSD)
    async with pool.acquire() as conn:
        await seed.add_library(conn, "S", "Kungliga biblioteket")
        sup = await seed.add_supplier(conn, "BOKR", "Bokrondellen")
        t0 = datetime(2024, 3, 1, 12, tzinfo=UTC)
        for i in range(5):
            bib = await seed.add_bib(conn, f"Bok <{i}> & co", supplier_id=sup, at=t0)
            await seed.add_holding(conn, bib, "S", at=t0)
    config = ServerConfig("http://127.0.0.1/oai", "forvarv.example.org", "a@example.org", page_size=2)
    server = Server(SqlRepository(pool), config, b"secret")
    rng = random.Random(20240301)
    tokens: list[str] = []
    codes: set[str] = set()
    for _ in range(400):
        verb = rng.choice(VALUES["verb"])
        pairs = [("verb", verb)] if rng.random() < 0.95 else []
        rule = VERBS.get(verb)
        if rule is not None and rng.random() < 0.8:  # mostly well-formed requests with odd values
            pairs += [(k, _value(rng, k)) for k in sorted(rule.required)]
            pairs += [(k, _value(rng, k)) for k in sorted(rule.optional) if rng.random() < 0.4]
        else:
            for _ in range(rng.randint(0, 4)):
                key = rng.choice(KEYS)
                pairs.append((key, _value(rng, key)))
        if tokens and rng.random() < 0.2:
            verb = rng.choice(["ListRecords", "ListIdentifiers", "ListSets"])  # tokens of any list, to any
            pairs = [("verb", verb), ("resumptionToken", rng.choice(tokens))]
        rng.shuffle(pairs)
        body = "".join([chunk async for chunk in server.respond(pairs)]).encode()
        root = check_document(body)
        error = root.find("{http://www.openarchives.org/OAI/2.0/}error")
        codes.add(error.get("code", "") if error is not None else "ok")
        token = root.findtext(".//{http://www.openarchives.org/OAI/2.0/}resumptionToken")
        if token:
            tokens.append(token)
    assert {"ok", "badVerb", "badArgument", "cannotDisseminateFormat", "noRecordsMatch", "idDoesNotExist"} <= codes
    assert "badResumptionToken" in codes
