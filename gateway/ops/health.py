"""`GET /health` (liveness: the process answers; no database) and `GET /ready` (readiness: the
database answers within a second, the schema is at this version's migration, some process
loads deliveries and some sends the outbox, and the outbox is not stuck).

/ready answers 200 or 503 with a JSON body: `status`, each check's result, and `problems`, one
`{"check", "message"}` per thing that is wrong. It says nothing about suppliers or libraries.
"""

from __future__ import annotations

import asyncio
import functools
import os
from typing import Any

import asyncpg
from aiohttp import web

from gateway.http.appkeys import POOL
from gateway.store import migrations
from gateway.store.queries import load

Q = load("health")

#: The database must answer this fast.
DATABASE_SECONDS = 1.0
#: The other checks together (a few indexed counts) get this long.
CHECKS_SECONDS = 2.0
#: A notification or webhook event due this long ago that nobody took means the outbox is stuck.
STUCK_SECONDS = 600


@functools.cache
def _needed_versions() -> frozenset[int]:
    return frozenset(m.version for m in migrations.available())


async def health(request: web.Request) -> web.Response:
    return web.json_response({"status": "ok", "pid": os.getpid()}, headers={"Cache-Control": "no-store"})


async def _database(pool: asyncpg.Pool) -> str | None:
    """None if the database answered within DATABASE_SECONDS, else what went wrong."""
    try:
        async with asyncio.timeout(DATABASE_SECONDS):
            async with pool.acquire() as conn:
                await conn.fetchval(Q["ping"])
    except TimeoutError:
        return f"no answer within {DATABASE_SECONDS:g} s"
    except (OSError, asyncpg.PostgresError, asyncpg.InterfaceError) as exc:
        return f"cannot use the database: {type(exc).__name__}"
    return None


async def _checks(conn: asyncpg.Connection) -> dict[str, tuple[bool, str]]:
    """Each check's (passed, what it found)."""
    found: dict[str, tuple[bool, str]] = {}
    applied = set(await conn.fetchval(Q["schema_versions"]))
    missing = sorted(_needed_versions() - applied)
    if missing:
        found["schema"] = (False, f"migration {missing[0]:04d} and later not applied (run forvarv migrate)")
    else:
        found["schema"] = (True, f"at {max(_needed_versions()):04d}")
    alive = await conn.fetchrow(Q["alive_duties"])
    found["workers"] = ((True, f"{alive['loaders']} process(es) load deliveries") if alive["loaders"]
                        else (False, "no live process loads deliveries (no worker or serve process beats)"))
    found["senders"] = ((True, f"{alive['senders']} process(es) send the outbox") if alive["senders"]
                        else (False, "no live process sends e-mail and webhooks (no mailer or serve process beats)"))
    stuck = await conn.fetchrow(Q["outbox_stuck"], STUCK_SECONDS)
    if stuck["mail"] or stuck["webhooks"]:
        found["outbox"] = (False, f"{stuck['mail']} notification(s) and {stuck['webhooks']} webhook event(s) "
                                  f"due for more than {STUCK_SECONDS // 60} min and not taken")
    else:
        found["outbox"] = (True, "nothing overdue")
    return found


async def ready(request: web.Request) -> web.Response:
    pool = request.app[POOL]
    checks: dict[str, Any] = {}
    problems: list[dict[str, str]] = []
    trouble = await _database(pool)
    if trouble is None:
        checks["database"] = "ok"
        try:
            async with asyncio.timeout(CHECKS_SECONDS), pool.acquire() as conn:
                for name, (passed, message) in (await _checks(conn)).items():
                    checks[name] = "ok" if passed else "failed"
                    if not passed:
                        problems.append({"check": name, "message": message})
        except (TimeoutError, OSError, asyncpg.PostgresError, asyncpg.InterfaceError) as exc:
            problems.append({"check": "database", "message": f"the checks did not finish: {type(exc).__name__}"})
    else:
        checks["database"] = "failed"
        problems.append({"check": "database", "message": trouble})
    body = {"status": "not ready" if problems else "ready", "checks": checks, "problems": problems}
    return web.json_response(body, status=503 if problems else 200, headers={"Cache-Control": "no-store"})


def add_routes(app: web.Application) -> None:
    app.router.add_get("/health", health)
    app.router.add_get("/ready", ready)
