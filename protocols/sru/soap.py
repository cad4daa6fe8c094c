"""The SOAP binding of SRU 1.1 and 1.2 (SRW): a request envelope in, parameters out; a response
document in, an envelope out; SOAP faults.

A client POSTs a SOAP 1.1 envelope (``text/xml``) whose body holds one ``searchRetrieveRequest``,
``scanRequest`` or ``explainRequest`` in the SRW namespace; its child elements are the SRU
parameters (``query``, ``startRecord``, ...). :func:`parse_envelope` turns it into the same
parameters a GET carries, so the service answers both bindings alike, and :func:`envelope`
wraps the response document. What is not such an envelope is a :class:`SoapFault`, never an
explain: not well-formed XML, a document type declaration (so no entity is ever expanded), a
SOAP 1.2 or other envelope (``VersionMismatch``), a header entry marked ``mustUnderstand``,
a body without exactly one request of the three kinds, a parameter holding markup.

Parsing is bounded: the caller reads at most :data:`MAX_ENVELOPE` bytes, and the parser loads
no DTD, resolves no entity and never touches the network.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from lxml import etree  # type: ignore[import-untyped, unused-ignore]

from protocols.sru.xmltext import text

SOAP_NS = "http://schemas.xmlsoap.org/soap/envelope/"
SRW_NS = "http://www.loc.gov/zing/srw/"
#: Content types a SOAP request may come with (SOAP 1.1 says text/xml; some clients say xml).
CONTENT_TYPES = frozenset({"text/xml", "application/xml", "application/soap+xml"})
#: The largest request envelope read, in bytes (a query is a few hundred).
MAX_ENVELOPE = 64 * 1024
#: SOAP has no version element of its own: a request without one is SRU 1.2.
DEFAULT_VERSION = "1.2"

_OPERATIONS = {
    "searchRetrieveRequest": "searchRetrieve",
    "scanRequest": "scan",
    "explainRequest": "explain",
}
#: Extension data, which a service may ignore (as it ignores ``x-`` parameters in a GET).
_EXTRA = "extraRequestData"

_PARSER = etree.XMLParser(
    resolve_entities=False, no_network=True, load_dtd=False, dtd_validation=False,
    huge_tree=False, remove_comments=True, remove_pis=True,
)


class SoapFault(Exception):
    """A SOAP 1.1 fault: ``code`` is VersionMismatch, MustUnderstand, Client or Server."""

    def __init__(self, code: str, reason: str) -> None:
        super().__init__(reason)
        self.code = code
        self.reason = reason


@dataclass(frozen=True, slots=True)
class SoapRequest:
    operation: str                  # searchRetrieve | scan | explain
    params: dict[str, list[str]]    # as a GET's query string gives them, operation included


def parse_envelope(body: bytes) -> SoapRequest:
    """The SRU request a SOAP envelope carries; raises :class:`SoapFault`."""
    if len(body) > MAX_ENVELOPE:
        raise SoapFault("Client", f"the envelope is larger than {MAX_ENVELOPE} bytes")
    if _has_doctype(body):
        raise SoapFault("Client", "a SOAP message must not contain a document type declaration")
    try:
        root = etree.fromstring(body, _PARSER)
    except etree.XMLSyntaxError as e:
        raise SoapFault("Client", f"not well-formed XML: {e}") from None
    if root.getroottree().docinfo.doctype:
        raise SoapFault("Client", "a SOAP message must not contain a document type declaration")
    name = etree.QName(root)
    if name.localname != "Envelope":
        raise SoapFault("Client", f"the document is not a SOAP envelope but {name.localname!r}")
    if name.namespace != SOAP_NS:
        raise SoapFault("VersionMismatch", f"SOAP 1.1 envelopes ({SOAP_NS}) only, not {name.namespace}")
    body_element: etree._Element | None = None
    for child in _elements(root):
        child_name = etree.QName(child)
        if child_name.namespace == SOAP_NS and child_name.localname == "Header":
            _check_header(child)
        elif child_name.namespace == SOAP_NS and child_name.localname == "Body" and body_element is None:
            body_element = child
        else:
            raise SoapFault("Client", f"unexpected element {child_name.localname!r} in the envelope")
    if body_element is None:
        raise SoapFault("Client", "the envelope has no Body")
    entries = _elements(body_element)
    if len(entries) != 1:
        raise SoapFault("Client", "the Body must hold exactly one SRU request")
    request = entries[0]
    request_name = etree.QName(request)
    operation = _OPERATIONS.get(request_name.localname)
    if request_name.namespace != SRW_NS or operation is None:
        raise SoapFault(
            "Client",
            f"unsupported request {request_name.localname!r} ({request_name.namespace}): this service"
            f" answers searchRetrieveRequest, scanRequest and explainRequest in {SRW_NS}",
        )
    params: dict[str, list[str]] = {"operation": [operation]}
    for element in _elements(request):
        local = etree.QName(element).localname
        if local == _EXTRA:
            continue
        if _elements(element):
            raise SoapFault("Client", f"the parameter {local!r} must hold text, not elements")
        if local == "operation":  # the request element names the operation
            raise SoapFault("Client", "'operation' is not a parameter of an SRW request")
        params.setdefault(local, []).append(element.text or "")
    params.setdefault("version", [DEFAULT_VERSION])
    return SoapRequest(operation, params)


_PROLOG = re.compile(rb"\A(?:\xef\xbb\xbf)?(?:\s+|<\?.*?\?>|<!--.*?-->)*", re.DOTALL)


def _has_doctype(body: bytes) -> bool:
    """Whether a document type declaration follows the prolog (declaration, comments, PIs): told
    before parsing, so the parser never reads one. (Should an encoding hide it from this check,
    the parsed tree's doctype is checked too, and the parser expands no entity either way.)"""
    prolog = _PROLOG.match(body)
    return body.startswith(b"<!DOCTYPE", prolog.end() if prolog else 0)


def _elements(element: etree._Element) -> list[etree._Element]:
    return [child for child in element if isinstance(child.tag, str)]


def _check_header(header: etree._Element) -> None:
    """No header entry is understood: one that must be is a MustUnderstand fault."""
    for entry in _elements(header):
        if entry.get(f"{{{SOAP_NS}}}mustUnderstand", "0").strip() in ("1", "true"):
            raise SoapFault("MustUnderstand", f"header entry {etree.QName(entry).localname!r} is not understood")


def _strip_prolog(document: str) -> str:
    """The document without its XML declaration and processing instructions (the service's own
    prolog: a declaration and at most a stylesheet instruction, each on its own line)."""
    while document.startswith("<?"):
        end = document.find("?>")
        if end < 0:
            break
        document = document[end + 2:].lstrip("\n")
    return document


def envelope(document: str) -> str:
    """A response document (searchRetrieveResponse, scanResponse, explainResponse) in an envelope."""
    return (
        '<?xml version="1.0" encoding="UTF-8"?>\n'
        f'<SOAP-ENV:Envelope xmlns:SOAP-ENV="{SOAP_NS}"><SOAP-ENV:Body>'
        f"{_strip_prolog(document)}"
        "</SOAP-ENV:Body></SOAP-ENV:Envelope>\n"
    )


def fault(error: SoapFault) -> str:
    """A SOAP 1.1 fault envelope (sent with HTTP status 500, as the SOAP HTTP binding says)."""
    return (
        '<?xml version="1.0" encoding="UTF-8"?>\n'
        f'<SOAP-ENV:Envelope xmlns:SOAP-ENV="{SOAP_NS}"><SOAP-ENV:Body><SOAP-ENV:Fault>'
        f"<faultcode>SOAP-ENV:{text(error.code)}</faultcode>"
        f"<faultstring>{text(error.reason)}</faultstring>"
        "</SOAP-ENV:Fault></SOAP-ENV:Body></SOAP-ENV:Envelope>\n"
    )
