"""POST /api/v1/orgs/<org>/flows/<flow>/openai/chat/completions — any OpenAI SDK can call a
published flow: `OpenAI(base_url=".../flows/<flow>/openai", api_key="trl_...")`.

API keys only (programs, no cookies, so no CSRF). The flow's published version runs; the
request's `model` is echoed but never picks anything. The whole `messages` list is used: the
last user message is the chat input's message, system messages its `system` output, and the
user/assistant turns before it the run's memory (what a memory node gives the flow).
`GET .../openai/models` lists the organization's published flows; `.../orgs/<org>/openai` is a base
URL for all of them, where `model` names the flow (its id). The run starts through
apps.runs.start.run_start like every other run; errors are apps.config.wire_errors' in the
OpenAI shape, {"error": {message, type, code}}.
"""

from __future__ import annotations

import json
import time
import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import Any

from django.http import HttpRequest, HttpResponseBase, JsonResponse, StreamingHttpResponse
from django.views.decorators.csrf import csrf_exempt

from apps.config.db import in_db_thread
from apps.config.errors import NotFound, TrellisError
from apps.config.wire_errors import error_of, wire_error
from apps.runs.forward import with_reveal
from apps.runs.live import PreparedRun, follow, run_start_live, run_to_end
from apps.runs.models import Run
from apps.runs.principals import HttpCaller, RunRequest
from apps.runs.start import run_start
from apps.tenancy.access import actor_role
from apps.tenancy.http_auth import authenticate, authenticate_sync, checks_key_scope
from flows.errors import FlowError

MAX_BODY = 1024 * 1024


def _error(message: str, status: int, code: str) -> JsonResponse:
    return error_of(code, message, status).openai()


def _uuid(value: str, what: str) -> uuid.UUID:
    try:
        return uuid.UUID(value)
    except ValueError:
        raise NotFound(f"{what.capitalize()} not found.", code=f"{what}_not_found") from None


def _text(content: Any) -> str | None:
    if isinstance(content, str):
        return content
    if isinstance(content, list):  # [{"type": "text", "text": ...}, ...]
        return "".join(p.get("text", "") for p in content if isinstance(p, dict) and p.get("type") == "text")
    return None


@dataclass
class Conversation:
    """The request's `messages` as a flow takes them: the last user message is the chat input's
    message, the system messages its `system`, and the user/assistant turns before it the memory."""

    message: str
    system: str
    history: list[tuple[str, str]]

    def inputs(self) -> dict[str, Any]:
        return {"message": self.message, **({"system": self.system} if self.system else {})}


def _conversation(body: Any) -> Conversation | None:
    messages = body.get("messages") if isinstance(body, dict) else None
    if not isinstance(messages, list):
        return None
    turns: list[tuple[str, str]] = []
    system: list[str] = []
    for message in messages:
        if not isinstance(message, dict):
            return None
        role, text = message.get("role"), _text(message.get("content"))
        if role in {"system", "developer"} and text is not None:
            system.append(text)
        elif role in {"user", "assistant"} and text is not None:
            turns.append((str(role), text))
        # tool and function messages carry nothing a flow's memory holds
    last_user = next((i for i in range(len(turns) - 1, -1, -1) if turns[i][0] == "user"), None)
    if last_user is None:
        return None
    return Conversation(message=turns[last_user][1], system="\n\n".join(system), history=turns[:last_user])


def _answer(outputs: Any, fallback: str) -> str:
    if isinstance(outputs, dict):
        for value in outputs.values():
            if isinstance(value, dict) and "value" in value:
                return str(value["value"] or "")
    return fallback


@checks_key_scope  # the key's scope is checked in the run start's trip (no lookup of its own)
@csrf_exempt  # API keys only: no cookie is read, so there is nothing to forge
async def flow_openai_chat_view(request: HttpRequest, org_id: str, flow_id: str) -> HttpResponseBase:
    refusal, body, message, conversation = None, None, None, None
    if request.method != "POST":
        refusal = error_of("method_not_allowed", f"Method {request.method} is not allowed.", 405)
    elif len(request.body) > MAX_BODY:
        refusal = error_of("too_large", "Request too large.", 413)
    else:
        try:
            body = json.loads(request.body or b"{}")
        except ValueError:
            refusal = error_of("malformed_json", "Malformed JSON body.")
        else:
            conversation = _conversation(body)
            message = None if conversation is None else conversation.message
            if message is None:
                refusal = error_of("invalid", "`messages` must be a list of messages with a user message.")
    if refusal is not None or conversation is None or not isinstance(body, dict):  # who asks comes first: 401
        try:
            await authenticate(request, sessions=False)
        except TrellisError as exc:
            return wire_error(exc).openai()
        return (refusal or error_of("invalid", "`messages` must contain a user message.")).openai()
    model = str(body.get("model") or f"trellis-flow-{flow_id}")[:200]
    try:
        # The key is checked in the run start's own database trip (one trip per completion).
        prepared = await run_start(
            HttpCaller(request, sessions=False, source=(Run.Source.OPENAI, Run.Source.OPENAI)),
            RunRequest(
                flow=_uuid(flow_id, "flow"),
                organization=_uuid(org_id, "organization"),
                version="published",
                inputs=conversation.inputs(),
                history=conversation.history,
            ),
        )
    except (TrellisError, FlowError) as exc:
        return wire_error(exc).openai()
    completion_id = f"chatcmpl-{prepared.run.pk.hex}"
    if body.get("stream"):
        return _stream(prepared, completion_id, model, bool((body.get("stream_options") or {}).get("include_usage")))
    events, stored = await run_to_end(prepared)  # the run as stored, not read back
    final = events[-1] if events else {}
    if final.get("type") != "run.finished":
        data = final.get("data") or {}
        return _error(str(data.get("message") or "The flow failed."), 502, str(data.get("code") or "run_failed"))
    run = stored or await Run.objects.aget(pk=prepared.run.pk)
    text = _answer((final.get("data") or {}).get("outputs"), run.output_text)
    if (shown := with_reveal(prepared.reveal)) is not None:  # a guard policy's placeholders: this caller's values
        text = str(((shown({"type": "answer", "data": {"text": text}}) or {}).get("data") or {}).get("text", text))
    return JsonResponse(
        {
            "id": completion_id,
            "object": "chat.completion",
            "created": int(time.time()),
            "model": model,
            "choices": [{"index": 0, "message": {"role": "assistant", "content": text}, "finish_reason": "stop"}],
            "usage": _usage(run.input_tokens, run.output_tokens),
        }
    )


def _usage(prompt: int, completion: int) -> dict[str, int]:
    return {"prompt_tokens": prompt, "completion_tokens": completion, "total_tokens": prompt + completion}


def _stream(prepared: PreparedRun, completion_id: str, model: str, include_usage: bool) -> StreamingHttpResponse:
    live = run_start_live(prepared)
    queue = live.subscribe()
    created = int(time.time())
    shown = with_reveal(live.reveal)  # this caller's own values back in place of placeholders

    def chunk(delta: dict[str, Any], finish: str | None = None, usage: dict[str, int] | None = None) -> bytes:
        payload: dict[str, Any] = {
            "id": completion_id,
            "object": "chat.completion.chunk",
            "created": created,
            "model": model,
            "choices": [] if usage else [{"index": 0, "delta": delta, "finish_reason": finish}],
        }
        if usage:
            payload["usage"] = usage
        return f"data: {json.dumps(payload)}\n\n".encode()

    async def body() -> AsyncIterator[bytes]:
        try:
            yield chunk({"role": "assistant", "content": ""})
            async for each in follow(queue):
                wire = each if shown is None else shown(each)
                if wire is None:
                    continue
                data = wire.get("data") or {}
                if wire["type"] == "token":
                    yield chunk({"content": data.get("text", "")})
                elif wire["type"] == "run.finished":
                    yield chunk({}, "stop")
                    if include_usage:
                        used = data.get("usage") or {}
                        yield chunk(
                            {}, usage=_usage(int(used.get("input_tokens", 0)), int(used.get("output_tokens", 0)))
                        )
                elif wire["type"] in {"run.failed", "run.cancelled"}:
                    error = {
                        "message": data.get("message") or "The flow failed.",
                        "code": data.get("code") or "run_failed",
                    }
                    yield f"data: {json.dumps({'error': error})}\n\n".encode()
            yield b"data: [DONE]\n\n"
        finally:
            live.unsubscribe(queue)
            if not live.task.done():
                live.cancel()

    response = StreamingHttpResponse(body(), content_type="text/event-stream")
    response["Cache-Control"] = "no-cache"
    response["X-Accel-Buffering"] = "no"
    return response


def _published_flows(request: HttpRequest, org_id: str) -> list[dict[str, Any]]:
    """The published flows the caller's API key may run (database thread)."""
    from apps.builder.models import Flow

    actor = authenticate_sync(request, sessions=False)
    organization = _uuid(org_id, "organization")
    if actor_role(actor, organization, None) is None:  # another organization's key, or a creator who left
        raise NotFound("Organization not found.", code="organization_not_found")
    flows = Flow.objects.filter(organization_id=organization, published_version__isnull=False)
    key = actor.api_key
    if key is not None and key.flows:
        flows = flows.filter(pk__in=[str(f) for f in key.flows])
    return [
        {
            "id": str(flow.pk),
            "object": "model",
            "created": int(flow.created_at.timestamp()),
            "owned_by": str(organization),
            "name": flow.name,
        }
        for flow in flows.order_by("name", "pk").only("pk", "name", "created_at")
    ]


@checks_key_scope  # every key scope may list; a key limited to some flows sees only those
@csrf_exempt  # API keys only
async def openai_models_view(request: HttpRequest, org_id: str, flow_id: str | None = None) -> HttpResponseBase:
    """GET .../openai/models: the organization's published flows, as an OpenAI model list (the id
    is the flow's id: the `model` of `.../orgs/<org>/openai/chat/completions`)."""
    try:
        if request.method != "GET":
            await authenticate(request, sessions=False)
            return error_of("method_not_allowed", f"Method {request.method} is not allowed.", 405).openai()
        models = await in_db_thread(_published_flows)(request, org_id)
    except TrellisError as exc:
        return wire_error(exc).openai()
    return JsonResponse({"object": "list", "data": models})


@checks_key_scope
@csrf_exempt
async def org_openai_chat_view(request: HttpRequest, org_id: str) -> HttpResponseBase:
    """POST .../orgs/<org>/openai/chat/completions: `model` names the published flow (its id)."""
    model = None
    if request.method == "POST" and len(request.body) <= MAX_BODY:
        try:
            body = json.loads(request.body or b"{}")
        except ValueError:
            body = None
        model = body.get("model") if isinstance(body, dict) else None
    if request.method == "POST" and not isinstance(model, str):
        try:
            await authenticate(request, sessions=False)
        except TrellisError as exc:
            return wire_error(exc).openai()
        return error_of("invalid", "`model` must name a flow: its id, as GET .../openai/models lists.").openai()
    return await flow_openai_chat_view(request, org_id, str(model or ""))
