"""SFTP delivery through the real OpenSSH client: upload, pickup, reports, and what is refused."""

from __future__ import annotations

import asyncio
import json
import os
import signal
from pathlib import Path

import pytest

from gateway.http.appkeys import POOL
from gateway.registry import get_supplier
from gateway.sftp.tree import Tree, sftp_tree
from tests.intake.marcxml import bib, collection, holding
from tests.sftp.conftest import Gateway
from tests.sftp.helpers import make_key, needs_openssh, sftp, sftp_args

pytestmark = needs_openssh

LIBRIS_NAME = "BOKR_[Sods]_[20260301120000]_1.xml"


def body(*isbns: str, sigel: str = "Sods") -> bytes:
    records = []
    for i, isbn in enumerate(isbns):
        records += [bib(own_id=f"b{i}-{isbn}", isbn=[isbn], title=f"Bok {isbn}"), holding(sigel)]
    return collection(*records)


async def tree_of(gw: Gateway, code: str) -> Tree:
    """The supplier's tree as the server lays it out in the data directory."""
    async with gw.app[POOL].acquire() as conn:
        return sftp_tree(gw.data_dir, await get_supplier(conn, code))


async def deliveries(gw: Gateway) -> int:
    async with gw.app[POOL].acquire() as conn:
        return int(await conn.fetchval("SELECT count(*) FROM deliveries"))


def listed(out: str) -> list[str]:
    """What `ls -1` printed (sftp -b echoes each command after `sftp> `)."""
    return [line.strip() for line in out.splitlines() if line.strip() and not line.startswith("sftp>")]


def partials(tree: Tree) -> list[Path]:
    folder = tree.root / ".uploads"
    return list(folder.iterdir()) if folder.is_dir() else []


async def reports_of(gw: Gateway, supplier: str, base: str, seconds: float = 60) -> dict:
    """Wait for reports/BASE.json in the supplier's tree (on disk: the server writes it)."""
    tree = await tree_of(gw, supplier)
    path = tree.area("reports") / f"{base}.json"
    async with asyncio.timeout(seconds):
        while not path.exists():  # noqa: ASYNC110
            await asyncio.sleep(0.1)
        while (tree.area("incoming") / f"{base}.xml").exists():  # noqa: ASYNC110 - moved after the report
            await asyncio.sleep(0.05)
    return json.loads(path.read_text())


async def test_upload_is_taken_and_its_reports_can_be_downloaded(gateway: Gateway) -> None:
    gw = gateway
    (gw.work / LIBRIS_NAME).write_bytes(body("9789150222319", "9789127152984"))
    r = await sftp(gw.port, "BOKR", gw.key, ["cd incoming", f"put {LIBRIS_NAME}", "ls -1"], gw.work)
    assert r.rc == 0, r.err
    report = await reports_of(gw, "BOKR", "BOKR_[Sods]_[20260301120000]_1")
    assert report["status"] == "done"
    assert report["summary"]["created"] == 2 and report["summary"]["holdings_added"] == 2
    assert report["source"] == f"sftp:{LIBRIS_NAME}"
    assert report["file"] == {"name": LIBRIS_NAME, "convention": "libris", "supplier": "BOKR", "sigel": "Sods",
                              "written_at": "2026-03-01T12:00:00"}
    # the same report as the HTTP API's
    token = gw.world.supplier_token
    resp = await gw.client.get(f"/deliveries/{report['id']}", headers={"Authorization": f"Bearer {token}"})
    assert await resp.json() == report

    base = "BOKR_[Sods]_[20260301120000]_1"
    r = await sftp(gw.port, "BOKR", gw.key, ["ls -1 /incoming", "ls -1 /processed", "ls -1 reports",
                                             f'get "reports/{base}.json" got.json', f'get "reports/{base}.txt" got.txt',
                                             f'get "processed/{LIBRIS_NAME}" back.xml'], gw.work)
    assert r.rc == 0, r.err
    assert json.loads((gw.work / "got.json").read_text()) == report
    text = (gw.work / "got.txt").read_text()
    assert f"Delivery {report['id']} from BOKR: done" in text and "created 2" in text and "sigel Sods" in text
    assert (gw.work / "back.xml").read_bytes() == (gw.work / LIBRIS_NAME).read_bytes()
    # the same file again, under another name: the same delivery (idempotent by content)
    (gw.work / "again.xml").write_bytes((gw.work / LIBRIS_NAME).read_bytes())
    r = await sftp(gw.port, "BOKR", gw.key, ["put again.xml incoming/"], gw.work)
    assert r.rc == 0, r.err
    again = await reports_of(gw, "BOKR", "again")
    assert again["id"] == report["id"]
    # reports and processed files can be removed by their supplier
    r = await sftp(gw.port, "BOKR", gw.key, ["rm reports/again.json", "rm processed/again.xml", "ls -1 processed"],
                   gw.work)
    assert r.rc == 0, r.err
    assert listed(r.out) == [f"processed/{LIBRIS_NAME}"]


async def test_unusable_file_goes_to_failed_with_the_intake_error(gateway: Gateway) -> None:
    gw = gateway
    (gw.work / "broken.xml").write_bytes(b"<collection xmlns='http://www.loc.gov/MARC21/slim'><record>")
    r = await sftp(gw.port, "BOKR", gw.key, ["put broken.xml incoming/broken.xml"], gw.work)
    assert r.rc == 0, r.err
    report = await reports_of(gw, "BOKR", "broken")
    assert report["status"] == "refused" and report["error"] == "bad_payload"
    assert "line" in report
    r = await sftp(gw.port, "BOKR", gw.key, ["ls -1 failed", "get reports/broken.txt"], gw.work)
    assert r.rc == 0 and "broken.xml" in r.out
    assert "was refused; nothing of it was loaded" in (gw.work / "broken.txt").read_text()
    assert await deliveries(gw) == 0


async def test_unknown_and_wrong_keys_are_refused(gateway: Gateway) -> None:
    gw = gateway
    stranger = make_key(gw.work, "stranger")
    (gw.work / "x.xml").write_bytes(body("9789150222319"))
    for user, key in (("BOKR", stranger), ("BOKR", gw.other_key), ("NOSUCH", gw.key)):
        r = await sftp(gw.port, user, key, ["put x.xml incoming/"], gw.work)
        assert r.rc != 0
        assert "Permission denied" in r.err, r.err
    # an RSA key registered through the admin API works; removed, it no longer does
    rsa = make_key(gw.work, "rsa", "rsa")
    h = {"Authorization": "Bearer test-admin-token"}
    pub = (gw.work / "rsa.pub").read_text()
    resp = await gw.client.post("/admin/suppliers/BOKR/keys", json={"key": pub}, headers=h)
    assert resp.status == 201
    added = await resp.json()
    r = await sftp(gw.port, "BOKR", rsa, ["ls /"], gw.work)
    assert r.rc == 0, r.err
    resp = await gw.client.delete(f"/admin/suppliers/BOKR/keys/{added['id']}", headers=h)
    assert resp.status == 200
    r = await sftp(gw.port, "BOKR", rsa, ["ls /"], gw.work)
    assert r.rc != 0 and "Permission denied" in r.err


@pytest.mark.parametrize("command", [
    "get ../../etc/passwd",
    "get /../etc/passwd",
    "cd ..",
    "ls /etc",
    "get /etc/passwd",
    "put x.xml ../x.xml",
    "put x.xml /x.xml",
    "put x.xml reports/x.xml",
    "put x.xml processed/x.xml",
    "put x.xml incoming/.hidden.xml",
    "mkdir incoming/sub",
    "mkdir /mine",
    "symlink /incoming /reports/link",
    "ln incoming reports/hard",
    "rm incoming",
    "rename reports processed/r",
    f"get ../supplier-1/reports/{LIBRIS_NAME}",
])
async def test_nothing_escapes_the_tree(gateway: Gateway, command: str) -> None:
    gw = gateway
    (gw.work / "x.xml").write_bytes(body("9789150222319"))
    r = await sftp(gw.port, "BOKR", gw.key, [command], gw.work)
    assert r.rc != 0, (command, r.out, r.err)
    assert not (gw.data_dir / "x.xml").exists()


async def test_two_suppliers_at_once_each_see_only_their_own(gateway: Gateway) -> None:
    gw = gateway
    (gw.work / "bokr.xml").write_bytes(body("9789150222319"))
    (gw.work / "adlib.xml").write_bytes(body("9789127152984", sigel="Other"))
    a, b = await asyncio.gather(
        sftp(gw.port, "BOKR", gw.key, ["put bokr.xml incoming/"], gw.work),
        sftp(gw.port, "ADLIB", gw.other_key, ["put adlib.xml incoming/"], gw.work),
    )
    assert a.rc == 0 and b.rc == 0, (a.err, b.err)
    ra, rb = await asyncio.gather(reports_of(gw, "BOKR", "bokr"), reports_of(gw, "ADLIB", "adlib"))
    assert ra["supplier"] == "BOKR" and rb["supplier"] == "ADLIB" and ra["id"] != rb["id"]
    listing = await sftp(gw.port, "ADLIB", gw.other_key, ["ls -1 /reports /processed /failed /incoming"], gw.work)
    assert "adlib" in listing.out and "bokr" not in listing.out
    r = await sftp(gw.port, "ADLIB", gw.other_key, ["get /reports/bokr.json"], gw.work)
    assert r.rc != 0
    r = await sftp(gw.port, "ADLIB", gw.other_key, ["rm /processed/bokr.xml"], gw.work)
    assert r.rc != 0


async def test_an_upload_cut_off_midway_loads_nothing(gateway: Gateway) -> None:
    gw = gateway
    big = collection(*[bib(own_id=f"k{i}", isbn=[], title=f"Bok {i} " + "x" * 400) for i in range(20000)])
    (gw.work / "big.xml").write_bytes(big)
    batch = gw.work / "kill.txt"
    batch.write_text("put big.xml incoming/big.xml\n")
    # 4 Mbit/s: the ~10 MB upload takes ~20 s; it is killed after a few
    args = sftp_args(gw.port, "BOKR", gw.key, batch)
    args[1:1] = ["-l", "4000"]
    proc = await asyncio.create_subprocess_exec(*args, cwd=gw.work, start_new_session=True,
                                                stdout=asyncio.subprocess.DEVNULL, stderr=asyncio.subprocess.DEVNULL)
    tree = await tree_of(gw, "BOKR")
    async with asyncio.timeout(30):  # wait until part of it has arrived
        while not any(p.stat().st_size > 500_000 for p in partials(tree)):  # noqa: ASYNC110
            await asyncio.sleep(0.1)
    os.killpg(proc.pid, signal.SIGKILL)
    await proc.wait()
    async with asyncio.timeout(20):  # the server notices the connection is gone and drops the partial file
        while partials(tree):  # noqa: ASYNC110
            await asyncio.sleep(0.1)
    await asyncio.sleep(0.5)
    assert list(tree.area("incoming").iterdir()) == []
    assert list(tree.area("reports").iterdir()) == []
    assert await deliveries(gw) == 0


async def test_temporary_name_is_taken_once_renamed(gateway: Gateway) -> None:
    gw = gateway
    (gw.work / "a.xml").write_bytes(body("9789150222319"))
    r = await sftp(gw.port, "BOKR", gw.key, ["put a.xml incoming/a.xml.filepart", "ls -1 incoming"], gw.work)
    assert r.rc == 0 and "a.xml.filepart" in r.out
    await asyncio.sleep(0.5)
    assert await deliveries(gw) == 0
    r = await sftp(gw.port, "BOKR", gw.key, ["rename incoming/a.xml.filepart incoming/a.xml"], gw.work)
    assert r.rc == 0, r.err
    report = await reports_of(gw, "BOKR", "a")
    assert report["status"] == "done" and report["file"] == {"name": "a.xml"}
