"""The embedded PostgreSQL starts again after a reboot that left its postmaster.pid behind, even
when that pid now belongs to another live process."""

from __future__ import annotations

import asyncio
import os
import subprocess
import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.ops import procs


def _env(data_dir: Path) -> dict[str, str]:
    e = {k: v for k, v in os.environ.items() if not k.startswith("FORVARV_")}
    e["FORVARV_DATA_DIR"] = str(data_dir)
    return e


@pytest.fixture
def data() -> Iterator[Path]:
    """A data folder outside pytest's own: the embedded server runs as an unprivileged user when we
    are root, and pytest makes its base folder private again whenever another session starts."""
    with tempfile.TemporaryDirectory(prefix="forvarv-embedded-test-") as tmp:
        os.chmod(tmp, 0o755)
        yield Path(tmp) / "data"


async def _forvarv(environ: dict[str, str], *args: str) -> tuple[int, str]:
    proc = await asyncio.create_subprocess_exec(procs.FORVARV, *args, env=environ, stdout=asyncio.subprocess.PIPE,
                                                stderr=asyncio.subprocess.STDOUT)
    out, _ = await asyncio.wait_for(proc.communicate(), 180)
    assert proc.returncode is not None
    return proc.returncode, out.decode()


async def test_a_stale_postmaster_pid_of_a_live_process_does_not_stop_the_start(data: Path) -> None:
    environ = _env(data)
    code, out = await _forvarv(environ, "migrate")
    assert code == 0, out
    lock = data / "pgdata" / "postmaster.pid"
    assert not lock.exists()  # stopped cleanly when the command ended
    # A reboot: the server died without removing its lock file, and its pid went to an unrelated
    # process that is alive now. Without the gateway's check, PostgreSQL (and the embedded
    # package) take that process for the server and refuse to start / connect to nothing.
    unrelated = subprocess.Popen(["sleep", "300"])  # noqa: ASYNC220 - a plain child to point at
    try:
        socket_dir = data / "pgdata"
        lock.write_text(f"{unrelated.pid}\n{data / 'pgdata'}\n1700000000\n5432\n{socket_dir}\n\n"
                        "  5432001         0\nready   \n")
        os.chmod(lock, 0o600)
        code, out = await _forvarv(environ, "-v", "migrate")
        assert code == 0, out
        assert "stale" in out and str(unrelated.pid) in out, out
        assert unrelated.poll() is None  # the other process was left alone
        code, out = await _forvarv(environ, "supplier", "list")
        assert code == 0, out
    finally:
        unrelated.kill()
        unrelated.wait()


async def test_a_running_server_is_not_taken_for_stale(data: Path) -> None:
    from gateway.store import embedded

    embedded.start(data)
    try:
        assert (data / "pgdata" / "postmaster.pid").exists()
        assert embedded.clear_stale_lock(data / "pgdata") is False
        assert (data / "pgdata" / "postmaster.pid").exists()
    finally:
        embedded.stop(data)
