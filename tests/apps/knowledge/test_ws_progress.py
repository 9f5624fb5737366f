"""Ingestion progress over the app's WebSocket: `knowledge.subscribe` answers a snapshot, then
progress events (worker -> PostgreSQL NOTIFY -> bridge -> channel layer -> socket) until ready;
another tenant's knowledge base is `not_found`, exactly like an unknown id."""

from __future__ import annotations

import uuid
from collections.abc import Callable
from typing import Any

import pytest
from channels.db import database_sync_to_async
from channels.testing import WebsocketCommunicator

from apps.config.asgi import application
from apps.knowledge.models import KnowledgeBase
from apps.knowledge.services import document_upload
from tests.apps.knowledge import files
from tests.apps.knowledge.conftest import ingest_pending
from tests.conftest import Member

pytestmark = pytest.mark.django_db(transaction=True)


async def connect(raw_key: str) -> WebsocketCommunicator:
    ws = WebsocketCommunicator(
        application, "/ws/", headers=[(b"host", b"127.0.0.1"), (b"authorization", f"Bearer {raw_key}".encode())]
    )
    connected, _ = await ws.connect()
    assert connected
    return ws


async def test_ws_knowledge_subscribe_streams_progress_until_ready(
    org_a: Member, make_kb: Callable[..., KnowledgeBase], api_key_for: Callable[..., str]
) -> None:
    key = await database_sync_to_async(api_key_for)(org_a, "viewer")
    kb = await database_sync_to_async(make_kb)(org_a)
    [upload] = await database_sync_to_async(document_upload)(
        access=org_a.access, knowledge_base_id=kb.id, files=[files.upload("coast.md", files.markdown_bytes())]
    )
    ws = await connect(key)
    await ws.send_json_to({"type": "knowledge.subscribe", "knowledge_base": str(kb.id)})
    subscribed = await ws.receive_json_from(timeout=10)
    assert subscribed["type"] == "knowledge.subscribed" and subscribed["knowledge_base"] == str(kb.id)
    assert [(d["document"], d["status"]) for d in subscribed["documents"]] == [(str(upload.document.id), "queued")]

    assert await database_sync_to_async(ingest_pending)(kb) == ["ready"]
    events: list[dict[str, Any]] = []
    while not events or events[-1]["status"] != "ready":
        events.append(await ws.receive_json_from(timeout=30))
    assert {e["type"] for e in events} == {"knowledge.progress"}
    assert {e["document"] for e in events} == {str(upload.document.id)}
    assert [e["status"] for e in events][:2] == ["parsing", "parsing"]  # started, then parsed
    assert "embedding" in [e["status"] for e in events]
    progress = [e["progress"] for e in events]
    assert progress == sorted(progress) and progress[-1] == 1.0
    assert events[-1]["chunk_count"] >= 1

    await ws.send_json_to({"type": "knowledge.unsubscribe", "knowledge_base": str(kb.id)})
    await ws.send_json_to({"type": "ping"})
    assert await ws.receive_json_from(timeout=10) == {"type": "pong"}
    await ws.disconnect()


@pytest.mark.parametrize("target", ["other_tenant", "unknown", "not-a-uuid"])
async def test_ws_knowledge_subscribe_to_another_tenants_base_is_not_found(
    target: str,
    org_a: Member,
    org_b: Member,
    make_kb: Callable[..., KnowledgeBase],
    api_key_for: Callable[..., str],
) -> None:
    key = await database_sync_to_async(api_key_for)(org_a, "owner")
    theirs = await database_sync_to_async(make_kb)(org_b, name="Globex secrets")
    await database_sync_to_async(document_upload)(
        access=org_b.access, knowledge_base_id=theirs.id, files=[files.upload("coast.md", files.markdown_bytes())]
    )
    kb_id = {"other_tenant": str(theirs.id), "unknown": str(uuid.uuid4()), "not-a-uuid": "not-a-uuid"}[target]
    ws = await connect(key)
    await ws.send_json_to({"type": "knowledge.subscribe", "knowledge_base": kb_id})
    error = await ws.receive_json_from(timeout=10)
    assert error["type"] == "error" and error["code"] == "not_found", error
    assert "Globex" not in str(error) and "coast" not in str(error)

    # Not subscribed: their ingestion sends this socket nothing.
    assert await database_sync_to_async(ingest_pending)(theirs) == ["ready"]
    assert await ws.receive_nothing(timeout=1.5)
    await ws.disconnect()


async def test_an_event_sent_right_after_subscribed_reaches_the_subscriber(
    org_a: Member, make_kb: Callable[..., KnowledgeBase], api_key_for: Callable[..., str]
) -> None:
    """ "Subscribed" means the process's LISTEN bridge already listens: the first event after it is
    delivered (a first sync's "queued" was lost on a loaded CI machine while the bridge was still
    connecting in the background)."""
    from apps.knowledge import realtime

    key = await database_sync_to_async(api_key_for)(org_a, "viewer")
    kb = await database_sync_to_async(make_kb)(org_a)
    ws = await connect(key)  # this test's own event loop: its bridge is a new one, started by the subscribe
    await ws.send_json_to({"type": "knowledge.subscribe", "knowledge_base": str(kb.id)})
    assert (await ws.receive_json_from(timeout=10))["type"] == "knowledge.subscribed"
    first = {"type": "knowledge.ping", "event": "knowledge.ping", "knowledge_base": str(kb.id), "n": 1}
    await database_sync_to_async(realtime._send)(first)
    assert (await ws.receive_json_from(timeout=10))["n"] == 1
    await ws.disconnect()
