"""ASGI entry: Django for HTTP, Channels for WebSockets (session or API-key auth)."""

from __future__ import annotations

import os

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "apps.config.settings")

from django.core.asgi import get_asgi_application

django_asgi_app = get_asgi_application()

from channels.auth import AuthMiddlewareStack  # noqa: E402
from channels.routing import ProtocolTypeRouter, URLRouter  # noqa: E402

from apps.config.routing import websocket_urlpatterns  # noqa: E402
from apps.config.ws_origin import same_site_origin_only  # noqa: E402
from apps.tenancy.ws_auth import ApiKeyWebSocketMiddleware  # noqa: E402

application = ProtocolTypeRouter(
    {
        "http": django_asgi_app,
        "websocket": same_site_origin_only(
            AuthMiddlewareStack(ApiKeyWebSocketMiddleware(URLRouter(websocket_urlpatterns)))
        ),
    }
)
