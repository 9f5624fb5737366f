"""Dashboard figures for an organization over the last N days: per day and per hour (runs, error
rate and errors by code, latency p50/p95/p99, time to first token, time between tokens, tokens
per second, tokens, cost per run), runs per second over the range, per flow, per model alias
(the model-call ledger) and guard hits per check.

Read from the hourly rollups (apps/observability/rollups.py) for the hours already rolled up,
and from the runs themselves only after `rolled_to` (the current hour and whatever the worker
has not rolled yet), through the same grouping query: a week over a million runs reads a few
hundred rollup rows. Percentiles come from merged histograms (within 10% of the exact value).
"""

from __future__ import annotations

import uuid
from collections import defaultdict
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from decimal import Decimal
from typing import Any

from django.utils import timezone

from apps.builder.models import Flow
from apps.observability.models import GuardRollup, ModelRollup, RunRollup
from apps.observability.rollups import (
    Figures,
    guard_rollups_compute,
    hist_add,
    hist_percentile,
    model_rollups_compute,
    rolled_to,
    run_rollups_compute,
)
from apps.tenancy.models import Organization


@dataclass(frozen=True)
class RunStats:
    since: datetime
    rolled_to: datetime
    total: dict[str, Any]
    days: list[dict[str, Any]]
    hours: list[dict[str, Any]]
    flows: list[dict[str, Any]]
    models: list[dict[str, Any]]
    guards: list[dict[str, Any]]


def _model_out(alias: str, rows: list[ModelRollup]) -> dict[str, Any]:
    hist: list[int] = []
    for row in rows:
        hist_add(hist, row.ttft_hist)
    return {
        "served_by": alias,
        "calls": sum(r.calls for r in rows),
        "failed": sum(r.failed for r in rows),
        "fallbacks": sum(r.fallbacks for r in rows),
        "p50_ttft_ms": hist_percentile(hist, 0.5),
        "p95_ttft_ms": hist_percentile(hist, 0.95),
        "input_tokens": sum(r.input_tokens for r in rows),
        "output_tokens": sum(r.output_tokens for r in rows),
        "cost": sum((Decimal(r.cost) for r in rows), Decimal(0)),
    }


def run_stats(
    *, organization: Organization, days: int, flow: uuid.UUID | None = None, now: datetime | None = None
) -> RunStats:
    now = now or timezone.now()
    since = (now - timedelta(days=days - 1)).replace(hour=0, minute=0, second=0, microsecond=0)
    cutoff = min(max(rolled_to(), since), now)
    rollups = RunRollup.objects.filter(organization=organization, hour__gte=since, hour__lt=cutoff)
    calls = ModelRollup.objects.filter(organization=organization, hour__gte=since, hour__lt=cutoff)
    if flow is not None:
        rollups, calls = rollups.filter(flow_id=flow), calls.filter(flow_id=flow)
    run_rows = list(rollups) + list(run_rollups_compute(cutoff, now, organization=organization, flow=flow).values())
    call_rows = list(calls) + list(model_rollups_compute(cutoff, now, organization=organization, flow=flow).values())

    total = Figures()
    per_day: dict[date, Figures] = defaultdict(Figures)
    per_hour: dict[datetime, Figures] = defaultdict(Figures)
    per_flow: dict[Any, Figures] = defaultdict(Figures)
    for row in run_rows:
        total.add(row)
        per_day[row.hour.date()].add(row)
        per_flow[row.flow_id].add(row)
        if days <= 2:
            per_hour[row.hour].add(row)
    by_alias: dict[str, list[ModelRollup]] = defaultdict(list)
    for call in call_rows:
        by_alias[call.alias].append(call)

    guards: list[dict[str, Any]] = []
    hits_per_day: dict[date, int] = defaultdict(int)
    if flow is None:  # guard hits are the organization's (a blocked input has no run, hence no flow)
        rolled = GuardRollup.objects.filter(organization=organization, hour__gte=since, hour__lt=cutoff)
        hit_rows = list(rolled) + guard_rollups_compute(cutoff, now, organization=organization)
        per_check: dict[tuple[str, str], int] = defaultdict(int)
        for hit in hit_rows:
            per_check[(hit.check_name, hit.action)] += hit.hits
            hits_per_day[hit.hour.date()] += hit.hits
        guards = [
            {"check": check, "action": action, "hits": n}
            for (check, action), n in sorted(per_check.items(), key=lambda kv: -kv[1])
        ]

    names = dict(Flow.objects.filter(pk__in=list(per_flow)).values_list("pk", "name"))
    flows = [
        {"flow_id": flow_id, "flow_name": names.get(flow_id, ""), **figures.out()}
        for flow_id, figures in sorted(per_flow.items(), key=lambda kv: -kv[1].runs)[:20]
    ]
    models = sorted((_model_out(alias, rows) for alias, rows in by_alias.items()), key=lambda m: -m["calls"])[:20]
    day_list = [
        {"day": day, **per_day[day].out(), "guard_hits": hits_per_day.get(day, 0)}
        for day in sorted(set(per_day) | set(hits_per_day))
    ]
    hours = [{"hour": hour, **per_hour[hour].out()} for hour in sorted(per_hour)]
    elapsed = max((now - since).total_seconds(), 1.0)
    out_total = {
        **total.out(),
        "guard_hits": sum(hits_per_day.values()),
        "runs_per_second": round(total.runs / elapsed, 4),
    }
    return RunStats(
        since=since,
        rolled_to=cutoff,
        total=out_total,
        days=day_list,
        hours=hours,
        flows=flows,
        models=models,
        guards=guards,
    )
