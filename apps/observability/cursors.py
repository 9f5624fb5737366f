"""Opaque keyset cursors: the last row's sort key, base64url-encoded (never an offset)."""

from __future__ import annotations

import base64
import binascii
import uuid
from datetime import datetime

from apps.config.errors import InvalidInput


def cursor_encode(at: datetime, key: object) -> str:
    return base64.urlsafe_b64encode(f"{at.isoformat()}|{key}".encode()).decode().rstrip("=")


def cursor_decode(cursor: str) -> tuple[datetime, uuid.UUID]:
    try:
        raw = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4)).decode()
        at, key = raw.split("|", 1)
        parsed = datetime.fromisoformat(at)
        if parsed.tzinfo is None:
            raise ValueError(at)
        return parsed, uuid.UUID(key)
    except (ValueError, binascii.Error, UnicodeDecodeError):
        raise InvalidInput("That cursor is not one this API gave out.", code="invalid_cursor") from None
