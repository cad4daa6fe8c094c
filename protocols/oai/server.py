"""The OAI-PMH 2.0 server: a request as (name, value) pairs in, the response as XML text out.

`Server.respond` is an async generator of text chunks: the envelope, then the records of one
page as they are rendered from the stored XML, then the resumption token. Every check that can
end in an OAI error runs before the first chunk, so a response is either a complete error or a
complete answer.
"""

from __future__ import annotations

import copy
import functools
from collections.abc import AsyncGenerator, Sequence
from dataclasses import dataclass
from datetime import datetime

from protocols.oai import identifiers
from protocols.oai.arguments import SET_SPEC, Request, parse
from protocols.oai.dates import format_datestamp, parse_range
from protocols.oai.errors import (
    BadResumptionToken,
    CannotDisseminateFormat,
    IdDoesNotExist,
    NoMetadataFormats,
    NoRecordsMatch,
    OAIError,
)
from protocols.oai.formats import FORMATS, MetadataFormat
from protocols.oai.repository import BIB, HOLD, LIBRARY, SUPPLIER, Item, Payload, Repository, Scope, SetInfo
from protocols.oai.tokens import ListState, SetsState, TokenCodec
from protocols.oai.xmltext import attr, escape

OAI_NS = "http://www.openarchives.org/OAI/2.0/"
XSI_NS = "http://www.w3.org/2001/XMLSchema-instance"
HEAD = (
    '<?xml version="1.0" encoding="UTF-8"?>\n'
    f'<OAI-PMH xmlns="{OAI_NS}" xmlns:xsi="{XSI_NS}" '
    f'xsi:schemaLocation="{OAI_NS} http://www.openarchives.org/OAI/2.0/OAI-PMH.xsd">'
)
TAIL = "</OAI-PMH>\n"
IDENTIFIER_NS = "http://www.openarchives.org/OAI/2.0/oai-identifier"
_DELETED_HEADER = '<header status="deleted">'
#: Records rendered per chunk handed to the transport.
CHUNK = 64


@dataclass(frozen=True, slots=True)
class ServerConfig:
    base_url: str
    repository_id: str
    admin_email: str
    repository_name: str = "Förvärv Gateway"
    page_size: int = 500


@dataclass(frozen=True, slots=True)
class _Page:
    """What rendering one page of a list needs to know about the request."""

    verb: str
    prefix: str
    set_spec: str | None
    scope: Scope
    fmt: MetadataFormat
    records: bool
    lower: datetime | None
    upper: datetime
    cursor: int
    total: int


@dataclass(slots=True)
class _Moment:
    """The instant a request is answered at: the repository's horizon when it came in (see
    Repository.horizon), and the responseDate, which is never later than the horizon and, on a
    resumed page, never later than the list's upper bound (docs/oai-pmh.md)."""

    horizon: datetime
    date: datetime


@functools.lru_cache(maxsize=8192)
def _valid_spec(spec: str) -> bool:
    return SET_SPEC.match(spec) is not None


@functools.lru_cache(maxsize=8192)
def _set_element(spec: str) -> str:
    """`<setSpec>` of a set, or nothing for a code that cannot be a setSpec."""
    return f"<setSpec>{spec}</setSpec>" if _valid_spec(spec) else ""


#: The sets every repository has, first in ListSets.
_FIXED_SETS = ((BIB, "Bibliographic records"), (HOLD, "Holdings records"))


def _sets_of(info: SetInfo) -> list[tuple[str, str]]:
    """(setSpec, setName) of a library's or supplier's sets, in set order."""
    if info.kind == LIBRARY:
        return [
            (f"bib:{info.code}", f"{info.name}: bibliographic records"),
            (f"hold:{info.code}", f"{info.name}: holdings"),
        ]
    return [(f"supplier:{info.code}", f"{info.name}: records delivered")]


def scope_of(set_spec: str | None, fmt: MetadataFormat) -> Scope | None:
    """The items of a set that `fmt` can disseminate; None when the set cannot hold any."""
    holdings_ok = HOLD in fmt.kinds
    if set_spec is None:
        return Scope("all") if holdings_ok else Scope(BIB)
    kind, _, code = set_spec.partition(":")
    if ":" in code:
        return None
    if kind == BIB:
        return Scope(BIB, sigel=code) if code else Scope(BIB)
    if kind == HOLD and holdings_ok:
        return Scope(HOLD, sigel=code) if code else Scope(HOLD)
    if kind == "supplier" and code:
        return Scope(BIB, supplier=code)
    return None


class Server:
    def __init__(
        self,
        repository: Repository,
        config: ServerConfig,
        secret: bytes,
    ) -> None:
        self.repo = repository
        self.config = config
        self.tokens = TokenCodec(secret)
        self._id_prefix = f"oai:{config.repository_id}:"

    def using(self, repository: Repository) -> Server:
        """This server answering from another repository (a read replica's) for one request."""
        other = copy.copy(self)
        other.repo = repository
        return other

    def list_bound(self, pairs: Sequence[tuple[str, str]]) -> datetime | None:
        """The upper bound of the list a request resumes (its one record-list resumptionToken),
        else None: what a repository must have complete to answer it."""
        tokens = [value for name, value in pairs if name == "resumptionToken"]
        if len(tokens) != 1:
            return None
        try:
            return self.tokens.decode(tokens[0]).upper
        except (OAIError, ValueError):
            return None

    # --- entry point ------------------------------------------------------------------------
    async def respond(self, pairs: Sequence[tuple[str, str]]) -> AsyncGenerator[str, None]:
        """The response to one request. Its responseDate is the horizon read first, in whole
        seconds (format_datestamp truncates): every item with an earlier datestamp is in the
        data this request reads afterwards, so `from=responseDate` next time misses nothing."""
        horizon = await self.repo.horizon()
        moment = _Moment(horizon, horizon)
        request: Request | None = None
        try:
            request = parse(pairs)
            body = await self._dispatch(request, moment)
        except OAIError as err:
            echo = request if err.echo_request else None
            yield (
                f"{HEAD}<responseDate>{format_datestamp(moment.date)}</responseDate>{self._request_element(echo)}"
                f'<error code="{err.code}">{escape(err.message)}</error>{TAIL}'
            )
            return
        date = format_datestamp(moment.date)
        yield f"{HEAD}<responseDate>{date}</responseDate>{self._request_element(request)}"
        if isinstance(body, str):
            yield body
        else:
            try:
                async for chunk in body:
                    yield chunk
            finally:
                await body.aclose()
        yield TAIL

    def _request_element(self, request: Request | None) -> str:
        url = escape(self.config.base_url)
        if request is None:
            return f"<request>{url}</request>"
        attrs = "".join(f' {k}="{attr(v)}"' for k, v in request.args.items())
        return f'<request verb="{request.verb}"{attrs}>{url}</request>'

    async def _dispatch(self, request: Request, moment: _Moment) -> str | AsyncGenerator[str, None]:
        verb = request.verb
        if verb == "Identify":
            return await self._identify(moment)
        if verb == "ListMetadataFormats":
            return await self._list_metadata_formats(request)
        if verb == "ListSets":
            return await self._list_sets(request)
        if verb == "GetRecord":
            return await self._get_record(request)
        return await self._list(request, moment)

    # --- items ------------------------------------------------------------------------------
    def _header(self, item: Item, set_spec: str | None) -> str:
        if item.kind == HOLD:
            sets = "<setSpec>hold</setSpec>" + "".join([_set_element(f"hold:{s}") for s in item.sigels])
        elif item.deleted:
            sets = _set_element(set_spec or BIB)
        else:
            sets = "".join(
                [
                    "<setSpec>bib</setSpec>",
                    *[_set_element(f"bib:{s}") for s in item.sigels],
                    *[_set_element(f"supplier:{c}") for c in item.suppliers],
                ]
            )
        head = _DELETED_HEADER if item.deleted else "<header>"
        return (
            f"{head}<identifier>{self._id_prefix}{item.kind}/{item.id}</identifier>"
            f"<datestamp>{format_datestamp(item.datestamp)}</datestamp>{sets}</header>"
        )

    def _record(self, item: Item, fmt: MetadataFormat, set_spec: str | None) -> str:
        header = self._header(item, set_spec)
        if item.deleted:
            return f"<record>{header}</record>"
        return f"<record>{header}<metadata>{fmt.render(item)}</metadata></record>"

    # --- verbs ------------------------------------------------------------------------------
    async def _identify(self, moment: _Moment) -> str:
        c = self.config
        earliest = await self.repo.earliest_datestamp() or moment.date
        sample = identifiers.make(c.repository_id, BIB, 100001)
        return (
            "<Identify>"
            f"<repositoryName>{escape(c.repository_name)}</repositoryName>"
            f"<baseURL>{escape(c.base_url)}</baseURL>"
            "<protocolVersion>2.0</protocolVersion>"
            f"<adminEmail>{escape(c.admin_email)}</adminEmail>"
            f"<earliestDatestamp>{format_datestamp(earliest)}</earliestDatestamp>"
            "<deletedRecord>persistent</deletedRecord>"
            "<granularity>YYYY-MM-DDThh:mm:ssZ</granularity>"
            "<compression>gzip</compression><compression>deflate</compression>"
            "<description>"
            f'<oai-identifier xmlns="{IDENTIFIER_NS}" xmlns:xsi="{XSI_NS}" '
            f'xsi:schemaLocation="{IDENTIFIER_NS} http://www.openarchives.org/OAI/2.0/oai-identifier.xsd">'
            "<scheme>oai</scheme>"
            f"<repositoryIdentifier>{escape(c.repository_id)}</repositoryIdentifier>"
            "<delimiter>:</delimiter>"
            f"<sampleIdentifier>{escape(sample)}</sampleIdentifier>"
            "</oai-identifier></description>"
            "</Identify>"
        )

    async def _list_metadata_formats(self, request: Request) -> str:
        kinds = {BIB, HOLD}
        identifier = request.get("identifier")
        if identifier is not None:
            kind, id = identifiers.parse(self.config.repository_id, identifier)
            if await self.repo.get_item(kind, id, Payload.NONE) is None:
                raise IdDoesNotExist("no item has this identifier")
            kinds = {kind}
        formats = [f for f in FORMATS.values() if f.kinds & kinds]
        if not formats:
            raise NoMetadataFormats("no metadata formats are available for this item")
        body = "".join(
            f"<metadataFormat><metadataPrefix>{f.prefix}</metadataPrefix><schema>{f.schema}</schema>"
            f"<metadataNamespace>{f.namespace}</metadataNamespace></metadataFormat>"
            for f in formats
        )
        return f"<ListMetadataFormats>{body}</ListMetadataFormats>"

    async def _list_sets(self, request: Request) -> str:
        token = request.get("resumptionToken")
        after: str | None = None
        cursor = total = 0
        if token is not None:
            state = self.tokens.decode_sets(token)
            after, cursor, total = state.after, state.cursor, state.total
        size = self.config.page_size
        sets = await self._sets_after(after, size + 1)  # the extra one says whether there is more
        if not sets:  # only a resumed list: every set after the token was removed meanwhile
            raise BadResumptionToken("no sets remain after this resumption token: start the list again")
        more = len(sets) > size
        del sets[size:]
        body = "".join(f"<set><setSpec>{spec}</setSpec><setName>{escape(name)}</setName></set>" for spec, name in sets)
        delivered = cursor + len(sets)
        tail = ""
        if more:
            if token is None:
                libraries, suppliers = await self.repo.count_sets()
                total = len(_FIXED_SETS) + 2 * libraries + suppliers
            total = max(total, delivered + 1)
            next_token = self.tokens.encode_sets(SetsState(sets[-1][0], delivered, total))
            tail = f'<resumptionToken completeListSize="{total}" cursor="{cursor}">{next_token}</resumptionToken>'
        elif token is not None:
            tail = f'<resumptionToken completeListSize="{delivered}" cursor="{cursor}"/>'
        return f"<ListSets>{body}{tail}</ListSets>"

    async def _sets_after(self, after: str | None, limit: int) -> list[tuple[str, str]]:
        """At most `limit` (setSpec, setName) in set order after the set `after` (None: from the
        first): bib, hold, per library bib:SIGEL and hold:SIGEL, per supplier supplier:CODE. A
        keyset on the storage's order of codes: no setSpec is sent twice, whatever changes meanwhile."""
        specs = [spec for spec, _ in _FIXED_SETS]
        source: tuple[str, str] | None = None
        inclusive = False
        if after is None:
            found = list(_FIXED_SETS)
        elif after in specs:
            found = list(_FIXED_SETS[specs.index(after) + 1 :])
        else:
            kind, _, code = after.partition(":")
            if kind not in (BIB, HOLD, "supplier") or not code or ":" in code:
                raise BadResumptionToken("the resumption token is invalid")
            found = []
            source = (SUPPLIER if kind == "supplier" else LIBRARY, code)
            inclusive = kind == BIB  # that library's hold:SIGEL is still to come
        while len(found) < limit:
            wanted = limit - len(found)
            infos = await self.repo.list_sets(source, wanted, inclusive=inclusive)
            for info in infos:
                found += [s for s in _sets_of(info) if s[0] != after and _valid_spec(s[0])]
            if len(infos) < wanted:
                break
            source, inclusive = (infos[-1].kind, infos[-1].code), False
        return found[:limit]

    async def _get_record(self, request: Request) -> str:
        kind, id = identifiers.parse(self.config.repository_id, request.args["identifier"])
        fmt = FORMATS.get(request.args["metadataPrefix"])
        if fmt is None:
            raise CannotDisseminateFormat("the metadata format is not supported")
        item = await self.repo.get_item(kind, id, fmt.payload if kind in fmt.kinds else Payload.NONE)
        if item is None:
            raise IdDoesNotExist("no item has this identifier")
        if kind not in fmt.kinds:
            raise CannotDisseminateFormat(f"{kind} items are not disseminated in {fmt.prefix}")
        return f"<GetRecord>{self._record(item, fmt, None)}</GetRecord>"

    async def _list(self, request: Request, moment: _Moment) -> AsyncGenerator[str, None]:
        token = request.get("resumptionToken")
        if token is not None:
            state = self.tokens.decode(token)
            fmt = FORMATS.get(state.prefix)
            scope = scope_of(state.set, fmt) if fmt is not None else None
            if state.verb != request.verb or fmt is None or scope is None:
                raise BadResumptionToken("the resumption token belongs to another request")
            prefix, set_spec, lower, upper = state.prefix, state.set, state.lower, state.upper
            after, cursor, total = state.after, state.cursor, state.total
        else:
            lower, until_end = parse_range(request.get("from"), request.get("until"))
            prefix, set_spec = request.args["metadataPrefix"], request.get("set")
            fmt = FORMATS.get(prefix)
            if fmt is None:
                raise CannotDisseminateFormat("the metadata format is not supported")
            scope = scope_of(set_spec, fmt)
            if scope is None:
                raise NoRecordsMatch(f"the set holds no items that can be disseminated in {prefix}")
            horizon = moment.horizon
            upper = horizon if until_end is None else min(until_end, horizon)
            if lower is not None and lower >= upper:
                raise NoRecordsMatch("no items have datestamps in this range")
            after, cursor, total = None, 0, 0
        # Every page of a list is bounded by its first request's horizon (and `until`), and so
        # is the responseDate of each: whichever response of a harvest a harvester takes its
        # next `from` from, nothing between the list's bound and that date is skipped.
        moment.date = min(moment.date, upper)
        records = request.verb == "ListRecords"
        payload = fmt.payload if records else Payload.NONE
        size = self.config.page_size
        batches = self.repo.list_items(scope, payload, lower, upper, after, size + 1)
        first = await anext(batches, None)
        if not first:
            await batches.aclose()
            raise NoRecordsMatch("no items match the request")
        page = _Page(request.verb, prefix, set_spec, scope, fmt, records, lower, upper, cursor, total)
        return self._render_list(page, first, batches, fresh=token is None)

    async def _render_list(
        self, page: _Page, first: list[Item], batches: AsyncGenerator[list[Item], None], fresh: bool
    ) -> AsyncGenerator[str, None]:
        """The page's records as their batches arrive, then the resumption token."""
        size = self.config.page_size
        render = self._record if page.records else self._header_only
        yield f"<{page.verb}>"
        count, more, last = 0, False, first[-1]
        try:
            batch: list[Item] | None = first
            while batch:
                if count + len(batch) > size:  # the probe row: there is more
                    del batch[size - count :]
                    more = True
                for start in range(0, len(batch), CHUNK):
                    yield "".join([render(item, page.fmt, page.set_spec) for item in batch[start : start + CHUNK]])
                if batch:
                    count += len(batch)
                    last = batch[-1]
                batch = None if more else await anext(batches, None)
        finally:
            await batches.aclose()
        delivered = page.cursor + count
        if more:
            total = page.total
            if fresh:
                total = await self.repo.count_items(page.scope, page.lower, page.upper)
            total = max(total, delivered + 1)
            state = ListState(
                page.verb, page.prefix, page.set_spec, page.lower, page.upper, last.position, delivered, total
            )
            token = self.tokens.encode(state)
            yield f'<resumptionToken completeListSize="{total}" cursor="{page.cursor}">{token}</resumptionToken>'
        elif not fresh:
            yield f'<resumptionToken completeListSize="{delivered}" cursor="{page.cursor}"/>'
        yield f"</{page.verb}>"

    def _header_only(self, item: Item, fmt: MetadataFormat, set_spec: str | None) -> str:
        return self._header(item, set_spec)
