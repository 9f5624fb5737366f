"""Domain error types. Each carries its HTTP status and stable code; the one table that turns
any error (these, the engine's, DRF's) into a response or an event is apps.config.wire_errors.
"""

from __future__ import annotations

from typing import Any


class TrellisError(Exception):
    """Base of errors that services raise on purpose; `code` is stable for clients."""

    status = 400
    code = "invalid"

    def __init__(self, message: str, *, code: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        if code is not None:
            self.code = code

    def details(self) -> dict[str, Any]:
        """Extra machine-readable fields for the error body (e.g. validation issues)."""
        return {}


class NotFound(TrellisError):
    status, code = 404, "not_found"


class Forbidden(TrellisError):
    status, code = 403, "permission_denied"


class Conflict(TrellisError):
    status, code = 409, "conflict"


class InvalidInput(TrellisError):
    status, code = 400, "invalid"


class NotAuthenticated(TrellisError):
    status, code = 401, "not_authenticated"


class AuthenticationFailed(TrellisError):
    status, code = 401, "authentication_failed"


class CsrfFailed(Forbidden):
    """A signed-in browser's unsafe request without a valid CSRF token."""

    code = "csrf_failed"


class MethodNotAllowed(TrellisError):
    status, code = 405, "method_not_allowed"


class TooLarge(TrellisError):
    status, code = 413, "too_large"
