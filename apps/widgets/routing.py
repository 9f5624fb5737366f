"""Widget sockets skip the same-site Origin check and cookie authentication of the app socket:
they check the Origin against the widget's own allowed origins and authenticate by token."""

from __future__ import annotations

from typing import Any

from channels.routing import URLRouter
from django.urls import path

from apps.widgets.consumers import WidgetConsumer

WIDGET_SOCKET_PREFIX = "/ws/widget/"

widget_router = URLRouter([path("ws/widget/<str:key>/", WidgetConsumer.as_asgi())])


def widget_sockets_or(application: Any) -> Any:
    """Send /ws/widget/... to the widget consumer, every other socket to `application`."""

    async def route(scope: dict[str, Any], receive: Any, send: Any) -> Any:
        if scope["type"] == "websocket" and scope.get("path", "").startswith(WIDGET_SOCKET_PREFIX):
            return await widget_router(scope, receive, send)
        return await application(scope, receive, send)

    return route
