"""The second process: where large deliveries are prepared and MARCXML bodies are scanned.

Preparing records (gateway.prepare) is pure CPU work in Python, so a thread would only take turns
with the loader under the GIL. One `ProcessPoolExecutor` worker per gateway process (`ParseProcess`,
spawned once and kept; it follows its parent if that dies) gets a delivery's stored payload in
slices, a few in flight, and hands back prepared records while this process matches and writes
the batches before them and PostgreSQL works on them: the three share both cores instead of
taking turns on one. While it runs, it also scans MARCXML bodies as they are received
(`ChildScanner`). Small deliveries are prepared inline (a round trip costs more than it saves).
"""

from __future__ import annotations

import asyncio
import collections
import contextlib
import gc
import itertools
import multiprocessing
import os
import threading
import time
from collections.abc import AsyncGenerator, AsyncIterator, Iterable
from concurrent.futures import ProcessPoolExecutor
from concurrent.futures.process import BrokenProcessPool
from typing import Any

from gateway.prepare import DoneBib, Prepared, PreparedBib, PreparedHolding, Preparer, Spec
from protocols.marc.xmlreader import MarcXmlScanner, XMLFault, XMLSyntaxFault

#: Deliveries with at least this many records are prepared in the second process by default.
CHILD_MIN_RECORDS = 200

#: In the child: its open deliveries by token.
_SESSIONS: dict[int, Preparer] = {}


#: How often the second process checks that the gateway process that started it is still there.
WATCH_SECONDS = 1.0


def _child_init() -> None:
    # as gateway.serve.tune_gc: records allocate many small objects, almost none in cycles
    gc.collect()
    gc.freeze()
    gc.set_threshold(50_000, 50, 100)
    # A process pool's worker outlives a parent killed with SIGKILL (it holds both ends of its own
    # task queue, so it never sees end-of-file); this one follows its parent within a second.
    parent = os.getppid()

    def watch() -> None:
        while os.getppid() == parent:
            time.sleep(WATCH_SECONDS)
        os._exit(0)

    threading.Thread(target=watch, name="parent-watch", daemon=True).start()


def _fault(exc: XMLFault) -> tuple[str, str, str, int | None, int | None]:
    return (type(exc).__name__, exc.code, exc.message, exc.line, exc.column)


def _raise_fault(fault: tuple[str, str, str, int | None, int | None]) -> None:
    kind, code, message, line, column = fault
    if kind == "XMLSyntaxFault":
        raise XMLSyntaxFault(message, line, column, code)
    raise XMLFault(code, message, line, column)


#: Prepared records cross between the processes as (kind, plain tuple): pickling named tuples
#: goes through Python code for each one, plain tuples do not.
_KINDS: tuple[type[PreparedBib], type[PreparedHolding], type[DoneBib]] = (PreparedBib, PreparedHolding, DoneBib)
_KIND_OF = {cls: i for i, cls in enumerate(_KINDS)}
Wire = list[tuple[int, tuple[Any, ...]]]
ChildAnswer = tuple[Wire, tuple[str, str, str, int | None, int | None] | None]


def _to_wire(items: Iterable[Prepared]) -> Wire:
    kind_of = _KIND_OF
    return [(kind_of[type(item)], tuple(item)) for item in items]


def _from_wire(wire: Wire) -> list[Prepared]:
    kinds = _KINDS
    return [kinds[kind]._make(fields) for kind, fields in wire]


def _child_open(token: int, spec: Spec) -> None:
    _SESSIONS[token] = Preparer(spec)


def _child_feed(token: int, data: bytes | None) -> ChildAnswer:
    """Prepare what `data` completes (None: the end of the payload, which ends the session)."""
    session = _SESSIONS[token]
    try:
        if data is None:
            del _SESSIONS[token]
            return _to_wire(session.close()), None
        return _to_wire(session.feed(data)), None
    except XMLFault as exc:  # its own arguments do not survive pickling: sent as a tuple
        _SESSIONS.pop(token, None)
        return [], _fault(exc)


#: In the child: the scanners of deliveries being received, by token.
_SCANNERS: dict[int, MarcXmlScanner] = {}


def _child_scan(token: int, data: bytes | None) -> tuple[int, tuple[str, str, str, int | None, int | None] | None]:
    """Scan a piece of a MARCXML body being received (None: its end): (records so far, fault)."""
    scanner = _SCANNERS.get(token)
    if scanner is None:
        scanner = _SCANNERS[token] = MarcXmlScanner()
    try:
        if data is None:
            del _SCANNERS[token]
            return scanner.close(), None
        scanner.feed(data)
        return scanner.count, None
    except XMLFault as exc:
        _SCANNERS.pop(token, None)
        return scanner.count, _fault(exc)


def _child_scan_drop(token: int) -> None:
    _SCANNERS.pop(token, None)


def _child_ready() -> bool:
    return True


def _child_drop(token: int) -> None:
    _SESSIONS.pop(token, None)


class ParseProcess:
    """The second process, started on first use and kept for the next deliveries.

    Deliveries of fewer than `min_records` records are still prepared inline.
    """

    def __init__(self, min_records: int = CHILD_MIN_RECORDS) -> None:
        self.min_records = min_records
        self._executor: ProcessPoolExecutor | None = None
        self._tokens = itertools.count(1)

    def executor(self) -> ProcessPoolExecutor:
        if self._executor is None:
            # spawn, not fork (this process has an event loop, sockets and threads) nor forkserver
            # (its children are the fork server's, so they could not watch this process)
            ctx = multiprocessing.get_context("spawn")
            self._executor = ProcessPoolExecutor(max_workers=1, mp_context=ctx, initializer=_child_init)
        return self._executor

    async def start(self) -> None:
        """Start the process now rather than on the first large delivery (it takes ~0.5 s of CPU)."""
        loop = asyncio.get_running_loop()
        executor = self.executor()
        try:
            await loop.run_in_executor(executor, _child_ready)
        except BrokenProcessPool:
            self.broken(executor)
            raise

    @property
    def running(self) -> bool:
        """Started (by `start`, or by a large delivery) and not known to have died."""
        return self._executor is not None

    def is_current(self, executor: ProcessPoolExecutor) -> bool:
        return self._executor is executor

    def next_token(self) -> int:
        return next(self._tokens)

    def broken(self, executor: ProcessPoolExecutor) -> None:
        """After `executor`'s process died: the next delivery starts a new one (unless one has been
        started already, by a delivery that found out first)."""
        if self._executor is executor:
            self._executor = None
            executor.shutdown(wait=False, cancel_futures=True)

    def shutdown(self) -> None:
        executor, self._executor = self._executor, None
        if executor is not None:
            executor.shutdown(wait=True, cancel_futures=True)


#: Payload slices sent to the second process per call, how many calls may be in flight, and
#: how many prepared slices may wait for the loader: enough for the second process never to
#: wait while a batch is being written, few enough to keep memory flat (a slice is ~80 records).
CHILD_SLICE = 256 * 1024
CHILD_AHEAD = 2
CHILD_QUEUE = 8
#: Slices parsed inline per turn of the event loop (see gateway.loader).
INLINE_SLICE = 64 * 1024


async def prepared_stream(chunks: AsyncIterator[bytes], spec: Spec, process: ParseProcess | None,
                          record_count: int | None = None) -> AsyncGenerator[Iterable[Prepared], None]:
    """The payload's records, prepared, in order: inline (lazily, as the caller takes them) or,
    given a ParseProcess and at least its `min_records`, there (see `_ChildFeed`).

    Close it (contextlib.aclosing) when stopping early, so the second process forgets the delivery.
    """
    if process is None or (record_count or 0) < process.min_records:
        preparer = Preparer(spec)
        async for data in chunks:
            for start in range(0, len(data), INLINE_SLICE):
                yield preparer.feed(data[start:start + INLINE_SLICE])
        yield preparer.close()
        return
    feed = _ChildFeed(process, spec)
    producer = asyncio.create_task(feed.produce(chunks))
    try:
        while (item := await feed.queue.get()) is not None:
            if isinstance(item, BaseException):
                raise item
            yield item
        await producer
    finally:
        if not producer.done():
            producer.cancel()
            with contextlib.suppress(BaseException):
                await producer
        feed.forget()


class _ChildFeed:
    """Keeps the second process busy on one delivery, in a task of its own.

    The payload goes over in slices, a few calls in flight; prepared slices wait in a bounded
    queue for the loader. Being a task of its own, it goes on feeding the second process while
    the loader waits for a batch to be written.
    """

    def __init__(self, process: ParseProcess, spec: Spec) -> None:
        self.process = process
        self.spec = spec
        self.executor = process.executor()
        self.token = process.next_token()
        self.queue: asyncio.Queue[list[Prepared] | BaseException | None] = asyncio.Queue(CHILD_QUEUE)
        self.pending: collections.deque[asyncio.Future[ChildAnswer]] = collections.deque()
        self.finished = False

    async def produce(self, chunks: AsyncIterator[bytes]) -> None:
        token = self.token
        try:
            await self._call(self._submit(_child_open, token, self.spec))
            async for data in chunks:
                for start in range(0, len(data), CHILD_SLICE):
                    self.pending.append(self._submit(_child_feed, token, data[start:start + CHILD_SLICE]))
                    while len(self.pending) > CHILD_AHEAD:
                        await self._take()
            self.pending.append(self._submit(_child_feed, token, None))
            while self.pending:
                await self._take()
            self.finished = True
            await self.queue.put(None)
        except Exception as exc:  # handed to the loader, which raises it
            await self.queue.put(exc)

    def _submit(self, fn: Any, *args: Any) -> asyncio.Future[Any]:
        # a process found dead when the call is made (not only while it runs) is replaced too
        try:
            return asyncio.get_running_loop().run_in_executor(self.executor, fn, *args)
        except BrokenProcessPool:
            self.process.broken(self.executor)
            raise

    async def _call(self, future: asyncio.Future[Any]) -> Any:
        try:
            return await future
        except BrokenProcessPool:
            self.process.broken(self.executor)
            raise

    async def _take(self) -> None:
        wire, fault = await self._call(self.pending.popleft())
        if fault is not None:
            self.finished = True  # the second process has dropped the delivery
            _raise_fault(fault)
        await self.queue.put(_from_wire(wire))

    def forget(self) -> None:
        """Stopped early: the calls not yet started are cancelled and the delivery dropped."""
        if self.finished:
            return
        for future in self.pending:
            future.cancel()
        if self.process.is_current(self.executor):
            with contextlib.suppress(RuntimeError):  # shut down meanwhile
                self.executor.submit(_child_drop, self.token)


class ChildScanner:
    """The intake's MARCXML scan (well-formed, a MARCXML root, no DTD, records counted), done in
    the second process while this one reads, hashes and stores the body.

    Pieces go over in order, a few in flight; a fault is raised here (by `feed` or `close`) as
    soon as its answer is back, at most `CHILD_AHEAD` + 1 pieces after the one that holds it.
    """

    def __init__(self, process: ParseProcess) -> None:
        self.process = process
        self.executor = process.executor()
        self.token = process.next_token()
        self.pending: collections.deque[asyncio.Future[tuple[int, Any]]] = collections.deque()
        self.done = False

    async def _answer(self) -> int:
        try:
            count, fault = await self.pending.popleft()
        except BrokenProcessPool:
            self.process.broken(self.executor)
            raise
        if fault is not None:
            self.done = True
            _raise_fault(fault)
        return int(count)

    def _send(self, data: bytes | None) -> None:
        try:
            future = asyncio.get_running_loop().run_in_executor(self.executor, _child_scan, self.token, data)
        except BrokenProcessPool:
            self.process.broken(self.executor)
            raise
        self.pending.append(future)

    async def feed(self, data: bytes) -> None:
        self._send(data)
        while len(self.pending) > CHILD_AHEAD or (self.pending and self.pending[0].done()):
            await self._answer()

    async def close(self) -> int:
        self._send(None)
        count = 0
        while self.pending:
            count = await self._answer()
        self.done = True
        return count

    def forget(self) -> None:
        """Stopped early (refused, disconnected): drop the scan in the second process."""
        if self.done:
            return
        self.done = True
        for future in self.pending:
            future.cancel()
        if self.process.is_current(self.executor):
            with contextlib.suppress(RuntimeError):
                self.executor.submit(_child_scan_drop, self.token)
