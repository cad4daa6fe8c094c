"""Feature module: the admin routes and, inside `forvarv serve`, the background sender."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import socket
from collections.abc import AsyncIterator

from aiohttp import web

from gateway.http.appkeys import POOL, SETTINGS, STOP
from gateway.outbox import admin
from gateway.outbox.mail.render import MailContext
from gateway.outbox.mail.transport import for_settings
from gateway.outbox.sender import Sender, SenderPolicy
from gateway.outbox.webhook import service as webhook_service

log = logging.getLogger(__name__)

#: Optional: the sender's timing (tests set short delays); by default derived from Settings.smtp.
SENDER_POLICY = web.AppKey("mail_sender_policy", SenderPolicy)


def setup(app: web.Application, *, run_sender: bool = True) -> None:
    """Add /admin/notifications and (unless run_sender is False) start the sender with the app."""
    admin.add_routes(app)
    webhook_service.setup(app, run_sender=run_sender)
    if run_sender:
        app.cleanup_ctx.append(_sender)


def default_policy(smtp_timeout: float) -> SenderPolicy:
    # connect, EHLO, STARTTLS, AUTH, MAIL, RCPT…, DATA: each bounded by the SMTP timeout.
    return SenderPolicy(send_timeout=max(10.0, 3 * smtp_timeout))


async def _sender(app: web.Application) -> AsyncIterator[None]:
    settings = app[SETTINGS]
    ctx = MailContext.from_settings(settings)
    policy = app.get(SENDER_POLICY) or default_policy(settings.smtp.timeout)
    local_hostname = await asyncio.to_thread(socket.getfqdn) if settings.smtp.host else None
    transport = for_settings(settings.smtp, settings.data_dir, local_hostname=local_hostname)
    sender = Sender(app[POOL], transport, ctx, policy, name="mail-sender")
    stop = app.get(STOP) or asyncio.Event()  # set at SIGTERM (gateway/ops/runner.py): no new claims
    task = asyncio.create_task(sender.run(stop), name="mail-sender")
    yield
    stop.set()
    try:
        await asyncio.wait_for(asyncio.shield(task), timeout=min(policy.send_timeout + 5, settings.stop_timeout))
    except TimeoutError:
        log.warning("mail sender did not stop in time; cancelling it")
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task
