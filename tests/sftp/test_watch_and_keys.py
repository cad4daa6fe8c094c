"""`forvarv watch DIR`, `forvarv supplier key …`, and the size limit on SFTP uploads."""

from __future__ import annotations

import asyncio
import json
import os
import signal
import sys
import time
from pathlib import Path

import asyncpg
import pytest

from gateway.config import Settings
from gateway.sftp import keys
from tests.intake.helpers import ADMIN_TOKEN, seed_registry
from tests.intake.marcxml import bib, collection, holding
from tests.sftp.conftest import Gateway
from tests.sftp.helpers import make_key, needs_openssh, sftp
from tests.sftp.test_sftp import deliveries, reports_of

pytestmark = needs_openssh


async def forvarv(db_url: str, tmp_path: Path, *args: str, stdin: bytes | None = None) -> tuple[int, str, str]:
    env = {**os.environ, "FORVARV_DATABASE_URL": db_url, "FORVARV_DATA_DIR": str(tmp_path / "cli-data"),
           "FORVARV_SECRET": "test-secret"}
    proc = await asyncio.create_subprocess_exec(sys.executable, "-m", "gateway.cli", *args, env=env,
                                                stdin=asyncio.subprocess.PIPE, stdout=asyncio.subprocess.PIPE,
                                                stderr=asyncio.subprocess.PIPE)
    out, err = await asyncio.wait_for(proc.communicate(stdin), 120)
    assert proc.returncode is not None
    return proc.returncode, out.decode(), err.decode()


async def test_watch_takes_complete_files_with_the_same_moves_and_reports(db_url: str, pool: asyncpg.Pool,
                                                                         tmp_path: Path) -> None:
    async with pool.acquire() as conn:
        await seed_registry(conn)
    drop = tmp_path / "drop"
    for code in ("BOKR", "NOSUCH"):
        (drop / code / "incoming").mkdir(parents=True)
    good = collection(bib(own_id="w1", isbn=["9789150222319"]), holding("Sods"))
    (drop / "BOKR" / "incoming" / "BOKR_[Sods]_[20260302080000].xml").write_bytes(good)
    (drop / "BOKR" / "incoming" / "bad.xml").write_bytes(b"not xml at all")
    (drop / "BOKR" / "incoming" / "later.xml.part").write_bytes(good)       # still being written
    (drop / "BOKR" / "incoming" / ".hidden.xml").write_bytes(good)
    os.symlink("/etc/passwd", drop / "BOKR" / "incoming" / "link.xml")
    (drop / "NOSUCH" / "incoming" / "x.xml").write_bytes(good)              # not a supplier
    rc, _out, err = await forvarv(db_url, tmp_path, "watch", str(drop), "--once", "--settle", "0")
    assert rc == 0, err
    bokr = drop / "BOKR"
    assert sorted(p.name for p in (bokr / "incoming").iterdir()) == [".hidden.xml", "later.xml.part"]
    assert sorted(p.name for p in (bokr / "processed").iterdir()) == ["BOKR_[Sods]_[20260302080000].xml"]
    assert sorted(p.name for p in (bokr / "failed").iterdir()) == ["bad.xml", "link.xml"]
    assert (bokr / "failed" / "link.xml").is_symlink()  # moved, never followed
    report = json.loads((bokr / "reports" / "BOKR_[Sods]_[20260302080000].json").read_text())
    assert report["status"] == "done" and report["summary"]["holdings_added"] == 1
    assert report["source"] == "watch:BOKR_[Sods]_[20260302080000].xml" and report["file"]["sigel"] == "Sods"
    assert json.loads((bokr / "reports" / "bad.json").read_text())["error"] == "bad_payload"
    assert json.loads((bokr / "reports" / "link.json").read_text())["error"] == "not_a_file"
    assert (bokr / "reports" / "BOKR_[Sods]_[20260302080000].txt").read_text().startswith(f"Delivery {report['id']}")
    assert list((drop / "NOSUCH" / "incoming").iterdir()) == [drop / "NOSUCH" / "incoming" / "x.xml"]
    async with pool.acquire() as conn:
        assert await conn.fetchval("SELECT count(*) FROM deliveries") == 1


async def test_watch_keeps_a_heartbeat_and_stops_cleanly_on_sigterm(db_url: str, pool: asyncpg.Pool,
                                                                     tmp_path: Path) -> None:
    """A long-running `forvarv watch` is one of the fleet: its row in `processes` (the console and
    /ready see it), and SIGTERM ends it with exit code 0 and its row removed."""
    async with pool.acquire() as conn:
        await seed_registry(conn)
    incoming = tmp_path / "drop" / "BOKR" / "incoming"
    incoming.mkdir(parents=True)
    env = {**os.environ, "FORVARV_DATABASE_URL": db_url, "FORVARV_DATA_DIR": str(tmp_path / "cli-data"),
           "FORVARV_SECRET": "test-secret", "FORVARV_HEARTBEAT_SECONDS": "0.5"}
    proc = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "gateway.cli", "watch", str(tmp_path / "drop"), "--settle", "0", "--interval", "0.2",
        env=env, stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE)
    try:
        assert proc.stdout is not None
        banner = (await asyncio.wait_for(proc.stdout.readline(), 60)).decode()
        assert banner.startswith("watching") and f"pid {proc.pid}" in banner
        async with pool.acquire() as conn:
            row = await conn.fetchrow("SELECT role, duties, stopping FROM processes WHERE pid = $1", proc.pid)
        assert row is not None and row["role"] == "watch" and row["duties"] == ["pickup", "load"]
        assert not row["stopping"]
        (incoming / "one.xml").write_bytes(collection(bib(own_id="h1", isbn=["9789150222319"]), holding("Sods")))
        report = tmp_path / "drop" / "BOKR" / "reports" / "one.json"
        for _ in range(600):
            if report.exists() and json.loads(report.read_text()).get("status") == "done":
                break
            await asyncio.sleep(0.1)
        assert json.loads(report.read_text())["summary"]["holdings_added"] == 1
        proc.send_signal(signal.SIGTERM)
        _out, err = await asyncio.wait_for(proc.communicate(), 60)
        assert proc.returncode == 0, err.decode()
        assert "Traceback" not in err.decode()
    finally:
        if proc.returncode is None:
            proc.kill()
            await proc.wait()
    async with pool.acquire() as conn:
        assert await conn.fetchval("SELECT count(*) FROM processes WHERE pid = $1", proc.pid) == 0


async def test_watch_waits_for_a_file_to_settle(db_url: str, pool: asyncpg.Pool, tmp_path: Path) -> None:
    from gateway.sftp.watch import Watcher

    async with pool.acquire() as conn:
        await seed_registry(conn)
    incoming = tmp_path / "drop" / "BOKR" / "incoming"
    incoming.mkdir(parents=True)
    path = incoming / "growing.xml"
    path.write_bytes(b"<collection")
    watcher = Watcher(pool, tmp_path / "drop", settle=1.0, max_body=10_000_000)
    assert await watcher.scan() == 0           # just written
    await asyncio.sleep(0.3)
    with path.open("ab") as f:
        f.write(b" xmlns='http://www.loc.gov/MARC21/slim'>")
    assert await watcher.scan() == 0           # changed
    old = time.time() - 60
    os.utime(path, (old, old))                 # as if unchanged for a minute (e.g. renamed into place)
    assert await watcher.scan() == 0           # its signature changed since the last look
    assert await watcher.scan() == 1
    await watcher.pickup.idle()
    assert (tmp_path / "drop" / "BOKR" / "failed" / "growing.xml").exists()  # no records: refused


async def test_key_commands(db_url: str, pool: asyncpg.Pool, tmp_path: Path) -> None:
    async with pool.acquire() as conn:
        await seed_registry(conn)
    make_key(tmp_path, "k")
    rc, out, err = await forvarv(db_url, tmp_path, "supplier", "key", "add", "BOKR", str(tmp_path / "k.pub"))
    assert rc == 0, err
    assert "SHA256:" in out
    rc, out, err = await forvarv(db_url, tmp_path, "supplier", "key", "add", "ADLIB", str(tmp_path / "k.pub"))
    assert rc == 1 and "registered already (to BOKR)" in err
    rc, out, err = await forvarv(db_url, tmp_path, "supplier", "key", "add", "BOKR", str(tmp_path / "k"))
    assert rc == 1 and "private key" in err
    rc, out, err = await forvarv(db_url, tmp_path, "supplier", "key", "add", "BOKR", "-", stdin=b"ssh-ed25519 bogus")
    assert rc == 1 and "not an SSH public key" in err
    rc, out, err = await forvarv(db_url, tmp_path, "supplier", "key", "list", "BOKR", "--json")
    assert rc == 0, err
    (listed,) = json.loads(out)
    assert listed["algorithm"] == "ssh-ed25519" and listed["comment"] == "k@test"
    rc, out, err = await forvarv(db_url, tmp_path, "supplier", "key", "remove", "BOKR", listed["fingerprint"])
    assert rc == 0, err
    async with pool.acquire() as conn:
        assert await keys.list_keys(conn, "BOKR") == []


async def test_admin_api_refuses_bad_keys(gateway: Gateway) -> None:
    h = {"Authorization": f"Bearer {ADMIN_TOKEN}"}
    c = gateway.client
    for body in ({"key": "ssh-rsa nonsense"}, {"key": 12}, {}, ["x"]):
        resp = await c.post("/admin/suppliers/BOKR/keys", json=body, headers=h)
        assert resp.status == 400, body
        assert (await resp.json())["field" if isinstance(body, dict) else "error"]
    resp = await c.post("/admin/suppliers/NOSUCH/keys", json={"key": (gateway.work / "bokr.pub").read_text()},
                        headers=h)
    assert resp.status == 404
    resp = await c.post("/admin/suppliers/ADLIB/keys", json={"key": (gateway.work / "bokr.pub").read_text()},
                        headers=h)
    assert resp.status == 409
    resp = await c.get("/admin/suppliers/BOKR/keys", headers=h)
    assert [k["comment"] for k in (await resp.json())["keys"]] == ["bokr@test"]
    resp = await c.get("/admin/suppliers/BOKR/keys")
    assert resp.status == 401
    resp = await c.delete("/admin/suppliers/BOKR/keys/999", headers=h)
    assert resp.status == 404


@pytest.fixture
def sftp_settings(tmp_path: Path) -> Settings:
    """A small size limit for this module's gateway."""
    return Settings(data_dir=tmp_path / "data", admin_token=ADMIN_TOKEN, secret="test-secret", batch_size=50,
                    sftp_port=0, sftp_host="127.0.0.1", parse_process=False, max_body=20_000)


async def test_a_file_over_the_limit_is_refused_and_loads_nothing(gateway: Gateway) -> None:
    gw = gateway
    (gw.work / "big.xml").write_bytes(collection(*[bib(own_id=f"q{i}", title="x" * 300) for i in range(100)]))
    r = await sftp(gw.port, "BOKR", gw.key, ["put big.xml incoming/"], gw.work)
    assert r.rc != 0
    report = await reports_of(gw, "BOKR", "big")
    assert report["error"] == "payload_too_large" and "20000" in report["message"]
    assert await deliveries(gw) == 0
    small = collection(bib(own_id="s1", isbn=["9789150222319"]))
    (gw.work / "small.xml").write_bytes(small)
    r = await sftp(gw.port, "BOKR", gw.key, ["put small.xml incoming/"], gw.work)
    assert r.rc == 0, r.err
    assert (await reports_of(gw, "BOKR", "small"))["status"] == "done"
