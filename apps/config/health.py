"""Liveness (/healthz), readiness (/readyz: database, pgvector, queue) and the SPA entry.

/readyz answers its status code (200 ready / 503) to anyone, for load balancers and probes; the
checks' details only with the metrics token (or in the embedded local mode without one)."""

from __future__ import annotations

import logging
import time
from functools import cache
from pathlib import Path
from typing import Any

from django.conf import settings
from django.db import connection
from django.http import HttpRequest, HttpResponse, JsonResponse
from huey.contrib.djhuey import HUEY

from apps.config.metrics import metrics_authorized

logger = logging.getLogger(__name__)

HEARTBEAT_KEY = "trellis:worker-heartbeat"
HEARTBEAT_STALE_SECONDS = 180


def healthz(request: HttpRequest) -> JsonResponse:
    return JsonResponse({"status": "ok"})


def _check_database() -> dict[str, Any]:
    with connection.cursor() as cursor:
        cursor.execute("SELECT extversion FROM pg_extension WHERE extname = 'vector'")
        row = cursor.fetchone()
    if row is None:
        return {"ok": False, "error": "pgvector extension is not installed"}
    return {"ok": True, "pgvector": row[0]}


def _check_queue() -> dict[str, Any]:
    pending = HUEY.pending_count()
    beat = HUEY.get(HEARTBEAT_KEY, peek=True)
    result: dict[str, Any] = {"ok": True, "backend": type(HUEY).__name__, "pending": pending}
    if beat is not None:
        age = round(time.time() - float(beat), 1)
        result["worker_last_seen_seconds"] = age
        if age > HEARTBEAT_STALE_SECONDS:
            result.update(ok=False, error="the queue worker has not been seen for over 3 minutes")
    return result


def readyz(request: HttpRequest) -> JsonResponse:
    checks: dict[str, Any] = {}
    for name, check in (("database", _check_database), ("queue", _check_queue)):
        try:
            checks[name] = check()
        except Exception as exc:  # a readiness probe reports every failure, whatever its type
            logger.warning("readiness check %s failed: %s", name, exc)
            checks[name] = {"ok": False, "error": str(exc)}
    ready = all(check["ok"] for check in checks.values())
    body: dict[str, Any] = {"status": "ready" if ready else "unavailable"}
    if metrics_authorized(request):  # versions, queue depth and errors are for the operator only
        body["checks"] = checks
    return JsonResponse(body, status=200 if ready else 503)


@cache
def _read_index(path: str, mtime_ns: int) -> bytes:
    return Path(path).read_bytes()


def spa_index(request: HttpRequest, path: str = "") -> HttpResponse:
    """Every client-side route gets the same static page; it holds no data."""
    index = settings.FRONTEND_DIST / "index.html"
    try:
        # Keyed by mtime: a rebuilt frontend is picked up without a restart.
        html = _read_index(str(index), index.stat().st_mtime_ns)
    except FileNotFoundError:
        html = None
    if html is None:
        return HttpResponse(
            "The frontend is not built yet: run `make build` (or `make run`).",
            content_type="text/plain",
            status=503,
        )
    response = HttpResponse(html, content_type="text/html; charset=utf-8")
    response["Cache-Control"] = "no-cache"
    return response
