"""The outbox table: writing notifications with a load, building digests, listing and resending.

`enqueue_for_delivery` is called by the loader INSIDE the transaction that marks a delivery done,
so a load and its notifications commit (or roll back) together. The sender (sender.py) takes rows
from here; nothing in this module talks to a mail server.

Values cross the connection as JSON text (`::text::jsonb` in, `::text` out), so these functions
work on any asyncpg connection, whether or not it has the pool's jsonb codec.
"""

from __future__ import annotations

import enum
import json
from collections import defaultdict
from collections.abc import Sequence
from datetime import UTC, datetime
from typing import Any

import asyncpg

from gateway.outbox.mail import content as c
from gateway.outbox.mail.render import Library, Outgoing
from gateway.store.queries import load

Q = load("outbox")

#: Statuses a row can have (schemas/migrations/0004_outbox.sql; `spooled`: 0012, written to the
#: spool folder because no SMTP host is configured).
STATUSES = ("held", "digested", "skipped", "pending", "sending", "sent", "spooled", "failed")
#: The day boundary of daily digests.
DIGEST_TIME_ZONE = "Europe/Stockholm"
_DIGEST_LOCK = 0x466F726D  # "Form": one digest builder at a time across processes
NO_ADDRESS = "the library has no contact address"

_DELIVERY = Q["delivery"]

# Holdings rows of the delivery for known libraries, with an outcome worth telling about, counted
# per library and outcome (the parent's outcome tells created from matched): exact for the whole
# delivery, a handful of rows however large it is.
_COUNTS = Q["delivery_counts"]

# The same rows, the first $3 per library, in delivery order (narrow: titles and identifiers come from
# the parent bib rows and the stored records, fetched once each). Memory: $3 x libraries rows.
_HOLDINGS = Q["delivery_holdings"]

_PARENTS = Q["delivery_parents"]

_SUMMARIES = Q["delivery_summaries"]

# A library without an address: 'skipped'; a digest library: 'held'; else due now.
_INSERT = Q["insert_notification"]


async def enqueue_for_delivery(conn: asyncpg.Connection, delivery_id: int) -> int:
    """Write one notification per library whose holdings this delivery added, updated, deleted
    or rejected; return how many were written.

    Call it inside the transaction that marks the delivery done. Holdings rows without a sigel,
    or with a sigel that is not a known library, have no one to tell and are left out (the
    delivery report lists them); a known library that is unregistered or not the supplier's
    customer is told that its holdings were rejected. Libraries with `digest` get a 'held' row that the next daily
    digest carries; libraries without an address get a 'skipped' row (resend once they have one).
    Calling it twice for a delivery writes nothing the second time.

    Each message lists the first `content.MAX_TITLES` titles of its library and counts every
    title per outcome (in SQL), so memory stays bounded by MAX_TITLES x libraries however large
    the delivery; `item_count` is every title, listed or not.
    """
    delivery = await conn.fetchrow(_DELIVERY, delivery_id)
    if delivery is None:
        raise LookupError(f"no delivery {delivery_id}")
    outcomes = list(c.NOTIFIED_HOLDING_OUTCOMES)
    counts: dict[str, dict[str, int]] = {}
    for row in await conn.fetch(_COUNTS, delivery_id, outcomes):
        found = counts.setdefault(row["sigel"], dict.fromkeys(c.OUTCOMES, 0))
        ambiguous = row["parent_ambiguous"] and row["parent_outcome"] in ("matched", "updated")
        found[c.outcome_of(row["outcome"], row["parent_outcome"], ambiguous)] += int(row["n"])
    if not counts:
        return 0
    holdings = await conn.fetch(_HOLDINGS, delivery_id, outcomes, c.MAX_TITLES)
    wanted = sorted({h["parent_position"] for h in holdings if h["parent_position"] is not None})
    parents = {p["position"]: p for p in await conn.fetch(_PARENTS, delivery_id, wanted)}
    record_ids = {h["record_id"] for h in holdings} | {p["record_id"] for p in parents.values()}
    record_ids |= {cand for p in parents.values() if c.is_ambiguous(p) for cand in p["candidates"][:c.MAX_CANDIDATES]}
    record_ids.discard(None)
    summaries = {s["id"]: s for s in await conn.fetch(_SUMMARIES, sorted(record_ids))}
    titles = {rid: s["title"] for rid, s in summaries.items()}
    by_library: dict[str, list[c.Item]] = defaultdict(list)
    for h in holdings:
        parent = parents.get(h["parent_position"])
        rid = h["record_id"] if h["record_id"] is not None else (parent["record_id"] if parent else None)
        by_library[h["sigel"]].append(c.item(h, parent, summaries.get(rid), titles))
    sigels, contents, totals = [], [], []
    for sigel, found in counts.items():
        items = by_library[sigel]
        total = sum(found.values())
        snapshot = c.Content(
            deliveries=[
                c.DeliveryContent(
                    id=int(delivery["id"]),
                    supplier_code=delivery["code"],
                    supplier_name=delivery["name"],
                    received_at=delivery["received_at"].isoformat(),
                    finished_at=delivery["finished_at"].isoformat(),
                    items=items,
                    counts=found,
                    omitted=total - len(items),
                )
            ]
        )
        sigels.append(sigel)
        contents.append(json.dumps(snapshot, ensure_ascii=False))
        totals.append(total)
    inserted = await conn.fetch(_INSERT, delivery_id, sigels, contents, totals, NO_ADDRESS)
    return len(inserted)


# --- daily digests -----------------------------------------------------------------------------
# Per library in the order of content.merge (finished_at, delivery id), so that a digest can be
# capped as its parts stream in.
_HELD = Q["held_for_digest"]
_HELD_PREFETCH = 16  # held rows read at a time

_INSERT_DIGEST = Q["insert_digest"]

_MARK_DIGESTED = Q["mark_digested"]


async def build_digests(conn: asyncpg.Connection, *, now: datetime | None = None) -> int:
    """Combine each library's held notifications from earlier days into one digest; return how
    many digests were written. Safe to call from several processes at once (one builds).

    Held rows are read a few at a time and each is cut to the titles the digest still has room
    for (content.MAX_TITLES in all) as it arrives, so memory stays bounded by the cap, however
    many deliveries a library had that day.
    """
    written = 0
    async with conn.transaction():
        if not await conn.fetchval(Q["try_digest_lock"], _DIGEST_LOCK):
            return 0
        sigel: str | None = None
        parts: list[c.Content] = []
        ids: list[int] = []
        room = c.MAX_TITLES
        async for row in conn.cursor(_HELD, now, DIGEST_TIME_ZONE, prefetch=_HELD_PREFETCH):
            if row["sigel"] != sigel:
                if sigel is not None:
                    written += await _write_digest(conn, sigel, parts, ids)
                sigel, parts, ids, room = row["sigel"], [], [], c.MAX_TITLES
            part = c.merge([json.loads(row["content"])], max_titles=room)
            room -= sum(len(d["items"]) for d in part["deliveries"])
            parts.append(part)
            ids.append(int(row["id"]))
        if sigel is not None:
            written += await _write_digest(conn, sigel, parts, ids)
    return written


async def _write_digest(conn: asyncpg.Connection, sigel: str, parts: list[c.Content], ids: list[int]) -> int:
    merged = c.merge(parts)
    text = json.dumps(merged, ensure_ascii=False)
    digest_id = await conn.fetchval(_INSERT_DIGEST, sigel, text, c.title_count(merged), NO_ADDRESS)
    await conn.execute(_MARK_DIGESTED, ids, digest_id)
    return 1


# --- listing and resending ---------------------------------------------------------------------
_LIST = Q["list_notifications"]

_GET = Q["get_notification"]

_RESEND = Q["resend_notification"]


class ResendResult(enum.Enum):
    QUEUED = "queued"
    NOT_FOUND = "not_found"
    IN_FLIGHT = "in_flight"  # a sender holds it right now


def check_statuses(statuses: Sequence[str]) -> list[str]:
    bad = [s for s in statuses if s not in STATUSES]
    if bad:
        raise ValueError(f"unknown status {', '.join(bad)}; known: {', '.join(STATUSES)}")
    return list(statuses)


async def list_notifications(
    conn: asyncpg.Connection,
    *,
    statuses: Sequence[str] | None = None,
    sigel: str | None = None,
    before_id: int | None = None,
    limit: int = 100,
) -> list[dict[str, Any]]:
    """Newest first; `before_id` pages on."""
    wanted = check_statuses(statuses) if statuses else None
    rows = await conn.fetch(_LIST, wanted, sigel, before_id, limit)
    return [dict(r) for r in rows]


async def get(conn: asyncpg.Connection, notification_id: int) -> dict[str, Any] | None:
    row = await conn.fetchrow(_GET, notification_id)
    if row is None:
        return None
    out = dict(row)
    out["content"] = json.loads(out.pop("content_json"))
    return out


async def resend(conn: asyncpg.Connection, notification_id: int) -> ResendResult:
    """Send again as soon as a sender is free.

    Something already attempted (sent or failed) goes out under a new Message-ID that refers to
    the original; a held or digested one goes out on its own; a pending one is tried now.
    """
    if await conn.fetchval(_RESEND, notification_id) is not None:
        return ResendResult.QUEUED
    exists = await conn.fetchval(Q["notification_exists"], notification_id)
    return ResendResult.IN_FLIGHT if exists else ResendResult.NOT_FOUND


def jsonable(row: dict[str, Any]) -> dict[str, Any]:
    """A listing row with datetimes as ISO strings."""
    return {k: (v.isoformat() if isinstance(v, datetime) else v) for k, v in row.items()}


_OUTGOING = Q["outgoing"]


def to_outgoing(row: Any) -> Outgoing:
    """A row with id, kind, created_at, resends, content (JSON text), sigel, name, language, emails.

    The Date of a first message is when the notification was written (every retry says the same);
    a resend someone asked for is dated when it goes out, so it shows up as new in the inbox.
    """
    return Outgoing(
        id=row["id"],
        kind=row["kind"],
        date=row["created_at"] if row["resends"] == 0 else datetime.now(UTC),
        resends=row["resends"],
        content=json.loads(row["content"]),
        library=Library(
            sigel=row["sigel"], name=row["name"], language=row["language"], emails=tuple(row["emails"])
        ),
    )


async def load_outgoing(conn: asyncpg.Connection, notification_id: int) -> Outgoing | None:
    """A notification as the sender would render it now (for previews)."""
    row = await conn.fetchrow(_OUTGOING, notification_id)
    return None if row is None else to_outgoing(row)
