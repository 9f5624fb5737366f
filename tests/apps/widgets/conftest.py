"""Widgets against a real stand-in model server, the real ASGI app and the real database."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest
from channels.testing import WebsocketCommunicator

from apps.config.asgi import application
from tests.apps.runs.conftest import endpoint, publish_flow, standin_url  # noqa: F401 - fixtures
from tests.conftest import Member

SITE = "https://shop.example.com"
TERMINAL = {"run.finished", "run.failed", "run.cancelled", "error"}


@pytest.fixture
def make_widget(org_a: Member) -> Callable[..., dict[str, Any]]:
    def create(flow_id: str, **fields: Any) -> dict[str, Any]:
        body = {"flow": flow_id, "allowed_origins": [SITE], **fields}
        response = org_a.client().post(f"/api/v1/orgs/{org_a.organization.id}/widgets/", body, format="json")
        assert response.status_code == 201, response.json()
        return dict(response.json())

    return create


def open_session(client: Any, key: str, origin: str | None = SITE, visitor: str | None = None) -> Any:
    headers = {"HTTP_ORIGIN": origin} if origin else {}
    body: dict[str, Any] = {"key": key}
    if visitor:
        body["visitor"] = visitor
    return client.post("/api/widget/v1/session/", body, format="json", **headers)


async def widget_socket(key: str, origin: str | None = SITE, client: str = "203.0.113.7") -> WebsocketCommunicator:
    headers = [(b"host", b"trellis.example.org")]
    if origin:
        headers.append((b"origin", origin.encode()))
    ws = WebsocketCommunicator(application, f"/ws/widget/{key}/", headers=headers)
    ws.scope["client"] = (client, 5555)
    connected, _ = await ws.connect()
    assert connected
    return ws


async def until_done(ws: WebsocketCommunicator, timeout: float = 20) -> list[dict[str, Any]]:
    events: list[dict[str, Any]] = []
    while True:
        event = await ws.receive_json_from(timeout=timeout)
        events.append(event)
        if event["type"] in TERMINAL:
            return events
