"""Where a webhook may point: public addresses only, unless the operator allows private ones.

A URL whose host is, or resolves to, a loopback, private, link-local, multicast, reserved or
otherwise non-global address is refused (FORVARV_WEBHOOK_ALLOW_PRIVATE=1 allows them: tests, a
gateway inside a library's own network). The check is made when a webhook is registered and again
on every send, by the resolver the sender connects through (`GuardedResolver`), so a name that
later resolves to an internal address (DNS rebinding) is refused too.
"""

from __future__ import annotations

import asyncio
import ipaddress
import socket
from typing import Any
from urllib.parse import urlsplit

from aiohttp.abc import AbstractResolver, ResolveResult
from aiohttp.resolver import ThreadedResolver

from gateway.errors import Invalid

MAX_URL = 2000


class RefusedAddress(OSError):
    """The webhook's host is not a public address."""


def is_public(address: str) -> bool:
    ip = ipaddress.ip_address(address.split("%")[0])
    if isinstance(ip, ipaddress.IPv6Address) and ip.ipv4_mapped is not None:
        ip = ip.ipv4_mapped
    return bool(ip.is_global) and not ip.is_multicast


def check_url(url: object) -> tuple[str, str]:
    """(url, host) of an http(s) URL without credentials; Invalid otherwise."""
    if not isinstance(url, str) or not url.strip() or len(url) > MAX_URL or not url.isprintable():
        raise Invalid("url must be an http or https URL", field="url")
    url = url.strip()
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise Invalid("url must be an http or https URL with a host", field="url")
    if parts.username or parts.password:
        raise Invalid("url must not carry a user name or password", field="url")
    try:
        parts.port  # noqa: B018 - raises on a bad port
    except ValueError:
        raise Invalid("url has a bad port", field="url") from None
    return url, parts.hostname


def literal(host: str) -> str | None:
    try:
        return str(ipaddress.ip_address(host.strip("[]").split("%")[0]))
    except ValueError:
        return None


async def check_host(host: str, port: int | None, *, allow_private: bool) -> None:
    """Refuse (RefusedAddress) a host that is or resolves to a non-public address."""
    if allow_private:
        return
    ip = literal(host)
    if ip is not None:
        addresses = [ip]
    else:
        try:
            infos = await asyncio.get_running_loop().getaddrinfo(host, port or 443, type=socket.SOCK_STREAM)
        except OSError as exc:
            raise RefusedAddress(f"cannot resolve {host}: {exc}") from None
        addresses = [str(info[4][0]) for info in infos]
    bad = [a for a in addresses if not is_public(a)]
    if bad:
        raise RefusedAddress(f"{host} is not a public address ({', '.join(sorted(set(bad)))}); "
                             "set FORVARV_WEBHOOK_ALLOW_PRIVATE=1 to allow private addresses")


async def check_registration(url: object, *, allow_private: bool) -> str:
    url, host = check_url(url)
    try:
        await check_host(host, urlsplit(url).port, allow_private=allow_private)
    except RefusedAddress as exc:
        raise Invalid(f"url refused: {exc}", field="url") from None
    return url


class GuardedResolver(AbstractResolver):
    """aiohttp's threaded resolver, refusing non-public addresses (unless allowed)."""

    def __init__(self, allow_private: bool) -> None:
        self._inner = ThreadedResolver()
        self._allow_private = allow_private

    async def resolve(self, host: str, port: int = 0, family: Any = socket.AF_INET) -> list[ResolveResult]:
        results = await self._inner.resolve(host, port, family)
        if not self._allow_private:
            bad = [r["host"] for r in results if not is_public(r["host"])]
            if bad:
                raise RefusedAddress(f"{host} resolves to a non-public address ({', '.join(sorted(set(bad)))})")
        return results

    async def close(self) -> None:
        await self._inner.close()
