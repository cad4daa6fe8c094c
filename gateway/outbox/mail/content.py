"""What a notification says, as a JSON snapshot taken when the delivery finishes.

The snapshot is stored with the notification and rendered when the message is sent, so every
attempt says the same thing, however the records change afterwards. A per-delivery message has
one delivery in `deliveries`; a daily digest has several.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any, NotRequired, TypedDict

#: Outcomes as the library reads them (see texts.py for the words).
CREATED = "created"  # a holding on a record this delivery created
MATCHED = "matched"  # a holding on a record that already existed
AMBIGUOUS = "ambiguous"  # a holding on the oldest of several records the title matched, pending review
HOLDINGS_UPDATED = "holdings_updated"
CANCELLED = "cancelled"  # the holding was deleted: the order was cancelled
REJECTED = "rejected"
OUTCOMES = (CREATED, MATCHED, AMBIGUOUS, HOLDINGS_UPDATED, CANCELLED, REJECTED)
#: What counts as loaded: a message whose titles have none of these says that nothing was.
LOADED = (CREATED, MATCHED, AMBIGUOUS, HOLDINGS_UPDATED, CANCELLED)

#: delivery_records.outcome values of holdings rows that are worth telling a library about.
NOTIFIED_HOLDING_OUTCOMES = ("added", "updated", "deleted", "rejected")

_MAX_TEXT = 2000  # per stored value: a runaway title must not bloat the outbox

#: Titles listed in one message (per library; a digest lists at most this many in all). The
#: counts per outcome always cover every title. 200 is more than anyone reads through in an
#: e-mail, yet a whole ordinary delivery (tens of titles) is still listed in full; it keeps a
#: message near 150 kB (plain text + HTML) and the snapshot near 100 kB, and it bounds what
#: `enqueue_for_delivery` holds in memory by 200 x libraries instead of by the delivery.
#: The titles left out are named by count, with links to fetch them all (OAI set, SRU).
MAX_TITLES = 200
#: Candidates of an ambiguous match listed under its title (the delivery report has them all).
MAX_CANDIDATES = 20


class Reason(TypedDict):
    code: str
    message: str


class Candidate(TypedDict):
    record_id: int
    title: str


class Item(TypedDict):
    position: int
    outcome: str
    title: str
    author: str
    isbn: str
    issn: str
    record_id: int | None
    reasons: list[Reason]
    candidates: NotRequired[list[Candidate]]  # AMBIGUOUS: every record it matched, oldest first
    more_candidates: NotRequired[int]  # candidates beyond MAX_CANDIDATES, not listed


class DeliveryContent(TypedDict):
    id: int
    supplier_code: str
    supplier_name: str
    received_at: str
    finished_at: str
    items: list[Item]  # the first MAX_TITLES at most, in delivery order
    counts: NotRequired[dict[str, int]]  # per outcome, over every title (not only those listed)
    omitted: NotRequired[int]  # titles counted but not listed


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


def outcome_of(holding_outcome: str, bib_outcome: str | None, ambiguous: bool = False) -> str:
    """What a library is told of a holding; `ambiguous`: its record matched several (the parent
    bibliographic row has several candidates)."""
    if holding_outcome in ("added", "updated") and ambiguous:
        return AMBIGUOUS
    if holding_outcome == "added":
        return CREATED if bib_outcome == "created" else MATCHED
    if holding_outcome == "updated":
        return HOLDINGS_UPDATED
    if holding_outcome == "deleted":
        return CANCELLED
    return REJECTED


def is_ambiguous(bib: Mapping[str, Any] | None) -> bool:
    """A parent bibliographic row (outcome, candidates) matched to several records."""
    return (bib is not None and bib["outcome"] in ("matched", "updated")
            and len(bib.get("candidates") or ()) > 1)


def item(
    holding: Mapping[str, Any], parent: Mapping[str, Any] | None, summary: Mapping[str, Any] | None,
    titles: Mapping[int, Any] | None = None,
) -> Item:
    """One title: a holdings row of delivery_records, its parent bib row (if the delivery had one)
    and the stored record's summary fields (if there is a record); `titles`: the candidates' titles
    by record id (for an ambiguous match).

    holding: position, outcome, record_id, title, identifiers, errors;
    parent: outcome, title, identifiers, errors, candidates; summary: title, author, isbn, issn.
    """
    parent_outcome = parent["outcome"] if parent is not None else None
    outcome = outcome_of(holding["outcome"], parent_outcome, is_ambiguous(parent))
    reasons: list[Reason] = []
    if outcome == REJECTED:
        reasons = _reasons(holding["errors"])
        if parent is not None and parent_outcome == "rejected":
            reasons += _reasons(parent["errors"])
    s = summary or {}
    p = parent or {}
    if outcome == AMBIGUOUS:  # the stored record is only the oldest candidate: the title as delivered
        s = {}
    out = Item(
        position=int(holding["position"]),
        outcome=outcome,
        title=_text(s.get("title") or holding["title"] or p.get("title")),
        author=_text(s.get("author")),
        isbn=_text(s.get("isbn") or _identifier("isbn", holding["identifiers"], p.get("identifiers"))),
        issn=_text(s.get("issn") or _identifier("issn", holding["identifiers"], p.get("identifiers"))),
        record_id=holding["record_id"] if holding["record_id"] is not None else p.get("record_id"),
        reasons=reasons,
    )
    if outcome == AMBIGUOUS:
        ids = [int(c) for c in p["candidates"]]
        out["candidates"] = [Candidate(record_id=c, title=_text((titles or {}).get(c))[:300])
                             for c in ids[:MAX_CANDIDATES]]
        out["more_candidates"] = max(len(ids) - MAX_CANDIDATES, 0)
    return out


def nothing_loaded(counts: Mapping[str, int]) -> bool:
    """Every title was rejected: the library's holdings were not loaded at all."""
    return sum(counts.values()) > 0 and not any(counts.get(o, 0) for o in LOADED)


def counts(items: list[Item]) -> dict[str, int]:
    found = dict.fromkeys(OUTCOMES, 0)
    for item in items:
        found[item["outcome"]] = found.get(item["outcome"], 0) + 1
    return found


def delivery_counts(d: DeliveryContent) -> dict[str, int]:
    """Per outcome, over every title of the delivery (a snapshot without `counts`: its items)."""
    stored = d.get("counts")
    if stored is None:
        return counts(d["items"])
    found = dict.fromkeys(OUTCOMES, 0)
    for outcome, n in stored.items():
        found[outcome] = found.get(outcome, 0) + int(n)
    return found


def omitted(d: DeliveryContent) -> int:
    return int(d.get("omitted", 0))


def total_counts(deliveries: list[DeliveryContent]) -> dict[str, int]:
    found = dict.fromkeys(OUTCOMES, 0)
    for d in deliveries:
        for outcome, n in delivery_counts(d).items():
            found[outcome] = found.get(outcome, 0) + n
    return found


def title_count(content: Content) -> int:
    """Every title the message is about, listed or not (notifications.item_count)."""
    return sum(total_counts(content["deliveries"]).values())


def merge(parts: list[Content], max_titles: int = MAX_TITLES) -> Content:
    """One digest from several notifications' snapshots, deliveries in order.

    Each delivery keeps its exact counts; the digest lists at most `max_titles` titles in all
    (the earliest), and each delivery's `omitted` grows by the titles it no longer lists.
    """
    deliveries = [d for part in parts for d in part["deliveries"]]
    deliveries.sort(key=lambda d: (d["finished_at"], d["id"]))
    room = max_titles
    capped: list[DeliveryContent] = []
    for d in deliveries:
        kept = d["items"][: max(room, 0)]
        room -= len(kept)
        out = DeliveryContent(**d)
        out["counts"] = delivery_counts(d)
        out["items"] = kept
        out["omitted"] = omitted(d) + len(d["items"]) - len(kept)
        capped.append(out)
    return Content(deliveries=capped)
