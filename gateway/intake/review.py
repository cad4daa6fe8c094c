"""The review queue: ambiguous matches (2+ candidate records) waiting for a cataloguer, and the
actions that settle them.

An item says: the incoming record at `position` of delivery `delivery_id` shares an identifier
with every record in `candidates`, and was attached (with its holdings) to `record_id`, the
oldest. A cataloguer settles it with one of (`resolve`):

* ``keep`` a chosen candidate: the incoming holdings stay on it, or move to it from the record
  they were attached to;
* ``merge`` into a survivor: the other candidates (or the ones named) are the same book; their
  holdings and identifiers move to the survivor and they become OAI-PMH deletions (a later
  delivery carrying their identifiers meets the survivor). A protected record is merged away only
  with ``override_protected``;
* ``separate``: not a match; a new record is made from the incoming record (read back from the
  delivery's stored payload) and its holdings move there;
* ``dismiss``: close the item, nothing changes.

Each action is one transaction that takes the loader's advisory locks on the records' identifiers
and on the records, so a delivery being loaded at the same moment waits for it and then sees the
result. It is recorded with who and when (the item's `resolution`, and `record_events`, which a
record's provenance shows: gateway.intake.provenance), and what it moves gets new datestamps, so
OAI-PMH harvesters and SRU see it at once. The moves themselves are in gateway.intake.review_moves.
"""

from __future__ import annotations

from typing import Any

import asyncpg

from gateway.errors import Conflict, Invalid, NotFound
from gateway.intake import review_moves
from gateway.intake.incoming import incoming_record
from gateway.intake.prepare import fill
from gateway.store import db
from gateway.store.queries import load

Q = load("review")

#: The actions `resolve` takes.
ACTIONS = ("keep", "merge", "separate", "dismiss")

_RETRIES = 5


def _iso(value: Any) -> str | None:
    return value.isoformat() if value is not None else None


def _item_json(r: asyncpg.Record) -> dict[str, Any]:
    return {
        "id": r["id"],
        "delivery_id": str(r["delivery_id"]),
        "position": r["position"],
        "record_id": str(r["bib_id"]),
        "candidates": [str(c) for c in r["candidates"]],
        "identifiers": list(r["identifiers"]),
        "title": r["title"],
        "outcome": r["outcome"],
        "supplier": r["supplier"],
        "reason": r["reason"],
        "created_at": _iso(r["created_at"]),
        "resolved_at": _iso(r["resolved_at"]),
        "resolved_by": r["resolved_by"],
        "resolution": r["resolution"],
    }


async def list_items(conn: asyncpg.Connection, *, include_resolved: bool = False) -> list[dict[str, Any]]:
    """The open items (with `include_resolved`, every item), oldest first."""
    return [_item_json(r) for r in await conn.fetch(Q["items"], None, include_resolved)]


async def get_item(conn: asyncpg.Connection, item_id: int, *, org_code: str = "FORVARV",
                   with_incoming: bool = True) -> dict[str, Any]:
    """One item (open or resolved), with every candidate's state and summary and, with
    `with_incoming`, the incoming record as read back from the delivery's payload
    (`incoming`: marcxml, summary, identifiers, encoding_level; None if it cannot be read)."""
    if not db.is_row_id(item_id):
        raise NotFound(f"no review item {item_id}")
    row = await conn.fetchrow(Q["items"], item_id, True)
    if row is None:
        raise NotFound(f"no review item {item_id}")
    item = _item_json(row)
    records = {r["id"]: r for r in await conn.fetch(Q["summaries"], list(row["candidates"]))}
    item["candidate_records"] = [
        {"record_id": str(c), "summary": records[c]["summary"], "encoding_level": records[c]["encoding_level"],
         "protected": records[c]["protected"], "deleted": records[c]["deleted"],
         "merged_into": str(records[c]["merged_into"]) if records[c]["merged_into"] else None,
         "attached": c == row["bib_id"]}
        for c in row["candidates"] if c in records
    ]
    if with_incoming:
        prepared = await incoming_record(conn, row["delivery_id"], row["position"], org_code)
        item["incoming"] = None if prepared is None or prepared.template is None else {
            "marcxml": fill(prepared.template, {"001": prepared.own_id or "", "005": ""}),
            "summary": prepared.described,
            "identifiers": prepared.keys,
            "encoding_level": prepared.level,
        }
    return item


def _record_arg(action: str, record_id: int | str | None) -> int | None:
    if action in ("keep", "merge"):
        if record_id is None or record_id == "":
            what = "the candidate to keep" if action == "keep" else "the surviving candidate"
            raise Invalid(f"{action} needs record_id ({what})", field="record_id")
        return _as_id(record_id, "record_id")
    if record_id is not None:
        raise Invalid(f"{action} takes no record_id", field="record_id")
    return None


def _as_id(value: object, field: str) -> int:
    if isinstance(value, bool):
        raise Invalid(f"{field} must be a record number", field=field)
    try:
        number = int(str(value).strip())
    except (TypeError, ValueError):
        raise Invalid(f"{field} must be a record number, not {str(value)[:40]!r}", field=field) from None
    if not db.is_row_id(number):
        raise Invalid(f"{field} must be a positive integer below 2^63", field=field)
    return number


async def resolve(conn: asyncpg.Connection, item_id: int, action: str = "dismiss", *,
                  record_id: int | str | None = None, records: list[int | str] | None = None,
                  actor: str = "admin", override_protected: bool = False,
                  org_code: str = "FORVARV") -> dict[str, Any]:
    """Settle an open item with `action` (see the module) in one transaction; what was done.

    `record_id`: the candidate to keep, or the survivor of a merge. `records`: for a merge, the
    candidates to merge away (default: every other candidate). Raises Invalid (400) for a bad
    action or argument, NotFound (404) for no such item or record, Conflict (409) when the item
    is already resolved, a record is not a live candidate, or a protected record would be merged
    away without `override_protected`.
    """
    if action not in ACTIONS:
        raise Invalid(f"action must be one of {', '.join(ACTIONS)}", field="action")
    target = _record_arg(action, record_id)
    if records is not None and action != "merge":
        raise Invalid("records is only for merge", field="records")
    chosen = [_as_id(r, "records") for r in records] if records is not None else None
    if not db.is_row_id(item_id):
        raise NotFound(f"no review item {item_id}")
    prepared = None
    if action == "separate":
        row = await conn.fetchrow(Q["items"], item_id, True)
        if row is None:
            raise NotFound(f"no review item {item_id}")
        prepared = await incoming_record(conn, row["delivery_id"], row["position"], org_code)
        if prepared is None or prepared.template is None:
            raise Conflict(f"the incoming record (delivery {row['delivery_id']}, position {row['position']}) "
                           "can no longer be read from the delivery's payload")
    for attempt in range(1, _RETRIES + 1):
        try:
            async with conn.transaction():
                return await _resolve(conn, item_id, action, target, chosen, actor, override_protected, prepared)
        except (asyncpg.DeadlockDetectedError, asyncpg.SerializationError):
            if attempt == _RETRIES:
                raise
    raise AssertionError("unreachable")


async def _resolve(conn: asyncpg.Connection, item_id: int, action: str, target: int | None,
                   chosen: list[int] | None, actor: str, override: bool,
                   prepared: Any) -> dict[str, Any]:
    item = await conn.fetchrow(Q["lock_item"], item_id)
    if item is None:
        raise NotFound(f"no review item {item_id}")
    if item["resolved_at"] is not None:
        raise Conflict(f"review item {item_id} is already resolved", resolved_at=_iso(item["resolved_at"]))
    candidates = list(item["candidates"])
    if target is not None and target not in candidates:
        exists = await conn.fetchval(Q["record_exists"], target)
        if not exists:
            raise NotFound(f"no bibliographic record {target}", field="record_id")
        raise Conflict(f"record {target} is not a candidate of review item {item_id} "
                       f"(candidates: {', '.join(map(str, candidates))})", field="record_id")
    moves = review_moves.Moves(conn, item, actor)
    if action == "keep":
        assert target is not None
        done = await moves.keep(target)
    elif action == "merge":
        assert target is not None
        others = chosen if chosen is not None else [c for c in candidates if c != target]
        bad = [o for o in others if o not in candidates or o == target]
        if bad or not others:
            raise Invalid("records must name other candidates of the item than the survivor"
                          + (f" (not: {', '.join(map(str, bad))})" if bad else ""), field="records")
        done = await moves.merge(target, sorted(set(others)), override)
    elif action == "separate":
        done = await moves.separate(prepared)
    else:
        done = {"action": "dismiss"}
    resolved_at = await conn.fetchval(Q["close_item"], item_id, actor, done)
    return {"id": item_id, **done, "resolved_at": _iso(resolved_at), "resolved_by": actor}
