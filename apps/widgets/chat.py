"""A visitor's message becomes a run of the widget's published flow version, and nothing else.

The visitor sends text only: the flow, its version, the graph, node config and model are all
the widget's (invariant 4). The visitor is a principal of the one run start
(apps.runs.start.run_start): `WidgetVisitor` admits the message (the widget's limits), picks the
flow, version and conversation, grants access to that flow only, and adds its rows (the visitor,
the conversation, the run's widget link) to the run's one insert. This module also turns engine
events into the small public shape a widget sees.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any
from uuid import UUID, uuid4

from apps.config.db import in_db_thread
from apps.config.errors import InvalidInput, NotFound
from apps.config.wire_errors import public_failure
from apps.runs.live import LiveRun, run_start_live
from apps.runs.models import ChatSession, Run
from apps.runs.principals import Policy, Principal, RunRequest
from apps.runs.replay import events_after
from apps.runs.start import run_start
from apps.tenancy.access import Actor
from apps.tenancy.models import Role
from apps.widgets.models import Conversation, Visitor, Widget, WidgetRun
from apps.widgets.ratelimit import budget_check, rate_limit_hit
from apps.widgets.selectors import citations_of, public_citations, visitor_admission, widget_by_public_key
from apps.widgets.tokens import SessionInvalid, WidgetSession

if TYPE_CHECKING:
    from django.db.models import Model


@dataclass
class ChatStarted:
    live: LiveRun
    visitor: UUID
    new_visitor: bool
    conversation: UUID
    show_sources: bool


def widget_for_session(session: WidgetSession, key: str) -> Widget:
    widget = widget_by_public_key(key=key)
    if widget is None:
        raise NotFound("This chat is not available.", code="widget_not_found")
    if widget.pk != session.widget or widget.public_key != session.key:
        raise SessionInvalid("This chat session belongs to another widget or an old key.")
    return widget


class WidgetVisitor(Principal):
    """A widget's visitor: runs its widget's published (or pinned) version, with a message only,
    within the widget's per-visitor and per-IP rates and its daily tokens."""

    def __init__(self, session: WidgetSession, key: str, ip: str, *, new_conversation: bool = False) -> None:
        super().__init__(Actor(user=None, api_key=None, ip=ip))
        self.session, self.key, self.ip, self.new_conversation = session, key, ip, new_conversation
        self.policy = Policy(draft=False, numbered=True, message_only=True)
        # What admit() decides (read by chat_start once the run has started).
        self.widget: Widget | None = None
        self.visitor: UUID | None = None
        self.new_visitor = False

    def admit(self, request: RunRequest) -> RunRequest:
        widget = self.widget = widget_for_session(self.session, self.key)
        message = request.inputs.get("message")
        if not isinstance(message, str) or not message.strip():
            raise InvalidInput("Type a message first.", code="empty_message")
        if len(message) > widget.max_input_chars:
            raise InvalidInput(f"Messages are limited to {widget.max_input_chars} characters.", code="message_too_long")
        visitor = self.session.visitor
        # One read for the visitor, the widget's tokens today and the latest conversation.
        known, used_today, latest_session = visitor_admission(widget=widget, visitor=visitor)
        if visitor is not None and not known:
            visitor = None
        # A first message counts for the visitor it is about to create (its id is chosen now).
        self.new_visitor = visitor is None
        self.visitor = visitor if visitor is not None else uuid4()
        rate_limit_hit(widget=widget, visitor=self.visitor, ip=self.ip)
        budget_check(widget=widget, used=used_today)
        pinned = widget.pinned_version
        if pinned is not None and pinned.flow_id == widget.flow_id:
            version: int | str = pinned.number
        elif pinned is None and widget.flow.published_version_id is not None:
            version = "published"
        else:
            raise InvalidInput("This assistant is not published yet.", code="not_published")
        session = None
        if not self.new_visitor and not self.new_conversation:
            session = latest_session
        self.policy = Policy(draft=False, numbered=True, message_only=True, memory=widget.conversation_memory)
        return RunRequest(
            flow=widget.flow_id,
            organization=widget.organization_id,
            version=version,
            inputs={"message": message},
            session=session,
            source=Run.Source.WIDGET,
        )

    @property
    def widget_id(self) -> UUID | None:
        return self.widget.pk if self.widget is not None else None

    def admitted(self) -> tuple[Widget, UUID]:
        if self.widget is None or self.visitor is None:
            raise RuntimeError("the visitor was not admitted")
        return self.widget, self.visitor

    def role_in(self, organization_id: UUID, member_role: str | None) -> str | None:
        # The widget grants running its own flow (admit named it), and nothing else.
        widget = self.widget
        return Role.VIEWER if widget is not None and organization_id == widget.organization_id else None

    def rows(self, run: Run, session: ChatSession, new_session: bool) -> list[Model]:
        widget, visitor = self.admitted()
        rows: list[Model] = []
        if self.new_visitor:
            rows.append(Visitor(pk=visitor, widget=widget))
        if new_session:
            rows.append(Conversation(session=session, widget=widget, visitor_id=visitor))
        rows.append(WidgetRun(run=run, widget=widget, visitor_id=visitor))
        return rows


async def chat_start(
    *, session: WidgetSession, key: str, message: str, ip: str, new_conversation: bool = False
) -> ChatStarted:
    """Admit the message, compile the widget's version, write the rows, start the run: the run
    start every entry point has (one database-thread trip; the model call starts once compiled)."""
    visitor = WidgetVisitor(session, key, ip, new_conversation=new_conversation)
    prepared = await run_start(visitor, RunRequest(flow=None, inputs={"message": message}), early=True)
    widget, visitor_id = visitor.admitted()
    conversation = prepared.run.session_id
    if conversation is None:  # every widget run has its conversation's session
        raise RuntimeError("a widget run without a session")
    return ChatStarted(run_start_live(prepared), visitor_id, visitor.new_visitor, conversation, widget.show_sources)


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
        return {**base, "data": public_failure(wire.get("data") or {})}
    if kind == "run.cancelled":
        return {**base, "data": {}}
    return None
