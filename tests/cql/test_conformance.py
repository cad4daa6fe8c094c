"""cql-java's regression corpus: every query must give the XCQL beside it.

Each ``NN/MM.cql`` has an ``NN/MM.xcql``: the expected XCQL, or, for queries cql-java
rejects, its error message (not XML), in which case the parser must raise a CQLError.
"""

from __future__ import annotations

from pathlib import Path

import pytest
from lxml import etree

from protocols.cql import XCQL_NAMESPACE, CQLError, append_operand, parse, to_cql, to_xcql
from tests import xmlschemas

# The locator functions are used through their module: imported bare, their "test" names
# would make pytest collect them as tests.
CORPUS = "cql/cql-java-regression"

Canonical = tuple[str, str, tuple["Canonical", ...]]


def _corpus_cases() -> list[object]:
    root = xmlschemas.testdata_dir() / CORPUS
    names = sorted(p.relative_to(root).as_posix() for p in root.glob("*/*.cql")) if root.is_dir() else []
    if not names:  # the test itself then skips, saying where the data was looked for
        return [pytest.param("absent", id="corpus-absent")]
    return [pytest.param(name, id=name) for name in names]


CASES = _corpus_cases()


def _read(name: str) -> tuple[str, str]:
    query_file = xmlschemas.testdata(CORPUS) / name
    return query_file.read_text(encoding="utf-8"), query_file.with_suffix(".xcql").read_text(encoding="utf-8")


def canonical(element: etree._Element) -> Canonical:
    """Tag, text (whitespace-only text counts as empty) and children, in order; tails ignored."""
    text = element.text or ""
    if not text.strip():
        text = ""
    return (element.tag, text, tuple(canonical(child) for child in element))


def _expects_error(expected: str) -> bool:
    return not expected.lstrip().startswith("<")


@pytest.mark.parametrize("name", CASES)
def test_query_gives_expected_xcql(name: str) -> None:
    query, expected = _read(name)
    if _expects_error(expected):
        with pytest.raises(CQLError) as caught:
            parse(query)
        assert caught.value.code in (10, 13, 14)
        assert 0 <= caught.value.position <= len(query)
        return
    got = to_xcql(parse(query))
    want = etree.fromstring(expected.encode("utf-8"))
    assert canonical(got) == canonical(want), (
        f"query {query!r}\n--- got\n{etree.tostring(got, encoding='unicode', pretty_print=True)}"
        f"--- expected\n{expected}"
    )


@pytest.mark.parametrize("name", CASES)
def test_xquery_in_zing_namespace_is_schema_valid(name: str) -> None:
    query, expected = _read(name)
    if _expects_error(expected):
        pytest.skip("cql-java rejects this query")
    container = etree.Element(f"{{{XCQL_NAMESPACE}}}leftOperand", nsmap={None: XCQL_NAMESPACE})
    append_operand(container, parse(query))
    xmlschemas.assert_valid("sru-1.2/xcql.xsd", container)
    assert all(etree.QName(e).namespace == XCQL_NAMESPACE for e in container.iter())


@pytest.mark.parametrize("name", CASES)
def test_query_survives_rendering_back_to_cql(name: str) -> None:
    query, expected = _read(name)
    if _expects_error(expected):
        pytest.skip("cql-java rejects this query")
    tree = parse(query)
    assert parse(to_cql(tree)) == tree


def test_corpus_is_complete() -> None:
    root: Path = xmlschemas.testdata(CORPUS)
    queries = sorted(root.glob("*/*.cql"))
    assert len(queries) == 92
    assert all(q.with_suffix(".xcql").exists() for q in queries)
