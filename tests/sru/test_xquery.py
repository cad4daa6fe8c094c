"""The xQuery echo written as text (protocols.sru.xquery) is the XCQL protocols.cql.xcql builds,
for every query of cql-java's regression corpus and a few of our own."""

from __future__ import annotations

import pytest
from lxml import etree

from protocols.cql import append_operand, parse
from protocols.sru.xquery import xquery
from tests import xmlschemas
from tests.cql.test_conformance import CASES, CORPUS, canonical

SRW = "http://www.loc.gov/zing/srw/"
OURS = [
    'dc.title = "röda rummet" and dc.creator = strindberg',
    '> d = "info:srw/cql-context-set/1/dc-v1.1" (d.title = x or > "urn:u" y) not z',
    "dc.title =/cql.ignoreCase/rel.x=1 \"a & b < c\" prox/unit=word/distance>3 d",
    "a sortBy dc.date/sort.descending",
]


def _both(query: str) -> tuple[object, object]:
    parsed = parse(query)
    tree = etree.Element(f"{{{SRW}}}xQuery", nsmap={"srw": SRW})
    append_operand(tree, parsed)
    text = f'<r xmlns:srw="{SRW}">{xquery(parsed)}</r>'
    ours = etree.fromstring(text.encode())[0]
    return canonical(ours), canonical(tree)


@pytest.mark.parametrize("query", OURS)
def test_our_queries(query: str) -> None:
    ours, theirs = _both(query)
    assert ours == theirs


@pytest.mark.parametrize("name", CASES)
def test_corpus(name: str) -> None:
    path = xmlschemas.testdata(CORPUS) / name
    expected = path.with_suffix(".xcql").read_text(encoding="utf-8")
    if not expected.lstrip().startswith("<"):
        pytest.skip("cql-java rejects this query")
    ours, theirs = _both(path.read_text(encoding="utf-8"))
    assert ours == theirs
