"""Feature module: the staff console at / (templates and static files ship in the package)."""

from __future__ import annotations

from importlib import resources
from pathlib import Path

import aiohttp_jinja2
import jinja2
from aiohttp import web

from gateway.console import web as console
from gateway.console.views import deliveries, outbox, overview, records, registry, review, search, signin, webhooks


def setup(app: web.Application) -> None:
    aiohttp_jinja2.setup(
        app,
        loader=jinja2.PackageLoader("gateway.console", "templates"),
        autoescape=True,  # every value is escaped unless a template says otherwise (none does)
        undefined=jinja2.StrictUndefined,
        filters={"local_time": console.local_time, "number": console.number},
        default_helpers=False,
    )
    app.middlewares.append(console.guard)
    router = app.router
    signin.add_routes(router)
    overview.add_routes(router)
    for module in (deliveries, records, search, review, registry, webhooks, outbox):
        module.add_routes(router)
    static = Path(str(resources.files("gateway.console").joinpath("static")))
    router.add_static(console.STATIC, static, append_version=False)
