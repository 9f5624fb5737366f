"""Domain error types. Each carries its HTTP status and stable code; the one mapping to
responses is apps.config.exception_handler (and the WebSocket error events reuse `code`).
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
