"""The links an e-mail gives: a record by OAI-PMH and SRU, and the library's set and holdings."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Protocol
from urllib.parse import quote

from protocols.oai import identifiers
from protocols.oai.repository import BIB


class Site(Protocol):
    """Where the gateway is reached (render.MailContext is one)."""

    @property
    def public_url(self) -> str: ...

    @property
    def repository_id(self) -> str: ...


def oai_record_url(ctx: Site, record_id: int) -> str:
    identifier = quote(identifiers.make(ctx.repository_id, BIB, record_id), safe=":/")
    return f"{ctx.public_url}/oai?verb=GetRecord&metadataPrefix=marc21&identifier={identifier}"


def sru_record_url(ctx: Site, record_id: int) -> str:
    return f"{ctx.public_url}/sru?query=rec.id%3D{record_id}"


def _cql_term(value: str) -> str:
    return '"' + value.replace("\\", "\\\\").replace('"', '\\"') + '"'


def sru_library_url(ctx: Site, sigel: str) -> str:
    query = quote(f"bath.possessingInstitution={_cql_term(sigel)}", safe="")
    return f"{ctx.public_url}/sru?query={query}"


def oai_set_url(ctx: Site, sigel: str) -> str:
    """The library's records with their holdings (plain `marc21` carries none)."""
    return (
        f"{ctx.public_url}/oai?verb=ListRecords&metadataPrefix=marc21_withholdings"
        f"&set={quote('bib:' + sigel, safe=':')}"
    )


def oai_set_since_url(ctx: Site, sigel: str, received_at: str) -> str:
    """The library's OAI set from the (UTC) day a delivery came in: its titles and later changes."""
    try:
        moment = datetime.fromisoformat(received_at)
    except ValueError:
        return oai_set_url(ctx, sigel)
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    return f"{oai_set_url(ctx, sigel)}&from={moment.astimezone(UTC).date().isoformat()}"
