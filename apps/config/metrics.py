"""Prometheus metrics, exposed at /metrics: HTTP and WebSocket series, and the model-call series
that every layer above may feed (the run and guard series live in apps.observability.prometheus).

Several processes (`serve --workers N`, the queue worker) share one set of series through
prometheus_client's multiprocess mode: `serve` gives its children one PROMETHEUS_MULTIPROC_DIR,
each process writes its values there, and a scrape of any worker adds them all up. Label values
are bounded: route patterns, never paths; organization, flow and alias ids only for the first
TRELLIS_METRICS_MAX_IDS seen per process per label, later ones as "other"; never a run or user."""

from __future__ import annotations

import hmac
import os
import shutil
import threading
import time
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import Any

from django.conf import settings
from django.http import HttpRequest, HttpResponse, HttpResponseBase
from prometheus_client import CONTENT_TYPE_LATEST, REGISTRY, CollectorRegistry, Counter, Histogram, generate_latest
from prometheus_client.multiprocess import MultiProcessCollector

REQUESTS = Counter("trellis_http_requests_total", "HTTP requests served", ["method", "route", "status"])
LATENCY = Histogram("trellis_http_request_seconds", "HTTP request latency", ["method", "route"])
WEBSOCKETS = Counter("trellis_websocket_connections_total", "WebSocket connections", ["outcome"])

# Seconds, from 5 ms to 5 minutes: model calls and runs alike.
TIME_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 25, 60, 120, 300)
TOKEN_GAP_BUCKETS = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1)
MODEL_CALLS = Counter("trellis_model_calls_total", "Model calls through the gateway", ["alias", "status"])
MODEL_ATTEMPTS = Counter(
    "trellis_model_call_failed_attempts_total", "Failed attempts (retries, fallbacks) before a call answered", ["alias"]
)
MODEL_FALLBACKS = Counter("trellis_model_call_fallbacks_total", "Calls answered by a fallback alias", ["alias"])
MODEL_CACHE_HITS = Counter("trellis_model_cache_hits_total", "Calls answered from the answer cache", ["alias"])
MODEL_TTFT = Histogram(
    "trellis_model_call_ttft_seconds", "Model call time to first token", ["alias"], buckets=TIME_BUCKETS
)
MODEL_DURATION = Histogram(
    "trellis_model_call_duration_seconds", "Model call duration", ["alias"], buckets=TIME_BUCKETS
)
MODEL_TOKEN_GAP = Histogram(
    "trellis_model_call_time_between_tokens_seconds",
    "A call's mean time between output tokens",
    ["alias"],
    buckets=TOKEN_GAP_BUCKETS,
)
MODEL_TOKENS = Counter("trellis_model_tokens_total", "Model tokens", ["organization", "alias", "direction"])
MODEL_COST = Counter("trellis_model_cost_dollars_total", "Model cost in dollars", ["organization", "alias"])
GUARD_HITS = Counter("trellis_guard_hits_total", "Guard checks that fired", ["check", "action", "stage"])

MAX_IDS = int(os.environ.get("TRELLIS_METRICS_MAX_IDS", "50"))
_seen: dict[str, set[str]] = {}
_seen_lock = threading.Lock()


def bounded(label: str, value: object) -> str:
    """`value` while fewer than MAX_IDS values of `label` have been seen in this process, then
    "other" for the new ones: a label's cardinality stays bounded whatever the tenants do."""
    text = str(value or "none")
    seen = _seen.get(label)
    if seen is not None and text in seen:
        return text
    with _seen_lock:
        seen = _seen.setdefault(label, set())
        if text in seen:
            return text
        if len(seen) >= MAX_IDS:
            return "other"
        seen.add(text)
        return text


def model_call_observe(call: Any) -> None:
    """One model call of the ledger (apps.serving.models.ModelCall)."""
    alias = bounded("alias", call.alias)
    MODEL_CALLS.labels(alias, call.status).inc()
    if call.served_by == "cache":
        MODEL_CACHE_HITS.labels(alias).inc()
        return
    failed_attempts = len(call.attempts or [])  # the ledger lists the failed ones
    if failed_attempts:
        MODEL_ATTEMPTS.labels(alias).inc(failed_attempts)
    if call.served_by and call.served_by != call.alias and call.status == "ok":
        MODEL_FALLBACKS.labels(alias).inc()
    if call.ttft_ms is not None:
        MODEL_TTFT.labels(alias).observe(call.ttft_ms / 1000)
        if call.latency_ms is not None and call.output_tokens > 1:
            gap = (call.latency_ms - call.ttft_ms) / (call.output_tokens - 1) / 1000
            MODEL_TOKEN_GAP.labels(alias).observe(max(gap, 0.0))
    if call.latency_ms is not None:
        MODEL_DURATION.labels(alias).observe(call.latency_ms / 1000)
    org = bounded("organization", call.organization_id)
    MODEL_TOKENS.labels(org, alias, "input").inc(call.input_tokens)
    MODEL_TOKENS.labels(org, alias, "output").inc(call.output_tokens)
    if call.cost:
        MODEL_COST.labels(org, alias).inc(float(call.cost))


def metrics_dir_prepare(data_dir: Any, port: int) -> str:
    """PROMETHEUS_MULTIPROC_DIR for a server's processes (the operator's, or one per port under
    the data folder), emptied: the values of a previous start's processes are gone."""
    path = Path(os.environ.get("PROMETHEUS_MULTIPROC_DIR") or Path(data_dir) / "run" / f"prometheus-{port}")
    shutil.rmtree(path, ignore_errors=True)
    path.mkdir(parents=True, exist_ok=True)
    return str(path)


# Collectors asked at each scrape (queue depth, ingestion progress): added by the apps above.
SCRAPE_COLLECTORS: list[Callable[[], Iterable[Any]]] = []


class _ScrapeCollector:
    def collect(self) -> Iterable[Any]:
        for collector in SCRAPE_COLLECTORS:
            yield from collector()


def observe(request: HttpRequest, response: HttpResponseBase, started: float) -> None:
    match = getattr(request, "resolver_match", None)
    # The route pattern, never the raw path: ids would explode the label set.
    route = match.route if match is not None else "unmatched"
    LATENCY.labels(request.method, route).observe(time.perf_counter() - started)
    REQUESTS.labels(request.method, route, str(response.status_code)).inc()


def metrics_authorized(request: HttpRequest) -> bool:
    """`Authorization: Bearer <METRICS_TOKEN>`; without a token (only in the embedded local mode,
    settings.METRICS_TOKEN) anyone."""
    token = settings.METRICS_TOKEN
    if not token:
        return True
    supplied = request.headers.get("Authorization", "").removeprefix("Bearer ")
    return hmac.compare_digest(supplied.encode(), token.encode())


def metrics_view(request: HttpRequest) -> HttpResponse:
    if not metrics_authorized(request):
        return HttpResponse(status=401, headers={"WWW-Authenticate": 'Bearer realm="metrics"'})
    if os.environ.get("PROMETHEUS_MULTIPROC_DIR"):  # every process's values, added up
        registry = CollectorRegistry()
        MultiProcessCollector(registry)  # type: ignore[no-untyped-call]
    else:
        registry = CollectorRegistry()
        registry.register(_Default())
    registry.register(_ScrapeCollector())
    return HttpResponse(generate_latest(registry), content_type=CONTENT_TYPE_LATEST)


class _Default:
    """This process's own series (one process: no multiprocess directory)."""

    def collect(self) -> Iterable[Any]:
        return REGISTRY.collect()
