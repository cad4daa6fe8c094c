"""Pure protocol pieces: dates, tokens, XML text, argument tables, error codes, sets."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from lxml import etree

from protocols.oai import errors
from protocols.oai.arguments import parse
from protocols.oai.dates import format_datestamp, parse_range
from protocols.oai.formats import FORMATS
from protocols.oai.holdings import embed
from protocols.oai.repository import Item, Payload
from protocols.oai.server import Server, ServerConfig, scope_of
from protocols.oai.tokens import ListState, Position, SetsState, TokenCodec
from protocols.oai.xmltext import attr, clean, escape, fragment
from tests.oai.conftest import check_document

UTC0 = datetime(2024, 1, 31, 23, 59, 59, 999999, tzinfo=UTC)


def test_error_classes_carry_their_wire_codes() -> None:
    codes = {cls.code for cls in errors.OAIError.__subclasses__()}
    assert codes == {
        "badArgument", "badResumptionToken", "badVerb", "cannotDisseminateFormat",
        "idDoesNotExist", "noRecordsMatch", "noMetadataFormats", "noSetHierarchy",
    }  # fmt: skip
    assert not errors.BadVerb("x").echo_request
    assert not errors.BadArgument("x").echo_request
    assert errors.NoRecordsMatch("x").echo_request


def test_datestamps_have_no_fraction_and_are_utc() -> None:
    assert format_datestamp(UTC0) == "2024-01-31T23:59:59Z"
    cet = UTC0.astimezone(__import__("zoneinfo").ZoneInfo("Europe/Stockholm"))
    assert format_datestamp(cet) == "2024-01-31T23:59:59Z"


def test_ranges_are_inclusive_at_their_granularity() -> None:
    day = datetime(2024, 1, 31, tzinfo=UTC)
    assert parse_range("2024-01-31", "2024-01-31") == (day, day + timedelta(days=1))
    lo, hi = parse_range("2024-01-31T10:00:00Z", "2024-01-31T10:00:00Z")
    assert hi - lo == timedelta(seconds=1)
    assert parse_range(None, None) == (None, None)
    for f, u in (
        ("2024-01-31", "2024-01-31T10:00:00Z"),
        ("2024-02-01", "2024-01-31"),
        ("2024-02-30", None),
        ("24-01-01", None),
        (None, "2024-01-01T24:00:00Z"),
        ("2024-01-01 ", None),
    ):
        with pytest.raises(errors.BadArgument):
            parse_range(f, u)


def _state(**changes: object) -> ListState:
    base = ListState("ListRecords", "marc21", "bib:S", None, UTC0, Position(UTC0, 0, 100001), 500, 1234)
    return ListState(**{**{f: getattr(base, f) for f in ListState.__slots__}, **changes})  # type: ignore[arg-type]


@given(
    us=st.integers(min_value=0, max_value=2**52),
    kind=st.sampled_from([0, 1]),
    id=st.integers(min_value=1, max_value=2**63 - 1),
    set_=st.one_of(st.none(), st.text(max_size=40)),
)
def test_tokens_round_trip(us: int, kind: int, id: int, set_: str | None) -> None:
    codec = TokenCodec(b"k")
    when = datetime(1970, 1, 1, tzinfo=UTC) + timedelta(microseconds=us)
    state = _state(set=set_, after=Position(when, kind, id), lower=when)
    assert codec.decode(codec.encode(state)) == state


def test_tokens_are_tamper_evident() -> None:
    codec = TokenCodec(b"secret")
    token = codec.encode(_state())
    payload, mac = token.split(".")
    for i in range(len(payload)):
        altered = payload[:i] + ("A" if payload[i] != "A" else "B") + payload[i + 1 :]
        with pytest.raises(errors.BadResumptionToken):
            codec.decode(f"{altered}.{mac}")
    with pytest.raises(errors.BadResumptionToken):
        TokenCodec(b"other").decode(token)
    for junk in ("", ".", "a.b", "!!!.???", token.replace(".", "")):
        with pytest.raises(errors.BadResumptionToken):
            codec.decode(junk)
    with pytest.raises(ValueError, match="secret"):
        TokenCodec(b"")


@given(after=st.text(max_size=80), cursor=st.integers(min_value=0, max_value=2**53), total=st.integers(0, 2**53))
def test_set_list_tokens_round_trip(after: str, cursor: int, total: int) -> None:
    codec = TokenCodec(b"k")
    state = SetsState(after, cursor, total)
    assert codec.decode_sets(codec.encode_sets(state)) == state


def test_set_list_and_record_list_tokens_do_not_mix() -> None:
    codec = TokenCodec(b"secret")
    sets, records = codec.encode_sets(SetsState("bib:S", 7, 50)), codec.encode(_state())
    with pytest.raises(errors.BadResumptionToken, match="another request"):
        codec.decode(sets)
    with pytest.raises(errors.BadResumptionToken, match="another request"):
        codec.decode_sets(records)
    with pytest.raises(errors.BadResumptionToken):
        TokenCodec(b"other").decode_sets(sets)
    payload, mac = sets.split(".")
    for i in range(len(payload)):
        altered = payload[:i] + ("A" if payload[i] != "A" else "B") + payload[i + 1 :]
        with pytest.raises(errors.BadResumptionToken):
            codec.decode_sets(f"{altered}.{mac}")


@given(st.text())
def test_any_text_becomes_well_formed_xml(text: str) -> None:
    text = "".join(c for c in text if not 0xD800 <= ord(c) <= 0xDFFF)  # PostgreSQL cannot store these
    doc = f'<a b="{attr(text)}">{escape(text)}</a>'
    etree.fromstring(doc.encode("utf-8"))


def test_stored_records_are_cleaned_of_forbidden_characters_and_references() -> None:
    stored = '<?xml version="1.0"?>\n<record>a\x01b &#x1; &#9; &#65535; &#xFFFE; &#31; &#32;</record>'
    out = fragment(stored)
    assert out == "<record>a\ufffdb \ufffd &#9; \ufffd \ufffd \ufffd &#32;</record>"
    etree.fromstring(out.encode())
    assert clean("plain") == "plain"


def test_argument_tables() -> None:
    assert parse([("verb", "Identify")]).verb == "Identify"
    request = parse([("verb", "ListRecords"), ("metadataPrefix", "marc21"), ("set", "bib:S")])
    assert request.args == {"metadataPrefix": "marc21", "set": "bib:S"}
    assert parse([("verb", "ListRecords"), ("resumptionToken", "t")]).args == {"resumptionToken": "t"}
    with pytest.raises(errors.BadVerb):
        parse([("verb", "Identify"), ("verb", "Identify")])
    with pytest.raises(errors.BadArgument):
        parse([("verb", "GetRecord"), ("identifier", "x")])


def test_sets_map_to_scopes_per_format() -> None:
    marc, dc = FORMATS["marc21"], FORMATS["oai_dc"]
    assert scope_of(None, marc).kind == "all"  # type: ignore[union-attr]
    assert scope_of(None, dc).kind == "bib"  # type: ignore[union-attr]
    assert scope_of("hold", dc) is None
    assert scope_of("bib:S", marc).sigel == "S"  # type: ignore[union-attr]
    assert scope_of("supplier:BOKR", dc).supplier == "BOKR"  # type: ignore[union-attr]
    for nothing in ("supplier", "x", "bib:S:T"):
        assert scope_of(nothing, marc) is None


def test_embedding_keeps_the_bib_text_and_appends_holdings() -> None:
    ns = "http://www.loc.gov/MARC21/slim"
    bib = f'<record xmlns="{ns}"><leader>00000nam a2200000 a 4500</leader></record>'
    holding = (
        f'<record xmlns="{ns}" type="Holdings"><leader>00000nx  a22000001n 4500</leader>'
        '<datafield tag="852" ind1="" ind2="8"><subfield code="b">S</subfield></datafield></record>'
    )
    out = embed(bib, [("S", holding), ("T", "<not xml")])
    assert out.startswith(bib[:-9])
    root = etree.fromstring(out.encode())
    f852 = root.find(f"{{{ns}}}datafield[@tag='852']")
    assert f852 is not None
    assert (f852.get("ind1"), f852.get("ind2")) == (" ", "8")  # an empty indicator becomes blank
    prefixed = f'<m:record xmlns:m="{ns}"><m:leader>00000nam a2200000 a 4500</m:leader></m:record>'
    root = etree.fromstring(embed(prefixed, [("S", holding)]).encode())
    assert [df.get("tag") for df in root.iterfind(f"{{{ns}}}datafield")] == ["841", "852"]


class _Empty:
    """A repository without items (all GetRecord needs)."""

    async def horizon(self) -> datetime:
        return datetime.now(UTC)

    async def get_item(self, kind: str, id: int, payload: Payload) -> Item | None:
        return None


async def _respond(server: Server, pairs: list[tuple[str, str]]) -> bytes:
    return "".join([chunk async for chunk in server.respond(pairs)]).encode()


@settings(max_examples=400, deadline=None)
@given(st.text(alphabet=st.sampled_from(list("oai:bib/1%2Fa[]#?@!$&'()*+,;=-._~ \"<>é\t")), max_size=24))
def test_an_identifier_is_echoed_in_a_valid_request_or_refused(identifier: str) -> None:
    config = ServerConfig("http://127.0.0.1/oai", "forvarv.example.org", "a@example.org")
    server = Server(_Empty(), config, b"k")  # type: ignore[arg-type]
    pairs = [("verb", "GetRecord"), ("identifier", identifier), ("metadataPrefix", "marc21")]
    root = check_document(asyncio.run(_respond(server, pairs)))  # schema-valid whatever was asked
    code = root.find("{http://www.openarchives.org/OAI/2.0/}error").get("code")  # type: ignore[union-attr]
    assert code in {"idDoesNotExist", "badArgument"}
