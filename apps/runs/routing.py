"""The app's one WebSocket, /ws/ (named by settings.WEBSOCKET_URLCONF)."""

from __future__ import annotations

from django.urls import path

from apps.runs.consumers import RunConsumer

websocket_urlpatterns = [
    path("ws/", RunConsumer.as_asgi()),
]
