"""The authenticated platform WebSocket: answers ping; later issues add run events."""

from __future__ import annotations

from typing import Any

from channels.generic.websocket import AsyncJsonWebsocketConsumer

from apps.config.metrics import WEBSOCKETS

CLOSE_NOT_AUTHENTICATED = 4401


class PlatformConsumer(AsyncJsonWebsocketConsumer):  # type: ignore[misc]
    async def connect(self) -> None:
        await self.accept()
        user = self.scope.get("user")
        if user is None or not user.is_authenticated:
            WEBSOCKETS.labels("refused").inc()
            # Never a silent close: say why, then close with an application code.
            await self.send_json(
                {
                    "type": "error",
                    "code": "not_authenticated",
                    "message": "Sign in or send an API key to open this socket.",
                }
            )
            await self.close(code=CLOSE_NOT_AUTHENTICATED)
            return
        WEBSOCKETS.labels("accepted").inc()

    async def receive_json(self, content: Any, **kwargs: Any) -> None:
        if not isinstance(content, dict) or not isinstance(content.get("type"), str):
            await self.send_json(
                {
                    "type": "error",
                    "code": "invalid_message",
                    "message": "Each message must be a JSON object with a 'type'.",
                }
            )
            return
        if content["type"] == "ping":
            await self.send_json({"type": "pong"})
            return
        await self.send_json(
            {"type": "error", "code": "unknown_message_type", "message": f"Unknown message type {content['type']!r}."}
        )

    async def receive(self, text_data: str | None = None, bytes_data: bytes | None = None, **kwargs: Any) -> None:
        try:
            await super().receive(text_data=text_data, bytes_data=bytes_data, **kwargs)
        except ValueError:  # json.JSONDecodeError is a ValueError
            await self.send_json(
                {"type": "error", "code": "malformed_json", "message": "The message is not valid JSON."}
            )
