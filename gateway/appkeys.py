"""Typed keys for what the aiohttp application carries (aiohttp's AppKey)."""

from __future__ import annotations

import asyncpg
from aiohttp import web

from gateway.config import Settings

SETTINGS = web.AppKey("settings", Settings)
POOL = web.AppKey("pool", asyncpg.Pool)
#: For features that open a pool of their own (e.g. read-only search with its own session settings).
DATABASE_URL = web.AppKey("database_url", str)
