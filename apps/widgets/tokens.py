"""Signed tokens: a short-lived session token bound to widget, key and origin, and a long-lived
visitor credential the browser keeps in local storage so a reload finds its conversation."""

from __future__ import annotations

from dataclasses import dataclass
from uuid import UUID

from django.conf import settings
from django.core import signing

from apps.config.errors import TrellisError

SESSION_SALT = "trellis.widgets.session"
VISITOR_SALT = "trellis.widgets.visitor"
VISITOR_MAX_AGE = 90 * 24 * 3600


class SessionInvalid(TrellisError):
    status, code = 401, "session_invalid"


@dataclass(frozen=True)
class WidgetSession:
    widget: UUID
    key: str
    origin: str
    visitor: UUID | None


def session_token(session: WidgetSession) -> str:
    payload = {"w": str(session.widget), "k": session.key, "o": session.origin, "v": _opt(session.visitor)}
    return signing.dumps(payload, salt=SESSION_SALT)


def session_from_token(token: str) -> WidgetSession:
    try:
        data = signing.loads(token, salt=SESSION_SALT, max_age=settings.WIDGET_SESSION_TTL)
        return WidgetSession(
            widget=UUID(data["w"]), key=str(data["k"]), origin=str(data["o"]), visitor=_uuid(data.get("v"))
        )
    except signing.SignatureExpired:
        raise SessionInvalid("The chat session expired; refresh it.", code="session_expired") from None
    except (signing.BadSignature, KeyError, TypeError, ValueError):
        raise SessionInvalid("Invalid chat session token.") from None


def visitor_credential(*, widget: UUID, visitor: UUID) -> str:
    return signing.dumps({"w": str(widget), "v": str(visitor)}, salt=VISITOR_SALT)


def visitor_from_credential(credential: str, *, widget: UUID) -> UUID | None:
    """The visitor id, or None for anything forged, expired or from another widget."""
    try:
        data = signing.loads(credential, salt=VISITOR_SALT, max_age=VISITOR_MAX_AGE)
        if data.get("w") != str(widget):
            return None
        return UUID(data["v"])
    except (signing.BadSignature, KeyError, TypeError, ValueError):
        return None


def _opt(value: UUID | None) -> str | None:
    return None if value is None else str(value)


def _uuid(value: object) -> UUID | None:
    return None if value is None else UUID(str(value))
