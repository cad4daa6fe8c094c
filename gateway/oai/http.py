"""Feature module: filled in by its owner (see the module's issue)."""

from __future__ import annotations

from aiohttp import web


def setup(app: web.Application) -> None:
    """Add this feature's routes and background services to the app."""
