"""The run series on /metrics, observed when a run ends (apps.runs.observers), and the gauges
read at each scrape (queue depth, documents being ingested).

Labels are bounded (apps.config.metrics.bounded): organization and flow ids only for the first
TRELLIS_METRICS_MAX_IDS seen per process, error codes likewise; never a run, a user or a visitor.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from typing import Any

from django.db.models import Count
from huey.contrib.djhuey import HUEY
from prometheus_client import Counter, Histogram
from prometheus_client.core import GaugeMetricFamily

from apps.config.metrics import TIME_BUCKETS, bounded
from apps.knowledge.models import ACTIVE_STATUSES, Document
from apps.runs.models import Run
from flows.events import Event

RUNS = Counter("trellis_runs_total", "Runs that ended", ["organization", "flow", "source", "status"])
RUN_ERRORS = Counter("trellis_run_errors_total", "Failed runs by error code", ["source", "code"])
RUN_DURATION = Histogram("trellis_run_duration_seconds", "Run latency", ["source"], buckets=TIME_BUCKETS)
RUN_TTFT = Histogram("trellis_run_ttft_seconds", "Run time to first token", ["source"], buckets=TIME_BUCKETS)
RUN_TOKENS = Counter("trellis_run_tokens_total", "Run tokens", ["organization", "flow", "direction"])
RUN_COST = Counter("trellis_run_cost_dollars_total", "Run cost in dollars", ["organization", "flow"])
_STATUS = {"run.finished": "completed", "run.failed": "failed", "run.cancelled": "cancelled"}


def run_observe(run: Run, terminal: Event, final: Any) -> None:
    """apps.runs.observers: one ended run into the series (a few dictionary updates)."""
    data = terminal.data
    status = _STATUS.get(str(terminal.type), "failed")
    org, flow = bounded("organization", run.organization_id), bounded("flow", run.flow_id)
    source = str(run.source)
    RUNS.labels(org, flow, source, status).inc()
    if status == "failed":
        RUN_ERRORS.labels(source, bounded("error_code", data.get("code") or "unknown")).inc()
    if (latency := data.get("latency_ms")) is not None:
        RUN_DURATION.labels(source).observe(float(latency) / 1000)
    if (ttft := data.get("ttft_ms")) is not None:
        RUN_TTFT.labels(source).observe(float(ttft) / 1000)
    usage = data.get("usage") or {}
    if usage.get("input_tokens"):
        RUN_TOKENS.labels(org, flow, "input").inc(int(usage["input_tokens"]))
    if usage.get("output_tokens"):
        RUN_TOKENS.labels(org, flow, "output").inc(int(usage["output_tokens"]))
    cost = getattr(final, "cost", 0)
    if cost:
        RUN_COST.labels(org, flow).inc(float(cost))


def scrape_gauges() -> Iterator[GaugeMetricFamily]:
    """Asked at each scrape (apps.config.metrics.SCRAPE_COLLECTORS): the queue's pending tasks
    and the documents waiting or being ingested, from the queue and the database themselves (so
    every worker answers the same)."""
    queue = GaugeMetricFamily("trellis_queue_pending_tasks", "Tasks waiting in the queue")
    with contextlib.suppress(Exception):  # the queue's store unreachable: no sample, not a failed scrape
        queue.add_metric([], float(HUEY.pending_count()))
    yield queue
    documents = GaugeMetricFamily(
        "trellis_ingestion_documents", "Documents not ingested yet, by status", labels=["status"]
    )
    waiting = [str(status) for status in ACTIVE_STATUSES]
    try:
        rows = Document.objects.filter(status__in=waiting).values("status").annotate(n=Count("pk"))
        counts = {row["status"]: row["n"] for row in rows}
    except Exception:  # the database unreachable
        counts = {}
    for status in waiting:
        documents.add_metric([status], float(counts.get(status, 0)))
    yield documents
