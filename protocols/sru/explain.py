"""The ZeeRex explain record: server, indexes (with titles), record schemas, defaults.

SRU 1.1/1.2 use ZeeRex 2.0 as published with SRU 1.2; SRU 2.0's variant of the same
namespace adds a mandatory ``searchInfo``. One function writes both.
"""

from __future__ import annotations

from dataclasses import dataclass

from protocols.sru.indexes import CONTEXT_SETS, INDEXES, Index
from protocols.sru.records import DEFAULT_SCHEMA, SCHEMAS
from protocols.sru.xmltext import Writer

ZEEREX_NS = "http://explain.z3950.org/dtd/2.0/"


@dataclass(frozen=True, slots=True)
class ServiceInfo:
    host: str
    port: int
    database: str                    # path of the endpoint, e.g. "sru"
    title: str = "Förvärv Gateway"
    description: str = "Bibliographic records and holdings delivered by suppliers"
    contact: str | None = None
    default_records: int = 10
    max_records: int = 100
    default_terms: int = 20
    max_terms: int = 100


QUERY_EXAMPLES = (
    "malmö",
    "dc.title = \"röda rummet\" and dc.creator = strindberg",
    "bath.isbn = 91-0-012345-6",
    "bath.possessingInstitution = S and dc.date within \"2000 2010\" sortBy dc.date/sort.descending",
)


#: Every relation some index supports, in the order explain lists them.
RELATION_ORDER = ("=", "==", "all", "any", "adj", "<", ">", "<=", ">=", "<>", "within")


def explain_record(info: ServiceInfo, version: str) -> str:
    """The ``explain`` element (ZeeRex) for an SRU ``version`` (1.1, 1.2 or 2.0)."""
    w = Writer()
    w.open("explain", {"xmlns": ZEEREX_NS, "authoritative": "true"})
    w.open("serverInfo", {"protocol": "SRU", "version": version, "transport": "http"})
    w.leaf("host", info.host)
    w.leaf("port", info.port)
    w.leaf("database", info.database)
    w.close("serverInfo")

    w.open("databaseInfo")
    w.leaf("title", info.title, {"lang": "en", "primary": "true"})
    w.leaf("description", info.description, {"lang": "en", "primary": "true"})
    if info.contact:
        w.leaf("contact", info.contact)
    w.close("databaseInfo")

    w.open("indexInfo")
    for context_set in CONTEXT_SETS:
        w.open("set", {"name": context_set.name, "identifier": context_set.identifier})
        w.leaf("title", context_set.title)
        w.close("set")
    for index in INDEXES:
        _index(w, index)
    w.close("indexInfo")

    if version == "2.0":
        w.open("searchInfo")
        for example in QUERY_EXAMPLES:
            w.leaf("queryExample", example)
        w.close("searchInfo")

    w.open("schemaInfo")
    for schema in SCHEMAS:
        attrs = {"identifier": schema.identifier, "name": schema.name, "sort": "false", "retrieve": "true"}
        if schema.location:
            attrs["location"] = schema.location
        w.open("schema", attrs)
        w.leaf("title", schema.title)
        w.close("schema")
    w.close("schemaInfo")

    w.open("configInfo")
    w.leaf("default", DEFAULT_SCHEMA.name, {"type": "retrieveSchema"})
    w.leaf("default", info.default_records, {"type": "numberOfRecords"})
    w.leaf("setting", info.max_records, {"type": "maximumRecords"})
    w.leaf("default", info.default_terms, {"type": "numberOfTerms"})
    w.leaf("setting", info.max_terms, {"type": "maximumTerms"})
    w.leaf("default", "cql", {"type": "contextSet"})
    w.leaf("default", "cql.serverChoice", {"type": "index"})
    # A bare term is cql.serverChoice =, and = on a word index is a phrase (adj).
    w.leaf("default", "adj", {"type": "relation"})
    for relation in RELATION_ORDER:
        w.leaf("supports", relation, {"type": "relation"})
    w.leaf("supports", "*", {"type": "maskingCharacter"})
    w.leaf("supports", "^", {"type": "anchoring"})
    for boolean in ("and", "or", "not"):
        w.leaf("supports", boolean, {"type": "boolean"})
    w.leaf("supports", "sort", {"type": "sort"})
    w.leaf("supports", "scan", {"type": "scan"})
    w.leaf("supports", "xml", {"type": "recordPacking"})
    w.leaf("supports", "string", {"type": "recordPacking"})
    w.close("configInfo")
    w.close("explain")
    return str(w)


def _index(w: Writer, index: Index) -> None:
    attrs = {
        "search": "true",
        "scan": "true" if index.scan else "false",
        "sort": "true" if index.sort else "false",
    }
    w.open("index", attrs)
    w.leaf("title", index.title, {"lang": "en"})
    w.open("map", {"primary": "true"})
    w.leaf("name", index.name, {"set": index.set})
    w.close("map")
    w.open("configInfo")
    for relation in RELATION_ORDER:
        if relation in index.relations:
            w.leaf("supports", relation, {"type": "relation"})
    w.close("configInfo")
    w.close("index")
