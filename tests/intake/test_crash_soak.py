"""Crash soak: deliveries loaded by real worker processes that are SIGKILLed at random moments.

Each round receives a delivery of a few thousand records (new books, books of earlier rounds
with their holdings added to, redelivered and cancelled, ambiguous matches, rejected records,
holdings naming their record by 004, also one of an earlier delivery), starts a worker process
(`tests.intake.procs worker`, which prepares large deliveries in the second process as
`forvarv serve` does), kills it (or its second process) at a random moment and lets a new
worker finish. Each round uses the next of the kill points below, in a seeded random order.
Every round's report is compared with what a model of the matching rules expects, record by
record; then the whole database is checked: no record lost, none loaded twice, nothing left
behind (locks, `processing` rows, processes).

Replay a failure with FORVARV_SOAK_SEED=<seed from the message>; `pytest -s` prints the seed
and where each kill landed.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import random
import secrets
import signal
import sys
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, BinaryIO

import asyncpg
import pytest

from gateway.demo import synthetic
from gateway.intake import loader, report
from gateway.intake.parse_process import WATCH_SECONDS
from tests.intake.helpers import seed_registry
from tests.intake.marcxml import bib, collection, holding
from tests.intake.test_concurrency_and_crash import PROJECT, _receive

#: Rounds (one delivery each) and bibliographic records per delivery (~2.3 records each, with holdings).
ROUNDS = 14
BIBS_PER_DELIVERY = 1000
#: Records per loader transaction, one of these per round.
BATCH_SIZES = (50, 150, 500)

#: Where the first worker of a round is killed (or its second process, for the child_* ones).
KILL_POINTS = (
    "second_process_starting",  # the worker, within 0.4 s of its second process appearing
    "just_claimed",             # the worker, within 0.3 s of claiming the delivery
    "mid_delivery",             # the worker, once a random 2-90 % of the records are written
    "near_end",                 # the worker, 0-0.15 s after 75-97 % of the records are written
    "all_written",              # the worker, once every record's result is written (finishing or done)
    "child_mid_delivery",       # the second process, at a random 2-30 %; the worker carries on
    "child_starting",           # the second process, as soon as it appears; the worker carries on
)
#: Chance that the worker started after the first kill is killed as well, mid-delivery.
SECOND_KILL = 0.3

REGISTERED = ("Sods", "Nyks", "Li", "G")
#: sigels whose holdings are rejected, with the code (tests.intake.helpers.seed_registry)
BAD_LIBRARIES = {"Other": "HOLDING_NOT_CUSTOMER", "Unreg": "HOLDING_LIBRARY_UNREGISTERED",
                 "Nope": "HOLDING_UNKNOWN_LIBRARY"}
TAG_VAR = "FORVARV_SOAK_TAG"
TIMEOUT = 90.0


# --- what the deliveries should do ----------------------------------------------------------------
Row = tuple[int, str, str, Any, str | None, tuple[str, ...]]  # position, kind, outcome, record, sigel, codes


@dataclass
class Model:
    """The matching rules for these deliveries (print books at level 8, matched on ISBN only)."""

    entities: int = 0
    isbn: dict[str, set[int]] = field(default_factory=dict)       # isbn -> records (entity numbers)
    own: dict[str, set[int]] = field(default_factory=dict)        # supplier's 001 -> records
    holdings: dict[tuple[int, str], bool] = field(default_factory=dict)  # (record, sigel) -> deleted
    serials: list[int] = field(default_factory=list)               # serials of books loaded so far
    questions: set[tuple[int, frozenset[int]]] = field(default_factory=set)  # open review items
    next_serial: int = 1

    def bib(self, isbns: list[str], own_id: str) -> tuple[str, int, int, bool]:
        """(outcome, record, candidates, queued for review)"""
        found = sorted({e for i in isbns for e in self.isbn.get(i, ())})
        if found:
            target, outcome = found[0], "updated"  # an incoming 8 replaces an 8
        else:
            target, outcome = self.entities, "created"
            self.entities += 1
        for i in isbns:
            self.isbn.setdefault(i, set()).add(target)
        self.own.setdefault(own_id, set()).add(target)
        return outcome, target, len(found), len(found) > 1 and self.ask(target, found)

    def ask(self, target: int, found: list[int]) -> bool:
        """An ambiguous match is queued for review unless the same question is open (0008)."""
        question = (target, frozenset(found))
        if question in self.questions:
            return False
        self.questions.add(question)
        return True

    def holding(self, record: int | None, sigel: str, delete: bool) -> tuple[str, tuple[str, ...]]:
        if record is None:
            return "rejected", ("HOLDING_PARENT_REJECTED",)
        if sigel in BAD_LIBRARIES:
            return "rejected", (BAD_LIBRARIES[sigel],)
        deleted = self.holdings.get((record, sigel))
        if deleted is None or deleted:
            if delete:
                return "rejected", ("HOLDING_DELETE_NOT_FOUND",)
            self.holdings[(record, sigel)] = False
            return "added", ()
        self.holdings[(record, sigel)] = delete
        return ("deleted" if delete else "updated"), ()


@dataclass
class Delivery:
    body: bytes
    expected: list[Row]
    ambiguous: set[int]      # positions of ambiguous matches
    reviewed: set[int]       # those queued for review (the same question is queued once)
    created: dict[int, int]  # position -> entity created there


def _isbn(serial: int) -> str:
    return synthetic.isbn13(serial)


def _extra(rng: random.Random) -> str:
    """A summary and subjects: records of a realistic size (~1.5 KB), so the second process's
    slices of the payload, and with them the loader's batches, hold about as many records as with
    real files (a batch is at least `batch_size` records, and what the last slice brought)."""
    words = " ".join(rng.choice(synthetic._WORDS) for _ in range(rng.randint(60, 120)))
    subjects = "".join(f'<datafield tag="650" ind1=" " ind2="7"><subfield code="a">{s}</subfield>'
                       '<subfield code="2">sao</subfield></datafield>'
                       for s in rng.sample(synthetic._SUBJECTS, 3))
    return f'<datafield tag="520" ind1=" " ind2=" "><subfield code="a">{words}.</subfield></datafield>{subjects}'


def build_delivery(model: Model, rnd: int, rng: random.Random) -> Delivery:
    """A delivery for round `rnd`, and (applying it to `model`) what loading it must give."""
    first_new = model.next_serial
    # (kind, data): bibs are (own_id, isbns, valid, [(sigel, delete)]), 004 holdings (ref, sigel)
    earlier = list(model.serials)
    redelivered = rng.sample(earlier, min(len(earlier), int(BIBS_PER_DELIVERY * 0.35)))
    n_new = BIBS_PER_DELIVERY - len(redelivered) - 8
    new = list(range(first_new, first_new + n_new))
    bibs: list[tuple[str, list[str], bool, list[tuple[str, bool]]]] = []
    for s in new:
        sigels = rng.sample(REGISTERED, rng.choice((0, 1, 1, 1, 2, 2, 3)))
        if rng.random() < 0.02:
            sigels.append(rng.choice(sorted(BAD_LIBRARIES)))
        bibs.append((f"S{s}", [_isbn(s)], True, [(g, False) for g in sigels]))
    for s in redelivered:
        sigels = rng.sample(REGISTERED, rng.choice((1, 1, 2, 3)))
        bibs.append((f"S{s}", [_isbn(s)], True, [(g, rng.random() < 0.2) for g in sigels]))
    # two books of earlier rounds in one record: an ambiguous match, queued for review
    for k in range(3 if len(earlier) >= 2 else 0):
        a, b = rng.sample(earlier, 2)
        bibs.append((f"A{rnd}-{k}", [_isbn(a), _isbn(b)], True, [(rng.choice(REGISTERED), False)]))
    # rejected records (no 245): their holdings are rejected too; fresh serials past the new ones
    for k in range(5):
        bibs.append((f"R{rnd}-{k}", [_isbn(first_new + n_new + k)], False, [("Sods", False)]))
    rng.shuffle(bibs)
    # holdings that name their record by 004, ahead of every bibliographic record: a record later
    # in this delivery, one delivered earlier (and not in this delivery), and one never delivered
    in_this = [b[0] for b in bibs if b[2]]
    refs = [(rng.choice(in_this), rng.choice(REGISTERED)) for _ in range(4)]
    here = {b[0] for b in bibs}
    before = [s for s in earlier if f"S{s}" not in here]
    refs += [(f"S{s}", rng.choice(REGISTERED)) for s in rng.sample(before, min(len(before), 3))]
    refs.append((f"NONE{rnd}", "Sods"))

    texts: list[str] = []
    expected: list[Row] = []
    ambiguous: set[int] = set()
    reviewed: set[int] = set()
    created: dict[int, int] = {}
    pos = 0
    forward: list[tuple[int, str, str]] = []
    for ref, sigel in refs:
        pos += 1
        texts.append(holding(sigel, parent=ref))
        forward.append((pos, ref, sigel))
    by_own: dict[str, int | None] = {}  # 001 -> record (None: rejected) of this delivery's bibs
    for own_id, isbns, valid, hold in bibs:
        pos += 1
        texts.append(bib(own_id=own_id, org="BOKR", isbn=isbns, title="Boken" if valid else None,
                         extra=_extra(rng)))
        record: int | None = None
        if valid:
            outcome, record, candidates, queued = model.bib(isbns, own_id)
            if candidates > 1:
                ambiguous.add(pos)
            if queued:
                reviewed.add(pos)
            if outcome == "created":
                created[pos] = record
            expected.append((pos, "bib", outcome, record, None, ()))
        else:
            expected.append((pos, "bib", "rejected", None, None, ("MISSING_245",)))
        by_own.setdefault(own_id, record)
        for sigel, delete in hold:
            pos += 1
            texts.append(holding(sigel, status="d" if delete else "n"))
            outcome, codes = model.holding(record, sigel, delete)
            expected.append((pos, "holding", outcome, record, sigel, codes))
    # 004s are resolved at the end of the delivery, in file order
    for p, ref, sigel in forward:
        if ref in by_own:
            record = by_own[ref]
        else:
            known = model.own.get(ref)
            if not known:
                expected.append((p, "holding", "rejected", None, sigel, ("HOLDING_UNKNOWN_PARENT",)))
                continue
            record = min(known)
        outcome, codes = model.holding(record, sigel, False)
        expected.append((p, "holding", outcome, record, sigel, codes))
    model.serials.extend(new)
    model.next_serial = first_new + n_new + 5
    expected.sort()
    return Delivery(collection(*texts), expected, ambiguous, reviewed, created)


# --- processes ------------------------------------------------------------------------------------
def _tagged(tag: str) -> dict[int, tuple[int, str, str]]:
    """Live processes started by this test (they inherit its tag): pid -> (ppid, state, cmdline)."""
    found: dict[int, tuple[int, str, str]] = {}
    needle = f"{TAG_VAR}={tag}".encode()
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            with open(f"/proc/{entry}/environ", "rb") as f:
                if needle not in f.read().split(b"\0"):
                    continue
            with open(f"/proc/{entry}/stat") as f:
                stat = f.read()
            with open(f"/proc/{entry}/cmdline", "rb") as f:
                cmdline = f.read().replace(b"\0", b" ").decode(errors="replace").strip()
        except OSError:
            continue
        state, ppid = stat.rsplit(")", 1)[1].split()[:2]
        if state not in ("Z", "X"):
            found[int(entry)] = (int(ppid), state, cmdline)
    return found


def _log_file(path: Path) -> BinaryIO:
    return open(path, "wb")


def _tail(path: Path) -> str:
    return path.read_text(errors="replace")[-3000:]


def _second_process(tag: str, worker: int) -> int | None:
    for pid, (ppid, _, cmdline) in _tagged(tag).items():
        if ppid == worker and "multiprocessing" in cmdline and "resource_tracker" not in cmdline:
            return pid
    return None


class Soak:
    def __init__(self, pool: asyncpg.Pool, db_url: str, seed: int, logs: Path, tag: str) -> None:
        self.pool = pool
        self.db_url = db_url
        self.seed = seed
        self.logs = logs
        self.tag = tag
        self.spawned = 0
        self.notes: list[str] = []

    def fail(self, what: str) -> str:
        return f"{what} (seed {self.seed}; replay with FORVARV_SOAK_SEED={self.seed}; {'; '.join(self.notes[-3:])})"

    async def worker(self, batch_size: int) -> tuple[asyncio.subprocess.Process, Path]:
        self.spawned += 1
        log = self.logs / f"worker-{self.spawned}.log"
        with _log_file(log) as out:
            proc = await asyncio.create_subprocess_exec(
                sys.executable, "-m", "tests.intake.procs", "worker", self.db_url, str(batch_size),
                cwd=PROJECT, stdout=out, stderr=out, env={**os.environ, TAG_VAR: self.tag},
            )
        return proc, log

    async def state(self, delivery_id: int) -> tuple[str, int, int]:
        async with self.pool.acquire() as conn:
            row = await conn.fetchrow(
                "SELECT status, attempts, (SELECT count(*) FROM delivery_records WHERE delivery_id = $1) AS n "
                "FROM deliveries WHERE id = $1", delivery_id)
        return row["status"], row["attempts"], row["n"]

    async def until(self, proc: asyncio.subprocess.Process, log: Path, delivery_id: int,
                    cond: Callable[[str, int, int], bool], what: str) -> bool:
        """Wait for `cond(status, attempts, written)`; False if the delivery got done first."""
        deadline = time.monotonic() + TIMEOUT
        while True:
            status, attempts, written = await self.state(delivery_id)
            if cond(status, attempts, written):
                return True
            if status != "processing" and status != "received":
                assert status == "done", self.fail(f"delivery {delivery_id} is {status}")
                return False
            assert proc.returncode is None, self.fail(
                f"worker exited ({proc.returncode}) while waiting for {what}: {_tail(log)}")
            if time.monotonic() > deadline:
                raise AssertionError(self.fail(f"timed out waiting for {what}: {status}, attempt {attempts}, "
                                               f"{written} written; {await self.diagnosis()}; "
                                               f"worker {proc.pid}: {_tail(log)}"))
            await asyncio.sleep(0.01)

    async def diagnosis(self) -> str:
        async with self.pool.acquire() as conn:
            locks = await conn.fetch(
                "SELECT l.pid, l.objid, l.objsubid, l.granted FROM pg_locks l JOIN pg_database d "
                "ON d.oid = l.database WHERE l.locktype = 'advisory' AND d.datname = current_database()")
            sessions = await conn.fetch(
                "SELECT pid, state, wait_event_type, wait_event, left(query, 60) AS query, client_port "
                "FROM pg_stat_activity WHERE datname = current_database() AND pid <> pg_backend_pid()")
        return (f"advisory locks {[tuple(r) for r in locks]}; sessions {[tuple(r) for r in sessions]}; "
                f"processes {_tagged(self.tag)}")

    async def landed(self, delivery_id: int, total: int) -> None:
        status, attempts, written = await self.state(delivery_id)
        self.notes[-1] += f"; killed at {written}/{total} written, {status}, attempt {attempts}"

    async def kill(self, proc: asyncio.subprocess.Process) -> None:
        if proc.returncode is None:
            proc.send_signal(signal.SIGKILL)
        await proc.wait()

    async def run_round(self, rnd: int, rng: random.Random, delivery: Delivery, point: str) -> int:
        total = len(delivery.expected)
        batch = rng.choice(BATCH_SIZES)
        delivery_id = await _receive(self.pool, "BOKR", delivery.body)
        self.notes.append(f"round {rnd}: delivery {delivery_id}, {total} records, batch {batch}, {point}")
        _, attempts0, _ = await self.state(delivery_id)
        proc, log = await self.worker(batch)
        try:
            if point == "second_process_starting":
                await self.until(proc, log, delivery_id,
                                 lambda s, a, w: _second_process(self.tag, proc.pid) is not None,
                                 "the second process")
                await asyncio.sleep(rng.uniform(0, 0.4))
            elif point == "just_claimed":
                await self.until(proc, log, delivery_id, lambda s, a, w: a > attempts0, "the claim")
                await asyncio.sleep(rng.uniform(0, 0.3))
            elif point in ("mid_delivery", "near_end", "all_written"):
                frac = {"mid_delivery": rng.uniform(0.02, 0.9), "near_end": rng.uniform(0.75, 0.97),
                        "all_written": 1.0}[point]
                goal = max(1, int(total * frac))
                if await self.until(proc, log, delivery_id, lambda s, a, w: w >= goal, f"{goal} records"):
                    # anywhere in the next batch (a batch is one slice of the payload, ~300 records
                    # here, when the second process prepares them); near the end, in the last ones
                    await asyncio.sleep(rng.uniform(0, 0.15 if point == "near_end" else 0.05))
            else:  # the second process is killed, the worker resumes the delivery itself
                # the second process works ahead of the loader, so it is done well before the end
                goal = max(1, int(total * rng.uniform(0.02, 0.3))) if point == "child_mid_delivery" else 0
                target: list[int] = []

                def ready(status: str, attempts: int, written: int) -> bool:
                    if written < goal:
                        return False
                    pid = _second_process(self.tag, proc.pid)
                    if pid is not None:
                        target.append(pid)
                    return pid is not None

                if await self.until(proc, log, delivery_id, ready, "the second process"):
                    os.kill(target[-1], signal.SIGKILL)
                    await self.landed(delivery_id, total)
                await self.until(proc, log, delivery_id, lambda s, a, w: s == "done", "the delivery")
                return delivery_id
        finally:
            await self.kill(proc)
            await self.landed(delivery_id, total)
        if rng.random() < SECOND_KILL:  # the next worker dies too, mid-way through the rest
            status, _, written = await self.state(delivery_id)
            if status != "done" and written < total:
                goal = written + max(1, int((total - written) * rng.uniform(0.05, 0.9)))
                self.notes[-1] += f", second kill at {goal}"
                proc, log = await self.worker(batch)
                try:
                    if await self.until(proc, log, delivery_id, lambda s, a, w: w >= goal, f"{goal} records"):
                        await asyncio.sleep(rng.uniform(0, 0.05))
                finally:
                    await self.kill(proc)
                    await self.landed(delivery_id, total)
        proc, log = await self.worker(batch)
        try:
            await self.until(proc, log, delivery_id, lambda s, a, w: s == "done", "the delivery")
        finally:
            await self.kill(proc)
        return delivery_id


@pytest.fixture
def soak_tag() -> Iterator[str]:
    """The tag of the test's processes; what a failed test leaves running is killed."""
    tag = secrets.token_hex(8)
    yield tag
    for pid in _tagged(tag):
        with contextlib.suppress(OSError):
            os.kill(pid, signal.SIGKILL)


class OrphanProcesses(AssertionError):
    """A process of a killed worker (its second process) is still running."""


async def _no_leftovers(soak: Soak) -> None:
    """No advisory lock, no `processing` delivery, no process of the killed workers left."""
    deadline = time.monotonic() + 10 * WATCH_SECONDS  # a second process looks every WATCH_SECONDS
    while True:
        async with soak.pool.acquire() as conn:
            locks = await conn.fetch(
                "SELECT l.classid, l.objid, l.objsubid, l.pid FROM pg_locks l JOIN pg_database d "
                "ON d.oid = l.database WHERE l.locktype = 'advisory' AND d.datname = current_database()")
            pending = await conn.fetch("SELECT id, status FROM deliveries WHERE status <> 'done'")
        left = _tagged(soak.tag)
        if not locks and not pending and not left:
            return
        if time.monotonic() > deadline:
            break
        await asyncio.sleep(0.2)
    assert not pending, soak.fail(f"deliveries not done: {[tuple(r) for r in pending]}")
    assert not locks, soak.fail(f"advisory locks left behind: {[tuple(r) for r in locks]}")
    for pid in left:  # the test's: they would outlive it
        with contextlib.suppress(OSError):
            os.kill(pid, signal.SIGKILL)
    raise OrphanProcesses(soak.fail(
        f"processes of killed workers still running {10 * WATCH_SECONDS:g} s later: {left}"))


async def test_workers_killed_at_random_lose_nothing_and_load_nothing_twice(
        pool: asyncpg.Pool, db_url: str, tmp_path: Path, soak_tag: str) -> None:
    seed = int(os.environ.get("FORVARV_SOAK_SEED") or secrets.randbelow(10**9))
    rng = random.Random(seed)
    soak = Soak(pool, db_url, seed, tmp_path, soak_tag)
    async with pool.acquire() as conn:
        await seed_registry(conn)
    model = Model()
    points = list(KILL_POINTS)
    rng.shuffle(points)
    rounds: list[tuple[int, Delivery]] = []
    for rnd in range(ROUNDS):
        delivery = build_delivery(model, rnd, rng)
        delivery_id = await soak.run_round(rnd, rng, delivery, points[rnd % len(points)])
        rounds.append((delivery_id, delivery))
    print(f"crash soak, seed {seed}:", *soak.notes, sep="\n  ")

    entity_of: dict[int, int] = {}  # bib id -> model entity
    async with pool.acquire() as conn:
        for delivery_id, delivery in rounds:
            n = len(delivery.expected)
            row = await conn.fetchrow("SELECT status, summary, record_count FROM deliveries WHERE id = $1",
                                      delivery_id)
            assert row["status"] == "done", soak.fail(f"delivery {delivery_id} is {row['status']}")
            assert row["record_count"] == n, soak.fail(f"delivery {delivery_id}: {row['record_count']} records")
            positions = [r["position"] for r in await conn.fetch(
                "SELECT position FROM delivery_records WHERE delivery_id = $1 ORDER BY position", delivery_id)]
            assert positions == list(range(1, n + 1)), soak.fail(
                f"delivery {delivery_id}: {len(positions)} results for {n} records, "
                f"missing {sorted(set(range(1, n + 1)) - set(positions))[:10]}")
            assert row["summary"] == await report.summary(conn, delivery_id), soak.fail(
                f"delivery {delivery_id}: the stored summary is not the count of its results")

            results = await conn.fetch(
                "SELECT position, kind, outcome, record_id, sigel, errors FROM delivery_records "
                "WHERE delivery_id = $1 ORDER BY position", delivery_id)
            for r in results:
                if r["position"] in delivery.created and r["outcome"] == "created":
                    entity_of[r["record_id"]] = delivery.created[r["position"]]
            got = [(r["position"], r["kind"], r["outcome"],
                    entity_of.get(r["record_id"], ("bib id", r["record_id"])) if r["record_id"] else None,
                    r["sigel"], tuple(e["code"] for e in r["errors"]) if r["kind"] == "holding" or
                    r["outcome"] == "rejected" else ()) for r in results]
            wrong = [(e, g) for e, g in zip(delivery.expected, got, strict=True) if e != g]
            assert not wrong, soak.fail(f"delivery {delivery_id}: {len(wrong)} results differ from the rules, "
                                        f"(expected, got): {wrong[:5]}")
            expected_summary = {
                "records": sum(e[1] == "bib" for e in delivery.expected),
                "ambiguous": len(delivery.ambiguous),
                # the bibliographic counts partition the records: an ambiguous match counts as
                # ambiguous only, not also as matched or updated
                **{k: sum(e[1] == "bib" and e[2] == k and e[0] not in delivery.ambiguous
                          for e in delivery.expected)
                   for k in ("created", "matched", "updated", "rejected")},
                **{f"holdings_{k}": sum(e[1] == "holding" and e[2] == k for e in delivery.expected)
                   for k in ("added", "updated", "deleted", "rejected")},
            }
            assert row["summary"] == expected_summary, soak.fail(f"delivery {delivery_id}: summary")
            reviews = [r["position"] for r in await conn.fetch(
                "SELECT position FROM review_items WHERE delivery_id = $1 ORDER BY position", delivery_id)]
            assert reviews == sorted(delivery.reviewed), soak.fail(
                f"delivery {delivery_id}: review items at {reviews}, expected at {sorted(delivery.reviewed)} "
                f"(ambiguous matches at {sorted(delivery.ambiguous)})")

        doubles = await conn.fetch("SELECT delivery_id, position FROM review_items GROUP BY 1, 2 "
                                   "HAVING count(*) > 1")
        assert not doubles, soak.fail(f"review items twice: {doubles}")

        # bibliographic records: exactly the model's, each ISBN on exactly the model's records
        bibs = {r["id"] for r in await conn.fetch("SELECT id FROM bib_records WHERE NOT deleted")}
        assert len(bibs) == model.entities and bibs == set(entity_of), soak.fail(
            f"{len(bibs)} bibliographic records for {model.entities} books; "
            f"not created by these deliveries' results: {sorted(bibs - set(entity_of))[:10]}")
        shared = await conn.fetch(
            "SELECT i.value, b.match_class, array_agg(b.id ORDER BY b.id) AS ids FROM bib_identifiers i "
            "JOIN bib_records b ON b.id = i.bib_id WHERE i.kind = 'isbn' AND NOT b.deleted "
            "GROUP BY 1, 2 HAVING count(*) > 1")
        model_shared = {i: sorted(es) for i, es in model.isbn.items() if len(es) > 1}
        got_shared = {r["value"]: sorted(entity_of[b] for b in r["ids"]) for r in shared}
        assert got_shared == model_shared, soak.fail(
            f"ISBNs on more than one record: {got_shared} (only ambiguous matches may do that: {model_shared})")
        got_isbns = {(r["value"], entity_of[r["bib_id"]]) for r in await conn.fetch(
            "SELECT value, bib_id FROM bib_identifiers WHERE kind = 'isbn'")}
        assert got_isbns == {(i, e) for i, es in model.isbn.items() for e in es}, soak.fail("ISBNs")

        # holdings: one per (record, sigel), exactly the ones the deliveries imply
        per_pair = await conn.fetchval("SELECT count(*) FROM (SELECT 1 FROM holdings GROUP BY bib_id, sigel "
                                       "HAVING count(*) > 1) d")
        assert per_pair == 0, soak.fail("two holdings for one (record, sigel)")
        got_holdings = {(entity_of[r["bib_id"]], r["sigel"]): r["deleted"]
                        for r in await conn.fetch("SELECT bib_id, sigel, deleted FROM holdings")}
        assert got_holdings == model.holdings, soak.fail(
            f"{sum(not d for d in got_holdings.values())} live holdings, "
            f"{sum(not d for d in model.holdings.values())} expected; differing: "
            f"{sorted(set(got_holdings.items()) ^ set(model.holdings.items()))[:10]}")

    await _no_leftovers(soak)


async def test_second_process_follows_a_worker_killed_while_it_starts(
        pool: asyncpg.Pool, db_url: str, tmp_path: Path, soak_tag: str) -> None:
    """The soak's `second_process_starting` kill, made certain: the worker dies ~0.05 s after its
    second process appears, long before that process has finished starting (imports, ~0.3 s)."""
    async with pool.acquire() as conn:
        await seed_registry(conn)
    delivery_id = await _receive(pool, "BOKR", synthetic.delivery(300, ["Sods"], seed=5))
    soak = Soak(pool, db_url, 0, tmp_path, soak_tag)
    proc, log = await soak.worker(100)
    try:
        async with asyncio.timeout(TIMEOUT):
            while (child := _second_process(soak.tag, proc.pid)) is None:
                assert proc.returncode is None, _tail(log)
                await asyncio.sleep(0.005)
        await asyncio.sleep(0.05)
    finally:
        await soak.kill(proc)
    left = _tagged(soak.tag)
    for _ in range(int(50 * WATCH_SECONDS)):  # it looks for its parent every WATCH_SECONDS
        if not left:
            break
        await asyncio.sleep(0.1)
        left = _tagged(soak.tag)
    for pid in left:
        with contextlib.suppress(OSError):
            os.kill(pid, signal.SIGKILL)
    assert not left, f"the second process ({child}) outlived its worker: {left}"
    status = await pool.fetchval("SELECT status FROM deliveries WHERE id = $1", delivery_id)
    assert status in ("received", "processing")


@pytest.mark.parametrize("batch_size", [1, 500])
async def test_an_ambiguous_match_met_twice_is_queued_once_wherever_the_batches_end(
        pool: asyncpg.Pool, batch_size: int) -> None:
    """Found by the soak: a resumed delivery is cut into batches elsewhere, and the same question
    met twice in one batch was queued twice (once when a batch boundary fell between)."""
    async with pool.acquire() as conn:
        await seed_registry(conn)
    a, b = _isbn(1), _isbn(2)
    first = await _receive(pool, "BOKR", collection(bib(own_id="S1", org="BOKR", isbn=[a]),
                                                    bib(own_id="S2", org="BOKR", isbn=[b])))
    await loader.load_delivery(pool, first, org_code="FORVARV", batch_size=batch_size)
    both = await _receive(pool, "BOKR", collection(bib(own_id="X1", org="BOKR", isbn=[a, b]),
                                                   bib(own_id="X2", org="BOKR", isbn=[b, a])))
    totals = await loader.load_delivery(pool, both, org_code="FORVARV", batch_size=batch_size)
    items = await pool.fetch("SELECT delivery_id, position FROM review_items")
    assert totals["ambiguous"] == 2
    assert [tuple(r) for r in items] == [(both, 1)]
