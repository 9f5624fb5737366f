"""POST /api/v1/orgs/<org>/flows/<flow>/openai/chat/completions — any OpenAI SDK can call a
published flow: `OpenAI(base_url=".../flows/<flow>/openai", api_key="trl_...")`.

API keys only (programs, no cookies, so no CSRF). The flow's published version runs; the
request's `model` is echoed but never picks anything, and only the last user message is the
input (the flow's own memory and prompts decide the rest). The run starts through
apps.runs.start.run_start like every other run; errors are apps.config.wire_errors' in the
OpenAI shape, {"error": {message, type, code}}.
"""

from __future__ import annotations

import json
import time
import uuid
from collections.abc import AsyncIterator
from typing import Any

from django.http import HttpRequest, HttpResponseBase, JsonResponse, StreamingHttpResponse
from django.views.decorators.csrf import csrf_exempt

from apps.config.errors import NotFound, TrellisError
from apps.config.wire_errors import error_of, wire_error
from apps.runs.live import PreparedRun, follow, run_start_live, run_to_end
from apps.runs.models import Run
from apps.runs.principals import HttpCaller, RunRequest
from apps.runs.start import run_start
from apps.tenancy.http_auth import authenticate, checks_key_scope
from flows.errors import FlowError

MAX_BODY = 1024 * 1024


def _error(message: str, status: int, code: str) -> JsonResponse:
    return error_of(code, message, status).openai()


def _uuid(value: str, what: str) -> uuid.UUID:
    try:
        return uuid.UUID(value)
    except ValueError:
        raise NotFound(f"{what.capitalize()} not found.", code=f"{what}_not_found") from None


def _last_user_message(body: Any) -> str | None:
    messages = body.get("messages") if isinstance(body, dict) else None
    if not isinstance(messages, list):
        return None
    for message in reversed(messages):
        if isinstance(message, dict) and message.get("role") == "user":
            content = message.get("content")
            if isinstance(content, str):
                return content
            if isinstance(content, list):  # [{"type": "text", "text": ...}, ...]
                return "".join(p.get("text", "") for p in content if isinstance(p, dict) and p.get("type") == "text")
    return None


def _answer(outputs: Any, fallback: str) -> str:
    if isinstance(outputs, dict):
        for value in outputs.values():
            if isinstance(value, dict) and "value" in value:
                return str(value["value"] or "")
    return fallback


@checks_key_scope  # the key's scope is checked in the run start's trip (no lookup of its own)
@csrf_exempt  # API keys only: no cookie is read, so there is nothing to forge
async def flow_openai_chat_view(request: HttpRequest, org_id: str, flow_id: str) -> HttpResponseBase:
    refusal, body, message = None, None, None
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
            message = _last_user_message(body)
            if message is None:
                refusal = error_of("invalid", "`messages` must contain a user message.")
    if refusal is not None or message is None or not isinstance(body, dict):  # who asks comes first: 401
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
                inputs={"message": message},
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
            async for wire in follow(queue):
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
