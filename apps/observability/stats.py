"""Dashboard figures for an organization over the last N days, computed in PostgreSQL over an
index range of the runs (`run_org_recent_id`): per day (runs, error rate, latency p50/p95, time
to first token p95, tokens, cost), per flow and per model alias (from the model-call ledger)."""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from django.db.models import Aggregate, Count, FloatField, Q, Sum
from django.db.models.functions import TruncDate
from django.utils import timezone

from apps.runs.models import Run
from apps.serving.models import ModelCall
from apps.tenancy.models import Organization


class Percentile(Aggregate):
    """percentile_cont(q) WITHIN GROUP (ORDER BY expression), computed by PostgreSQL."""

    function = "percentile_cont"
    output_field = FloatField()

    def __init__(self, expression: str, q: float) -> None:
        super().__init__(expression)
        self.template = f"percentile_cont({float(q)}) WITHIN GROUP (ORDER BY %(expressions)s)"


def _figures() -> dict[str, Any]:
    ended = ~Q(status=Run.Status.RUNNING)
    return {
        "runs": Count("id"),
        "failed": Count("id", filter=Q(status=Run.Status.FAILED)),
        "ended": Count("id", filter=ended),
        "p50_latency_ms": Percentile("latency_ms", 0.5),
        "p95_latency_ms": Percentile("latency_ms", 0.95),
        "p95_ttft_ms": Percentile("ttft_ms", 0.95),
        "input_tokens": Sum("input_tokens"),
        "output_tokens": Sum("output_tokens"),
        "cost": Sum("cost"),
    }


def _clean(row: dict[str, Any]) -> dict[str, Any]:
    ended = row.pop("ended", 0) or 0
    row["error_rate"] = round(100 * (row.get("failed") or 0) / ended, 2) if ended else None
    for key in ("input_tokens", "output_tokens"):
        row[key] = row.get(key) or 0
    row["cost"] = row.get("cost") or 0
    return row


@dataclass(frozen=True)
class RunStats:
    since: datetime
    total: dict[str, Any]
    days: list[dict[str, Any]]
    flows: list[dict[str, Any]]
    models: list[dict[str, Any]]


def run_stats(
    *, organization: Organization, days: int, flow: uuid.UUID | None = None, now: datetime | None = None
) -> RunStats:
    now = now or timezone.now()
    since = (now - timedelta(days=days - 1)).replace(hour=0, minute=0, second=0, microsecond=0)
    runs = Run.objects.filter(organization=organization, started_at__gte=since, started_at__lte=now)
    if flow is not None:
        runs = runs.filter(flow_id=flow)
    total = _clean(runs.aggregate(**_figures()))
    by_day: Any = runs.annotate(day=TruncDate("started_at")).values("day").annotate(**_figures())
    by_flow: Any = runs.values("flow_id", "flow__name").annotate(**_figures())
    per_day = [_clean(dict(row)) for row in by_day.order_by("day")]
    per_flow = [_clean(dict(row)) for row in by_flow.order_by("-runs")[:20]]
    calls = ModelCall.objects.filter(organization=organization, at__gte=since, at__lte=now)
    if flow is not None:
        calls = calls.filter(flow_id=flow)
    by_model: Any = (
        calls.values("served_by")
        .annotate(
            calls=Count("id"),
            failed=Count("id", filter=~Q(status=ModelCall.Status.OK)),
            p95_ttft_ms=Percentile("ttft_ms", 0.95),
            input_tokens=Sum("input_tokens"),
            output_tokens=Sum("output_tokens"),
            cost=Sum("cost"),
        )
        .order_by("-calls")[:20]
    )
    per_model = [dict(row) for row in by_model]
    return RunStats(since=since, total=total, days=per_day, flows=per_flow, models=per_model)
