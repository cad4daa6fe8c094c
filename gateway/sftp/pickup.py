"""Taking a complete file from a supplier's `incoming/`: the same intake as `POST /deliveries`.

A file is streamed from disk into `gateway.intake.receive.receive` (same checks, same limit,
idempotent on the SHA-256 of its content), the delivery is left to the workers like any other,
and once it is done or failed its report is written to `reports/NAME.json` (the report
`GET /deliveries/{id}` gives) and `reports/NAME.txt` (readable), then the file moves to
`processed/` (done) or `failed/` (failed, or refused whole by the intake, whose error is then
the report). The file stays in `incoming/` until then: if the process stops meanwhile, the
next start takes it again and, the content being the same, finds the same delivery.
"""

from __future__ import annotations

import asyncio
import contextlib
import io
import json
import logging
import os
from collections.abc import AsyncIterator, Callable
from pathlib import Path

import asyncpg

from gateway.errors import GatewayError
from gateway.intake import receive as intake
from gateway.intake import report
from gateway.intake.parse_process import ParseProcess
from gateway.sftp import names, textreport
from gateway.sftp.tree import FAILED, INCOMING, PROCESSED, REPORTS, Tree, open_regular, write_atomically
from gateway.store.queries import load

Q = load("sftp_pickup")

log = logging.getLogger(__name__)

READ_SIZE = 1024 * 1024
POLL_SECONDS = 0.5
#: The intake could not check the file right now (its scanning process stopped): try again later.
RETRY_SECONDS = 5.0


async def _chunks(fd: int) -> AsyncIterator[bytes]:
    with os.fdopen(fd, "rb") as f:
        while chunk := await asyncio.to_thread(f.read, READ_SIZE):
            yield chunk


async def _wait_finished(pool: asyncpg.Pool, delivery_id: int) -> str:
    while True:
        async with pool.acquire() as conn:
            status = await conn.fetchval(Q["delivery_status"], delivery_id)
        if status in ("done", "failed"):
            return str(status)
        await asyncio.sleep(POLL_SECONDS)


async def _write_reports(pool: asyncpg.Pool, delivery_id: int, reports: Path, base: str) -> None:
    json_path, text_path = reports / f"{base}.json", reports / f"{base}.txt"
    tmp = reports / f".{base}.json.writing"
    async with pool.acquire() as conn:
        with open(tmp, "wb") as f:  # noqa: ASYNC230 - small writes of a streamed report
            async def write(data: bytes) -> None:
                f.write(data)

            await report.stream_json(conn, delivery_id, None, write)
        text = io.StringIO()
        await textreport.write(conn, delivery_id, text)
    os.replace(tmp, json_path)
    await asyncio.to_thread(write_atomically, text_path, text.getvalue().encode("utf-8"))


def _move(tree: Tree, name: str, area: str) -> None:
    with contextlib.suppress(FileNotFoundError):
        os.replace(tree.area(INCOMING) / name, tree.area(area) / name)


async def take(tree: Tree, name: str, pool: asyncpg.Pool, *, max_body: int,
               parse_process: ParseProcess | None = None) -> str:
    """Take incoming/NAME through the intake; return where it went (processed, failed)."""
    file = names.describe(name)
    content_type, gzip = names.content_type(name)
    base = names.base_name(name)
    reports = tree.area(REPORTS)
    try:
        fd = open_regular(tree.area(INCOMING) / name)
    except FileNotFoundError:
        return "gone"
    except OSError as exc:  # a symbolic link or something else that is not a plain file
        refusal: dict[str, object] = {"error": "not_a_file", "message": f"not taken: {exc.strerror or exc}"}
        await asyncio.to_thread(_refuse, tree, name, refusal)
        return FAILED
    while True:
        try:
            received = await intake.receive(
                pool, tree.supplier, _chunks(fd), content_type=content_type, gzip=gzip, max_body=max_body,
                source=f"{tree.source}:{name}"[:300], file=file, parse_process=parse_process,
            )
            break
        except intake.ScanUnavailable:
            log.warning("%s: %s could not be checked now; trying again shortly", tree.supplier.code, name)
            await asyncio.sleep(RETRY_SECONDS)
            fd = open_regular(tree.area(INCOMING) / name)
        except GatewayError as exc:
            refusal = {"error": exc.code, "message": exc.message, **exc.detail}
            await asyncio.to_thread(_refuse, tree, name, refusal)
            log.info("%s: %s refused: %s", tree.supplier.code, name, exc.message)
            return FAILED
    log.info("%s: %s is delivery %s (%s)", tree.supplier.code, name, received.id,
             "new" if received.created else "received before")
    status = await _wait_finished(pool, received.id)
    await _write_reports(pool, received.id, reports, base)
    area = PROCESSED if status == "done" else FAILED
    await asyncio.to_thread(_move, tree, name, area)
    return area


def _refuse(tree: Tree, name: str, error: dict[str, object]) -> None:
    write_refusal(tree, name, error)
    _move(tree, name, FAILED)


def write_refusal(tree: Tree, name: str, error: dict[str, object]) -> None:
    """A report for an upload refused before it became a file (too large): nothing is kept."""
    file = names.describe(name)
    base = names.base_name(name)
    body: dict[str, object] = {"status": "refused", "file": file, **error}
    write_atomically(tree.area(REPORTS) / f"{base}.json",
                     json.dumps(body, ensure_ascii=False, indent=2, default=str).encode("utf-8"))
    write_atomically(tree.area(REPORTS) / f"{base}.txt", textreport.refused(name, file, body).encode("utf-8"))


class Pickup:
    """Takes files one task each (a few at a time), never the same file twice at once."""

    def __init__(self, pool: asyncpg.Pool, *, max_body: int,
                 parse_process: Callable[[], ParseProcess | None] = lambda: None, concurrency: int = 4) -> None:
        self.pool = pool
        self.max_body = max_body
        self.parse_process = parse_process
        self._busy: set[tuple[Path, str]] = set()
        self._tasks: set[asyncio.Task[None]] = set()
        self._slots = asyncio.Semaphore(concurrency)

    def submit(self, tree: Tree, name: str) -> bool:
        key = (tree.root, name)
        if key in self._busy or not names.safe_name(name) or names.is_temporary(name):
            return False
        self._busy.add(key)
        task = asyncio.create_task(self._take(tree, name), name=f"pickup {tree.supplier.code}/{name}")
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)
        return True

    def busy(self, tree: Tree, name: str) -> bool:
        return (tree.root, name) in self._busy

    async def _take(self, tree: Tree, name: str) -> None:
        try:
            async with self._slots:
                where = await take(tree, name, self.pool, max_body=self.max_body, parse_process=self.parse_process())
            log.info("%s: %s -> %s", tree.supplier.code, name, where)
        except asyncio.CancelledError:
            raise
        except Exception:
            log.exception("%s: taking %s failed; it stays in incoming/ for the next start", tree.supplier.code, name)
        finally:
            self._busy.discard((tree.root, name))

    def scan(self, tree: Tree) -> int:
        """Take what is waiting in a tree's incoming/ (after a restart); return how many."""
        return sum(self.submit(tree, name) for name in tree.complete_files())

    async def idle(self) -> None:
        """Wait until nothing is being taken (tests, shutdown)."""
        while self._tasks:
            await asyncio.gather(*list(self._tasks), return_exceptions=True)

    async def close(self) -> None:
        for t in list(self._tasks):
            t.cancel()
        await asyncio.gather(*list(self._tasks), return_exceptions=True)
