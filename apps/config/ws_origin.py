"""WebSocket Origin check for the app socket: the same origin, scheme, host and port.

Browsers always send Origin on a WebSocket handshake, so a page of another origin can never ride
a session cookie past this check: the Origin must be exactly the server's own origin as the
browser reached it (the Host header, which must be in ALLOWED_HOSTS, with its port, and https for
a TLS socket), or one of CSRF_TRUSTED_ORIGINS, written the same way (`https://app.example.com`;
for TLS ended by a proxy that is not in TRELLIS_TRUSTED_PROXIES). Another port on the same host is
another origin (`http://localhost:3000` is not `http://localhost:8000`). Programs (API keys, no
cookies) send no Origin and are let through; their credential is the key itself.
"""

from __future__ import annotations

from typing import Any
from urllib.parse import urlsplit

from channels.security.websocket import WebsocketDenier
from django.conf import settings
from django.http.request import split_domain_port, validate_host

DEFAULT_PORTS = {"http": 80, "https": 443}


def _origin_tuple(value: str) -> tuple[str, str, int] | None:
    try:
        parts = urlsplit(value.strip())
        port = parts.port
    except ValueError:
        return None
    if parts.scheme not in DEFAULT_PORTS or not parts.hostname or parts.path not in ("", "/"):
        return None
    return parts.scheme, parts.hostname.lower(), port or DEFAULT_PORTS[parts.scheme]


def origin_allowed(origin: str, scope: dict[str, Any], host_header: str) -> bool:
    """Whether a handshake with this Origin, on this connection and Host header, is same-origin."""
    seen = _origin_tuple(origin)
    if seen is None:
        return False
    if any(_origin_tuple(trusted) == seen for trusted in settings.CSRF_TRUSTED_ORIGINS):
        return True
    scheme = "https" if scope.get("scheme") in ("wss", "https") else "http"
    domain, port = split_domain_port(host_header)
    if not domain or not validate_host(domain, settings.ALLOWED_HOSTS):
        return False
    return seen == (scheme, domain.lower().strip("[]"), int(port) if port else DEFAULT_PORTS[scheme])


class SameOriginWebSocket:
    """ASGI middleware: a WebSocket handshake whose Origin is not this server's own is denied."""

    def __init__(self, application: Any) -> None:
        self.application = application

    async def __call__(self, scope: dict[str, Any], receive: Any, send: Any) -> Any:
        if scope["type"] == "websocket":
            headers = {name.lower(): value for name, value in scope.get("headers", [])}
            origin = headers.get(b"origin")
            if origin is not None:
                host = headers.get(b"host", b"").decode("latin-1")
                if not origin_allowed(origin.decode("latin-1"), scope, host):
                    return await WebsocketDenier()(scope, receive, send)
        return await self.application(scope, receive, send)


def same_site_origin_only(application: Any) -> SameOriginWebSocket:
    return SameOriginWebSocket(application)
