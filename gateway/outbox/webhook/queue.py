"""Webhook events in the outbox: written with a load, rendered the same way on every attempt.

`enqueue_for_delivery` runs in the transaction that marks a delivery done (beside the e-mail
outbox's), so a load and its events commit or roll back together: one event per webhook of every
library whose holdings the delivery added, updated, deleted or rejected. The event keeps a snapshot
of the library's records in the delivery; `render` builds the POST body from it and the delivery,
so every retry sends the same bytes under the same event id (only the signature's timestamp moves).
"""

from __future__ import annotations

import hashlib
import hmac
import json
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlencode

import asyncpg

from gateway.config import Settings
from gateway.store.queries import load
from protocols.oai import identifiers
from protocols.oai.repository import BIB

Q = load("webhook_queue")

EVENT_TYPE = "delivery.loaded"
HOLDING_OUTCOMES = ("added", "updated", "deleted", "rejected")
#: The metadata format of the ready links: the bib with the library's holdings embedded.
METADATA_PREFIX = "marc21_withholdings"

# Per library with a webhook: its holdings rows of the delivery with their records, as JSON text.
_INSERT = Q["insert_events"]


async def enqueue_for_delivery(conn: asyncpg.Connection, delivery_id: int) -> int:
    """Write the delivery's events (call it in the transaction that marks it done); how many."""
    if not await conn.fetchval(Q["any_webhook"]):
        return 0
    return len(await conn.fetch(_INSERT, delivery_id, EVENT_TYPE, list(HOLDING_OUTCOMES)))


@dataclass(frozen=True, slots=True)
class Links:
    """What the ready links are made of."""

    public_url: str
    repository_id: str

    @classmethod
    def from_settings(cls, settings: Settings) -> Links:
        return cls(settings.public_url.rstrip("/"), settings.repository_id)

    def oai(self, **args: str) -> str:
        return f"{self.public_url}/oai?{urlencode(args)}"

    def oai_identifier(self, record_id: int | str) -> str:
        """A record's OAI-PMH identifier (the content carries ids as text)."""
        return identifiers.make(self.repository_id, BIB, int(record_id))


def _iso(value: Any) -> str | None:
    return value.isoformat().replace("+00:00", "Z") if value is not None else None


def render(row: Any, links: Links) -> bytes:
    """The POST body of an event row (event_id, type, created_at, content, sigel, delivery_id,
    received_at, finished_at, supplier_code, supplier_name)."""
    records = []
    for r in json.loads(row["content"]):
        rid = r["record_id"]
        oai_id = links.oai_identifier(rid) if rid else None
        records.append({
            "record_id": rid,
            "oai_identifier": oai_id,
            "record_outcome": r["record_outcome"],
            "holding_id": r["holding_id"],
            "holding_outcome": r["holding_outcome"],
            "position": r["position"],
            "get_record": links.oai(verb="GetRecord", metadataPrefix=METADATA_PREFIX, identifier=oai_id)
            if oai_id else None,
        })
        if r.get("candidates"):  # an ambiguous match (events written before it was reported lack these)
            records[-1]["attached_as"] = r.get("attached_as")
            records[-1]["candidates"] = [
                {"record_id": c["record_id"], "oai_identifier": links.oai_identifier(c["record_id"]),
                 "title": c.get("title")} for c in r["candidates"]]
    received = row["received_at"]
    since = received.strftime("%Y-%m-%dT%H:%M:%SZ") if received is not None else None
    list_args = {"verb": "ListRecords", "metadataPrefix": METADATA_PREFIX, "set": f"bib:{row['sigel']}"}
    if since:
        list_args["from"] = since
    body = {
        "id": str(row["event_id"]),
        "type": row["type"],
        "created_at": _iso(row["created_at"]),
        "library": row["sigel"],
        "delivery": {
            "id": str(row["delivery_id"]) if row["delivery_id"] is not None else None,
            "received_at": _iso(received),
            "finished_at": _iso(row["finished_at"]),
            "supplier": {"code": row["supplier_code"], "name": row["supplier_name"]},
            "report": f"{links.public_url}/deliveries/{row['delivery_id']}",
        },
        "records": records,
        "links": {"list_records": links.oai(**list_args)},
    }
    return json.dumps(body, ensure_ascii=False, separators=(",", ":")).encode("utf-8")


def signature(secret: str, timestamp: str, body: bytes) -> str:
    """`sha256=<hex HMAC-SHA256 of timestamp + "." + body>` with the webhook's secret."""
    mac = hmac.new(secret.encode("utf-8"), timestamp.encode("ascii") + b"." + body, hashlib.sha256)
    return "sha256=" + mac.hexdigest()
