"""JSON over WebSockets with orjson: every streamed token is one event to encode and send."""

from __future__ import annotations

from typing import Any

import orjson
from channels.consumer import get_handler_name
from channels.generic.websocket import AsyncJsonWebsocketConsumer
from channels.sessions import InstanceSessionWrapper

from apps.config.fastjson import dumps


class FastJsonWebsocketConsumer(AsyncJsonWebsocketConsumer):  # type: ignore[misc]
    """AsyncJsonWebsocketConsumer for streaming: orjson; one ASGI send per message, past the
    session middleware's wrapper (it only acts on HTTP responses, but looks at the lazy session
    on every message); no database-connection sweep before each incoming message (these
    consumers touch the database only through apps.config.db.in_db_thread, which does it)."""

    async def send_json(self, content: Any, close: bool = False) -> None:
        await self._raw_send()({"type": "websocket.send", "text": dumps(content)})
        if close:
            await self.close(close)

    def _raw_send(self) -> Any:
        send = getattr(self, "_unwrapped_send", None)
        if send is None:
            send = self.base_send
            while isinstance(getattr(send, "__self__", None), InstanceSessionWrapper):
                send = send.__self__.real_send
            self._unwrapped_send = send
        return send

    async def dispatch(self, message: dict[str, Any]) -> None:
        handler = getattr(self, get_handler_name(message), None)
        if handler is None:
            raise ValueError(f"No handler for message type {message['type']}")
        await handler(message)

    @classmethod
    async def decode_json(cls, text_data: str) -> Any:
        return orjson.loads(text_data)

    @classmethod
    async def encode_json(cls, content: Any) -> str:
        return dumps(content)
