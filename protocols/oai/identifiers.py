"""Item identifiers: `oai:<repositoryIdentifier>:bib/<id>` and `...:hold/<id>`."""

from __future__ import annotations

import re

from protocols.oai.errors import IdDoesNotExist
from protocols.oai.repository import BIB, HOLD

_LOCAL = re.compile(r"(bib|hold)/([1-9][0-9]{0,17})\Z")


def make(repository_id: str, kind: str, id: int) -> str:
    return f"oai:{repository_id}:{kind}/{id}"


def parse(repository_id: str, identifier: str) -> tuple[str, int]:
    """(kind, id) of an identifier of this repository; idDoesNotExist otherwise."""
    prefix = f"oai:{repository_id}:"
    m = _LOCAL.match(identifier[len(prefix) :]) if identifier.startswith(prefix) else None
    if m is None:
        raise IdDoesNotExist("no item has this identifier")
    return (BIB if m.group(1) == "bib" else HOLD), int(m.group(2))
