"""Tenant-scoped reads for operating published flows: the runs browser (keyset pages over every
run of an organization, with feedback, visitor and model aliases), one run's trace as a waterfall,
and visitors' feedback. This app sits above runs, serving and widgets: it reads all three."""

from __future__ import annotations

import re
import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal
from typing import Any

from django.contrib.postgres.expressions import ArraySubquery
from django.db.models import BooleanField, Exists, OuterRef, Q, QuerySet, Subquery
from django.db.models.expressions import RawSQL
from django.db.models.functions import Left

from apps.config.errors import NotFound
from apps.observability.cursors import cursor_decode, cursor_encode
from apps.runs.models import RUN_TEXT_SEARCH_SQL, Run, Span
from apps.serving.models import ModelCall
from apps.tenancy.models import Organization
from apps.widgets.models import Feedback, WidgetRun
from flows.values import to_text

PREVIEW_CHARS = 240


@dataclass(frozen=True)
class RunFilters:
    flow: uuid.UUID | None = None
    version: int | None = None
    source: str | None = None
    status: str | None = None
    error_code: str | None = None
    model: str | None = None  # a model alias asked for or one that served (a fallback)
    since: datetime | None = None
    until: datetime | None = None
    user: str | None = None  # a member's email
    visitor: uuid.UUID | None = None
    widget: uuid.UUID | None = None
    session: uuid.UUID | None = None
    feedback: str | None = None  # "up", "down" or "any"
    q: str | None = None  # full text over input and output


@dataclass(frozen=True)
class RunPage:
    runs: Sequence[Run]
    next: str | None


def _text_query(q: str) -> str | None:
    """Whole words joined by AND; only word characters reach to_tsquery. Not prefixes: PostgreSQL
    estimates a whole word from the index's statistics, so it picks the GIN index for a rare word
    and the keyset walk for a common one (a prefix gets a blind estimate, and a slow plan)."""
    words = re.findall(r"\w+", q.lower())[:8]
    return " & ".join(words) or None


def _filtered(organization: Organization, f: RunFilters) -> QuerySet[Run]:
    runs = Run.objects.filter(organization=organization)
    exact: dict[str, Any] = {
        "flow_id": f.flow,
        "version__number": f.version,
        "source": f.source,
        "status": f.status,
        "error_code": f.error_code,
        "session_id": f.session,
        "started_at__gte": f.since,
        "started_at__lt": f.until,
    }
    runs = runs.filter(**{k: v for k, v in exact.items() if v is not None})
    if f.user:
        runs = runs.filter(created_by__email__iexact=f.user)
    if f.model:
        calls = ModelCall.objects.filter(organization=organization, run_id=OuterRef("pk"))
        runs = runs.filter(Exists(calls.filter(Q(alias=f.model) | Q(served_by=f.model))))
    if f.visitor or f.widget:
        by = WidgetRun.objects.filter(run=OuterRef("pk"))
        by = by.filter(visitor_id=f.visitor) if f.visitor else by
        runs = runs.filter(Exists(by.filter(widget_id=f.widget) if f.widget else by))
    if f.feedback:
        rated = Feedback.objects.filter(run=OuterRef("pk"))
        if f.feedback in {"up", "down"}:
            rated = rated.filter(rating=Feedback.Rating.UP if f.feedback == "up" else Feedback.Rating.DOWN)
        runs = runs.filter(Exists(rated))
    if f.q and (query := _text_query(f.q)):
        # The indexed expression, its columns qualified (the page joins flow, version and user).
        table = Run._meta.db_table
        matched = RUN_TEXT_SEARCH_SQL.replace("inputs", f'"{table}"."inputs"').replace(
            "output_text", f'"{table}"."output_text"'
        )
        text = RawSQL(f"{matched} @@ to_tsquery('simple', %s)", (query,), output_field=BooleanField())  # noqa: S611 (bound value)
        runs = runs.filter(text)
    return runs


def run_page(*, organization: Organization, filters: RunFilters, cursor: str | None, limit: int) -> RunPage:
    """A page of runs, newest first, after `cursor`: a keyset on (started_at, id) that reads the
    `run_org_recent_id` index in order, so every page costs the same at any depth."""
    runs = _filtered(organization, filters)
    if cursor:
        at, key = cursor_decode(cursor)
        # A row comparison, which PostgreSQL turns into one index range condition.
        runs = runs.filter(
            RawSQL(  # noqa: S611 (only the table name is formatted in; values are bound)
                f'("{Run._meta.db_table}"."started_at", "{Run._meta.db_table}"."id") < (%s, %s)',
                (at, key),
                output_field=BooleanField(),
            )
        )
    feedback = Feedback.objects.filter(run=OuterRef("pk"))
    origin = WidgetRun.objects.filter(run=OuterRef("pk"))
    rows = list(
        runs.select_related("flow", "version", "created_by")
        .defer("output", "usage", "output_text", "flow__draft", "version__graph")
        .annotate(
            output_preview=Left("output_text", PREVIEW_CHARS),
            rating=Subquery(feedback.values("rating")[:1]),
            feedback_comment=Subquery(feedback.values("comment")[:1]),
            visitor_id=Subquery(origin.values("visitor_id")[:1]),
            widget_id=Subquery(origin.values("widget_id")[:1]),
            models=ArraySubquery(  # by run id alone (its index): the run is the organization's
                ModelCall.objects.filter(run_id=OuterRef("pk")).order_by("at", "id").values("served_by")
            ),
        )
        .order_by("-started_at", "-id")[: limit + 1]
    )
    more = len(rows) > limit
    rows = rows[:limit]
    return RunPage(runs=rows, next=cursor_encode(rows[-1].started_at, rows[-1].pk) if more and rows else None)


def input_preview(inputs: Any) -> str:
    if isinstance(inputs, dict) and "message" in inputs:
        return to_text(inputs["message"])[:PREVIEW_CHARS]
    return to_text(inputs)[:PREVIEW_CHARS]


@dataclass(frozen=True)
class RunTrace:
    run: Run
    spans: list[Span]
    waterfall: list[dict[str, Any]]
    model_calls: list[ModelCall]
    feedback: Feedback | None
    widget_run: WidgetRun | None
    failed_node_type: str


def run_trace(*, organization: Organization, run_id: object) -> RunTrace:
    try:
        pk = uuid.UUID(str(run_id))
    except ValueError:
        raise NotFound("Run not found.", code="run_not_found") from None
    run = (
        Run.objects.select_related("flow", "version", "created_by")
        .defer("flow__draft", "version__graph")
        .filter(organization=organization, pk=pk)
        .first()
    )
    if run is None:
        raise NotFound("Run not found.", code="run_not_found")
    spans = list(Span.objects.filter(run=run).order_by("started_at", "id"))
    calls = list(ModelCall.objects.filter(organization=organization, run_id=run.pk).order_by("at", "id"))
    failed_type = next((s.node_type for s in spans if s.node == run.failed_node), "")
    return RunTrace(
        run=run,
        spans=spans,
        waterfall=waterfall(run, spans, calls),
        model_calls=calls,
        feedback=Feedback.objects.filter(run=run).first(),
        widget_run=WidgetRun.objects.filter(run=run).first(),
        failed_node_type=failed_type,
    )


def waterfall(run: Run, spans: list[Span], calls: list[ModelCall]) -> list[dict[str, Any]]:
    """Each node span placed on the run's time line (offset from the run's start, duration), with
    the model calls it made: a call is recorded when it ends, so it belongs to the span that had
    started by then and ended closest to it. A span's cost is the sum of its calls' costs."""
    starts = [s.started_at for s in spans if s.started_at is not None]
    origin = min([run.started_at.timestamp(), *starts])
    owned: dict[int, list[ModelCall]] = {s.pk: [] for s in spans}
    for call in calls:
        at = call.at.timestamp()
        candidates = [s for s in spans if s.started_at is not None and s.started_at <= at + 0.05]
        if candidates:
            best = min(candidates, key=lambda s: abs((s.finished_at or at) - at))
            owned[best.pk].append(call)
    out = []
    for span in spans:
        start = span.started_at
        end = span.finished_at
        duration = span.latency_ms if span.latency_ms is not None else (end - start) * 1000 if start and end else None
        mine = owned[span.pk]
        out.append(
            {
                "node": span.node,
                "node_type": span.node_type,
                "status": span.status,
                "offset_ms": round((start - origin) * 1000, 3) if start is not None else None,
                "duration_ms": round(duration, 3) if duration is not None else None,
                "input_tokens": span.input_tokens,
                "output_tokens": span.output_tokens,
                "cost": sum((c.cost for c in mine), Decimal(0)),
                "input_preview": _preview(span.inputs),
                "output_preview": _preview(span.outputs),
                "error_code": span.error_code,
                "error_message": span.error_message,
                "model_calls": [c.pk for c in mine],
            }
        )
    return out


def _preview(value: Any) -> str:
    if isinstance(value, dict) and len(value) == 1:
        value = next(iter(value.values()))
    return to_text(value)[:PREVIEW_CHARS]


def feedback_list(
    *,
    organization: Organization,
    rating: int | None,
    widget: uuid.UUID | None,
    flow: uuid.UUID | None,
    commented: bool,
    cursor: str | None,
    limit: int,
) -> tuple[list[Feedback], str | None]:
    """Visitors' ratings and comments, newest first (keyset on (created_at, run))."""
    rows = Feedback.objects.filter(widget__organization=organization)
    if rating is not None:
        rows = rows.filter(rating=rating)
    if widget is not None:
        rows = rows.filter(widget_id=widget)
    if flow is not None:
        rows = rows.filter(run__flow_id=flow)
    if commented:
        rows = rows.exclude(comment="")
    if cursor:
        at, key = cursor_decode(cursor)
        rows = rows.filter(Q(created_at__lt=at) | Q(created_at=at, run_id__lt=key))
    page = list(
        rows.select_related("run", "widget")
        .only(
            "run_id",
            "rating",
            "comment",
            "created_at",
            "widget__name",
            "run__inputs",
            "run__output_text",
            "run__flow_id",
            "run__session_id",
        )
        .order_by("-created_at", "-run_id")[: limit + 1]
    )
    more = len(page) > limit
    page = page[:limit]
    return page, cursor_encode(page[-1].created_at, page[-1].run_id) if more and page else None
