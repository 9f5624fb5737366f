"""Errors of the public widget surface; codes are what the widget shows messages for."""

from __future__ import annotations

from typing import Any

from apps.config.errors import TrellisError


class RateLimited(TrellisError):
    status, code = 429, "rate_limited"

    def __init__(self, message: str, *, code: str, retry_after: float) -> None:
        super().__init__(message, code=code)
        self.retry_after = max(1, round(retry_after))

    def details(self) -> dict[str, Any]:
        return {"retry_after": self.retry_after}
