"""Typed keys for what the aiohttp application carries (aiohttp's AppKey)."""

from __future__ import annotations

import asyncpg
from aiohttp import web

from gateway.config import Settings

SETTINGS = web.AppKey("settings", Settings)
POOL = web.AppKey("pool", asyncpg.Pool)
