"""The second process: where large deliveries are prepared and MARCXML bodies are scanned.

Preparing records (gateway.intake.prepare) is pure CPU work in Python, so a thread would only take turns
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
import signal
import threading
import time
from collections.abc import AsyncGenerator, AsyncIterator, Iterable
from concurrent.futures import ProcessPoolExecutor
from concurrent.futures.process import BrokenProcessPool
from typing import Any

from gateway.intake.prepare import DoneBib, Prepared, PreparedBib, PreparedHolding, Preparer, Spec
from protocols.marc.xmlreader import XMLFault, XMLSyntaxFault
from protocols.marc.xmlscan import MarcXmlScanner

#: Deliveries with at least this many records are prepared in the second process by default.
CHILD_MIN_RECORDS = 200

#: In the child: what it has open (a delivery being prepared, a body being scanned), by token.
_OPEN: dict[int, Preparer | MarcXmlScanner] = {}


#: How often the second process checks that the gateway process that started it is still there.
WATCH_SECONDS = 1.0


def _child_init(parent: int) -> None:
    # as gateway.serve.tune_gc: records allocate many small objects, almost none in cycles
    gc.collect()
    gc.freeze()
    gc.set_threshold(50_000, 50, 100)
    # A process pool's worker outlives a parent killed with SIGKILL (it holds both ends of its own
    # task queue, so it never sees end-of-file); this one follows its parent within a second.
    # `parent` is the pid that started it, passed along: asking getppid() here would name whoever
    # adopted it, were the parent killed while this process was still starting.
    if os.getppid() != parent:
        os._exit(0)
    # Ctrl-C in a terminal reaches the whole process group: the parent shuts this process down.
    signal.signal(signal.SIGINT, signal.SIG_IGN)

    def watch() -> None:
        while os.getppid() == parent:
            time.sleep(WATCH_SECONDS)
        os._exit(0)

    threading.Thread(target=watch, name="parent-watch", daemon=True).start()


#: An XMLFault as it crosses back (its own arguments do not survive pickling): class name, code,
#: message, line, column.
Fault = tuple[str, str, str, int | None, int | None]


def _fault(exc: XMLFault) -> Fault:
    return (type(exc).__name__, exc.code, exc.message, exc.line, exc.column)


def _raise_fault(fault: Fault) -> None:
    kind, code, message, line, column = fault
    if kind == "XMLSyntaxFault":
        raise XMLSyntaxFault(message, line, column, code)
    raise XMLFault(code, message, line, column)


#: Prepared records cross between the processes as (kind, plain tuple): pickling named tuples
#: goes through Python code for each one, plain tuples do not.
_KINDS: tuple[type[PreparedBib], type[PreparedHolding], type[DoneBib]] = (PreparedBib, PreparedHolding, DoneBib)
_KIND_OF = {cls: i for i, cls in enumerate(_KINDS)}
Wire = list[tuple[int, tuple[Any, ...]]]


def _to_wire(items: Iterable[Prepared]) -> Wire:
    kind_of = _KIND_OF
    return [(kind_of[type(item)], tuple(item)) for item in items]


def _from_wire(wire: Wire) -> list[Prepared]:
    kinds = _KINDS
    return [kinds[kind]._make(fields) for kind, fields in wire]


def _child_open(token: int, spec: Spec) -> tuple[None, None]:
    _OPEN[token] = Preparer(spec)
    return None, None


def _child_prepare(token: int, data: bytes | None) -> tuple[Wire, Fault | None]:
    """Prepare what `data` completes (None: the end of the payload, which ends the session)."""
    preparer = _OPEN[token]
    assert isinstance(preparer, Preparer)
    try:
        if data is None:
            del _OPEN[token]
            return _to_wire(preparer.close()), None
        return _to_wire(preparer.read(data)), None
    except XMLFault as exc:
        _OPEN.pop(token, None)
        return [], _fault(exc)


def _child_scan(token: int, data: bytes | None) -> tuple[int, Fault | None]:
    """Scan a piece of a MARCXML body being received (None: its end): (records so far, fault)."""
    scanner = _OPEN.get(token)
    if scanner is None:
        scanner = _OPEN[token] = MarcXmlScanner()
    assert isinstance(scanner, MarcXmlScanner)
    try:
        if data is None:
            del _OPEN[token]
            return scanner.close(), None
        scanner.feed(data)
        return scanner.count, None
    except XMLFault as exc:
        _OPEN.pop(token, None)
        return scanner.count, _fault(exc)


def _child_ready() -> bool:
    return True


def _child_drop(token: int) -> None:
    _OPEN.pop(token, None)


class _OneProcessPool(ProcessPoolExecutor):
    """A pool of one process in which only that process holds the write end of the answers' pipe.

    The pool's manager thread reads each answer whole; when the process dies halfway through
    writing one (a prepared slice is a few hundred KB, several pipe-fulls), the rest never comes,
    and as long as this process keeps its own copy of the write end the read never sees the end
    of the file either: the thread waits for ever and the delivery with it (CPython 3.11). With
    that copy closed once the process is started, the read ends at once, the pool is marked
    broken and every call waiting fails with BrokenProcessPool, as for a death between answers.
    """

    def _spawn_process(self) -> None:
        super()._spawn_process()  # type: ignore[misc]
        if len(self._processes) >= self._max_workers:  # type: ignore[attr-defined]
            self._result_queue._writer.close()  # type: ignore[attr-defined]


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
            executor = _OneProcessPool(max_workers=1, mp_context=ctx, initializer=_child_init,
                                       initargs=(os.getpid(),))
            # A process killed while a call was being written to it can leave the queue's feeder
            # thread blocked on a full pipe, and the interpreter would wait for it at exit for
            # ever. Nothing still unsent matters then (calls fail, deliveries resume), so exit
            # does not wait for the feeder (a daemon thread).
            executor._call_queue.cancel_join_thread()  # type: ignore[attr-defined]
            self._executor = executor
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
            # Not cancel_futures: the pool's manager thread fails every pending call itself, and
            # cancelling them under it races it into an InvalidStateError on Python 3.11
            # (CPython gh-107219, fixed in 3.12).
            executor.shutdown(wait=False)

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
#: Slices parsed inline per turn of the event loop (see gateway.intake.loader).
INLINE_SLICE = 64 * 1024


async def prepared_stream(chunks: AsyncIterator[bytes], spec: Spec, process: ParseProcess | None,
                          record_count: int | None = None) -> AsyncGenerator[Iterable[Prepared], None]:
    """The payload's records, prepared, in order: inline (lazily, as the caller takes them) or,
    given a ParseProcess and at least its `min_records`, there (see `_ChildPreparing`).

    Close it (contextlib.aclosing) when stopping early, so the second process forgets the delivery.
    """
    if process is None or (record_count or 0) < process.min_records:
        preparer = Preparer(spec)
        async for data in chunks:
            for start in range(0, len(data), INLINE_SLICE):
                yield preparer.read(data[start:start + INLINE_SLICE])
        yield preparer.close()
        return
    preparing = _ChildPreparing(process, spec)
    producer = asyncio.create_task(preparing.produce(chunks))
    try:
        while (item := await preparing.queue.get()) is not None:
            if isinstance(item, BaseException):
                raise item
            yield item
        await producer
    finally:
        if not producer.done():
            producer.cancel()
            with contextlib.suppress(BaseException):
                await producer
        preparing.forget()


def _retrieved(future: asyncio.Future[Any]) -> None:
    """Take the outcome of a call nobody waits for any more (no "never retrieved" warning)."""
    if not future.cancelled():
        future.exception()


class _Session:
    """One delivery's calls to the second process, in order, with a few in flight.

    Every call answers (value, fault). A fault is raised here; a process found dead (when a call
    is made or while it runs) is reported to the ParseProcess, which starts a new one next time.
    """

    def __init__(self, process: ParseProcess) -> None:
        self.process = process
        self.executor = process.executor()
        self.token = process.next_token()
        self.pending: collections.deque[asyncio.Future[tuple[Any, Fault | None]]] = collections.deque()
        #: the second process has nothing left open for this token
        self.closed = False

    def send(self, fn: Any, *args: Any) -> None:
        try:
            future = asyncio.get_running_loop().run_in_executor(self.executor, fn, self.token, *args)
        except BrokenProcessPool:
            self.process.broken(self.executor)
            raise
        self.pending.append(future)

    async def answer(self) -> Any:
        """The value of the oldest call."""
        try:
            value, fault = await self.pending.popleft()
        except BrokenProcessPool:
            self.process.broken(self.executor)
            raise
        if fault is not None:
            self.closed = True  # the second process has dropped it
            _raise_fault(fault)
        return value

    def forget(self) -> None:
        """Stopped early: the calls not yet started are cancelled and the token dropped there."""
        if self.closed:
            return
        self.closed = True
        broken = not self.process.is_current(self.executor)
        for future in self.pending:
            if broken:
                # The dead pool's manager thread fails these calls itself; cancelling them under
                # it races it into an InvalidStateError on Python 3.11 (CPython gh-107219).
                future.add_done_callback(_retrieved)
            else:
                future.cancel()
        if not broken:
            with contextlib.suppress(RuntimeError):  # shut down meanwhile
                self.executor.submit(_child_drop, self.token)


class _ChildPreparing(_Session):
    """Keeps the second process busy on one delivery, in a task of its own.

    The payload goes over in slices, a few calls in flight; prepared slices wait in a bounded
    queue for the loader. Being a task of its own, it goes on feeding the second process while
    the loader waits for a batch to be written.
    """

    def __init__(self, process: ParseProcess, spec: Spec) -> None:
        super().__init__(process)
        self.spec = spec
        self.queue: asyncio.Queue[list[Prepared] | BaseException | None] = asyncio.Queue(CHILD_QUEUE)

    async def produce(self, chunks: AsyncIterator[bytes]) -> None:
        try:
            self.send(_child_open, self.spec)
            async for data in chunks:
                for start in range(0, len(data), CHILD_SLICE):
                    self.send(_child_prepare, data[start:start + CHILD_SLICE])
                    while len(self.pending) > CHILD_AHEAD:
                        await self._take()
            self.send(_child_prepare, None)
            while self.pending:
                await self._take()
            self.closed = True
            await self.queue.put(None)
        except Exception as exc:  # handed to the loader, which raises it
            await self.queue.put(exc)

    async def _take(self) -> None:
        wire = await self.answer()
        if wire is not None:  # None: the answer of _child_open
            await self.queue.put(_from_wire(wire))


class ChildScanner(_Session):
    """The intake's MARCXML scan (well-formed, a MARCXML root, no DTD, records counted), done in
    the second process while this one reads, hashes and stores the body.

    Pieces go over in order, a few in flight; a fault is raised here (by `scan` or `close`) as
    soon as its answer is back, at most `CHILD_AHEAD` + 1 pieces after the one that holds it.
    """

    async def scan(self, data: bytes) -> None:
        self.send(_child_scan, data)
        while len(self.pending) > CHILD_AHEAD or (self.pending and self.pending[0].done()):
            await self.answer()

    async def close(self) -> int:
        self.send(_child_scan, None)
        count = 0
        while self.pending:
            count = int(await self.answer())
        self.closed = True
        return count
