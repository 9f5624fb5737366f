"""A visitor's message becomes a run of the widget's published flow version, and nothing else.

The visitor sends text only: the flow, its version, the graph, node config and model are all
the widget's (invariant 4). Runs go through the runner's public pieces (PreparedRun,
run_start_live, follow, events_after); this module only decides what a widget may run and
who the visitor is, and turns engine events into the small public shape a widget sees.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import Any
from uuid import UUID, uuid4

from django.db import transaction
from langchain_core.messages import BaseMessage

from apps.builder.models import FlowVersion
from apps.config.db import in_db_thread
from apps.config.errors import InvalidInput, NotFound
from apps.runs.adapters import gateway_for, ports_for, session_history
from apps.runs.models import ChatMessage, ChatSession, Run
from apps.runs.runner import LiveRun, PreparedRun, events_after, run_start_live
from apps.serving.gateway import GatewayModels
from apps.widgets.models import Conversation, Visitor, Widget, WidgetRun
from apps.widgets.ratelimit import budget_check, rate_limit_hit
from apps.widgets.selectors import citations_of, conversation_latest, public_citations, widget_by_public_key
from apps.widgets.tokens import SessionInvalid, WidgetSession
from flows.compiler import compile_flow


@dataclass
class ChatStarted:
    live: LiveRun
    visitor: UUID
    new_visitor: bool
    conversation: UUID
    show_sources: bool


@dataclass
class _Loaded:
    widget: Widget
    version: FlowVersion
    visitor: UUID | None
    conversation: Conversation | None
    history: list[BaseMessage]
    models: GatewayModels
    new_visitor_id: UUID | None = None


def widget_for_session(session: WidgetSession, key: str) -> Widget:
    widget = widget_by_public_key(key=key)
    if widget is None:
        raise NotFound("This chat is not available.", code="widget_not_found")
    if widget.pk != session.widget or widget.public_key != session.key:
        raise SessionInvalid("This chat session belongs to another widget or an old key.")
    return widget


def published_version(widget: Widget) -> FlowVersion:
    version = widget.pinned_version or widget.flow.published_version
    if version is None or version.flow_id != widget.flow_id:
        raise InvalidInput("This assistant is not published yet.", code="not_published")
    return version


def _load(session: WidgetSession, key: str, message: str, ip: str, new_conversation: bool) -> _Loaded:
    widget = widget_for_session(session, key)
    if not message.strip():
        raise InvalidInput("Type a message first.", code="empty_message")
    if len(message) > widget.max_input_chars:
        raise InvalidInput(f"Messages are limited to {widget.max_input_chars} characters.", code="message_too_long")
    visitor = session.visitor
    if visitor is not None and not Visitor.objects.filter(pk=visitor, widget=widget).exists():
        visitor = None
    # A first message counts for the visitor it is about to create (its id is chosen now).
    new_visitor_id = None if visitor is not None else uuid4()
    rate_limit_hit(widget=widget, visitor=visitor or new_visitor_id, ip=ip)
    budget_check(widget=widget)
    version = published_version(widget)
    conversation = None
    if visitor is not None and not new_conversation:
        conversation = conversation_latest(widget=widget, visitor=visitor)
    history = session_history(conversation.session_id) if conversation and widget.conversation_memory else []
    models = gateway_for(widget.organization)
    return _Loaded(widget, version, visitor, conversation, history, models, new_visitor_id)


@transaction.atomic
def _save(loaded: _Loaded, message: str) -> tuple[Run, UUID, bool, UUID]:
    widget = loaded.widget
    new_visitor = loaded.visitor is None
    if loaded.visitor is None:
        visitor = Visitor.objects.create(pk=loaded.new_visitor_id or uuid4(), widget=widget).pk
    else:
        visitor = loaded.visitor
    conversation = loaded.conversation
    if conversation is None:
        chat = ChatSession.objects.create(organization_id=widget.organization_id, flow=widget.flow, title=message[:80])
        conversation = Conversation.objects.create(session=chat, widget=widget, visitor_id=visitor)
    run = Run.objects.create(
        organization_id=widget.organization_id,
        flow=widget.flow,
        version=loaded.version,
        source=Run.Source.WIDGET,
        session_id=conversation.session_id,
        inputs={"message": message},
    )
    ChatMessage.objects.create(session_id=conversation.session_id, role=ChatMessage.Role.USER, content=message, run=run)
    WidgetRun.objects.create(run=run, widget=widget, visitor_id=visitor)
    return run, visitor, new_visitor, conversation.session_id


async def chat_start(
    *, session: WidgetSession, key: str, message: str, ip: str, new_conversation: bool = False
) -> ChatStarted:
    """Check limits, compile the published version, write the rows, start the run."""
    loaded = await in_db_thread(_load)(session, key, message, ip, new_conversation)
    ports = ports_for(organization_id=loaded.widget.organization_id, models=loaded.models, history=loaded.history)
    compiled = compile_flow(loaded.version.graph, ports)  # FlowInvalid: nothing written yet
    run, visitor, new_visitor, conversation = await in_db_thread(_save)(loaded, message)
    live = run_start_live(PreparedRun(run=run, compiled=compiled, prices=loaded.models.prices(), ref=None))
    return ChatStarted(live, visitor, new_visitor, conversation, loaded.widget.show_sources)


def _resumable(session: WidgetSession, key: str, run_id: UUID) -> bool:
    widget = widget_for_session(session, key)
    if (
        session.visitor is None
        or not WidgetRun.objects.filter(run_id=run_id, widget=widget, visitor_id=session.visitor).exists()
    ):
        raise NotFound("Run not found.", code="run_not_found")
    return widget.show_sources


async def chat_resume(
    *, session: WidgetSession, key: str, run_id: UUID, after: int
) -> tuple[bool, AsyncIterator[dict[str, Any]]]:
    """A visitor's own run after `after`: from the live buffer, or from the database."""
    show_sources = await in_db_thread(_resumable)(session, key, run_id)
    return show_sources, events_after(str(run_id), after)


def _answer(outputs: Any) -> str | None:
    if isinstance(outputs, dict):
        for value in outputs.values():
            if isinstance(value, dict) and "value" in value:
                return str(value["value"]) if value["value"] is not None else ""
    return None


def public_event(wire: dict[str, Any], *, show_sources: bool) -> dict[str, Any] | None:
    """The engine event as a widget may see it: no node names, previews, prompts or usage."""
    kind = wire.get("type")
    base = {"type": kind, "run": wire.get("run"), "seq": wire.get("seq")}
    if kind == "token":
        return {**base, "data": {"text": (wire.get("data") or {}).get("text", "")}}
    if kind == "run.started":
        return base
    if kind == "run.finished":
        outputs = (wire.get("data") or {}).get("outputs")
        data: dict[str, Any] = {"answer": _answer(outputs)}
        if show_sources:
            data["citations"] = public_citations(citations_of(outputs))
        return {**base, "data": data}
    if kind == "run.failed":
        code = (wire.get("data") or {}).get("code") or "run_failed"
        return {**base, "data": {"code": code, "message": "Sorry, the assistant could not answer just now."}}
    if kind == "run.cancelled":
        return {**base, "data": {}}
    return None
