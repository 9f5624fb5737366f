"""The WebSocket through the real ASGI server: session cookie and API key both get pong."""

from __future__ import annotations

import asyncio
import json
from typing import Any

import httpx
import pytest
import websockets
from django.contrib.auth.models import User

from apps.tenancy.access import Actor, OrgAccess
from apps.tenancy.models import Role
from apps.tenancy.services import api_key_create, organization_create

pytestmark = pytest.mark.django_db(transaction=True)


def _ping(url: str, headers: dict[str, str]) -> Any:
    async def run() -> Any:
        async with websockets.connect(url, additional_headers=headers, open_timeout=10) as ws:
            await ws.send(json.dumps({"type": "ping"}))
            return json.loads(await asyncio.wait_for(ws.recv(), 10))

    return asyncio.run(run())


def _refusal(url: str, headers: dict[str, str]) -> tuple[Any, int | None]:
    async def run() -> tuple[Any, int | None]:
        async with websockets.connect(url, additional_headers=headers, open_timeout=10) as ws:
            first = json.loads(await asyncio.wait_for(ws.recv(), 10))
            await ws.wait_closed()
            return first, ws.close_code

    return asyncio.run(run())


def test_e2e_websocket_session_and_api_key_ping(live_url: str) -> None:
    user = User.objects.create_user("lin", "lin@example.test", "a long passphrase 55")
    org = organization_create(actor=Actor(user=user, api_key=None), name="Sockets")
    _, raw = api_key_create(
        access=OrgAccess(org, Role.OWNER, Actor(user=user, api_key=None)), name="ws", role=Role.VIEWER
    )
    ws_url = live_url.replace("http", "ws") + "/ws/"
    assert _ping(ws_url, {"Authorization": f"Bearer {raw}"}) == {"type": "pong"}

    with httpx.Client(base_url=live_url) as client:
        client.get("/api/v1/auth/csrf/")
        token = client.cookies["csrftoken"]
        login = client.post(
            "/api/v1/auth/login/",
            json={"username": "lin", "password": "a long passphrase 55"},
            headers={"X-CSRFToken": token},
        )
        assert login.status_code == 200
        cookie = "; ".join(f"{k}={v}" for k, v in client.cookies.items())
    assert _ping(ws_url, {"Cookie": cookie, "Origin": live_url}) == {"type": "pong"}
    refused, close_code = _refusal(ws_url, {"Origin": live_url})
    assert refused["code"] == "not_authenticated"
    assert close_code == 4401
