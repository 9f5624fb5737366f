"""POST /api/v1/orgs/<org>/flows/<flow>/run/ — run a flow over HTTP: a JSON result, or SSE.

An async view (a run waits on a model for seconds; a sync view would hold a worker thread).
Authentication reuses DRF's authenticators, CSRF included for browser sessions.
"""

from __future__ import annotations

import json
import uuid
from collections.abc import AsyncIterator
from typing import Any

from django.http import HttpRequest, HttpResponseBase, JsonResponse, StreamingHttpResponse
from django.views.decorators.csrf import csrf_exempt
from rest_framework import exceptions as drf
from rest_framework.authentication import SessionAuthentication
from rest_framework.request import Request

from apps.config.db import in_db_thread
from apps.config.errors import NotFound, TrellisError
from apps.config.exception_handler import error_body
from apps.runs.api.serializers import RunIn, RunOut
from apps.runs.models import Run
from apps.runs.runner import RunRequest, follow, run_collect, run_prepare, run_start_live
from apps.tenancy.access import Actor, access_org_by_id, actor_from_request
from apps.tenancy.authentication import ApiKeyAuthentication
from flows.errors import FlowInvalid


def _authenticate(request: HttpRequest) -> Actor:
    drf_request = Request(request, authenticators=[ApiKeyAuthentication(), SessionAuthentication()])
    if not drf_request.user.is_authenticated:
        raise drf.NotAuthenticated()
    return actor_from_request(drf_request)


def _error(code: str, message: str, status: int, **extra: Any) -> JsonResponse:
    return JsonResponse({**error_body(code, message), **extra}, status=status)


def _sse(wire: dict[str, Any]) -> bytes:
    return f"event: {wire['type']}\nid: {wire['seq']}\ndata: {json.dumps(wire, default=str)}\n\n".encode()


@csrf_exempt
async def flow_run_view(request: HttpRequest, org_id: str, flow_id: str) -> HttpResponseBase:
    try:
        actor = await in_db_thread(_authenticate)(request)
    except drf.NotAuthenticated:
        return _error("not_authenticated", "Authentication credentials were not provided.", 401)
    except drf.AuthenticationFailed as exc:
        return _error("authentication_failed", str(exc.detail), 401)
    except drf.PermissionDenied as exc:
        return _error("permission_denied", str(exc.detail), 403)
    if request.method != "POST":
        return _error("method_not_allowed", f"Method {request.method} is not allowed.", 405)
    try:
        body = json.loads(request.body or b"{}")
    except ValueError:
        return _error("malformed_json", "Malformed JSON body.", 400)
    serializer = RunIn(data=body)
    if not serializer.is_valid():
        fields = {k: [str(m) for m in v] for k, v in serializer.errors.items()}
        return _error("invalid", next(iter(fields.values()))[0], 400, fields=fields)
    data = serializer.validated_data
    try:
        access = await in_db_thread(access_org_by_id)(actor=actor, org_id=org_id)
        prepared = await run_prepare(
            actor=actor,
            organization_id=access.organization.pk,
            request=RunRequest(
                flow=_parse_uuid(flow_id),
                version=data["version"],
                inputs=data["inputs"],
                session=data["session"],
                source=Run.Source.API if actor.api_key else Run.Source.PLAYGROUND,
            ),
        )
    except FlowInvalid as exc:
        return _error("flow_invalid", exc.message, 400, issues=[i.to_dict() for i in exc.issues])
    except TrellisError as exc:
        return _error(exc.code, exc.message, exc.status)
    if data["stream"] or "text/event-stream" in request.headers.get("Accept", ""):
        return _stream(prepared)
    await run_collect(prepared)
    run = await Run.objects.select_related("flow", "version").aget(pk=prepared.run.pk)
    return JsonResponse(RunOut(run).data, status=200)


def _stream(prepared: Any) -> StreamingHttpResponse:
    live = run_start_live(prepared)
    queue = live.subscribe()

    async def body() -> AsyncIterator[bytes]:
        try:
            async for wire in follow(queue):
                yield _sse(wire)
        finally:
            live.unsubscribe(queue)
            if not live.task.done():  # the client hung up: stop paying for tokens nobody reads
                live.cancel()

    response = StreamingHttpResponse(body(), content_type="text/event-stream")
    response["Cache-Control"] = "no-cache"
    response["X-Accel-Buffering"] = "no"
    return response


def _parse_uuid(value: str) -> uuid.UUID:
    try:
        return uuid.UUID(value)
    except ValueError:
        raise NotFound("Flow not found.", code="flow_not_found") from None
