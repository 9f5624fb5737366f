"""Re-embed progress over the app's WebSocket: `knowledge.reembed` events (job -> PostgreSQL NOTIFY
-> bridge -> channel layer -> socket) from queued to the switch, done/total growing."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest
from channels.db import database_sync_to_async

from apps.knowledge import realtime
from apps.knowledge.models import KnowledgeBase
from apps.knowledge.reembed import reembed_run
from apps.knowledge.services import document_upload, knowledge_base_reembed
from apps.serving.models import ModelKind
from apps.serving.services import model_endpoint_create
from tests.apps.knowledge import files
from tests.apps.knowledge.conftest import ingest_pending
from tests.apps.knowledge.test_ws_progress import connect
from tests.conftest import Member
from tests.support.egress import allow_egress
from tests.support.embedding_server import EmbeddingServer

pytestmark = pytest.mark.django_db(transaction=True)


async def _bridge_listening(ws: Any, kb: KnowledgeBase) -> None:
    """The process's LISTEN bridge connects in the background after the first subscribe: a short
    job could finish before it listens. Ping through it until a ping comes back."""
    ping = {"type": "knowledge.ping", "event": "knowledge.ping", "knowledge_base": str(kb.id)}
    for _ in range(60):
        await database_sync_to_async(realtime._send)(ping)
        # (a receive that times out would end the application: look first)
        if not await ws.receive_nothing(timeout=0.5) and (await ws.receive_json_from(timeout=5))["type"] == (
            "knowledge.ping"
        ):
            return
    raise AssertionError("the knowledge bridge never listened")


async def test_ws_reembed_progress_reaches_the_subscriber_until_the_switch(
    org_a: Member, make_kb: Callable[..., KnowledgeBase], api_key_for: Callable[..., str]
) -> None:
    server = EmbeddingServer().start()
    allow_egress(server.url)
    try:
        key = await database_sync_to_async(api_key_for)(org_a, "viewer")

        def prepared() -> KnowledgeBase:
            model_endpoint_create(
                access=org_a.access, alias="wide", kind=ModelKind.EMBEDDING, base_url=server.url, model="minilm-768"
            )
            kb = make_kb(org_a, chunk_size=32, chunk_overlap=0)
            notes = [files.upload(f"n{i}.md", (f"# N{i}\n\n" + files.FILLER * 6).encode()) for i in range(4)]
            document_upload(access=org_a.access, knowledge_base_id=kb.id, files=notes)
            ingest_pending(kb)
            return kb

        kb = await database_sync_to_async(prepared)()
        ws = await connect(key)
        await ws.send_json_to({"type": "knowledge.subscribe", "knowledge_base": str(kb.id)})
        assert (await ws.receive_json_from(timeout=10))["type"] == "knowledge.subscribed"
        await _bridge_listening(ws, kb)
        job = await database_sync_to_async(knowledge_base_reembed)(
            access=org_a.access, knowledge_base_id=kb.id, embedding_model="wide"
        )
        assert await database_sync_to_async(reembed_run)(job.id) == "done"
        events: list[dict[str, Any]] = []
        while not events or events[-1]["status"] != "done":
            events.append(await ws.receive_json_from(timeout=30))
        assert {e["type"] for e in events} == {"knowledge.reembed"}
        assert {e["job"] for e in events} == {str(job.id)}
        assert [e["status"] for e in events][:2] == ["queued", "running"]
        done = [e["done"] for e in events]
        assert done == sorted(done) and done[-1] == events[-1]["total"] > 32
        assert events[-1]["target_model"] == "wide" and events[-1]["target_dims"] == 768
        await ws.disconnect()
    finally:
        server.stop()
