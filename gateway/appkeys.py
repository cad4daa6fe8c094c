"""Typed keys for what the aiohttp application carries (aiohttp's AppKey)."""

from __future__ import annotations

import asyncpg
from aiohttp import web

from gateway.config import Settings
from gateway.prepare import ParseProcess

SETTINGS = web.AppKey("settings", Settings)
POOL = web.AppKey("pool", asyncpg.Pool)
#: For features that open a pool of their own (e.g. read-only search with its own session settings).
DATABASE_URL = web.AppKey("database_url", str)
#: The second process the delivery workers prepare large deliveries in (absent when turned off).
PARSE_PROCESS = web.AppKey("parse_process", ParseProcess)
