"""The webhook channel in the app: admin routes, and the sender wherever the mail sender runs."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import AsyncIterator

from aiohttp import web

from gateway.http.appkeys import POOL, SETTINGS, STOP
from gateway.outbox.sender import SenderPolicy
from gateway.outbox.webhook import admin
from gateway.outbox.webhook.queue import Links
from gateway.outbox.webhook.sender import WebhookSender

log = logging.getLogger(__name__)

#: Optional: the webhook sender's timing (tests set short delays and timeouts).
WEBHOOK_POLICY = web.AppKey("webhook_policy", SenderPolicy)
#: A request's whole exchange; a receiver should answer fast and do its work afterwards.
DEFAULT_POLICY = SenderPolicy(send_timeout=15.0, lease_margin=30.0)


def setup(app: web.Application, *, run_sender: bool = True) -> None:
    admin.add_routes(app)
    if run_sender:
        app.cleanup_ctx.append(_sender)


async def _sender(app: web.Application) -> AsyncIterator[None]:
    settings = app[SETTINGS]
    policy = app.get(WEBHOOK_POLICY) or DEFAULT_POLICY
    sender = WebhookSender(app[POOL], Links.from_settings(settings), policy,
                           allow_private=settings.webhook_allow_private)
    stop = app.get(STOP) or asyncio.Event()  # set at SIGTERM (gateway/ops/runner.py): no new claims
    task = asyncio.create_task(sender.run(stop), name="webhook-sender")
    yield
    stop.set()
    try:
        await asyncio.wait_for(asyncio.shield(task), timeout=min(policy.send_timeout + 5, settings.stop_timeout))
    except TimeoutError:
        log.warning("webhook sender did not stop in time; cancelling it")
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task
