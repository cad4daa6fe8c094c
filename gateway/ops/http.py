"""Feature module: /health, /ready and /metrics on every process that serves HTTP."""

from __future__ import annotations

from aiohttp import web

from gateway.ops import health


def setup(app: web.Application) -> None:
    health.add_routes(app)
