from django.urls import path

from apps.config.consumers import PlatformConsumer

websocket_urlpatterns = [
    path("ws/", PlatformConsumer.as_asgi()),
]
