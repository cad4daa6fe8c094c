"""Records prepared in the second process (gateway.intake.parse_process.ParseProcess) are the same as inline,
faults and a dead process surface as errors, and a delivery loaded that way is stored right."""

from __future__ import annotations

import asyncio
import contextlib
import os
import signal
import struct
import sys
from collections.abc import AsyncIterator, Iterator
from concurrent.futures.process import BrokenProcessPool
from pathlib import Path

import asyncpg
import pytest
from lxml import etree

from gateway import registry
from gateway.demo import synthetic
from gateway.intake import loader
from gateway.intake import receive as intake
from gateway.intake.parse_process import ParseProcess, prepared_stream
from gateway.intake.prepare import DoneBib, Prepared, PreparedBib, PreparedHolding, Spec
from protocols.marc import writer
from protocols.marc.xmlreader import XMLSyntaxFault, read_marcxml
from tests.intake.helpers import seed_registry
from tests.marc.helpers import fixture_files

NS = {"m": "http://www.loc.gov/MARC21/slim"}
PROJECT = Path(__file__).resolve().parent.parent.parent


@pytest.fixture(scope="module")
def process() -> Iterator[ParseProcess]:
    p = ParseProcess(min_records=0)
    yield p
    p.shutdown()


async def _chunks(data: bytes, size: int = 100_000) -> AsyncIterator[bytes]:
    for i in range(0, len(data), size):
        yield data[i:i + size]


async def _prepare(data: bytes, spec: Spec, process: ParseProcess | None) -> list[Prepared]:
    out: list[Prepared] = []
    stream = prepared_stream(_chunks(data), spec, process, record_count=0)
    async with contextlib.aclosing(stream):
        async for items in stream:
            out.extend(items)
    return out


def _spec(done: frozenset[int] = frozenset()) -> Spec:
    return Spec("marcxml", None, "BOKR", "FORVARV", done)


async def test_the_second_process_prepares_exactly_what_inline_preparing_does(process: ParseProcess) -> None:
    payloads = [synthetic.delivery(300, ["Sods", "Nyks"], seed=5)] + [p.read_bytes() for p in fixture_files()]
    for data in payloads:
        inline = await _prepare(data, _spec(), None)
        child = await _prepare(data, _spec(), process)
        assert inline, "every payload holds records"
        assert child == inline
    kinds = {type(item) for item in inline}
    assert PreparedBib in kinds


async def test_iso2709_is_prepared_the_same_in_the_second_process(process: ParseProcess) -> None:
    records = [r.record for r in read_marcxml([synthetic.delivery(150, ["Sods"], seed=13)])]
    data = b"".join(writer.to_iso2709(r) for r in records if r is not None)
    spec = Spec("iso2709", None, "BOKR", "FORVARV", frozenset())
    inline = await _prepare(data, spec, None)
    assert len(inline) == 300
    assert await _prepare(data, spec, process) == inline


async def test_a_resumed_delivery_skips_what_was_written_in_either_process(process: ParseProcess) -> None:
    data = synthetic.delivery(120, ["Sods"], seed=6)
    done = frozenset(range(1, 101))  # 50 bibliographic records and their holdings
    inline = await _prepare(data, _spec(done), None)
    child = await _prepare(data, _spec(done), process)
    assert child == inline
    assert sum(isinstance(i, PreparedHolding) for i in child) == 70
    assert sum(isinstance(i, PreparedBib) for i in child) == 70
    # the done holdings are left out; the done bibliographic records stay, as possible parents
    assert sum(isinstance(i, DoneBib) for i in child) == 50
    assert len(child) == 50 + 70 + 70


async def test_a_syntax_fault_in_the_second_process_is_raised_here_with_its_position(
        process: ParseProcess) -> None:
    data = synthetic.delivery(200, ["Sods"], seed=7)
    broken = data[: len(data) // 2] + b"<datafield tag='245'><subfield code='a'>x</datafeld>" + data[len(data) // 2:]
    with pytest.raises(XMLSyntaxFault) as inline:
        await _prepare(broken, _spec(), None)
    with pytest.raises(XMLSyntaxFault) as child:
        await _prepare(broken, _spec(), process)
    assert (child.value.code, child.value.line, child.value.column) == (
        inline.value.code, inline.value.line, inline.value.column)
    assert child.value.line is not None
    # the process survives a fault and serves the next delivery
    assert len(await _prepare(synthetic.delivery(10, ["Sods"], seed=8), _spec(), process)) == 20


async def test_a_dead_second_process_fails_the_attempt_and_the_next_one_starts_afresh() -> None:
    process = ParseProcess(min_records=0)
    try:
        data = synthetic.delivery(3000, ["Sods"], seed=9)
        stream = prepared_stream(_chunks(data), _spec(), process, record_count=0)

        async def kill_while_reading() -> None:
            async with contextlib.aclosing(stream):
                async for _ in stream:
                    for pid in list(process.executor()._processes):
                        os.kill(pid, signal.SIGKILL)

        with pytest.raises(BrokenProcessPool):
            await kill_while_reading()
        again = await _prepare(synthetic.delivery(10, ["Sods"], seed=10), _spec(), process)
        assert len(again) == 20
    finally:
        process.shutdown()


def _die_halfway_through_the_answer() -> None:
    """In the second process: begin writing an answer of 100,000 bytes, write ten, and die."""
    frame = sys._getframe()
    while frame.f_code.co_name != "_process_worker":  # the pool's loop in the second process
        assert frame.f_back is not None
        frame = frame.f_back
    answers = frame.f_locals["result_queue"]
    os.write(answers._writer.fileno(), struct.pack("!i", 100_000) + b"x" * 10)
    os.kill(os.getpid(), signal.SIGKILL)


async def test_a_second_process_that_dies_halfway_through_an_answer_fails_the_call() -> None:
    """Not a wait for ever: the rest of the answer never comes, and the end of the pipe does."""
    process = ParseProcess(min_records=0)
    try:
        await process.start()
        executor = process.executor()
        call = asyncio.get_running_loop().run_in_executor(executor, _die_halfway_through_the_answer)
        try:
            with pytest.raises(BrokenProcessPool):
                await asyncio.wait_for(asyncio.shield(call), 60)  # a ceiling for a hang, not a measure
        except TimeoutError:
            # the pool's thread waits for the rest: give it (this process's copy of the write end
            # is open, or there would have been no wait), so that the test ends rather than hangs
            os.write(executor._result_queue._writer.fileno(), bytes(100_000))  # type: ignore[attr-defined]
            with contextlib.suppress(BaseException):
                await call
            pytest.fail("a call whose answer the second process died writing waited for ever")
        process.broken(executor)
        again = await _prepare(synthetic.delivery(10, ["Sods"], seed=10), _spec(), process)
        assert len(again) == 20
    finally:
        process.shutdown()


async def test_a_second_process_that_died_while_idle_is_replaced_after_one_failed_attempt() -> None:
    process = ParseProcess(min_records=0)
    try:
        await process.start()
        for pid in list(process.executor()._processes):
            os.kill(pid, signal.SIGKILL)
        for _ in range(100):  # until the pool has noticed
            if process.executor()._broken:
                break
            await asyncio.sleep(0.05)
        data = synthetic.delivery(10, ["Sods"], seed=15)
        with pytest.raises(BrokenProcessPool):
            await _prepare(data, _spec(), process)
        assert len(await _prepare(data, _spec(), process)) == 20
    finally:
        process.shutdown()


async def _receive(pool: asyncpg.Pool, body: bytes) -> int:
    async with pool.acquire() as conn:
        supplier = await registry.get_supplier(conn, "BOKR")
    received = await intake.receive(pool, supplier, _chunks(body, 65536), content_type="application/xml",
                                    max_body=10**9)
    return received.id


TRICKY = b"""<?xml version="1.0" encoding="UTF-8"?>
<collection xmlns="http://www.loc.gov/MARC21/slim">
<record><leader>00000nam a2200000 i 4500</leader>
<controlfield tag="001">T-1</controlfield>
<controlfield tag="008">200101s2020    sw            000 0 swe d</controlfield>
<datafield tag="020" ind1=" " ind2=" "><subfield code="a">9789150222319</subfield></datafield>
<datafield tag="245" ind1="1" ind2="0">
  <subfield code="a">Slots &lt;controlfield tag="001"&gt;&lt;/controlfield&gt;</subfield></datafield>
<datafield tag="500" ind1=" " ind2=" ">
  <subfield code="a">&lt;controlfield tag="005"&gt;&lt;/controlfield&gt; &amp; more</subfield></datafield>
</record>
<record><leader>00000nx  a2200000 i 4500</leader>
<controlfield tag="001">H-1</controlfield>
<controlfield tag="004">T-1</controlfield>
<datafield tag="852" ind1=" " ind2=" "><subfield code="b">Sods</subfield></datafield>
</record>
</collection>
"""


async def test_a_delivery_loaded_through_the_second_process_is_stored_with_its_ids(
        pool: asyncpg.Pool, process: ParseProcess) -> None:
    async with pool.acquire() as conn:
        await seed_registry(conn)
    delivery_id = await _receive(pool, TRICKY)
    totals = await loader.load_delivery(pool, delivery_id, org_code="FORVARV", parse_process=process)
    assert totals["created"] == 1 and totals["holdings_added"] == 1
    async with pool.acquire() as conn:
        bib = await conn.fetchrow("SELECT id, marcxml FROM bib_records")
        holding = await conn.fetchrow("SELECT id, bib_id, marcxml FROM holdings")
    record = etree.fromstring(bib["marcxml"].encode())
    assert record.xpath("m:controlfield[@tag='001']/text()", namespaces=NS) == [str(bib["id"])]
    assert record.xpath("m:controlfield[@tag='003']/text()", namespaces=NS) == ["FORVARV"]
    assert len(record.xpath("m:controlfield[@tag='005']/text()", namespaces=NS)[0]) == 16
    assert record.xpath("m:datafield[@tag='035']/m:subfield[@code='a']/text()", namespaces=NS) == ["(BOKR)T-1"]
    # text that looks like an empty control field is data, not a slot
    assert record.xpath("m:datafield[@tag='245']/m:subfield/text()", namespaces=NS) == [
        'Slots <controlfield tag="001"></controlfield>']
    assert record.xpath("m:datafield[@tag='500']/m:subfield/text()", namespaces=NS) == [
        '<controlfield tag="005"></controlfield> & more']
    held = etree.fromstring(holding["marcxml"].encode())
    assert held.xpath("m:controlfield/@tag", namespaces=NS) == ["001", "003", "004", "005"]
    assert held.xpath("m:controlfield[@tag='001']/text()", namespaces=NS) == [str(holding["id"])]
    assert held.xpath("m:controlfield[@tag='004']/text()", namespaces=NS) == [str(bib["id"])]


CHILD_OF_A_DOOMED_PARENT = """
import sys, time
from gateway.intake.parse_process import ParseProcess
p = ParseProcess(min_records=0)
pids = p.executor().submit(int, 1).result() and list(p.executor()._processes)
print(pids[0], flush=True)
time.sleep(600)
"""


async def test_the_second_process_follows_its_parent_killed_with_sigkill() -> None:
    parent = await asyncio.create_subprocess_exec(
        sys.executable, "-c", CHILD_OF_A_DOOMED_PARENT, cwd=PROJECT, stdout=asyncio.subprocess.PIPE)
    assert parent.stdout is not None
    child = int((await asyncio.wait_for(parent.stdout.readline(), 60)).decode())
    os.kill(child, 0)  # alive while its parent is
    parent.send_signal(signal.SIGKILL)
    await parent.wait()
    for _ in range(100):
        if not _alive(child):
            break
        await asyncio.sleep(0.1)
    assert not _alive(child), "the second process outlived its parent by 10 s"


def _alive(pid: int) -> bool:
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except FileNotFoundError:
        return False
    return state != "Z"  # a zombie has exited (its new parent reaps it)


async def test_a_body_scanned_in_the_second_process_is_refused_with_503_if_that_process_dies(
        pool: asyncpg.Pool) -> None:
    from gateway.intake.receive import ScanUnavailable

    async with pool.acquire() as conn:
        await seed_registry(conn)
        supplier = await registry.get_supplier(conn, "BOKR")
    process = ParseProcess()
    try:
        await process.start()
        body = synthetic.delivery(2000, ["Sods"], seed=14)

        async def killing() -> AsyncIterator[bytes]:
            for i in range(0, len(body), 65536):
                if i == 65536 * 4:
                    for pid in list(process.executor()._processes):
                        os.kill(pid, signal.SIGKILL)
                yield body[i:i + 65536]

        with pytest.raises(ScanUnavailable):
            await intake.receive(pool, supplier, killing(), content_type="application/xml", max_body=10**8,
                                 parse_process=process)
        async with pool.acquire() as conn:
            assert await conn.fetchval("SELECT count(*) FROM deliveries") == 0
            assert await conn.fetchval("SELECT count(*) FROM delivery_chunks") == 0
        # the next body is scanned here (the process is not running any more) and is received
        assert not process.running
        received = await intake.receive(pool, supplier, _chunks(body, 65536), content_type="application/xml",
                                        max_body=10**8, parse_process=process)
        assert received.created
    finally:
        process.shutdown()


async def test_a_worker_whose_second_process_dies_mid_delivery_resumes_it_without_loss_or_doubles(
        pool: asyncpg.Pool) -> None:
    from gateway.config import Settings
    from gateway.intake import workers

    async with pool.acquire() as conn:
        await seed_registry(conn)
    n = 1500
    delivery_id = await _receive(pool, synthetic.delivery(n, ["Sods", "Nyks"], seed=16))
    process = ParseProcess(min_records=0)
    try:
        await process.start()
        async with pool.acquire() as lease:
            attempt = asyncio.create_task(workers.process_one(pool, Settings(batch_size=50), lease, process))
            for _ in range(600):
                async with pool.acquire() as conn:
                    loaded = await conn.fetchval(
                        "SELECT count(*) FROM delivery_records WHERE delivery_id = $1", delivery_id)
                if loaded >= 100 or attempt.done():
                    break
                await asyncio.sleep(0.02)
            for pid in list(process.executor()._processes):
                os.kill(pid, signal.SIGKILL)
            assert await attempt  # the attempt ended (and said why) instead of hanging
        async with pool.acquire() as conn:
            status, error, partial = await conn.fetchrow(
                "SELECT status, error, (SELECT count(*) FROM delivery_records WHERE delivery_id = $1) "
                "FROM deliveries WHERE id = $1", delivery_id)
        assert status == "processing" and "BrokenProcessPool" in (error or "")
        assert 0 < partial < 2 * n, "the kill should land mid-delivery"
        async with pool.acquire() as lease:
            assert await workers.process_one(pool, Settings(batch_size=50), lease, process)
        async with pool.acquire() as conn:
            row = await conn.fetchrow("SELECT status, attempts, summary FROM deliveries WHERE id = $1", delivery_id)
            positions = await conn.fetchval(
                "SELECT count(DISTINCT position) FROM delivery_records WHERE delivery_id = $1", delivery_id)
            bibs = await conn.fetchval("SELECT count(*) FROM bib_records")
            holdings = await conn.fetchval("SELECT count(*) FROM holdings")
        assert (row["status"], row["attempts"]) == ("done", 2)
        assert positions == 2 * n and bibs == n and holdings == n
        assert row["summary"]["created"] == n and row["summary"]["holdings_added"] == n
    finally:
        process.shutdown()
