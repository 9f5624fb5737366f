"""Dashboard figures for an organization over the last N days: per day and per hour (runs, error
rate and errors by code, latency p50/p95/p99, time to first token, time between tokens, tokens
per second, tokens, cost per run, active users and cost per active user, visitors' thumbs, the
response cache's hit rate and saved cost), runs per second over the range, per flow, per model
alias (the model-call ledger), the top users by cost and guard hits per check.

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

from django.contrib.auth import get_user_model
from django.db import connection
from django.utils import timezone

from apps.builder.models import Flow
from apps.observability.models import FeedbackRollup, GuardRollup, ModelRollup, PrincipalRollup, RunRollup
from apps.observability.rollups import (
    Figures,
    feedback_rollups_compute,
    guard_rollups_compute,
    hist_add,
    hist_percentile,
    model_rollups_compute,
    principal_sql,
    rolled_to,
    run_rollups_compute,
)
from apps.tenancy.models import ApiKey, Organization
from apps.widgets.models import Visitor

TOP_USERS = 10


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
    users: list[dict[str, Any]]


@dataclass
class Extra:
    """What a day, an hour or the range adds to the run figures: who ran them, thumbs, cache."""

    active_users: int = 0
    user_runs: int = 0
    user_cost: Decimal = Decimal(0)
    up: int = 0
    down: int = 0
    calls: int = 0
    cache_hits: int = 0
    cache_saved: Decimal = Decimal(0)

    def out(self) -> dict[str, Any]:
        rated = self.up + self.down
        return {
            "active_users": self.active_users,
            "cost_per_user": (self.user_cost / self.active_users).quantize(Decimal("0.000001"))
            if self.active_users
            else None,
            "rated": rated,
            "thumbs_up": self.up,
            "thumbs_down": self.down,
            "thumbs_up_share": round(100 * self.up / rated, 2) if rated else None,
            "thumbs_down_rate": round(100 * self.down / rated, 2) if rated else None,
            "model_calls": self.calls,
            "cache_hits": self.cache_hits,
            "cache_hit_rate": round(100 * self.cache_hits / self.calls, 2) if self.calls else None,
            "cache_saved": self.cache_saved,
        }


def _principals(
    organization: Organization,
    *,
    since: datetime,
    cutoff: datetime,
    now: datetime,
    flow: uuid.UUID | None,
    version: uuid.UUID | None = None,
    hourly: bool,
) -> tuple[dict[Any, tuple[int, int, Decimal]], list[tuple[str, str, int, Decimal]]]:
    """Active users (distinct members, API keys and visitors) with their runs and cost per day, per
    hour (when hourly) and over the range (key None); and the top spenders. Rollup rows before the
    cutoff and the runs after it, counted distinct in PostgreSQL."""
    rolled = PrincipalRollup._meta.db_table
    flow_filter = "AND flow_id = %(flow)s " if flow is not None else ""
    if version is not None:
        flow_filter += "AND version_id = %(version)s"
    tail = principal_sql(one_org=True, flow=flow is not None, version=version is not None)
    rows = f"""
        WITH p AS (
            SELECT hour, kind, principal, runs, cost FROM {rolled}
            WHERE organization_id = %(org)s AND hour >= %(since)s AND hour < %(lo)s {flow_filter}
            UNION ALL
            SELECT t.hour, t.kind, t.principal, t.runs, t.cost
            FROM ({tail}) AS t(o, f, v, hour, kind, principal, runs, i, x, cost)
        )"""  # noqa: S608 - table names and fixed fragments only
    # g: 1 a day's row, 2 an hour's, 3 the range's (the hour's set only when hourly).
    sets, g, hour = "(x.day), (x.hour), ()", "GROUPING(x.day, x.hour)", "x.hour"
    if not hourly:
        sets, g, hour = "(x.day), ()", "GROUPING(x.day) * 2 + 1", "NULL::timestamptz"
    params: dict[str, Any] = {
        "org": organization.pk,
        "since": since,
        "lo": cutoff,
        "hi": now,
        "flow": flow,
        "version": version,
    }
    per: dict[Any, tuple[int, int, Decimal]] = {}
    top: list[tuple[str, str, int, Decimal]] = []
    with connection.cursor() as cursor:
        cursor.execute(
            f"""{rows}
            SELECT {g}, x.day, {hour}, count(DISTINCT x.kind || ':' || x.principal),
                   sum(x.runs), COALESCE(sum(x.cost), 0)
            FROM (SELECT (hour AT TIME ZONE 'UTC')::date AS day, hour, kind, principal, runs, cost FROM p) x
            GROUP BY GROUPING SETS ({sets})""",  # noqa: S608
            params,
        )
        for g, day, hour, users, runs, cost in cursor.fetchall():
            per[day if g == 1 else hour if g == 2 else None] = (users, runs, Decimal(cost))
        cursor.execute(
            f"""{rows}
            SELECT kind, principal, sum(runs), sum(cost) FROM p
            GROUP BY 1, 2 ORDER BY 4 DESC, 3 DESC, 2 LIMIT {TOP_USERS}""",  # noqa: S608
            params,
        )
        top = [(kind, principal, runs, Decimal(cost)) for kind, principal, runs, cost in cursor.fetchall()]
    return per, top


def _user_names(organization: Organization, top: list[tuple[str, str, int, Decimal]]) -> list[dict[str, Any]]:
    """The top spenders in words: a member's email, an API key's name, a visitor of a widget."""
    ids: dict[str, list[str]] = defaultdict(list)
    for kind, principal, _, _ in top:
        ids[kind].append(principal)
    users = dict(
        get_user_model().objects.filter(pk__in=[int(i) for i in ids["user"] if i.isdigit()]).values_list("pk", "email")
    )
    keys = dict(
        ApiKey.objects.filter(
            organization=organization, pk__in=[int(i) for i in ids["key"] if i.isdigit()]
        ).values_list("pk", "name")
    )
    visitors = dict(
        Visitor.objects.filter(widget__organization=organization, pk__in=ids["visitor"]).values_list(
            "pk", "widget__name"
        )
    )
    out = []
    for kind, principal, runs, cost in top:
        if kind == "user":
            name = str(users.get(int(principal), "a former member")) if principal.isdigit() else "a member"
        elif kind == "key":
            key = keys.get(int(principal)) if principal.isdigit() else None
            name = f"API key “{key}”" if key else "a deleted API key"
        else:
            widget = visitors.get(uuid.UUID(principal))
            name = f"Visitor {principal[:8]} of “{widget}”" if widget else f"Visitor {principal[:8]}"
        out.append({"kind": kind, "id": principal, "name": name, "runs": runs, "cost": cost})
    return out


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
        "cache_hits": sum(r.cache_hits for r in rows),
        "cache_saved": sum((Decimal(r.cache_saved) for r in rows), Decimal(0)),
    }


def _extras(
    calls: list[ModelRollup],
    feedback: list[FeedbackRollup],
    per_user: dict[Any, tuple[int, int, Decimal]],
    *,
    hourly: bool,
) -> dict[Any, Extra]:
    """Cache, thumbs and active users per day (a date), per hour (a datetime, when hourly) and over
    the range (None)."""
    extra: dict[Any, Extra] = defaultdict(Extra)
    for call in calls:
        for key in (call.hour.date(), call.hour if hourly else 0, None):
            extra[key].calls += call.calls
            extra[key].cache_hits += call.cache_hits
            extra[key].cache_saved += Decimal(call.cache_saved)
    for fb in feedback:
        for key in (fb.hour.date(), fb.hour if hourly else 0, None):
            extra[key].up += fb.up
            extra[key].down += fb.down
    for key, (users, runs, cost) in per_user.items():
        extra[key].active_users, extra[key].user_runs, extra[key].user_cost = users, runs, cost
    return extra


def run_stats(
    *,
    organization: Organization,
    days: int,
    flow: uuid.UUID | None = None,
    alias: str | None = None,
    version: uuid.UUID | None = None,
    now: datetime | None = None,
) -> RunStats:
    """`alias` narrows the model-call figures (per model, cache hits and savings) to one alias;
    `version` (a version of `flow`, checked by the caller) every figure to that version's runs and
    their model calls."""
    now = now or timezone.now()
    since = (now - timedelta(days=days - 1)).replace(hour=0, minute=0, second=0, microsecond=0)
    cutoff = min(max(rolled_to(), since), now)
    where: dict[str, Any] = {"organization": organization, "hour__gte": since, "hour__lt": cutoff}
    if flow is not None:
        where["flow_id"] = flow
    if version is not None:
        where["version_id"] = version
    rollups = RunRollup.objects.filter(**where)
    calls = ModelRollup.objects.filter(**where)
    scope: dict[str, Any] = {"organization": organization, "flow": flow, "version": version}
    run_rows = list(rollups) + list(run_rollups_compute(cutoff, now, **scope).values())
    if alias:
        calls = calls.filter(alias=alias)
    call_rows = list(calls) + [
        row for row in model_rollups_compute(cutoff, now, **scope).values() if not alias or row.alias == alias
    ]
    feedback_rows = list(FeedbackRollup.objects.filter(**where)) + feedback_rollups_compute(cutoff, now, **scope)
    hourly = days <= 2
    per_user, top = _principals(
        organization, since=since, cutoff=cutoff, now=now, flow=flow, version=version, hourly=hourly
    )

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
    extra = _extras(call_rows, feedback_rows, per_user, hourly=hourly)

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
    day_keys = {k for k in extra if isinstance(k, date) and not isinstance(k, datetime)}
    day_list = [
        {"day": day, **per_day[day].out(), **extra[day].out(), "guard_hits": hits_per_day.get(day, 0)}
        for day in sorted(set(per_day) | set(hits_per_day) | day_keys)
    ]
    hour_keys = {k for k in extra if isinstance(k, datetime)} if hourly else set()
    hours = [{"hour": hour, **per_hour[hour].out(), **extra[hour].out()} for hour in sorted(set(per_hour) | hour_keys)]
    elapsed = max((now - since).total_seconds(), 1.0)
    out_total = {
        **total.out(),
        **extra[None].out(),
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
        users=_user_names(organization, top),
    )
