"""POST /api/v1/orgs/<org>/flows/<flow>/run/ — run a flow over HTTP: a JSON result, or SSE.

An async view (a run waits on a model for seconds; a sync view would hold a worker thread).
Authentication is apps.tenancy.http_auth (an API key, or a session with its CSRF token); the
run starts through apps.runs.start.run_start like every other run; errors are
apps.config.wire_errors'.
"""

from __future__ import annotations

import functools
import json
import uuid
from collections.abc import AsyncIterator
from typing import Any

import orjson
from django.core.serializers.json import DjangoJSONEncoder
from django.http import HttpRequest, HttpResponse, HttpResponseBase, StreamingHttpResponse
from django.utils import timezone
from django.views.decorators.csrf import csrf_exempt
from rest_framework.fields import DateTimeField

from apps.config.errors import NotFound, TrellisError
from apps.config.wire_errors import error_of, wire_error
from apps.runs.api.serializers import RunIn, RunOut, run_in_usual
from apps.runs.forward import with_reveal
from apps.runs.live import PreparedRun, follow, run_start_live, run_to_end
from apps.runs.models import Run
from apps.runs.principals import HttpCaller, RunRequest
from apps.runs.start import run_start
from apps.tenancy.http_auth import authenticate, checks_key_scope
from flows.errors import FlowError


def _sse(wire: dict[str, Any]) -> bytes:
    return f"event: {wire['type']}\nid: {wire['seq']}\ndata: {json.dumps(wire, default=str)}\n\n".encode()


def _uuid(value: str, what: str) -> uuid.UUID:
    try:
        return uuid.UUID(value)
    except ValueError:
        raise NotFound(f"{what.capitalize()} not found.", code=f"{what}_not_found") from None


@checks_key_scope  # the key's scope is checked in the run start's trip (no lookup of its own)
@csrf_exempt  # not exempt in fact: the caller is authenticated with Django's CSRF check for sessions
async def flow_run_view(request: HttpRequest, org_id: str, flow_id: str) -> HttpResponseBase:
    refusal, data = None, None
    if request.method != "POST":
        refusal = error_of("method_not_allowed", f"Method {request.method} is not allowed.", 405)
    else:
        try:
            body = json.loads(request.body or b"{}")
        except ValueError:
            refusal = error_of("malformed_json", "Malformed JSON body.")
        else:
            data = run_in_usual(body)
            if data is None:
                serializer = RunIn(data=body)
                if serializer.is_valid():
                    data = serializer.validated_data
                else:
                    fields = {k: [str(m) for m in v] for k, v in serializer.errors.items()}
                    refusal = error_of("invalid", next(iter(fields.values()))[0], fields=fields)
    if refusal is not None:  # who asks comes first: an anonymous caller gets 401, not the 400
        try:
            await authenticate(request)
        except TrellisError as exc:  # 401, or 403 csrf_failed
            return wire_error(exc).response()
        return refusal.response()
    assert data is not None  # noqa: S101 - validated above
    streaming = data["stream"] or "text/event-stream" in request.headers.get("Accept", "")
    try:
        # The caller is authenticated in the run start's own database trip (one trip per run),
        # and the organization in the URL scopes the flow inside its one read (a flow of an
        # organization the caller is not in is not found).
        prepared = await run_start(
            HttpCaller(request),
            RunRequest(
                flow=_uuid(flow_id, "flow"),
                organization=_uuid(org_id, "organization"),
                version=data["version"],
                inputs=data["inputs"],
                session=data["session"],
            ),
            # A stream's model call starts while the run's rows are written, as the socket's does
            # (its first event still waits for them); a JSON answer waits for the whole run anyway.
            early=streaming,
        )
    except (TrellisError, FlowError) as exc:
        return wire_error(exc).response()
    if streaming:
        return _stream(prepared)
    # The answer is the run as its last write stored it, known here without reading it back.
    _, run = await run_to_end(prepared)
    if run is None:  # that write was refused (the run's row says why): read what is stored
        run = await Run.objects.select_related("flow", "version").aget(pk=prepared.run.pk)
    return _json(_revealed(prepared, _run_out(run)))


_ENCODER = DjangoJSONEncoder()


def _json(data: dict[str, Any]) -> HttpResponse:
    """JsonResponse's answer, encoded by orjson (a REST run's cost): what it cannot encode goes
    through DjangoJSONEncoder as JsonResponse would."""
    return HttpResponse(orjson.dumps(data, default=_ENCODER.default), content_type="application/json")


def _revealed(prepared: PreparedRun, out: dict[str, Any]) -> dict[str, Any]:
    """The run-start hooks' reveal on the JSON answer (a guard policy's placeholders mapped back
    to this caller's own values): what this caller reads, never what is stored."""
    shown = with_reveal(prepared.reveal)
    if shown is None:
        return out
    revealed = shown({"type": "run", "data": out})
    return revealed["data"] if revealed is not None else out


@functools.cache
def _run_out_serializer() -> RunOut:
    """One RunOut per process: a ModelSerializer builds its fields from the model on every instance
    (most of its cost). Used on the event loop only (fields are bound once; to_representation keeps
    no state)."""
    serializer = RunOut()
    for field in serializer.fields.values():  # no time zone is activated per request here
        if isinstance(field, DateTimeField):
            field.timezone = timezone.get_default_timezone()  # not looked up per value
    return serializer


def _run_out(run: Run) -> dict[str, Any]:
    return dict(_run_out_serializer().to_representation(run))


def _stream(prepared: PreparedRun) -> StreamingHttpResponse:
    live = run_start_live(prepared)
    queue = live.subscribe()
    shown = with_reveal(live.reveal)  # this caller's own values back in place of placeholders

    async def body() -> AsyncIterator[bytes]:
        try:
            async for wire in follow(queue):
                out = wire if shown is None else shown(wire)
                if out is not None:
                    yield _sse(out)
        finally:
            live.unsubscribe(queue)
            if not live.task.done():  # the client hung up: stop paying for tokens nobody reads
                live.cancel()

    response = StreamingHttpResponse(body(), content_type="text/event-stream")
    response["Cache-Control"] = "no-cache"
    response["X-Accel-Buffering"] = "no"
    return response
