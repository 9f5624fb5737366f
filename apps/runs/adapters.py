"""The only place that implements flows.ports with Django, the database and real servers."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any, Protocol
from uuid import UUID

from django.conf import settings
from langchain_core.messages import BaseMessage

from apps.integrations.runtime import run_integrations
from apps.knowledge.adapters import KnowledgeRetrievers
from apps.serving.egress import EgressClient
from apps.serving.gateway import GatewayModels, model_error
from flows.ports import Ports
from flows.secrets import Redactor

if TYPE_CHECKING:
    from apps.runs.models import Run


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


class _Starting(Protocol):  # apps.runs.start.RunStarting, as this hook uses it
    run: Run
    graph: dict[str, Any]
    ports: Ports
    redactor: Redactor | None


class IntegrationsHook:
    """The run start's hook for the organization's integrations (apps.integrations.runtime): the
    graph's `{{secrets.*}}` / `{{vars.*}}` filled in, the org's MCP and OpenAPI tools in the ports'
    `extra_tools`, and the redactor of every secret value the run may meet, which the live run
    applies to each event before it is stored or sent. A graph that uses none of it costs no read."""

    def __call__(self, starting: _Starting) -> None:
        found = run_integrations(
            organization_id=starting.run.organization_id, graph=starting.graph, http=starting.ports.http
        )
        starting.graph = found.graph
        if found.tools:
            starting.ports.extra_tools = {**starting.ports.extra_tools, **found.tools}
        starting.redactor = found.redactor
