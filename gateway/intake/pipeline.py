"""Reading and checking the next batch while the previous one is being written."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Iterable

import asyncpg

from gateway.intake.batches import Batches, BibItem
from gateway.intake.context import Context
from gateway.intake.prepare import Prepared
from gateway.intake.write_batch import write_batch

#: Records taken between two turns of the event loop, so the batch being written meanwhile gets
#: its statements sent as soon as the previous one returns (when records are prepared inline,
#: taking one prepares it; gateway.intake.parse_process also hands the payload over in slices for this reason).
_YIELD_EVERY = 8


class Pipeline:
    """Reading and checking the next batch while the previous one is being written.

    Preparing records (parsing, validation, identifiers, summaries: gateway.intake.prepare) runs here or
    in the second process while PostgreSQL works on the batch before. Batches are still written strictly one
    after the other, each in its own transaction, so matching always sees every earlier batch
    committed; a holding whose parent is in the batch still being written is attached when its
    own batch is written (see `_resolve_parent`).
    """

    def __init__(self, pool: asyncpg.Pool, ctx: Context, state: Batches) -> None:
        self.pool = pool
        self.ctx = ctx
        self.state = state
        self.writing: tuple[asyncio.Task[None], list[BibItem]] | None = None

    async def add(self, items: Iterable[Prepared]) -> None:
        add = self.state.add
        for n, item in enumerate(items, 1):
            add(item)
            if n % _YIELD_EVERY == 0:
                await asyncio.sleep(0)

    async def flush(self, final: bool) -> None:
        state = self.state
        while state.ready() or (final and (state.bibs or state.holdings)):
            bibs, holdings = state.take()
            await self.drain()
            task = asyncio.create_task(write_batch(self.pool, self.ctx, bibs, holdings, state.by_position))
            self.writing = (task, bibs)

    async def drain(self) -> None:
        """Wait for the batch being written; its bibliographic records become known parents."""
        if self.writing is not None:
            task, bibs = self.writing
            self.writing = None
            await task
            self.state.written(bibs)

    async def abandon(self) -> None:
        """After a failure elsewhere: let the batch in flight end (commit or roll back) first."""
        if self.writing is not None:
            task, _ = self.writing
            self.writing = None
            with contextlib.suppress(Exception):
                await task
