"""WebSocket Origin check.

Browsers always send Origin on a WebSocket handshake, so a cross-site page can never ride a
session cookie past this check. Programs (API keys, no cookies) send none and are let through;
their credential is the key itself.
"""

from __future__ import annotations

from typing import Any

from channels.security.websocket import OriginValidator
from django.conf import settings


class SameSiteOriginValidator(OriginValidator):  # type: ignore[misc]
    def valid_origin(self, parsed_origin: Any) -> bool:
        if parsed_origin is None:
            return True
        return bool(self.validate_origin(parsed_origin))


def same_site_origin_only(application: Any) -> SameSiteOriginValidator:
    return SameSiteOriginValidator(application, list(settings.ALLOWED_HOSTS))
