"""Errors the registry and intake raise; the HTTP layer maps them to status codes."""

from __future__ import annotations


class GatewayError(Exception):
    status = 400
    code = "bad_request"

    def __init__(self, message: str, **detail: object) -> None:
        super().__init__(message)
        self.message = message
        self.detail = detail


class NotFound(GatewayError):
    status = 404
    code = "not_found"


class Conflict(GatewayError):
    status = 409
    code = "conflict"


class Invalid(GatewayError):
    status = 400
    code = "invalid"


class Unauthorized(GatewayError):
    status = 401
    code = "unauthorized"


class DatabaseUnavailable(GatewayError):
    """The database cannot be reached or refuses the connection (down, wrong URL, wrong password)."""

    status = 503
    code = "database_unavailable"
