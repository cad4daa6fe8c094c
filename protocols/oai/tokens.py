"""Stateless resumption tokens: the harvest's arguments and keyset position, signed.

A token is `base64url(JSON payload) "." base64url(HMAC-SHA256(secret, payload)[:16])`. It holds
everything the next page needs, so tokens never expire and any gateway process with the same
secret can continue a harvest. A token that does not verify is a badResumptionToken, and so is
a token of the other kind (a ListSets token given to a record list, or the reverse).
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import json
import re
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from protocols.oai.errors import BadResumptionToken

VERSION = 1
_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
_MAC_BYTES = 16


def to_micros(dt: datetime) -> int:
    return (dt - _EPOCH) // timedelta(microseconds=1)


def from_micros(us: int) -> datetime:
    return _EPOCH + timedelta(microseconds=us)


@dataclass(frozen=True, slots=True)
class Position:
    """Keyset position: the last item delivered, ordered by (datestamp, kind, id)."""

    datestamp: datetime
    kind: int  # 0 bibliographic, 1 holdings: bibs sort first at equal datestamps
    id: int


@dataclass(frozen=True, slots=True)
class ListState:
    verb: str
    prefix: str
    set: str | None
    lower: datetime | None  # inclusive, from `from`
    upper: datetime  # exclusive: `until` frozen at the first request
    after: Position
    cursor: int  # items delivered before the next page
    total: int  # complete list size counted at the first request


@dataclass(frozen=True, slots=True)
class SetsState:
    """Where a ListSets harvest stands: the setSpec of the last set sent (the keyset position)."""

    after: str
    cursor: int  # sets delivered before the next page
    total: int  # complete list size counted at the first request


SETS_VERB = "ListSets"


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


_B64URL = re.compile(r"[A-Za-z0-9_-]+\Z")


def _unb64(text: str) -> bytes:
    """Strictly the inverse of _b64: only the URL-safe alphabet, no padding, and the one spelling
    _b64 gives (the unused low bits of the last character zero); anything else is ValueError, so
    no altered token decodes to the same bytes."""
    if not _B64URL.match(text) or len(text) % 4 == 1:
        raise ValueError("not unpadded base64url")
    data = base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))
    if _b64(data) != text:
        raise ValueError("not the canonical base64url spelling")
    return data


class TokenCodec:
    def __init__(self, secret: bytes) -> None:
        if not secret:
            raise ValueError("resumption tokens need a non-empty secret")
        self._secret = secret

    def _mac(self, payload: bytes) -> bytes:
        return hmac.new(self._secret, payload, hashlib.sha256).digest()[:_MAC_BYTES]

    def encode(self, state: ListState) -> str:
        fields: list[object] = [
            VERSION,
            state.verb,
            state.prefix,
            state.set,
            None if state.lower is None else to_micros(state.lower),
            to_micros(state.upper),
            to_micros(state.after.datestamp),
            state.after.kind,
            state.after.id,
            state.cursor,
            state.total,
        ]
        return self._seal(fields)

    def encode_sets(self, state: SetsState) -> str:
        return self._seal([VERSION, SETS_VERB, state.after, state.cursor, state.total])

    def _seal(self, fields: list[object]) -> str:
        payload = json.dumps(fields, separators=(",", ":")).encode()
        return f"{_b64(payload)}.{_b64(self._mac(payload))}"

    def _open(self, token: str) -> list[Any]:
        """The fields of a token this secret signed, of this version; badResumptionToken otherwise."""
        bad = BadResumptionToken("the resumption token is invalid")
        head, dot, mac = token.partition(".")
        if not dot or not head or not mac:
            raise bad
        try:
            payload, given = _unb64(head), _unb64(mac)
        except (binascii.Error, ValueError):
            raise bad from None
        if not hmac.compare_digest(given, self._mac(payload)):
            raise bad
        try:
            f = json.loads(payload)
        except ValueError:
            raise bad from None
        if not isinstance(f, list) or len(f) < 2 or f[0] != VERSION or not isinstance(f[1], str):
            raise bad
        return f

    def decode(self, token: str) -> ListState:
        bad = BadResumptionToken("the resumption token is invalid")
        f = self._open(token)
        if f[1] == SETS_VERB:
            raise BadResumptionToken("the resumption token belongs to another request")
        try:
            if len(f) != 11:
                raise bad
            ints = (f[5], f[6], f[7], f[8], f[9], f[10])
            if not all(type(i) is int for i in ints) or not (f[4] is None or type(f[4]) is int):
                raise bad
            strings = (f[1], f[2], "" if f[3] is None else f[3])
            if not all(isinstance(s, str) for s in strings):
                raise bad
            return ListState(
                verb=f[1],
                prefix=f[2],
                set=f[3],
                lower=None if f[4] is None else from_micros(f[4]),
                upper=from_micros(f[5]),
                after=Position(from_micros(f[6]), f[7], f[8]),
                cursor=f[9],
                total=f[10],
            )
        except (ValueError, OverflowError, TypeError):
            raise bad from None

    def decode_sets(self, token: str) -> SetsState:
        f = self._open(token)
        if f[1] != SETS_VERB:
            raise BadResumptionToken("the resumption token belongs to another request")
        if len(f) != 5 or not isinstance(f[2], str) or type(f[3]) is not int or type(f[4]) is not int:
            raise BadResumptionToken("the resumption token is invalid")
        return SetsState(after=f[2], cursor=f[3], total=f[4])
