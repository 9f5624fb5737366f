"""Prometheus metrics: request counts and latency by route, exposed at /metrics."""

from __future__ import annotations

import hmac
import time

from django.conf import settings
from django.http import HttpRequest, HttpResponse, HttpResponseBase
from prometheus_client import CONTENT_TYPE_LATEST, Counter, Histogram, generate_latest

REQUESTS = Counter("trellis_http_requests_total", "HTTP requests served", ["method", "route", "status"])
LATENCY = Histogram("trellis_http_request_seconds", "HTTP request latency", ["method", "route"])
WEBSOCKETS = Counter("trellis_websocket_connections_total", "WebSocket connections", ["outcome"])


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
    return HttpResponse(generate_latest(), content_type=CONTENT_TYPE_LATEST)
