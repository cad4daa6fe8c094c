"""The event loop every gateway process runs on: uvloop when it is installed, else asyncio's own.

uvloop (libuv under asyncio's API) makes the network side of a request cheaper: the socket
reads and writes of aiohttp and asyncpg, the timers and the callbacks between them. Measured on
`bench/sru.py` (docs/decisions.md): the web process's CPU per SRU request fell by 10-15 %.
`FORVARV_EVENT_LOOP=asyncio` keeps asyncio's loop (for asyncio's debug mode, or to compare).
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable, Coroutine
from typing import Any, TypeVar

T = TypeVar("T")

log = logging.getLogger(__name__)

def factory(kind: str) -> Callable[[], asyncio.AbstractEventLoop] | None:
    """The loop factory for `kind` (None: asyncio's default); uvloop falls back when absent."""
    if kind != "uvloop":
        return None
    try:
        import uvloop
    except ImportError:  # not installed (or no build for this platform): asyncio's loop works
        log.debug("uvloop is not installed; running on asyncio's event loop")
        return None
    return uvloop.new_event_loop


def name(loop: asyncio.AbstractEventLoop) -> str:
    """'uvloop' or 'asyncio': what the running process actually uses (for its banner and /metrics)."""
    return "uvloop" if type(loop).__module__.startswith("uvloop") else "asyncio"


def run(main: Coroutine[Any, Any, T], kind: str = "uvloop") -> T:
    """asyncio.run on the loop `kind` names."""
    with asyncio.Runner(loop_factory=factory(kind)) as runner:
        return runner.run(main)
