"""The only place that implements flows.ports with Django, the database and real servers."""

from __future__ import annotations

from datetime import UTC, datetime
from uuid import UUID

from django.conf import settings
from langchain_core.messages import BaseMessage

from apps.knowledge.adapters import KnowledgeRetrievers
from apps.serving.egress import EgressClient
from apps.serving.gateway import GatewayModels, model_error
from flows.ports import Ports


class SystemClock:
    def now(self) -> datetime:
        return datetime.now(tz=UTC)


class PreloadedMemory:
    """The session's history, read once before the run starts (no ORM calls during the run)."""

    def __init__(self, messages: list[BaseMessage]) -> None:
        self.messages = messages

    async def history(self, session: str | None, turns: int) -> list[BaseMessage]:
        return self.messages[-turns * 2 :] if turns else []


def ports_for(*, organization_id: UUID, models: GatewayModels, history: list[BaseMessage]) -> Ports:
    """The engine's ports for one run; everything from the database is already loaded."""
    return Ports(
        models=models,
        retrievers=KnowledgeRetrievers(organization_id),
        memory=PreloadedMemory(history),
        http=EgressClient(),
        clock=SystemClock(),
        classify_model_error=lambda exc, alias: model_error(exc, alias=alias),
        context=models,
        settings={
            "first_token_timeout": settings.MODEL_FIRST_TOKEN_TIMEOUT,
            "idle_timeout": settings.MODEL_IDLE_TIMEOUT,
            "timeouts": {alias: (t.first_token, t.idle) for alias in models.aliases for t in [models.timeouts(alias)]},
        },
    )
