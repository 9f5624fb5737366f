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

from django.http import HttpRequest, HttpResponseBase, StreamingHttpResponse
from django.views.decorators.csrf import csrf_exempt

from apps.config.db import in_db_thread
from apps.config.errors import TrellisError
from apps.config.wire_errors import error_of, wire_error
from apps.serving.api.serializers import ModelTestIn
from apps.serving.services import model_endpoint_probe_gateway
from apps.tenancy.access import Actor, access_org_by_id
from apps.tenancy.http_auth import authenticate
from apps.tenancy.models import Role
from flows.errors import FlowError

if TYPE_CHECKING:
    from apps.serving.gateway import GatewayModels

logger = logging.getLogger(__name__)


def sse(event: str, data: dict[str, Any]) -> bytes:
    return f"event: {event}\ndata: {json.dumps(data)}\n\n".encode()


def _prepare(actor: Actor, org_id: str, endpoint_id: int) -> tuple[str, GatewayModels]:
    access = access_org_by_id(actor=actor, org_id=org_id, min_role=Role.EDITOR)
    return model_endpoint_probe_gateway(access=access, endpoint_id=endpoint_id)


@csrf_exempt  # not exempt in fact: authenticate() runs Django's CSRF check for sessions
async def model_test_stream_view(request: HttpRequest, org_id: str, endpoint_id: int) -> HttpResponseBase:
    try:
        actor = await authenticate(request)
    except TrellisError as exc:  # 401, or 403 csrf_failed
        return wire_error(exc).response()
    if request.method != "POST":
        return error_of("method_not_allowed", f"Method {request.method} is not allowed.", 405).response()
    try:
        # Access first, as the JSON endpoint does: a viewer learns nothing from a bad body.
        alias, gateway = await in_db_thread(_prepare)(actor, org_id, endpoint_id)
    except TrellisError as exc:
        return wire_error(exc).response()
    try:
        body = json.loads(request.body or b"{}")
    except ValueError:
        return error_of("malformed_json", "Malformed JSON body.").response()
    serializer = ModelTestIn(data=body)
    if not serializer.is_valid():
        fields = {k: [str(m) for m in v] for k, v in serializer.errors.items()}
        return error_of("invalid", next(iter(fields.values()))[0], fields=fields).response()
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
    except FlowError as exc:  # model_unavailable, model_timeout, context_window_exceeded, budget, rate
        yield wire_error(exc).sse()
    except Exception as exc:
        logger.exception("test prompt stream of %r failed", alias)
        yield wire_error(exc).sse()
    finally:
        await stream.aclose()  # the client hung up: stop paying for tokens nobody reads
