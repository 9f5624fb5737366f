"""WebSocket authentication by API key (the session cookie is handled by AuthMiddlewareStack)."""

from __future__ import annotations

from typing import Any

from channels.db import database_sync_to_async
from channels.middleware import BaseMiddleware

from apps.tenancy.authentication import ApiKeyUser, raw_key_from_headers
from apps.tenancy.models import ApiKey
from apps.tenancy.services import MalformedApiKey, api_key_authenticate


@database_sync_to_async  # type: ignore[untyped-decorator]
def _lookup(raw: str) -> ApiKey | None:
    try:
        return api_key_authenticate(raw=raw)
    except MalformedApiKey:
        return None


class ApiKeyWebSocketMiddleware(BaseMiddleware):  # type: ignore[misc]
    async def __call__(self, scope: dict[str, Any], receive: Any, send: Any) -> Any:
        headers = {name.decode("latin-1").lower(): value.decode("latin-1") for name, value in scope.get("headers", [])}
        raw = raw_key_from_headers(headers.get("authorization", ""), headers.get("x-api-key", ""))
        if raw is not None:
            key = await _lookup(raw)
            scope = dict(scope)
            if key is not None:
                scope["user"], scope["api_key"] = ApiKeyUser(key), key
            else:
                from django.contrib.auth.models import AnonymousUser

                scope["user"] = AnonymousUser()  # a bad key never falls back to the cookie
        return await super().__call__(scope, receive, send)
