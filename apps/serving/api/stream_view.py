"""POST /api/v1/orgs/<org>/models/<id>/test/stream/ — the test prompt as server-sent events.

The streaming twin of ModelEndpointTestView, through the same gateway path (routing, fallbacks,
the organization's budget, rate limit and ledger). An async Django view, like the run endpoint:
a test prompt waits on a model for seconds, which a sync view would spend holding a worker thread.

Everything that can be refused is refused before the stream starts, with the JSON error and
status the JSON endpoint gives (401, 403 below editor, 404 for another tenant's ids, 400, 429).
After that the answer is events:
    event: token   data: {"text": "…"}                    one per streamed piece, in order
    event: done    data: {"text", "input_tokens", "output_tokens", "latency_ms", "ttft_ms"}
    event: error   data: {"code", "message"}               model_unavailable | model_timeout | …
A client that hangs up stops the model call (it is recorded as failed: cancelled).
"""

from __future__ import annotations

import json
import logging
from collections.abc import AsyncIterator
from typing import TYPE_CHECKING, Any

from django.http import HttpRequest, HttpResponseBase, JsonResponse, StreamingHttpResponse
from django.views.decorators.csrf import csrf_exempt
from rest_framework import exceptions as drf
from rest_framework.authentication import SessionAuthentication
from rest_framework.request import Request

from apps.config.db import in_db_thread
from apps.config.errors import TrellisError
from apps.config.exception_handler import error_body
from apps.serving.api.serializers import ModelTestIn
from apps.serving.services import model_endpoint_probe_gateway
from apps.tenancy.access import Actor, access_org_by_id, actor_from_request
from apps.tenancy.authentication import ApiKeyAuthentication
from apps.tenancy.models import Role
from flows.errors import FlowError

if TYPE_CHECKING:
    from apps.serving.gateway import GatewayModels

logger = logging.getLogger(__name__)


def _authenticate(request: HttpRequest) -> Actor:
    # SessionAuthentication enforces CSRF for browser sessions; API keys need none.
    drf_request = Request(request, authenticators=[ApiKeyAuthentication(), SessionAuthentication()])
    if not drf_request.user.is_authenticated:
        raise drf.NotAuthenticated()
    return actor_from_request(drf_request)


def _error(code: str, message: str, status: int, **extra: Any) -> JsonResponse:
    return JsonResponse({**error_body(code, message), **extra}, status=status)


def sse(event: str, data: dict[str, Any]) -> bytes:
    return f"event: {event}\ndata: {json.dumps(data)}\n\n".encode()


def _prepare(actor: Actor, org_id: str, endpoint_id: int) -> tuple[str, GatewayModels]:
    access = access_org_by_id(actor=actor, org_id=org_id, min_role=Role.EDITOR)
    return model_endpoint_probe_gateway(access=access, endpoint_id=endpoint_id)


@csrf_exempt  # not exempt in fact: SessionAuthentication checks the token (see _authenticate)
async def model_test_stream_view(request: HttpRequest, org_id: str, endpoint_id: int) -> HttpResponseBase:
    try:
        actor = await in_db_thread(_authenticate)(request)
    except drf.NotAuthenticated:
        return _error("not_authenticated", "Authentication credentials were not provided.", 401)
    except drf.AuthenticationFailed as exc:
        return _error("authentication_failed", str(exc.detail), 401)
    except drf.PermissionDenied as exc:  # a session without a valid CSRF token
        return _error("permission_denied", str(exc.detail), 403)
    if request.method != "POST":
        return _error("method_not_allowed", f"Method {request.method} is not allowed.", 405)
    try:
        # Access first, as the JSON endpoint does: a viewer learns nothing from a bad body.
        alias, gateway = await in_db_thread(_prepare)(actor, org_id, endpoint_id)
    except TrellisError as exc:
        return _error(exc.code, exc.message, exc.status, **exc.details())
    try:
        body = json.loads(request.body or b"{}")
    except ValueError:
        return _error("malformed_json", "Malformed JSON body.", 400)
    serializer = ModelTestIn(data=body)
    if not serializer.is_valid():
        fields = {k: [str(m) for m in v] for k, v in serializer.errors.items()}
        return _error("invalid", next(iter(fields.values()))[0], 400, fields=fields)
    data = serializer.validated_data
    response = StreamingHttpResponse(
        _events(gateway, alias, data["prompt"], data["max_tokens"]), content_type="text/event-stream"
    )
    response["Cache-Control"] = "no-cache"
    response["X-Accel-Buffering"] = "no"
    return response


async def _events(gateway: GatewayModels, alias: str, prompt: str, max_tokens: int) -> AsyncIterator[bytes]:
    from apps.serving.gateway import ProbeResult  # the OpenAI client costs ~1.5 s to import; not at start-up

    stream = gateway.probe_stream(alias, prompt, max_tokens=max_tokens)
    try:
        async for piece in stream:
            if isinstance(piece, ProbeResult):
                yield sse(
                    "done",
                    {
                        "text": piece.text,
                        "input_tokens": piece.input_tokens,
                        "output_tokens": piece.output_tokens,
                        "latency_ms": piece.latency_ms,
                        "ttft_ms": piece.ttft_ms,
                    },
                )
            else:
                yield sse("token", {"text": piece})
    except FlowError as exc:  # model_unavailable, model_timeout, budget_exceeded, rate_limited
        yield sse("error", {"code": exc.code, "message": exc.message})
    except Exception:
        logger.exception("test prompt stream of %r failed", alias)
        yield sse("error", {"code": "internal_error", "message": "The test prompt failed unexpectedly."})
    finally:
        await stream.aclose()  # the client hung up: stop paying for tokens nobody reads
