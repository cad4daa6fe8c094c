"""Typed keys for what the aiohttp application carries (aiohttp's AppKey)."""

from __future__ import annotations

import asyncio

import asyncpg
from aiohttp import web

from gateway.config import Settings
from gateway.intake.finished import Watch
from gateway.intake.parse_process import ParseProcess

SETTINGS = web.AppKey("settings", Settings)
POOL = web.AppKey("pool", asyncpg.Pool)
#: For features that open a pool of their own (e.g. read-only search with its own session settings).
DATABASE_URL = web.AppKey("database_url", str)
#: Wakes requests waiting for a delivery to finish.
FINISHED = web.AppKey("finished", Watch)
#: The second process the delivery workers prepare large deliveries in (absent when turned off).
PARSE_PROCESS = web.AppKey("parse_process", ParseProcess)
#: Set when the process begins to stop (SIGTERM, gateway/ops/runner.py): background loops (delivery
#: workers, outbox senders) take no new work from then on. Absent: they stop at the app's cleanup.
STOP = web.AppKey("stop", asyncio.Event)
