"""Hourly rollups of runs, model calls (with cache hits and what they saved), who ran the runs
(member, API key or widget visitor: cost per user), visitors' thumbs and guard hits, kept by the
queue worker every minute.

The dashboard reads the rollup rows for the hours before `RollupMark.rolled_to` and only the
runs after it (at most the current hour and the minutes since the last roll) from the runs
themselves, so a week over a million runs costs a few hundred rollup rows, not a million rows.

Percentiles do not add up, so each rollup row holds histograms: bucket i counts the values in
[1.2^i, 1.2^(i+1)) ms (the first from 0, the last open-ended at about 75 minutes). A percentile
read back from merged histograms is the bucket's geometric middle: within 10% of the exact value.

An hour is rolled up once, SETTLE after it ended (the model-call ledger and guard hits are
written in the background, within a second), in one statement per table that reads each
organization's rows through its (organization, time) index. An hour with runs still running
when it was rolled up is rolled up again at each tick until none is (or a day passed). The
recorder is untouched: rolling up costs a run nothing, and a tick with nothing new costs a read.

Thumbs are rolled by the time they were given (Feedback.created_at, which a changed rating moves):
a rating changed after its first hour was rolled counts in both hours.
"""

from __future__ import annotations

import math
from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any

from django.db import connection, transaction
from django.utils import timezone

from apps.guardrails.models import GuardHit
from apps.observability.models import (
    FeedbackRollup,
    GuardRollup,
    ModelRollup,
    PrincipalRollup,
    RollupMark,
    RunRollup,
)
from apps.runs.models import Run
from apps.serving.models import ModelCall
from apps.tenancy.models import Organization
from apps.widgets.models import Feedback, Widget, WidgetRun

BASE = 1.2
BUCKETS = 84  # 1.2^84 ms is about 75 minutes
RUNNING_RECHECK = timedelta(days=1)  # an hour with running runs is rolled again for at most this long
SETTLE = timedelta(minutes=2)  # an hour is rolled up this long after it ended
EPOCH = datetime(2000, 1, 1, tzinfo=UTC)
_LOCK = 0x7472_6F6C  # pg_advisory_xact_lock: one roller at a time across workers


def bucket_sql(column: str) -> str:
    """The histogram bucket of a millisecond value, in SQL (column names only, never input)."""
    return f"LEAST({BUCKETS - 1}, GREATEST(0, floor(ln(GREATEST({column}, 1.0)) / ln({BASE}))::int))"


def bucket_of(ms: float) -> int:
    return min(BUCKETS - 1, max(0, math.floor(math.log(max(ms, 1.0)) / math.log(BASE))))


def hist_add(into: list[int], other: Iterable[int]) -> list[int]:
    if not into:
        into.extend([0] * BUCKETS)
    for i, count in enumerate(other):
        into[i] += count
    return into


def hist_percentile(hist: list[int], q: float) -> float | None:
    """The q-th percentile of a histogram: its bucket's geometric middle (None when empty)."""
    total = sum(hist)
    if not total:
        return None
    rank, seen = q * total, 0
    for i, count in enumerate(hist):
        seen += count
        if count and seen >= rank:
            return round(float(BASE ** (i + 0.5)), 1)
    return round(float(BASE ** (len(hist) - 0.5)), 1)


def _tables() -> dict[str, str]:
    return {
        "runs": Run._meta.db_table,
        "calls": ModelCall._meta.db_table,
        "hits": GuardHit._meta.db_table,
        "orgs": Organization._meta.db_table,
        "widget_runs": WidgetRun._meta.db_table,
        "feedback": Feedback._meta.db_table,
        "widgets": Widget._meta.db_table,
    }


def _version_filter(version: bool, column: str = "version_id") -> str:
    return f"AND {column} = %(version)s" if version else ""


def _run_sql(*, one_org: bool, flow: bool, version: bool = False) -> str:
    """Runs that started in [lo, hi), grouped by (organization, flow, version, hour) with histogram
    and error-code grouping sets; one index range per organization (the LATERAL join)."""
    t = _tables()
    scope = "o.id = %(org)s" if one_org else "TRUE"
    flow_filter = ("AND flow_id = %(flow)s " if flow else "") + _version_filter(version)
    # Only table and column names from the models are formatted in; values are always parameters.
    return f"""
        SELECT r.organization_id, r.flow_id, r.version_id, r.hour,
               GROUPING(r.lat_b, r.ttft_b, r.err, r.tbt_b) AS g, r.lat_b, r.ttft_b, r.err, r.tbt_b,
               count(*) AS n,
               count(*) FILTER (WHERE r.status <> 'running') AS ended,
               count(*) FILTER (WHERE r.status = 'failed') AS failed,
               count(*) FILTER (WHERE r.status = 'cancelled') AS cancelled,
               count(*) FILTER (WHERE r.status = 'running') AS running,
               COALESCE(sum(r.input_tokens), 0), COALESCE(sum(r.output_tokens), 0), COALESCE(sum(r.cost), 0),
               COALESCE(sum(r.output_tokens) FILTER (WHERE r.streamed), 0),
               COALESCE(sum(r.latency_ms - r.ttft_ms) FILTER (WHERE r.streamed), 0)
        FROM {t["orgs"]} o CROSS JOIN LATERAL (
            SELECT organization_id, flow_id, version_id, date_trunc('hour', started_at) AS hour, status,
                   input_tokens, output_tokens, cost,
                   CASE WHEN status <> 'running' AND latency_ms IS NOT NULL
                        THEN {bucket_sql("latency_ms")} END AS lat_b,
                   CASE WHEN status <> 'running' AND ttft_ms IS NOT NULL THEN {bucket_sql("ttft_ms")} END AS ttft_b,
                   CASE WHEN status = 'failed' THEN error_code END AS err,
                   CASE WHEN output_tokens > 1 AND latency_ms >= ttft_ms
                        THEN {bucket_sql("(latency_ms - ttft_ms) / (output_tokens - 1)")} END AS tbt_b,
                   (status <> 'running' AND output_tokens > 0 AND latency_ms >= ttft_ms) AS streamed,
                   latency_ms, ttft_ms
            FROM {t["runs"]}
            WHERE organization_id = o.id AND started_at >= %(lo)s AND started_at < %(hi)s {flow_filter}
        ) r
        WHERE {scope}
        GROUP BY GROUPING SETS (
            (r.organization_id, r.flow_id, r.version_id, r.hour),
            (r.organization_id, r.flow_id, r.version_id, r.hour, r.lat_b),
            (r.organization_id, r.flow_id, r.version_id, r.hour, r.ttft_b),
            (r.organization_id, r.flow_id, r.version_id, r.hour, r.err),
            (r.organization_id, r.flow_id, r.version_id, r.hour, r.tbt_b)
        )"""  # noqa: S608


CACHE_SERVERS = "('cache', 'semantic-cache')"  # ModelCall.served_by of an answer from a cache (routing.py)


def _call_sql(*, one_org: bool, flow: bool, version: bool = False) -> str:
    """Model calls grouped by the alias that answered; an answer from the cache counts under the
    alias asked, as a cache hit with what it saved (the ledger's first note), not as a fallback.
    The ledger has no version: the calling run's is read by its primary key (a call outside a run
    has none)."""
    t = _tables()
    scope = "o.id = %(org)s" if one_org else "TRUE"
    flow_filter = ("AND m.flow_id = %(flow)s " if flow else "") + _version_filter(version, "rv.version_id")
    return f"""
        SELECT c.organization_id, c.flow_id, c.version_id, c.alias, c.hour, GROUPING(c.ttft_b) AS g, c.ttft_b,
               count(*), count(*) FILTER (WHERE c.status <> 'ok'),
               count(*) FILTER (WHERE c.status = 'ok' AND NOT c.cached AND c.served_by <> c.asked),
               COALESCE(sum(c.input_tokens), 0), COALESCE(sum(c.output_tokens), 0), COALESCE(sum(c.cost), 0),
               count(*) FILTER (WHERE c.cached), COALESCE(sum(c.saved) FILTER (WHERE c.cached), 0)
        FROM {t["orgs"]} o CROSS JOIN LATERAL (
            SELECT m.organization_id, m.flow_id, rv.version_id,
                   CASE WHEN m.served_by IN {CACHE_SERVERS} THEN m.alias
                        ELSE COALESCE(NULLIF(m.served_by, ''), m.alias) END AS alias,
                   m.alias AS asked, m.served_by, m.served_by IN {CACHE_SERVERS} AS cached,
                   CASE WHEN m.served_by IN {CACHE_SERVERS} AND jsonb_typeof(m.attempts) = 'array'
                        THEN (m.attempts -> 0 ->> 'saved')::numeric END AS saved,
                   date_trunc('hour', m.at) AS hour, m.status, m.input_tokens, m.output_tokens, m.cost,
                   CASE WHEN m.ttft_ms IS NOT NULL THEN {bucket_sql("m.ttft_ms")} END AS ttft_b
            FROM {t["calls"]} m LEFT JOIN {t["runs"]} rv ON rv.id = m.run_id
            WHERE m.organization_id = o.id AND m.at >= %(lo)s AND m.at < %(hi)s {flow_filter}
        ) c
        WHERE {scope}
        GROUP BY GROUPING SETS (
            (c.organization_id, c.flow_id, c.version_id, c.alias, c.hour),
            (c.organization_id, c.flow_id, c.version_id, c.alias, c.hour, c.ttft_b)
        )
    """  # noqa: S608


def principal_sql(*, one_org: bool, flow: bool, version: bool = False) -> str:
    """Runs that started in [lo, hi) per (organization, flow, hour) and who ran them: the widget
    visitor, else the member, else the API key (a run with none of them is nobody's)."""
    t = _tables()
    scope = "o.id = %(org)s" if one_org else "TRUE"
    flow_filter = ("AND r.flow_id = %(flow)s " if flow else "") + _version_filter(version, "r.version_id")
    return f"""
        SELECT p.organization_id, p.flow_id, p.version_id, p.hour, p.kind, p.principal, count(*),
               COALESCE(sum(p.input_tokens), 0), COALESCE(sum(p.output_tokens), 0), COALESCE(sum(p.cost), 0)
        FROM {t["orgs"]} o CROSS JOIN LATERAL (
            SELECT r.organization_id, r.flow_id, r.version_id, date_trunc('hour', r.started_at) AS hour,
                   CASE WHEN w.visitor_id IS NOT NULL THEN 'visitor'
                        WHEN r.created_by_id IS NOT NULL THEN 'user' ELSE 'key' END AS kind,
                   COALESCE(w.visitor_id::text, r.created_by_id::text, r.api_key_id::text) AS principal,
                   r.input_tokens, r.output_tokens, r.cost
            FROM {t["runs"]} r LEFT JOIN {t["widget_runs"]} w ON w.run_id = r.id
            WHERE r.organization_id = o.id AND r.started_at >= %(lo)s AND r.started_at < %(hi)s {flow_filter}
        ) p
        WHERE {scope} AND p.principal IS NOT NULL
        GROUP BY 1, 2, 3, 4, 5, 6
    """  # noqa: S608


def _feedback_sql(*, one_org: bool, flow: bool, version: bool = False) -> str:
    """Thumbs given in [lo, hi) (a rating's time: when it was last given), per organization, flow
    and hour; an organization's through its widgets (feedback is a widget visitor's)."""
    t = _tables()
    scope = "w.organization_id = %(org)s" if one_org else "TRUE"
    flow_filter = ("AND r.flow_id = %(flow)s " if flow else "") + _version_filter(version, "r.version_id")
    return f"""
        SELECT w.organization_id, r.flow_id, r.version_id, date_trunc('hour', f.created_at),
               count(*) FILTER (WHERE f.rating > 0), count(*) FILTER (WHERE f.rating < 0)
        FROM {t["widgets"]} w JOIN {t["feedback"]} f ON f.widget_id = w.id JOIN {t["runs"]} r ON r.id = f.run_id
        WHERE {scope} AND f.created_at >= %(lo)s AND f.created_at < %(hi)s {flow_filter}
        GROUP BY 1, 2, 3, 4
    """  # noqa: S608


def _hit_sql(*, one_org: bool) -> str:
    t = _tables()
    scope = "o.id = %(org)s" if one_org else "TRUE"
    return f"""
        SELECT h.organization_id, date_trunc('hour', h.created_at), h.check_name, h.action, count(*)
        FROM {t["orgs"]} o CROSS JOIN LATERAL (
            SELECT organization_id, created_at, check_name, action FROM {t["hits"]}
            WHERE organization_id = o.id AND created_at >= %(lo)s AND created_at < %(hi)s
        ) h
        WHERE {scope}
        GROUP BY 1, 2, 3, 4
    """  # noqa: S608


def _fetch(sql: str, params: dict[str, Any]) -> list[tuple[Any, ...]]:
    with connection.cursor() as cursor:
        cursor.execute(sql, params)
        return list(cursor.fetchall())


def _params(lo: datetime, hi: datetime, organization: Any, flow: Any, version: Any) -> dict[str, Any]:
    org = getattr(organization, "pk", organization)
    return {"lo": lo, "hi": hi, "org": org, "flow": flow, "version": version}


def run_rollups_compute(
    lo: datetime, hi: datetime, *, organization: Any = None, flow: Any = None, version: Any = None
) -> dict[tuple[Any, Any, Any, datetime], RunRollup]:
    """RunRollup rows (unsaved) for the runs that started in [lo, hi): all organizations, or one."""
    params = _params(lo, hi, organization, flow, version)
    rows: dict[tuple[Any, Any, Any, datetime], RunRollup] = {}
    sql = _run_sql(one_org=organization is not None, flow=flow is not None, version=version is not None)
    for row in _fetch(sql, params):
        org, flow_id, version_id, hour, g, lat_b, ttft_b, err, tbt_b, n, ended, failed, cancelled, running = row[:14]
        tin, tout, cost, stream_tokens, stream_ms = row[14:]
        key = (org, flow_id, version_id, hour)
        if key not in rows:
            rows[key] = RunRollup(
                organization_id=org,
                flow_id=flow_id,
                version_id=version_id,
                hour=hour,
                latency_hist=[0] * BUCKETS,
                ttft_hist=[0] * BUCKETS,
                tbt_hist=[0] * BUCKETS,
            )
        rollup = rows[key]
        # GROUPING(lat_b, ttft_b, err, tbt_b): a bit set for each column not grouped by.
        if g == 15:  # the (organization, flow, hour) set: counts and sums
            rollup.runs, rollup.ended, rollup.failed = n, ended, failed
            rollup.cancelled, rollup.running = cancelled, running
            rollup.input_tokens, rollup.output_tokens, rollup.cost = tin, tout, cost
            rollup.stream_tokens, rollup.stream_ms = stream_tokens, stream_ms
        elif g == 7 and lat_b is not None:
            rollup.latency_hist[lat_b] += n
        elif g == 11 and ttft_b is not None:
            rollup.ttft_hist[ttft_b] += n
        elif g == 14 and tbt_b is not None:
            rollup.tbt_hist[tbt_b] += n
        elif g == 13 and err is not None:
            rollup.errors[err or "unknown"] = n
    return rows


def model_rollups_compute(
    lo: datetime, hi: datetime, *, organization: Any = None, flow: Any = None, version: Any = None
) -> dict[tuple[Any, Any, Any, str, datetime], ModelRollup]:
    params = _params(lo, hi, organization, flow, version)
    rows: dict[tuple[Any, Any, Any, str, datetime], ModelRollup] = {}
    sql = _call_sql(one_org=organization is not None, flow=flow is not None, version=version is not None)
    for row in _fetch(sql, params):
        org, flow_id, version_id, alias, hour, g, ttft_b, calls, failed, fallbacks, tin, tout, cost, hits, saved = row
        key = (org, flow_id, version_id, alias, hour)
        if key not in rows:
            rows[key] = ModelRollup(
                organization_id=org,
                flow_id=flow_id,
                version_id=version_id,
                alias=alias,
                hour=hour,
                ttft_hist=[0] * BUCKETS,
            )
        rollup = rows[key]
        if g == 1:
            rollup.calls, rollup.failed, rollup.fallbacks = calls, failed, fallbacks
            rollup.input_tokens, rollup.output_tokens, rollup.cost = tin, tout, cost
            rollup.cache_hits, rollup.cache_saved = hits, saved
        elif ttft_b is not None:
            rollup.ttft_hist[ttft_b] += calls
    return rows


def principal_rollups_compute(
    lo: datetime, hi: datetime, *, organization: Any = None, flow: Any = None, version: Any = None
) -> list[PrincipalRollup]:
    params = _params(lo, hi, organization, flow, version)
    return [
        PrincipalRollup(
            organization_id=org,
            flow_id=flow_id,
            version_id=version_id,
            hour=hour,
            kind=kind,
            principal=principal,
            runs=runs,
            input_tokens=tin,
            output_tokens=tout,
            cost=cost,
        )
        for org, flow_id, version_id, hour, kind, principal, runs, tin, tout, cost in _fetch(
            principal_sql(one_org=organization is not None, flow=flow is not None, version=version is not None), params
        )
    ]


def feedback_rollups_compute(
    lo: datetime, hi: datetime, *, organization: Any = None, flow: Any = None, version: Any = None
) -> list[FeedbackRollup]:
    """Thumbs given in [lo, hi): the dashboard's feedback score and the thumbs-down alert alike."""
    params = _params(lo, hi, organization, flow, version)
    return [
        FeedbackRollup(organization_id=org, flow_id=flow_id, version_id=version_id, hour=hour, up=up, down=down)
        for org, flow_id, version_id, hour, up, down in _fetch(
            _feedback_sql(one_org=organization is not None, flow=flow is not None, version=version is not None), params
        )
    ]


def guard_rollups_compute(lo: datetime, hi: datetime, *, organization: Any = None) -> list[GuardRollup]:
    params = {"lo": lo, "hi": hi, "org": getattr(organization, "pk", organization)}
    return [
        GuardRollup(organization_id=org, hour=hour, check_name=check, action=action, hits=hits)
        for org, hour, check, action, hits in _fetch(_hit_sql(one_org=organization is not None), params)
    ]


def hour_floor(at: datetime) -> datetime:
    return at.astimezone(UTC).replace(minute=0, second=0, microsecond=0)


@transaction.atomic
def rollups_refresh(now: datetime | None = None) -> tuple[datetime, datetime]:
    """Rolls up every hour that ended SETTLE ago and is not rolled yet, and the recent hours that
    had runs still running; answers the range [lo, hi) rolled (empty: lo == hi)."""
    with connection.cursor() as cursor:
        cursor.execute("SELECT pg_advisory_xact_lock(%s)", [_LOCK])
    hi = hour_floor((now or timezone.now()) - SETTLE)
    mark = RollupMark.objects.select_for_update().filter(name="runs").first()
    lo = EPOCH if mark is None else min(mark.rolled_to, hi)
    unsettled = (
        RunRollup.objects.filter(running__gt=0, hour__gte=hi - RUNNING_RECHECK, hour__lt=lo)
        .order_by("hour")
        .values_list("hour", flat=True)
        .first()
    )
    if unsettled is not None:
        lo = unsettled
    if lo < hi:
        runs = run_rollups_compute(lo, hi)
        calls = model_rollups_compute(lo, hi)
        hits = guard_rollups_compute(lo, hi)
        principals = principal_rollups_compute(lo, hi)
        RunRollup.objects.filter(hour__gte=lo, hour__lt=hi).delete()
        ModelRollup.objects.filter(hour__gte=lo, hour__lt=hi).delete()
        GuardRollup.objects.filter(hour__gte=lo, hour__lt=hi).delete()
        PrincipalRollup.objects.filter(hour__gte=lo, hour__lt=hi).delete()
        RunRollup.objects.bulk_create(runs.values(), batch_size=1000)
        ModelRollup.objects.bulk_create(calls.values(), batch_size=1000)
        GuardRollup.objects.bulk_create(hits, batch_size=1000)
        PrincipalRollup.objects.bulk_create(principals, batch_size=1000)
        FeedbackRollup.objects.filter(hour__gte=lo, hour__lt=hi).delete()
        FeedbackRollup.objects.bulk_create(feedback_rollups_compute(lo, hi), batch_size=1000)
    RollupMark.objects.update_or_create(name="runs", defaults={"rolled_to": hi})
    return lo, hi


def rolled_to() -> datetime:
    mark = RollupMark.objects.filter(name="runs").values_list("rolled_to", flat=True).first()
    return mark if mark is not None else EPOCH


@dataclass
class Figures:
    """Counts, sums and histograms of some runs, merged from rollups and raw runs alike."""

    runs: int = 0
    ended: int = 0
    failed: int = 0
    cancelled: int = 0
    input_tokens: int = 0
    output_tokens: int = 0
    cost: Decimal = Decimal(0)
    latency_hist: list[int] = field(default_factory=list)
    ttft_hist: list[int] = field(default_factory=list)
    tbt_hist: list[int] = field(default_factory=list)
    stream_tokens: int = 0
    stream_ms: float = 0.0
    errors: dict[str, int] = field(default_factory=lambda: defaultdict(int))

    def add(self, rollup: RunRollup) -> None:
        self.runs += rollup.runs
        self.ended += rollup.ended
        self.failed += rollup.failed
        self.cancelled += rollup.cancelled
        self.input_tokens += rollup.input_tokens
        self.output_tokens += rollup.output_tokens
        self.cost += Decimal(rollup.cost)
        hist_add(self.latency_hist, rollup.latency_hist)
        hist_add(self.ttft_hist, rollup.ttft_hist)
        hist_add(self.tbt_hist, rollup.tbt_hist)
        self.stream_tokens += rollup.stream_tokens
        self.stream_ms += rollup.stream_ms
        for code, count in rollup.errors.items():
            self.errors[code] += count

    def out(self) -> dict[str, Any]:
        return {
            "runs": self.runs,
            "failed": self.failed,
            "error_rate": round(100 * self.failed / self.ended, 2) if self.ended else None,
            "p50_latency_ms": hist_percentile(self.latency_hist, 0.5),
            "p95_latency_ms": hist_percentile(self.latency_hist, 0.95),
            "p99_latency_ms": hist_percentile(self.latency_hist, 0.99),
            "p50_ttft_ms": hist_percentile(self.ttft_hist, 0.5),
            "p95_ttft_ms": hist_percentile(self.ttft_hist, 0.95),
            "p50_tbt_ms": hist_percentile(self.tbt_hist, 0.5),
            "p95_tbt_ms": hist_percentile(self.tbt_hist, 0.95),
            "tokens_per_second": round(self.stream_tokens / (self.stream_ms / 1000), 1) if self.stream_ms > 0 else None,
            "input_tokens": self.input_tokens,
            "output_tokens": self.output_tokens,
            "cost": self.cost,
            "cost_per_run": (self.cost / self.runs).quantize(Decimal("0.000001")) if self.runs else None,
            "errors": [{"code": c, "runs": n} for c, n in sorted(self.errors.items(), key=lambda kv: -kv[1])],
        }
