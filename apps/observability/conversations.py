"""Conversations: each chat session of the organization (a widget visitor's, or a member's in the
playground or over the API) as a transcript with its runs and the visitor's feedback inline;
filtered by widget, flow and "only thumbs-down"; exported as JSONL or CSV."""

from __future__ import annotations

import csv
import io
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import orjson
from django.db.models import Count, Exists, IntegerField, OuterRef, Q, QuerySet, Subquery
from django.db.models.functions import Coalesce

from apps.config.errors import NotFound
from apps.observability.cursors import cursor_decode, cursor_encode
from apps.runs.models import ChatMessage, ChatSession, Run
from apps.tenancy.models import Organization
from apps.widgets.models import Conversation, Feedback
from apps.widgets.selectors import citations_of

EXPORT_LIMIT = 10_000  # conversations per export


@dataclass(frozen=True)
class ConversationFilters:
    widget: uuid.UUID | None = None
    flow: uuid.UUID | None = None
    thumbs_down: bool = False


def _count(rows: QuerySet[Any], key: str) -> Subquery:
    return Subquery(rows.order_by().values(key).annotate(n=Count("*")).values("n")[:1], output_field=IntegerField())


def _sessions(organization: Organization, f: ConversationFilters) -> QuerySet[ChatSession]:
    sessions = ChatSession.objects.filter(organization=organization)
    if f.flow:
        sessions = sessions.filter(flow_id=f.flow)
    if f.widget:
        sessions = sessions.filter(Exists(Conversation.objects.filter(session=OuterRef("pk"), widget_id=f.widget)))
    if f.thumbs_down:
        down = Feedback.objects.filter(run__session_id=OuterRef("pk"), rating=Feedback.Rating.DOWN)
        sessions = sessions.filter(Exists(down))
    conversation = Conversation.objects.filter(session=OuterRef("pk"))
    return sessions.annotate(
        widget_id=Subquery(conversation.values("widget_id")[:1]),
        widget_name=Subquery(conversation.values("widget__name")[:1]),
        visitor_id=Subquery(conversation.values("visitor_id")[:1]),
        # Correlated counts, not a join and GROUP BY: a page then walks session_org_recent and
        # counts for its 50 rows only, instead of aggregating every session of the organization.
        message_count=Coalesce(_count(ChatMessage.objects.filter(session=OuterRef("pk")), "session"), 0),
        thumbs_down=_count(
            Feedback.objects.filter(run__session_id=OuterRef("pk"), rating=Feedback.Rating.DOWN), "run__session_id"
        ),
    ).select_related("flow", "user")


def conversation_page(
    *, organization: Organization, filters: ConversationFilters, cursor: str | None, limit: int
) -> tuple[list[ChatSession], str | None]:
    """Conversations, most recently active first (keyset on (updated_at, id))."""
    sessions = _sessions(organization, filters)
    if cursor:
        at, key = cursor_decode(cursor)
        sessions = sessions.filter(Q(updated_at__lt=at) | Q(updated_at=at, id__lt=key))
    rows = list(sessions.order_by("-updated_at", "-id")[: limit + 1])
    more = len(rows) > limit
    rows = rows[:limit]
    return rows, cursor_encode(rows[-1].updated_at, rows[-1].pk) if more and rows else None


def conversation_get(*, organization: Organization, session_id: object) -> ChatSession:
    try:
        pk = uuid.UUID(str(session_id))
    except ValueError:
        raise NotFound("Conversation not found.", code="conversation_not_found") from None
    session = _sessions(organization, ConversationFilters()).filter(pk=pk).first()
    if session is None:
        raise NotFound("Conversation not found.", code="conversation_not_found")
    return session


def transcript(session: ChatSession) -> list[dict[str, Any]]:
    """The messages in order; an answer carries its run (status, latency, tokens, cost, error,
    citations) and the visitor's rating and comment."""
    messages = list(ChatMessage.objects.filter(session=session).order_by("created_at", "id"))
    run_ids = {m.run_id for m in messages if m.run_id}
    runs = {
        r.pk: r
        for r in Run.objects.filter(pk__in=run_ids, organization_id=session.organization_id).only(
            "id", "status", "latency_ms", "ttft_ms", "input_tokens", "output_tokens", "cost", "error_code", "output"
        )
    }
    feedback = {f.run_id: f for f in Feedback.objects.filter(run_id__in=run_ids)}
    out = []
    for message in messages:
        item: dict[str, Any] = {
            "role": message.role,
            "text": message.content,
            "at": message.created_at,
            "run": message.run_id,
        }
        run = runs.get(message.run_id) if message.run_id else None
        if message.role == ChatMessage.Role.ASSISTANT and run is not None:
            rated = feedback.get(run.pk)
            item.update(
                status=run.status,
                latency_ms=run.latency_ms,
                ttft_ms=run.ttft_ms,
                tokens=run.input_tokens + run.output_tokens,
                cost=run.cost,
                error_code=run.error_code,
                citations=citations_of(run.output),
                rating=rated.rating if rated else None,
                comment=rated.comment if rated else "",
            )
        out.append(item)
    return out


EXPORT_COLUMNS = [
    "conversation",
    "widget",
    "visitor",
    "flow",
    "role",
    "text",
    "at",
    "run",
    "status",
    "rating",
    "comment",
]


def _export_rows(organization: Organization, filters: ConversationFilters) -> Iterator[dict[str, Any]]:
    sessions = _sessions(organization, filters).order_by("-updated_at", "-id")[:EXPORT_LIMIT]
    for session in sessions.iterator(chunk_size=200):
        for item in transcript(session):
            yield {
                "conversation": str(session.pk),
                "widget": getattr(session, "widget_name", None) or "",
                "visitor": str(getattr(session, "visitor_id", None) or ""),
                "flow": str(session.flow_id or ""),
                "role": item["role"],
                "text": item["text"],
                "at": item["at"].isoformat() if isinstance(item["at"], datetime) else item["at"],
                "run": str(item["run"] or ""),
                "status": item.get("status", ""),
                "rating": item.get("rating") if item.get("rating") is not None else "",
                "comment": item.get("comment", ""),
            }


_FORMULA = frozenset("=+-@\t\r")


def conversation_export(*, organization: Organization, filters: ConversationFilters, fmt: str) -> Iterator[bytes]:
    """One message a line (JSONL) or a row (CSV, with a header), conversation after conversation."""
    if fmt == "csv":
        buffer = io.StringIO()
        writer = csv.DictWriter(buffer, fieldnames=EXPORT_COLUMNS)
        writer.writeheader()
        yield buffer.getvalue().encode()
        for row in _export_rows(organization, filters):
            buffer.seek(0)
            buffer.truncate()
            # A cell that a spreadsheet would run as a formula is quoted as text (an empty one is
            # left empty: `"" in "=+-@"` is true, and every blank cell was exported as a lone ').
            writer.writerow({k: f"'{v}" if isinstance(v, str) and v[:1] in _FORMULA else v for k, v in row.items()})
            yield buffer.getvalue().encode()
    else:
        for row in _export_rows(organization, filters):
            yield orjson.dumps(row) + b"\n"
