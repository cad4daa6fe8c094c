"""Several gateway processes: real subprocesses share the outbox; each message goes out once."""

from __future__ import annotations

import asyncio
import sys
from pathlib import Path

import asyncpg

from tests.outbox.helpers import books_for_both, status_counts
from tests.outbox.smtp import SmtpServer

ROOT = Path(__file__).resolve().parents[2]


async def test_two_sender_processes_send_each_message_once(
    db_url: str, pool: asyncpg.Pool, smtp_server: SmtpServer, tmp_path: Path
) -> None:
    await books_for_both(pool, 30)
    smtp_server.handler.delay = 0.02
    procs = [
        await asyncio.create_subprocess_exec(
            sys.executable,
            "-m",
            "tests.outbox.sender_process",
            db_url,
            str(smtp_server.port),
            str(tmp_path),
            cwd=ROOT,
            stdout=asyncio.subprocess.PIPE,
        )
        for _ in range(2)
    ]
    outs = [await asyncio.wait_for(p.communicate(), 120) for p in procs]
    assert [p.returncode for p in procs] == [0, 0]
    handled = [int(out.decode().split()[-1]) for out, _ in outs]
    assert sum(handled) == 60
    assert min(handled) > 0, handled  # both processes took part
    assert await status_counts(pool) == {"sent": 60}
    assert len(smtp_server.received) == 60
    assert set(smtp_server.by_message_id().values()) == {1}
