"""Writing a batch's bibliographic records: match each against the candidates, then bulk writes.

One query finds every candidate of the batch by its normalised identifiers (whose advisory
locks the caller's transaction already holds, gateway.intake.write_batch); gateway.intake.matching
decides in Python; new records, replacements, identifiers, supplier links and review questions are
then written with a few bulk statements (binary COPY for rows that cannot exist yet).
"""

from __future__ import annotations

import json
from datetime import UTC, datetime
from typing import Any

import asyncpg

from gateway.intake import matching
from gateway.intake.batches import BibItem
from gateway.intake.context import Context
from gateway.intake.matching import Candidate
from gateway.intake.prepare import fill
from gateway.store.queries import load

Q = load("loader")
_FAR_FUTURE = datetime.max.replace(tzinfo=UTC)
# COPY must name its columns (0002 adds generated columns); jsonb values go through the pool's
# binary json codec (gateway.store.db).
_BIB_COLUMNS = ("id", "match_class", "encoding_level", "marcxml", "summary", "supplier_id", "xml_unsafe")
_IDENT_COLUMNS = ("kind", "value", "bib_id")
#: Between the keys lock_keys and candidates take as one text (see loader.sql).
KEY_SEPARATOR = "\x1f"


class _CandidateIndex:
    """A batch's candidates by identifier (kind, value), as gateway.intake.matching reads them (`lists`),
    and the identifiers each record is listed under: a record replaced within the batch is
    updated where it appears, not by a walk over the whole batch's lists."""

    def __init__(self) -> None:
        self.lists: dict[tuple[str, str], list[Candidate]] = {}
        self._where: dict[int, list[tuple[str, str]]] = {}

    def append(self, pair: tuple[str, str], candidate: Candidate) -> None:
        self.lists.setdefault(pair, []).append(candidate)
        self._where.setdefault(candidate.id, []).append(pair)

    def extend(self, pairs: list[tuple[str, str]], candidate: Candidate) -> None:
        """`append` for each of a new record's identifiers (one call per record, not per identifier)."""
        lists, where = self.lists, self._where.setdefault(candidate.id, [])
        for pair in pairs:
            found = lists.get(pair)
            if found is None:
                lists[pair] = [candidate]
            else:
                found.append(candidate)
        where.extend(pairs)

    def add(self, pair: tuple[str, str], candidate: Candidate) -> None:
        """Append unless that record is already listed under this identifier."""
        if all(c.id != candidate.id for c in self.lists.get(pair, ())):
            self.append(pair, candidate)

    def replace(self, candidate: Candidate) -> None:
        """The record's entries, wherever it is listed, become `candidate`."""
        for pair in self._where.get(candidate.id, ()):
            entries = self.lists[pair]
            for i, c in enumerate(entries):
                if c.id == candidate.id:
                    entries[i] = candidate


async def write_bibs(conn: asyncpg.Connection, ctx: Context, bibs: list[BibItem], stamp: str) -> dict[int, BibItem]:
    """Match and write a batch's bibliographic records; returns them by position (for their holdings)."""
    live = [b for b in bibs if b.template is not None]
    keys = KEY_SEPARATOR.join(sorted({k for b in live for k in b.prepared.keys}))
    new_ids: list[int] = list(await conn.fetchval(Q["lock_keys"], keys, len(live), "bib_id_seq", column=1))
    candidates = _CandidateIndex()
    index = candidates.lists
    if keys:
        for r in await conn.fetch(Q["candidates"], keys):
            candidates.append((r["kind"], r["value"]),
                              Candidate(r["id"], r["match_class"], r["encoding_level"], r["protected"],
                                        r["created_at"]))
    new_ids.reverse()  # pop() hands them out in ascending order

    ins: list[tuple[int, str, str, str, dict[str, Any], int, bool]] = []
    upd: dict[int, tuple[int, str, str, str, str, bool]] = {}
    idents: list[tuple[str, str, int | None]] = []
    new_idents: dict[tuple[str, str, int | None], None] = {}  # ordered and without repeats
    reviews: list[tuple[int, int, str, str, str]] = []
    # the same open question once (0008): the statement's NOT EXISTS does not see its own rows, so
    # a question met twice in one batch is queued here once, as if a batch boundary fell between
    asked: set[tuple[int, frozenset[int]]] = set()
    by_position: dict[int, BibItem] = {}
    for item in live:
        prepared = item.prepared
        template = prepared.template
        assert template is not None
        by_position[prepared.position] = item
        level = prepared.level
        pairs = prepared.pairs
        # most records are new: none of their identifiers is a candidate's, nothing to decide
        found = matching.candidates(pairs, prepared.match_class, index)[1] if any(
            pair in index for pair in pairs) else []
        item.candidates = [c.id for c in found]
        if not found:
            rid = new_ids.pop()
            ins.append((rid, prepared.match_class, level, fill(template, {"001": str(rid), "005": stamp}),
                        prepared.described, ctx.supplier_id, prepared.unsafe))
            item.outcome, item.record_id = "created", rid
            candidates.extend(pairs, Candidate(rid, prepared.match_class, level, False, _FAR_FUTURE))
        else:
            target = found[0]
            item.record_id = target.id
            question = (target.id, frozenset(item.candidates))
            if len(found) > 1 and question not in asked:
                asked.add(question)
                reviews.append((item.position, target.id, ",".join(map(str, item.candidates)),
                                "\x1f".join(prepared.keys),
                                f"{len(found)} records share an identifier; attached to the oldest"))
            if matching.may_replace(level, target):
                upd[target.id] = (target.id, prepared.match_class, level,
                                  fill(template, {"001": str(target.id), "005": stamp}),
                                  json.dumps(prepared.described), prepared.unsafe)
                item.outcome = "updated"
                replaced = Candidate(target.id, target.match_class, level, False, target.created_at)
                candidates.replace(replaced)
                for pair in prepared.pairs:
                    candidates.add(pair, replaced)
            else:
                item.outcome = "matched"
                for pair in prepared.pairs:
                    candidates.add(pair, target)
        if item.outcome == "created":  # a new id: nothing can be there yet, COPY them
            new_idents.update(dict.fromkeys((k, v, item.record_id) for k, v in prepared.pairs))
        else:
            idents.extend((k, v, item.record_id) for k, v in prepared.pairs)

    if ins:
        await conn.copy_records_to_table("bib_records", records=ins, columns=_BIB_COLUMNS)
    if upd:
        cols = list(zip(*upd.values(), strict=True))
        await conn.execute(Q["replace_bibs"], *[list(c) for c in cols])
        await conn.execute(Q["touch_holdings_of"], list(upd))
    if new_idents:
        await conn.copy_records_to_table("bib_identifiers", records=list(new_idents), columns=_IDENT_COLUMNS)
    if idents:
        k, v, b = zip(*idents, strict=True)
        await conn.execute(Q["insert_identifiers"], list(k), list(v), list(b))
    created = [(b.record_id, ctx.supplier_id) for b in live if b.outcome == "created"]
    if created:
        await conn.copy_records_to_table("bib_suppliers", records=created, columns=("bib_id", "supplier_id"))
    touched = [b.record_id for b in live if b.record_id is not None and b.outcome != "created"]
    if touched:
        await conn.execute(Q["upsert_bib_suppliers"], touched, ctx.supplier_id)
    if reviews:
        cols = list(zip(*reviews, strict=True))
        await conn.execute(Q["insert_review_items"], ctx.delivery_id, *[list(c) for c in cols])

    return by_position
