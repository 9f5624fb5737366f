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


def metrics_view(request: HttpRequest) -> HttpResponse:
    token = settings.METRICS_TOKEN
    if token:
        supplied = request.headers.get("Authorization", "").removeprefix("Bearer ")
        if not hmac.compare_digest(supplied, token):
            return HttpResponse(status=401)
    return HttpResponse(generate_latest(), content_type=CONTENT_TYPE_LATEST)
