"""`forvarv notifications …` through the real command line (a subprocess on the test database)."""

from __future__ import annotations

import asyncio
import json
import os
import sys
from pathlib import Path

import asyncpg

from tests.outbox.helpers import one_delivery, world
from tests.outbox.seed import Title

ROOT = Path(__file__).resolve().parents[2]


async def forvarv(db_url: str, tmp_path: Path, *args: str) -> tuple[int, str, str]:
    env = {
        **os.environ,
        "FORVARV_DATABASE_URL": db_url,
        "FORVARV_DATA_DIR": str(tmp_path),
        "FORVARV_PUBLIC_URL": "https://forvarv.example.org",
    }
    proc = await asyncio.create_subprocess_exec(
        sys.executable,
        "-c",
        "import sys; from gateway.cli import main; sys.exit(main())",
        *args,
        cwd=ROOT,
        env=env,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )
    out, err = await asyncio.wait_for(proc.communicate(), 60)
    assert proc.returncode is not None
    return proc.returncode, out.decode(), err.decode()


async def test_list_show_resend(db_url: str, pool: asyncpg.Pool, tmp_path: Path) -> None:
    async with pool.acquire() as conn:
        sid = await world(conn)
        await one_delivery(conn, sid, [Title("Pippi", "created", [("Sods", "added"), ("Li", "added")])])
        await conn.execute(
            "UPDATE notifications SET status = 'failed', attempts = 2, last_error = '550 5.1.1 no such user' "
            "WHERE sigel = 'Li'"
        )
        li = await conn.fetchval("SELECT id FROM notifications WHERE sigel = 'Li'")

    code, out, _ = await forvarv(db_url, tmp_path, "notifications", "list")
    assert code == 0
    lines = out.splitlines()
    assert lines[0].split()[:6] == ["id", "kind", "sigel", "delivery", "status", "try"]
    assert len(lines) == 3

    code, out, _ = await forvarv(db_url, tmp_path, "notifications", "list", "--status", "failed", "--json")
    assert code == 0
    (row,) = [json.loads(line) for line in out.splitlines()]
    assert (row["id"], row["sigel"], row["status"], row["last_error"]) == (
        li,
        "Li",
        "failed",
        "550 5.1.1 no such user",
    )

    code, _, err = await forvarv(db_url, tmp_path, "notifications", "list", "--status", "lost")
    assert code == 2
    assert "unknown status lost" in err

    code, out, _ = await forvarv(db_url, tmp_path, "notifications", "show", str(li))
    assert code == 0
    assert "status: failed" in out
    assert "Subject: =?utf-8?" in out

    code, out, _ = await forvarv(db_url, tmp_path, "notifications", "resend", str(li))
    assert code == 0
    assert f"notification {li} queued" in out
    async with pool.acquire() as conn:
        assert await conn.fetchval("SELECT status FROM notifications WHERE id = $1", li) == "pending"

    code, _, err = await forvarv(db_url, tmp_path, "notifications", "resend", "999999")
    assert code == 1
    assert "no notification 999999" in err
