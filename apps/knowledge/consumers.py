"""Knowledge-base progress on the tab's one WebSocket (apps/runs/consumers.py delegates here).

Client: `{"type": "knowledge.subscribe", "knowledge_base": id}` / `knowledge.unsubscribe`.
Server: `knowledge.subscribed` with a snapshot of the documents, then `knowledge.progress`
events. A knowledge base of another organization answers `not_found`, like every endpoint.
"""

from __future__ import annotations

from typing import Any
from uuid import UUID

from apps.config.db import in_db_thread
from apps.config.errors import NotFound
from apps.knowledge import realtime
from apps.knowledge.models import Document, KnowledgeBase
from apps.tenancy.access import Actor, access_org_by_id

MESSAGE_TYPES = frozenset({"knowledge.subscribe", "knowledge.unsubscribe"})


def _snapshot(actor: Actor, knowledge_base_id: object) -> list[dict[str, Any]]:
    try:
        pk = UUID(str(knowledge_base_id))
    except ValueError:
        raise NotFound("Knowledge base not found.") from None
    org_id = KnowledgeBase.objects.filter(pk=pk).values_list("organization_id", flat=True).first()
    access = access_org_by_id(actor=actor, org_id=org_id or "-")  # 404 for strangers
    documents = Document.objects.filter(organization=access.organization, knowledge_base_id=pk).defer("sections")
    return [realtime.progress_event(document) for document in documents]


async def handle(consumer: Any, content: dict[str, Any]) -> None:
    """Subscribe or unsubscribe `consumer` (a channels consumer with `actor`)."""
    kind, target = content.get("type"), content.get("knowledge_base")
    snapshot = await in_db_thread(_snapshot)(consumer.actor, target)
    group = realtime.group_name(target)
    if kind == "knowledge.unsubscribe":
        await consumer.layer_group_discard(group)
        return
    await realtime.ensure_bridge()
    await consumer.layer_group_add(group)  # joined again after a channel-layer outage
    await consumer.send_json({"type": "knowledge.subscribed", "knowledge_base": str(target), "documents": snapshot})
