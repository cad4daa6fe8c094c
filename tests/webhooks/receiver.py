"""A library system's webhook endpoint: a real aiohttp server that verifies every signature."""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import json
import time
from dataclasses import dataclass, field
from typing import Any

from aiohttp import web


def verify(secret: str, headers: Any, body: bytes, tolerance: float = 300) -> bool:
    """What docs/webhooks.md tells a receiver to do."""
    timestamp = headers.get("X-Forvarv-Timestamp", "")
    given = headers.get("X-Forvarv-Signature", "")
    if not timestamp.isdigit() or abs(time.time() - int(timestamp)) > tolerance:
        return False
    expected = "sha256=" + hmac.new(secret.encode(), timestamp.encode() + b"." + body, hashlib.sha256).hexdigest()
    return hmac.compare_digest(expected, given)


@dataclass
class Receiver:
    secret: str = ""
    fail_next: int = 0            # answer 500 this many times
    always_fail: bool = False
    slow_next: int = 0            # answer this many times only after `slow_seconds`
    slow_seconds: float = 0.0
    redirect: bool = False
    received: list[dict[str, Any]] = field(default_factory=list)   # every verified POST, in order
    bad_signatures: int = 0
    other_hits: int = 0
    _runner: web.AppRunner | None = None
    port: int = 0

    @property
    def ids(self) -> list[str]:
        return [r["id"] for r in self.received]

    async def _hook(self, request: web.Request) -> web.Response:
        body = await request.read()
        if not verify(self.secret, request.headers, body):
            self.bad_signatures += 1
            return web.Response(status=401)
        event = json.loads(body)
        assert request.headers["X-Forvarv-Event"] == event["id"]
        self.received.append(event)
        if self.slow_next > 0:
            self.slow_next -= 1
            await asyncio.sleep(self.slow_seconds)
        if self.always_fail or self.fail_next > 0:
            self.fail_next = max(0, self.fail_next - 1)
            return web.Response(status=500, text="down for maintenance")
        if self.redirect:
            raise web.HTTPFound("/elsewhere")
        return web.Response(status=204)

    async def _elsewhere(self, request: web.Request) -> web.Response:
        self.other_hits += 1
        return web.Response(status=204)

    async def start(self, port: int = 0) -> None:
        app = web.Application()
        app.router.add_post("/hook", self._hook)
        app.router.add_route("*", "/elsewhere", self._elsewhere)
        self._runner = web.AppRunner(app)
        await self._runner.setup()
        site = web.TCPSite(self._runner, "127.0.0.1", port)
        await site.start()
        self.port = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]

    async def stop(self) -> None:
        if self._runner is not None:
            await self._runner.cleanup()
            self._runner = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}/hook"
