"""The authenticated WebSocket: ping -> pong; refused without credentials, with a reason."""

from __future__ import annotations

from collections.abc import Callable

import pytest
from channels.db import database_sync_to_async
from channels.testing import WebsocketCommunicator

from apps.config.asgi import application
from tests.conftest import Member

pytestmark = pytest.mark.django_db(transaction=True)


async def _connect(headers: list[tuple[bytes, bytes]]) -> WebsocketCommunicator:
    communicator = WebsocketCommunicator(application, "/ws/", headers=[(b"host", b"127.0.0.1"), *headers])
    connected, _ = await communicator.connect()
    assert connected
    return communicator


async def test_websocket_api_key_ping_gets_pong(org_a: Member, api_key_for: Callable[..., str]) -> None:
    raw = await database_sync_to_async(api_key_for)(org_a)
    ws = await _connect([(b"authorization", f"Bearer {raw}".encode())])
    await ws.send_json_to({"type": "ping"})
    assert await ws.receive_json_from() == {"type": "pong"}
    await ws.send_to(text_data="{nope")
    assert (await ws.receive_json_from())["code"] == "malformed_json"
    await ws.send_json_to({"type": "launch"})
    assert (await ws.receive_json_from())["code"] == "unknown_message_type"
    await ws.disconnect()


async def test_websocket_anonymous_gets_error_event_then_close() -> None:
    ws = await _connect([])
    message = await ws.receive_json_from()
    assert message["type"] == "error" and message["code"] == "not_authenticated"
    closed = await ws.receive_output()
    assert closed == {"type": "websocket.close", "code": 4401}


async def test_websocket_bad_api_key_is_refused_even_with_no_cookie() -> None:
    ws = await _connect([(b"authorization", b"Bearer trl_00000000_forged")])
    assert (await ws.receive_json_from())["code"] == "not_authenticated"


async def test_websocket_foreign_origin_is_rejected() -> None:
    communicator = WebsocketCommunicator(
        application, "/ws/", headers=[(b"host", b"127.0.0.1"), (b"origin", b"https://evil.example")]
    )
    connected, _ = await communicator.connect()
    assert not connected
