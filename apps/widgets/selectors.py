"""Reads. Admin reads start from the organization; public reads start from the public key."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any

from django.db.models import Count, DecimalField, Exists, F, IntegerField, OuterRef, Q, QuerySet, Subquery, Sum, Value
from django.db.models.functions import Coalesce, TruncDate

from apps.config.errors import NotFound
from apps.runs.models import ChatMessage, Run
from apps.tenancy.models import Organization
from apps.widgets.models import Conversation, Feedback, Visitor, Widget, WidgetRun
from flows.values import to_text

MAX_HISTORY = 100


def widget_list(*, organization: Organization) -> QuerySet[Widget]:
    return (
        Widget.objects.filter(organization=organization)
        .select_related("flow", "pinned_version")
        .order_by("-updated_at", "-created_at")
    )


def widget_get(*, organization: Organization, widget_id: object) -> Widget:
    try:
        pk = uuid.UUID(str(widget_id))
    except ValueError:
        raise NotFound("Widget not found.", code="widget_not_found") from None
    widget = widget_list(organization=organization).filter(pk=pk).first()
    if widget is None:
        raise NotFound("Widget not found.", code="widget_not_found")
    return widget


def widget_by_public_key(*, key: str) -> Widget | None:
    """An enabled widget by its public key (the key alone grants nothing: callers check Origin)."""
    if not key or len(key) > 64:
        return None
    return (
        Widget.objects.select_related("organization", "flow", "pinned_version")
        .filter(public_key=key, enabled=True)
        .first()
    )


def citations_of(output: Any) -> list[dict[str, Any]]:
    """The citations a run's outputs carry (the output node's `citations`)."""
    found: list[dict[str, Any]] = []
    if isinstance(output, dict):
        for value in output.values():
            if isinstance(value, dict) and isinstance(value.get("citations"), list):
                found.extend(c for c in value["citations"] if isinstance(c, dict))
    return found


def public_citations(citations: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Only what a visitor needs; no scores or internal ids beyond the document's."""
    keep = ("n", "title", "page", "snippet", "document")
    return [
        {key: to_text(c.get(key)) if key != "n" else c.get(key) for key in keep if c.get(key) is not None}
        for c in citations
    ]


def visitor_admission(
    *, widget: Widget, visitor: uuid.UUID | None, now: datetime | None = None
) -> tuple[bool, int, uuid.UUID | None]:
    """What a visitor's message is admitted on, in one statement: whether `visitor` is this
    widget's, the widget's tokens today (as ratelimit.tokens_used_today counts them) and the
    session of the visitor's latest conversation (as conversation_latest picks it)."""
    now = now or datetime.now(tz=UTC)
    midnight = now.replace(hour=0, minute=0, second=0, microsecond=0)
    tokens = (
        WidgetRun.objects.filter(widget=OuterRef("pk"), created_at__gte=midnight)
        .values("widget")
        .annotate(total=Sum(F("run__input_tokens") + F("run__output_tokens")))
        .values("total")[:1]
    )
    known: Any = Value(False)
    latest: Any = Value(None, output_field=Conversation._meta.get_field("session").target_field)  # type: ignore[union-attr]
    if visitor is not None:
        known = Exists(Visitor.objects.filter(pk=visitor, widget=OuterRef("pk")))
        latest = Subquery(
            Conversation.objects.filter(widget=OuterRef("pk"), visitor_id=visitor)
            .order_by("-created_at")
            .values("session_id")[:1]
        )
    row = Widget.objects.filter(pk=widget.pk).values_list(known, Subquery(tokens), latest).first()
    if row is None:
        return False, 0, None
    exists, used, session = row
    return bool(exists), int(used or 0), session


def conversation_latest(*, widget: Widget, visitor: uuid.UUID) -> Conversation | None:
    return Conversation.objects.filter(widget=widget, visitor_id=visitor).order_by("-created_at").first()


def conversation_history(*, conversation: Conversation, show_sources: bool) -> list[dict[str, Any]]:
    """The messages a reloaded page shows, with each answer's run, status, sources and rating."""
    messages = list(
        ChatMessage.objects.filter(session_id=conversation.session_id).order_by("-created_at", "-id")[:MAX_HISTORY]
    )
    messages.reverse()
    run_ids = {m.run_id for m in messages if m.run_id}
    runs = {r.pk: r for r in Run.objects.filter(pk__in=run_ids).only("id", "status", "output", "last_seq")}
    ratings = dict(Feedback.objects.filter(run_id__in=run_ids).values_list("run_id", "rating"))
    answered = {m.run_id for m in messages if m.role == ChatMessage.Role.ASSISTANT}
    out: list[dict[str, Any]] = []
    for message in messages:
        run = runs.get(message.run_id) if message.run_id else None
        item: dict[str, Any] = {"role": message.role, "text": message.content, "run": str(message.run_id or "")}
        if message.role == ChatMessage.Role.ASSISTANT and run is not None:
            item["rating"] = ratings.get(run.pk)
            if show_sources:
                item["citations"] = public_citations(citations_of(run.output))
        out.append(item)
        if message.role == ChatMessage.Role.USER and run is not None and run.pk not in answered:
            # No answer stored: still running (the page resumes it) or it ended without one.
            failed = "" if run.status == Run.Status.RUNNING else "Sorry, the assistant could not answer just now."
            out.append({"role": "assistant", "text": failed, "run": str(run.pk), "status": run.status})
    return out


def widget_analytics(*, widget: Widget, days: int = 30, now: datetime | None = None) -> dict[str, Any]:
    now = now or datetime.now(tz=UTC)
    since = (now - timedelta(days=days - 1)).replace(hour=0, minute=0, second=0, microsecond=0)
    zero_cost = Value(0, output_field=DecimalField(max_digits=14, decimal_places=6))
    per_day = (
        WidgetRun.objects.filter(widget=widget, created_at__gte=since)
        .annotate(day=TruncDate("created_at"))
        .values("day")
        .annotate(
            messages=Count("run"),
            input_tokens=Coalesce(Sum("run__input_tokens"), Value(0), output_field=IntegerField()),
            output_tokens=Coalesce(Sum("run__output_tokens"), Value(0), output_field=IntegerField()),
            cost=Coalesce(Sum("run__cost"), zero_cost),
            failed=Count("run", filter=Q(run__status=Run.Status.FAILED)),
        )
    )
    conversations = dict(
        Conversation.objects.filter(widget=widget, created_at__gte=since)
        .annotate(day=TruncDate("created_at"))
        .values("day")
        .annotate(n=Count("session"))
        .values_list("day", "n")
    )
    feedback = (
        Feedback.objects.filter(widget=widget, created_at__gte=since)
        .annotate(day=TruncDate("created_at"))
        .values("day")
        .annotate(up=Count("run", filter=Q(rating=1)), down=Count("run", filter=Q(rating=-1)))
    )
    rows: dict[Any, dict[str, Any]] = {}
    for offset in range(days):
        day = (since + timedelta(days=offset)).date()
        rows[day] = {
            "day": day.isoformat(),
            "conversations": conversations.get(day, 0),
            "messages": 0,
            "failed": 0,
            "input_tokens": 0,
            "output_tokens": 0,
            "cost": "0",
            "thumbs_up": 0,
            "thumbs_down": 0,
        }
    for row in per_day:
        if row["day"] in rows:
            rows[row["day"]].update(
                messages=row["messages"],
                failed=row["failed"],
                input_tokens=row["input_tokens"],
                output_tokens=row["output_tokens"],
                cost=str(row["cost"]),
            )
    for day, up, down in feedback.values_list("day", "up", "down"):
        if day in rows:
            rows[day].update(thumbs_up=up, thumbs_down=down)
    series = list(rows.values())
    totals: dict[str, Any] = {
        key: sum(int(r[key]) for r in series)
        for key in ("conversations", "messages", "failed", "input_tokens", "output_tokens", "thumbs_up", "thumbs_down")
    }
    totals["cost"] = str(sum((Decimal(r["cost"]) for r in series), Decimal(0)))
    return {"days": series, "totals": totals}
