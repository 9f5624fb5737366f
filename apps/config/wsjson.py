"""JSON over WebSockets with orjson: every streamed token is one event to encode and send."""

from __future__ import annotations

from typing import Any

import orjson
from channels.generic.websocket import AsyncJsonWebsocketConsumer


def dumps(content: Any) -> str:
    return orjson.dumps(content, default=str, option=orjson.OPT_NON_STR_KEYS).decode()


class FastJsonWebsocketConsumer(AsyncJsonWebsocketConsumer):  # type: ignore[misc]
    """AsyncJsonWebsocketConsumer with orjson, and one ASGI send per message (the base class
    awaits an encoder coroutine and goes through two more layers per message)."""

    async def send_json(self, content: Any, close: bool = False) -> None:
        await self.base_send({"type": "websocket.send", "text": dumps(content)})
        if close:
            await self.close(close)

    @classmethod
    async def decode_json(cls, text_data: str) -> Any:
        return orjson.loads(text_data)

    @classmethod
    async def encode_json(cls, content: Any) -> str:
        return dumps(content)
