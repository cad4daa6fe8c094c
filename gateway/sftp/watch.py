"""`forvarv watch DIR`: take delivery files from folders another file server writes to.

For sites that run their own SFTP/FTP server: each supplier has `DIR/<SUPPLIER CODE>/incoming/`;
`reports/`, `processed/` and `failed/` are made beside it. A file is taken once it is complete:
files with hidden or temporary names (`.name`, `*.part`, `*.filepart`, `*.tmp` …) are left alone
until they are renamed into place, and any other file once its size and modification time have
not changed for the settling time (`--settle`, default 5 s; 0 for sites whose server always
renames into place). Then exactly what the built-in SFTP server does: the same intake, moves and
reports (gateway/sftp/pickup.py). Deliveries are loaded by this command's own workers
(`--workers`, default 1) or by a running gateway, whichever is first.

Like the other long-running processes it keeps a heartbeat row (role `watch`, duties `pickup` and,
with workers, `load`; gateway/ops/heartbeat.py), and on SIGTERM or SIGINT it takes no new file,
lets its workers commit the batch they are writing and hand the delivery back (up to
FORVARV_STOP_TIMEOUT seconds), and exits.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import logging
import os
import signal
import time
from pathlib import Path

import asyncpg

from gateway import config
from gateway.config import Settings
from gateway.errors import NotFound
from gateway.intake import workers
from gateway.ops import loop, metrics
from gateway.ops.heartbeat import Heartbeat
from gateway.registry import Supplier, get_supplier
from gateway.sftp.pickup import Pickup
from gateway.sftp.tree import INCOMING, Tree
from gateway.store import db, migrations

log = logging.getLogger(__name__)


class Watcher:
    def __init__(self, pool: asyncpg.Pool, root: Path, *, settle: float, max_body: int) -> None:
        self.pool = pool
        self.root = root
        self.settle = settle
        self.pickup = Pickup(pool, max_body=max_body)
        self._seen: dict[tuple[str, str], tuple[int, int, int]] = {}
        self._unknown: set[str] = set()

    async def _trees(self) -> list[Tree]:
        trees = []
        try:
            entries = sorted(os.scandir(self.root), key=lambda e: e.name)
        except FileNotFoundError:
            log.warning("watch: %s does not exist", self.root)
            return []
        async with self.pool.acquire() as conn:
            for entry in entries:
                if entry.name.startswith(".") or not entry.is_dir(follow_symlinks=False):
                    continue
                if not (Path(entry.path) / INCOMING).is_dir():
                    continue
                try:
                    supplier: Supplier = await get_supplier(conn, entry.name)
                except NotFound:
                    if entry.name not in self._unknown:
                        log.warning("watch: %s/ is not a supplier's folder (no supplier %s)", entry.name, entry.name)
                        self._unknown.add(entry.name)
                    continue
                tree = Tree(supplier, Path(entry.path), "watch")
                tree.make()
                trees.append(tree)
        return trees

    def _complete(self, tree: Tree, name: str) -> bool:
        """Unchanged since the last look and not modified for the settling time."""
        try:
            st = os.lstat(tree.area(INCOMING) / name)
        except FileNotFoundError:
            return False
        key = (tree.supplier.code, name)
        signature = (st.st_size, st.st_mtime_ns, st.st_ino)
        before = self._seen.get(key)
        self._seen[key] = signature
        if self.settle <= 0:
            return True
        return before == signature and time.time() - st.st_mtime >= self.settle

    async def scan(self) -> int:
        """One look at every supplier's incoming/; return how many files were handed to the intake."""
        taken = 0
        live: set[tuple[str, str]] = set()
        for tree in await self._trees():
            for name in tree.complete_files():
                live.add((tree.supplier.code, name))
                if not self.pickup.busy(tree, name) and self._complete(tree, name):
                    taken += self.pickup.submit(tree, name)
        self._seen = {k: v for k, v in self._seen.items() if k in live}
        return taken

    async def run(self, stop: asyncio.Event, interval: float) -> None:
        while not stop.is_set():
            await self.scan()
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(stop.wait(), interval)
        await self.pickup.close()


def duties(workers_count: int) -> tuple[str, ...]:
    return ("pickup", "load") if workers_count > 0 else ("pickup",)


async def _stop_workers(tasks: list[asyncio.Task[None]], stop_timeout: float) -> None:
    """Let the workers finish their batch and hand their delivery back; cancel them after the bound."""
    if not tasks:
        return
    _done, pending = await asyncio.wait(tasks, timeout=stop_timeout)
    for t in pending:
        t.cancel()
    await asyncio.gather(*tasks, return_exceptions=True)


async def run(args: argparse.Namespace, settings: Settings) -> int:
    url = db.resolve_url(settings)
    pool = await db.create_pool(url, min_size=2, max_size=max(6, 2 * args.workers + 4))
    stop = asyncio.Event()
    running = asyncio.get_running_loop()
    for signum in (signal.SIGINT, signal.SIGTERM):
        running.add_signal_handler(signum, stop.set)
    tasks: list[asyncio.Task[None]] = []
    beat: Heartbeat | None = None
    try:
        async with pool.acquire() as conn:
            await migrations.migrate(conn)
        metrics.watch_pool(pool)
        beat = Heartbeat(pool, "watch", duties(args.workers), interval=settings.heartbeat_seconds,
                         snapshot=metrics.snapshot)
        await beat.start()
        watcher = Watcher(pool, Path(args.dir), settle=args.settle, max_body=settings.max_body)
        tasks = [asyncio.create_task(workers.run(pool, settings, stop)) for _ in range(args.workers)]
        if args.once:
            # two looks a settling time apart, so files unchanged over it count as complete
            await watcher.scan()
            if args.settle > 0:
                await asyncio.sleep(args.settle)
                await watcher.scan()
            await watcher.pickup.idle()
            return 0
        print(f"watching {args.dir}/SUPPLIER/incoming/ (settling time {args.settle:g} s)  [pid {os.getpid()}]",
              flush=True)
        await watcher.run(stop, args.interval)
        log.info("stopping (watch): no new files; up to %.0f s for the batches being written", settings.stop_timeout)
        return 0
    finally:
        stop.set()
        if beat is not None:
            await beat.mark_stopping()
        await _stop_workers(tasks, settings.stop_timeout)
        if beat is not None:
            await beat.stop()
        await pool.close()


def cmd_watch(args: argparse.Namespace, settings: Settings) -> int:
    if args.settle < 0 or args.interval <= 0 or args.workers < 0:
        print("error: --settle must be 0 or more, --interval more than 0, --workers 0 or more")
        return 2
    return loop.run(run(args, config.ensure_secret(settings)), settings.event_loop)


def register(sub: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    p = sub.add_parser("watch", help="take delivery files from DIR/SUPPLIER/incoming/ (your own file server)")
    p.add_argument("dir", metavar="DIR")
    p.add_argument("--settle", type=float, default=5.0,
                   help="seconds a file must stay unchanged before it is taken (default 5; 0: at once)")
    p.add_argument("--interval", type=float, default=2.0, help="seconds between looks (default 2)")
    p.add_argument("--workers", type=int, default=1, help="delivery workers in this process (default 1; 0: leave "
                   "loading to a running gateway)")
    p.add_argument("--once", action="store_true", help="take what is complete now, wait for its reports, and exit")
    p.set_defaults(func=cmd_watch, standalone=True)
