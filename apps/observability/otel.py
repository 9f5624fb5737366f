"""Run traces exported to an OpenTelemetry collector over OTLP/HTTP (protobuf), off by default.

On when OTEL_EXPORTER_OTLP_ENDPOINT (or OTEL_EXPORTER_OTLP_TRACES_ENDPOINT) is set, configured by
the standard variables (OTEL_EXPORTER_OTLP_HEADERS, ..._TIMEOUT, ..._COMPRESSION, OTEL_SERVICE_NAME,
OTEL_RESOURCE_ATTRIBUTES; OTEL_SDK_DISABLED=true turns it off). The endpoint is the operator's,
like DATABASE_URL: it does not pass the outbound policy that guards the addresses tenants enter.

Each ended run becomes one trace whose id is the run's id: a span for the run, one per node
(its span row) and one per model call (the ledger), with the OpenTelemetry GenAI semantic
conventions' attributes (gen_ai.operation.name, gen_ai.request.model, gen_ai.response.model,
gen_ai.usage.input_tokens, gen_ai.usage.output_tokens, gen_ai.agent.name, gen_ai.conversation.id).

Off the request path: the run's task only puts its id on a queue (apps.runs.observers); a thread
reads the stored rows a second later (the model-call ledger is written in the background) and
hands the spans to the SDK's BatchSpanProcessor, whose own thread sends them. What is exported is
read from the database, so it is never more than what was stored (a guard policy's redaction
included), and no prompt or answer text is exported at all: ids, names, timings, tokens, cost,
error codes. A full queue drops runs (counted in trellis_otel_dropped_runs_total), never waits.
"""

from __future__ import annotations

import contextvars
import logging
import os
import queue
import threading
import time
from collections import defaultdict
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from django.db import close_old_connections, connection
from opentelemetry import trace
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import SpanProcessor, TracerProvider
from opentelemetry.sdk.trace.export import BatchSpanProcessor, SpanExporter
from opentelemetry.sdk.trace.id_generator import RandomIdGenerator
from opentelemetry.trace import SpanKind, Status, StatusCode
from prometheus_client import Counter

from apps.runs.models import Run, Span
from apps.runs.observers import run_ended_subscribe, run_ended_unsubscribe
from apps.serving.models import ModelCall
from flows.events import Event

logger = logging.getLogger(__name__)

SETTLE_S = 1.0  # the ledger writes model calls every 0.2 s: read a run's rows this long after it ended
QUEUE_SIZE = 10_000
DROPPED = Counter("trellis_otel_dropped_runs_total", "Run traces not exported: the export queue was full")
_next_trace: contextvars.ContextVar[int | None] = contextvars.ContextVar("trellis_next_trace", default=None)


class _RunTraceIds(RandomIdGenerator):
    """A run's trace id is its own id: a trace found in the collector leads to the run, and back."""

    def generate_trace_id(self) -> int:
        return _next_trace.get() or super().generate_trace_id()


def _ns(seconds: float) -> int:
    return int(seconds * 1e9)


def _dt_ns(at: datetime) -> int:
    return _ns(at.timestamp())


@dataclass
class Exporter:
    """The queue, its thread and the SDK pipeline of one configuration."""

    provider: TracerProvider
    processor: SpanProcessor

    def __post_init__(self) -> None:
        self.tracer = self.provider.get_tracer("trellis.runs")
        self.queue: queue.Queue[tuple[str, float] | None] = queue.Queue(QUEUE_SIZE)
        self.thread = threading.Thread(target=self._work, name="otel-export", daemon=True)
        self.thread.start()

    # --- on the event loop: only a queue put ---

    def run_ended(self, run: Run, terminal: Event, final: Any) -> None:
        try:
            self.queue.put_nowait((str(run.pk), time.monotonic()))
        except queue.Full:
            DROPPED.inc()

    # --- the export thread ---

    def _work(self) -> None:
        while True:
            item = self.queue.get()
            if item is None:
                return
            batch = [item]
            while len(batch) < 200:
                try:
                    more = self.queue.get_nowait()
                except queue.Empty:
                    break
                if more is None:
                    self.queue.put(None)  # stop after this batch
                    break
                batch.append(more)
            wait = SETTLE_S - (time.monotonic() - batch[-1][1])
            if wait > 0:
                time.sleep(wait)
            try:
                close_old_connections()
                self.export([run_id for run_id, _ in batch])
            except Exception:
                logger.exception("exporting %d run traces failed", len(batch))
            finally:
                connection.close()  # back to the pool: this thread holds none while it waits

    def export(self, run_ids: list[str]) -> int:
        """The traces of these runs, from their stored rows, to the span processor."""
        runs = list(
            Run.objects.filter(pk__in=run_ids)
            .exclude(status=Run.Status.RUNNING)
            .select_related("flow", "version")
            .only(
                "id", "organization_id", "flow__id", "flow__name", "version__number", "source", "status",
                "session_id", "started_at", "finished_at", "latency_ms", "ttft_ms", "input_tokens",
                "output_tokens", "cost", "error_code", "failed_node",
            )
        )  # fmt: skip
        spans: dict[str, list[Span]] = defaultdict(list)
        for span in Span.objects.filter(run_id__in=[r.pk for r in runs]).order_by("started_at", "id"):
            spans[str(span.run_id)].append(span)
        calls: dict[str, list[ModelCall]] = defaultdict(list)
        for call in ModelCall.objects.filter(run_id__in=[r.pk for r in runs]).order_by("at", "id"):
            calls[str(call.run_id)].append(call)
        for run in runs:
            self._trace(run, spans[str(run.pk)], calls[str(run.pk)])
        return len(runs)

    def _trace(self, run: Run, spans: list[Span], calls: list[ModelCall]) -> None:
        flow_name = run.flow.name if run.flow_id else ""
        end = run.finished_at or run.started_at
        attributes: dict[str, Any] = {
            "gen_ai.operation.name": "invoke_agent",
            "gen_ai.agent.id": str(run.flow_id),
            "gen_ai.agent.name": flow_name,
            "gen_ai.usage.input_tokens": run.input_tokens,
            "gen_ai.usage.output_tokens": run.output_tokens,
            "trellis.organization.id": str(run.organization_id),
            "trellis.run.id": str(run.pk),
            "trellis.run.source": run.source,
            "trellis.run.status": run.status,
            "trellis.run.cost": float(run.cost),
        }
        if run.session_id:
            attributes["gen_ai.conversation.id"] = str(run.session_id)
        if run.version is not None:
            attributes["trellis.flow.version"] = run.version.number
        if run.ttft_ms is not None:
            attributes["trellis.run.ttft_ms"] = run.ttft_ms
        token = _next_trace.set(run.pk.int)
        try:
            root = self.tracer.start_span(
                f"invoke_agent {flow_name}".strip(),
                kind=SpanKind.SERVER,
                attributes=attributes,
                start_time=_dt_ns(run.started_at),
            )
        finally:
            _next_trace.reset(token)
        if run.status == Run.Status.FAILED:
            root.set_attribute("error.type", run.error_code or "failed")
            root.set_status(Status(StatusCode.ERROR, run.error_code))
        parent = trace.set_span_in_context(root)
        node_spans: list[tuple[Span, trace.Span]] = []
        for span in spans:
            if span.started_at is None:
                continue
            node_attributes: dict[str, Any] = {
                "trellis.node.id": span.node,
                "trellis.node.type": span.node_type,
                "trellis.node.status": span.status,
                "gen_ai.usage.input_tokens": span.input_tokens,
                "gen_ai.usage.output_tokens": span.output_tokens,
            }
            if span.node_type in {"tool", "http_request"}:
                node_attributes.update({"gen_ai.operation.name": "execute_tool", "gen_ai.tool.name": span.node})
            otel_span = self.tracer.start_span(
                f"{span.node_type} {span.node}".strip(),
                context=parent,
                attributes=node_attributes,
                start_time=_ns(span.started_at),
            )
            if span.status == Span.Status.FAILED:
                otel_span.set_attribute("error.type", span.error_code or "failed")
                otel_span.set_status(Status(StatusCode.ERROR, span.error_code))
            node_spans.append((span, otel_span))
        for call in calls:
            call_end = call.at.timestamp()
            call_start = call_end - (call.latency_ms or 0) / 1000
            owner = _enclosing(node_spans, call_start, call_end)
            call_attributes: dict[str, Any] = {
                "gen_ai.operation.name": "chat",
                "gen_ai.provider.name": "trellis",
                "gen_ai.request.model": call.alias,
                "gen_ai.response.model": call.served_by or call.alias,
                "gen_ai.usage.input_tokens": call.input_tokens,
                "gen_ai.usage.output_tokens": call.output_tokens,
                "trellis.model_call.cost": float(call.cost),
                "trellis.model_call.failed_attempts": len(call.attempts or []),
            }
            if call.ttft_ms is not None:
                call_attributes["trellis.model_call.ttft_ms"] = call.ttft_ms
            if call.served_by == "cache":
                call_attributes["trellis.model_call.cached"] = True
            model_span = self.tracer.start_span(
                f"chat {call.alias}",
                context=trace.set_span_in_context(owner) if owner is not None else parent,
                kind=SpanKind.CLIENT,
                attributes=call_attributes,
                start_time=_ns(call_start),
            )
            if call.status != ModelCall.Status.OK:
                model_span.set_attribute("error.type", call.status)
                model_span.set_status(Status(StatusCode.ERROR, call.status))
            model_span.end(end_time=_ns(call_end))
        for span, otel_span in node_spans:
            otel_span.end(end_time=_ns(span.finished_at or span.started_at or 0))
        root.end(end_time=_dt_ns(end))

    def shutdown(self) -> None:
        self.queue.put(None)
        self.thread.join(timeout=10)
        self.provider.shutdown()


def _enclosing(node_spans: list[tuple[Span, trace.Span]], start: float, end: float) -> trace.Span | None:
    """The node span whose time holds the model call (the innermost: the latest to start)."""
    owner = None
    for span, otel_span in node_spans:
        started, finished = span.started_at or 0, span.finished_at or float("inf")
        if started - 0.05 <= start and end <= finished + 0.05:
            owner = otel_span
    return owner


class _Current:
    exporter: Exporter | None = None


_current = _Current()


def enabled_by_env() -> bool:
    if os.environ.get("OTEL_SDK_DISABLED", "").lower() == "true":
        return False
    return bool(os.environ.get("OTEL_EXPORTER_OTLP_TRACES_ENDPOINT") or os.environ.get("OTEL_EXPORTER_OTLP_ENDPOINT"))


def configure(exporter: SpanExporter) -> Exporter:
    """Export run traces through `exporter` (replacing a previous configuration). The batching is
    the SDK's, set by OTEL_BSP_SCHEDULE_DELAY, OTEL_BSP_MAX_QUEUE_SIZE, ..."""
    unconfigure()
    resource = Resource.create({"service.name": os.environ.get("OTEL_SERVICE_NAME") or "trellis"})
    provider = TracerProvider(resource=resource, id_generator=_RunTraceIds(), shutdown_on_exit=True)
    processor = BatchSpanProcessor(exporter)
    provider.add_span_processor(processor)
    exporter_ = _current.exporter = Exporter(provider=provider, processor=processor)
    run_ended_subscribe(exporter_.run_ended)
    return exporter_


def unconfigure() -> None:
    """Stop exporting (what was queued is sent first)."""
    current, _current.exporter = _current.exporter, None
    if current is not None:
        run_ended_unsubscribe(current.run_ended)
        current.shutdown()


def configure_from_env() -> Exporter | None:
    if not enabled_by_env():
        return None
    from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter

    return configure(OTLPSpanExporter())  # endpoint, headers, timeout, compression: the OTEL_* variables
