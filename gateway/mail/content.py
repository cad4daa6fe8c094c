"""What a notification says, as a JSON snapshot taken when the delivery finishes.

The snapshot is stored with the notification and rendered when the message is sent, so every
attempt says the same thing, however the records change afterwards. A per-delivery message has
one delivery in `deliveries`; a daily digest has several.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any, TypedDict

#: Outcomes as the library reads them (see texts.py for the words).
CREATED = "created"  # a holding on a record this delivery created
MATCHED = "matched"  # a holding on a record that already existed
HOLDINGS_UPDATED = "holdings_updated"
CANCELLED = "cancelled"  # the holding was deleted: the order was cancelled
REJECTED = "rejected"
OUTCOMES = (CREATED, MATCHED, HOLDINGS_UPDATED, CANCELLED, REJECTED)

#: delivery_records.outcome values of holdings rows that are worth telling a library about.
NOTIFIED_HOLDING_OUTCOMES = ("added", "updated", "deleted", "rejected")

_MAX_TEXT = 2000  # per stored value: a runaway title must not bloat the outbox


class Reason(TypedDict):
    code: str
    message: str


class Item(TypedDict):
    position: int
    outcome: str
    title: str
    author: str
    isbn: str
    issn: str
    record_id: int | None
    reasons: list[Reason]


class DeliveryContent(TypedDict):
    id: int
    supplier_code: str
    supplier_name: str
    received_at: str
    finished_at: str
    items: list[Item]


class Content(TypedDict):
    deliveries: list[DeliveryContent]


def _json(value: Any) -> Any:
    """A jsonb value read either as text (no codec on the connection) or already decoded."""
    if isinstance(value, str):
        return json.loads(value)
    return value


def _text(value: Any) -> str:
    return "" if value is None else str(value)[:_MAX_TEXT]


def _reasons(errors: Any) -> list[Reason]:
    out: list[Reason] = []
    for e in _json(errors) or []:
        if isinstance(e, Mapping):
            out.append(Reason(code=_text(e.get("code")), message=_text(e.get("message"))))
        else:
            out.append(Reason(code="", message=_text(e)))
    return out


def _identifier(kind: str, *lists: Any) -> str:
    prefix = kind + ":"
    for values in lists:
        for v in values or ():
            if isinstance(v, str) and v.startswith(prefix):
                return v[len(prefix) :]
    return ""


def outcome_of(holding_outcome: str, bib_outcome: str | None) -> str:
    if holding_outcome == "added":
        return CREATED if bib_outcome == "created" else MATCHED
    if holding_outcome == "updated":
        return HOLDINGS_UPDATED
    if holding_outcome == "deleted":
        return CANCELLED
    return REJECTED


def item(
    holding: Mapping[str, Any], parent: Mapping[str, Any] | None, summary: Mapping[str, Any] | None
) -> Item:
    """One title: a holdings row of delivery_records, its parent bib row (if the delivery had one)
    and the stored record's summary fields (if there is a record).

    holding: position, outcome, record_id, title, identifiers, errors;
    parent: outcome, title, identifiers, errors; summary: title, author, isbn, issn.
    """
    parent_outcome = parent["outcome"] if parent is not None else None
    outcome = outcome_of(holding["outcome"], parent_outcome)
    reasons: list[Reason] = []
    if outcome == REJECTED:
        reasons = _reasons(holding["errors"])
        if parent is not None and parent_outcome == "rejected":
            reasons += _reasons(parent["errors"])
    s = summary or {}
    p = parent or {}
    return Item(
        position=int(holding["position"]),
        outcome=outcome,
        title=_text(s.get("title") or holding["title"] or p.get("title")),
        author=_text(s.get("author")),
        isbn=_text(s.get("isbn") or _identifier("isbn", holding["identifiers"], p.get("identifiers"))),
        issn=_text(s.get("issn") or _identifier("issn", holding["identifiers"], p.get("identifiers"))),
        record_id=holding["record_id"] if holding["record_id"] is not None else p.get("record_id"),
        reasons=reasons,
    )


def counts(items: list[Item]) -> dict[str, int]:
    found = dict.fromkeys(OUTCOMES, 0)
    for item in items:
        found[item["outcome"]] = found.get(item["outcome"], 0) + 1
    return found


def merge(parts: list[Content]) -> Content:
    """One digest from several notifications' snapshots, deliveries in order."""
    deliveries = [d for part in parts for d in part["deliveries"]]
    deliveries.sort(key=lambda d: (d["finished_at"], d["id"]))
    return Content(deliveries=deliveries)
