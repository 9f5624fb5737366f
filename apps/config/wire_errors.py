"""The one table from an error to what a client receives: an HTTP status and body, a server-sent
event, a WebSocket error event, a widget's public event or an OpenAI-shaped error.

Every error has a stable `code` for programs and a `message` written for the person reading it.
App errors (apps.config.errors.TrellisError and its subclasses) carry their own status; engine
errors (flows.errors.FlowError) get theirs from ENGINE_STATUS. Anything else is a server error:
logged where it happens, and told to the client as `internal_error` without its details.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any

from django.http import JsonResponse

from apps.config.db import database_error
from apps.config.errors import TrellisError
from flows.errors import FlowError, FlowInvalid

# Engine errors met outside a run (a test prompt, a run refused before it starts) answer these.
ENGINE_STATUS: dict[str, int] = {
    "flow_invalid": 400,
    "context_window_exceeded": 400,
    "egress_refused": 403,
    "budget_exhausted": 429,
    "budget_exceeded": 429,
    "rate_limited": 429,
    "model_unavailable": 502,
    "tool_unavailable": 502,
    "model_timeout": 502,
    # integrations (apps/integrations, flows/http.py): the outside system failed
    "http_failed": 502,
    "http_status": 502,
    "http_timeout": 502,
    "http_body_invalid": 400,
    "mcp_failed": 502,
    "mcp_timeout": 502,
    "mcp_tool_error": 502,
    "openapi_invalid": 400,
}
INTERNAL_MESSAGE = "The server failed on this request; it has been logged."

# What a widget's visitor reads: the app's own refusals (their mistakes, their limits) as written;
# anything about the flow, its models or the server in one sentence that gives nothing away.
PUBLIC_MISCONFIGURED = "This assistant is misconfigured."
PUBLIC_FAILED = "Sorry, the assistant could not answer just now."


@dataclass(frozen=True)
class WireError:
    status: int
    code: str
    message: str
    extra: dict[str, Any] = field(default_factory=dict)
    for_visitors: bool = False  # an app refusal whose message a widget's visitor may read

    def body(self) -> dict[str, Any]:
        """The HTTP error body: {code, message, ...extra (fields, issues, retry_after)}."""
        return {"code": self.code, "message": self.message, **self.extra}

    def response(self) -> JsonResponse:
        response = JsonResponse(self.body(), status=self.status)
        if "retry_after" in self.extra:
            response["Retry-After"] = str(self.extra["retry_after"])
        return response

    def event(self, **extra: Any) -> dict[str, Any]:
        """The WebSocket error event: {type: "error", code, message, ...} (None values left out)."""
        return {"type": "error", **self.body(), **{k: v for k, v in extra.items() if v is not None}}

    def sse(self) -> bytes:
        """A server-sent `error` event: data {code, message}."""
        return f"event: error\ndata: {json.dumps({'code': self.code, 'message': self.message})}\n\n".encode()

    def public(self) -> WireError:
        """As a widget's visitor may see it (no flow, model or server detail)."""
        if self.for_visitors:
            return self
        message = PUBLIC_MISCONFIGURED if self.code == "flow_invalid" else PUBLIC_FAILED
        return WireError(self.status, self.code, message)

    def openai(self) -> JsonResponse:
        """The OpenAI API's error shape, {"error": {message, type, code}}, for its SDKs."""
        kind = "invalid_request_error"
        if self.status == 401:
            kind = "authentication_error"
        elif self.status == 429:
            kind = "rate_limit_error"
        elif self.status >= 500:
            kind = "api_error"
        return JsonResponse({"error": {"message": self.message, "type": kind, "code": self.code}}, status=self.status)


def wire_error(exc: BaseException) -> WireError:
    """The status, code, message and extra fields of any error."""
    if (unavailable := database_error(exc)) is not None:  # a busy pool, a database that is down: 503
        exc = unavailable
    if isinstance(exc, TrellisError):
        return WireError(exc.status, exc.code, exc.message, exc.details(), for_visitors=True)
    if isinstance(exc, FlowInvalid):
        return WireError(400, exc.code, exc.message, {"issues": [issue.to_dict() for issue in exc.issues]})
    if isinstance(exc, FlowError):
        return WireError(ENGINE_STATUS.get(exc.code, 500), exc.code, exc.message)
    return WireError(500, "internal_error", INTERNAL_MESSAGE)


def error_of(code: str, message: str, status: int = 400, **extra: Any) -> WireError:
    """An error a view or socket refuses with directly (no exception raised)."""
    return WireError(status, code, message, {k: v for k, v in extra.items() if v is not None}, for_visitors=True)


def run_failed_data(exc: BaseException) -> dict[str, Any]:
    """The data of the `run.failed` event a server-side error ends a run with."""
    wire = wire_error(exc)
    return {"code": wire.code, "message": wire.message, "node": None}


def public_failure(data: dict[str, Any]) -> dict[str, Any]:
    """A `run.failed` event's data as a widget's visitor sees it."""
    return {"code": str(data.get("code") or "run_failed"), "message": PUBLIC_FAILED}
