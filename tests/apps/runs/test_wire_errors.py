"""The one error table (apps.config.wire_errors): each app and engine error's status, code and
message on every wire (HTTP, SSE, WebSocket, widget, OpenAI shape), and a model's context-window
refusal end to end (the stand-in answers HTTP 400 word for word as vLLM does)."""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

import httpx
import pytest

from apps.config.errors import (
    AuthenticationFailed,
    Conflict,
    CsrfFailed,
    Forbidden,
    InvalidInput,
    MethodNotAllowed,
    NotAuthenticated,
    NotFound,
    TooLarge,
)
from apps.config.wire_errors import PUBLIC_FAILED, PUBLIC_MISCONFIGURED, error_of, public_failure, wire_error
from apps.runs.protocol import BadMessage
from apps.serving.accounting import BudgetExceeded, BudgetExhausted
from apps.serving.accounting import RateLimited as ModelRateLimited
from apps.widgets.errors import RateLimited
from apps.widgets.tokens import SessionInvalid
from flows.errors import (
    ContextTooLong,
    EgressRefused,
    FlowInvalid,
    Issue,
    ModelTimeout,
    ModelUnavailable,
    NodeFailed,
    ToolUnavailable,
    clip,
    model_refusal,
)
from tests.conftest import Member
from tests.flows.graphs import chat_flow

CONTEXT_MESSAGE = (
    "The model answered that the prompt is too long for its context window (2,048 tokens): "
    "lower Top K or shorten the prompt"
)
VLLM_SAID = (
    "This model's maximum context length is 2048 tokens. However, you requested 2100 tokens "
    "(1844 in the messages, 256 in the completion). Please reduce the length of the messages or completion."
)


@pytest.mark.parametrize(
    ("error", "status", "code"),
    [
        (NotFound("Flow not found.", code="flow_not_found"), 404, "flow_not_found"),
        (Forbidden("Editors only."), 403, "permission_denied"),
        (CsrfFailed("CSRF check failed."), 403, "csrf_failed"),
        (NotAuthenticated("Sign in."), 401, "not_authenticated"),
        (AuthenticationFailed("Unknown key."), 401, "authentication_failed"),
        (Conflict("Taken."), 409, "conflict"),
        (InvalidInput("Bad."), 400, "invalid"),
        (MethodNotAllowed("GET is not allowed."), 405, "method_not_allowed"),
        (TooLarge("Too large."), 413, "too_large"),
        (BadMessage("unknown_message_type", "Unknown message type 'x'."), 400, "unknown_message_type"),
        (SessionInvalid("Expired."), 401, "session_invalid"),
        (BudgetExceeded("Over budget."), 429, "budget_exceeded"),
        (FlowInvalid([Issue("edge.dangling", "Edge e1 points nowhere.", "/edges/0")]), 400, "flow_invalid"),
        (ContextTooLong(CONTEXT_MESSAGE), 400, "context_window_exceeded"),
        (EgressRefused("Private address."), 403, "egress_refused"),
        (BudgetExhausted("Over budget."), 429, "budget_exceeded"),
        (ModelRateLimited("Too many calls."), 429, "rate_limited"),
        (ModelUnavailable("The server of model 'm' answered HTTP 500."), 502, "model_unavailable"),
        (ModelTimeout("The model 'm' did not answer in time."), 502, "model_timeout"),
        (ToolUnavailable("No such tool."), 502, "tool_unavailable"),
        (NodeFailed("The branch failed."), 500, "node_failed"),
    ],
)
def test_each_error_has_one_status_code_and_message(error: Exception, status: int, code: str) -> None:
    wire = wire_error(error)
    message = getattr(error, "message", "")
    assert (wire.status, wire.code, wire.message) == (status, code, message)
    body = json.loads(wire.response().content)
    assert body["code"] == code and body["message"] == message
    assert wire.response().status_code == status
    assert wire.event(ref="r1") == {"type": "error", **body, "ref": "r1"}
    assert wire.sse() == f"event: error\ndata: {json.dumps({'code': code, 'message': message})}\n\n".encode()
    openai = json.loads(wire.openai().content)["error"]
    assert (openai["code"], openai["message"]) == (code, message)


def test_extra_fields_travel_with_the_error() -> None:
    invalid = wire_error(FlowInvalid([Issue("node.unknown", "Unknown node type 'x'.", "/nodes/0", node="n1")]))
    assert invalid.body()["issues"] == [
        {"code": "node.unknown", "message": "Unknown node type 'x'.", "pointer": "/nodes/0", "node": "n1", "edge": None}
    ]
    limited = wire_error(RateLimited("Slow down.", code="rate_limited", retry_after=2.4))
    assert limited.body() == {"code": "rate_limited", "message": "Slow down.", "retry_after": 2}
    assert limited.response()["Retry-After"] == "2"
    assert limited.event(ref=None) == {"type": "error", **limited.body()}


def test_a_server_error_tells_nothing_of_itself() -> None:
    wire = wire_error(KeyError("secret_column"))
    assert (wire.status, wire.code) == (500, "internal_error")
    assert "secret" not in wire.message
    assert json.loads(wire.openai().content)["error"]["type"] == "api_error"


def test_openai_shape_types() -> None:
    kinds = {
        401: wire_error(NotAuthenticated("x")),
        429: wire_error(BudgetExceeded("x")),
        400: wire_error(InvalidInput("x")),
        502: wire_error(ModelUnavailable("x")),
    }
    types = {status: json.loads(w.openai().content)["error"]["type"] for status, w in kinds.items()}
    assert types == {
        401: "authentication_error",
        429: "rate_limit_error",
        400: "invalid_request_error",
        502: "api_error",
    }


def test_a_visitor_reads_the_apps_refusals_and_nothing_of_the_flow_or_its_models() -> None:
    limited = wire_error(RateLimited("Please wait a moment.", code="rate_limited", retry_after=3)).public()
    assert (limited.code, limited.message) == ("rate_limited", "Please wait a moment.")
    assert limited.extra == {"retry_after": 3}
    assert wire_error(InvalidInput("Type a message first.", code="empty_message")).public().message == (
        "Type a message first."
    )
    invalid = wire_error(FlowInvalid([Issue("x", "Node llm has no model 'secret-alias'.", "/nodes/1")])).public()
    assert (invalid.code, invalid.message, invalid.extra) == ("flow_invalid", PUBLIC_MISCONFIGURED, {})
    refused = wire_error(ModelUnavailable("The server of model 'gpt' answered HTTP 401: bad key sk-...")).public()
    assert (refused.code, refused.message) == ("model_unavailable", PUBLIC_FAILED)
    assert wire_error(RuntimeError("boom")).public().message == PUBLIC_FAILED
    failed = public_failure({"code": "context_window_exceeded", "message": CONTEXT_MESSAGE, "node": "llm"})
    assert failed == {"code": "context_window_exceeded", "message": PUBLIC_FAILED}


def test_error_of_is_a_refusal_written_in_place() -> None:
    wire = error_of("malformed_json", "The message is not valid JSON.")
    assert (wire.status, wire.body()) == (400, {"code": "malformed_json", "message": "The message is not valid JSON."})
    assert error_of("run_not_running", "That run is not running.", 409).event(run="r") == {
        "type": "error",
        "code": "run_not_running",
        "message": "That run is not running.",
        "run": "r",
    }


# --- a model server's refusal ---


def test_vllm_context_length_refusal_is_context_window_exceeded() -> None:
    error = model_refusal("small", 400, VLLM_SAID)
    assert isinstance(error, ContextTooLong)
    assert (error.code, error.message) == ("context_window_exceeded", CONTEXT_MESSAGE)
    assert wire_error(error).status == 400


def test_openai_context_length_refusal_is_context_window_exceeded() -> None:
    said = (
        "This model's maximum context length is 128000 tokens. However, your messages resulted in 130021 "
        "tokens. Please reduce the length of the messages."
    )
    error = model_refusal("gpt", 400, said, "context_length_exceeded")
    assert error.message == (
        "The model answered that the prompt is too long for its context window (128,000 tokens): "
        "lower Top K or shorten the prompt"
    )
    without_number = model_refusal("gpt", 400, "Too long.", "context_length_exceeded")
    assert without_number.code == "context_window_exceeded"
    assert without_number.message.startswith("The model answered that the prompt is too long for its context window:")


def test_other_refusals_are_model_unavailable_without_the_servers_words() -> None:
    said = "The upstream provider refused the request because " + "the account quota was exhausted " * 20
    error = model_refusal("m", 429, said)
    assert isinstance(error, ModelUnavailable)
    assert error.message == "The server of model 'm' answered HTTP 429."  # its body stays in the log
    assert model_refusal("m", None, "overloaded").message == "The model server reported an error mid-stream."


def test_clip_cuts_at_a_word() -> None:
    said = "the account quota was exhausted " * 20
    clipped = clip(said)
    assert clipped.endswith("…") and len(clipped) <= 200
    assert said.startswith(clipped.removesuffix("…"))
    assert clipped.removesuffix("…").split()[-1] in said.split()  # whole words only
    assert clip("a " * 5) == "a a a a a"


# --- end to end: the stand-in refuses as vLLM does ---


@pytest.mark.django_db(transaction=True)
async def test_a_run_over_the_context_window_fails_with_a_message_for_people(
    org_a: Member, api_key_for: Callable[..., str], endpoint: Callable[..., Any], publish_flow: Callable[..., Any]
) -> None:
    from channels.db import database_sync_to_async

    from apps.config.asgi import application
    from apps.runs.models import Run

    model = await database_sync_to_async(endpoint)("small", model="standin-context-2048")
    flow = await database_sync_to_async(publish_flow)("small", chat_flow(model="small"))
    key = await database_sync_to_async(api_key_for)(org_a, "editor")
    async with httpx.AsyncClient(
        transport=httpx.ASGITransport(app=application),
        base_url="http://127.0.0.1",
        headers={"Authorization": f"Bearer {key}"},
        timeout=30,
    ) as client:
        url = f"/api/v1/orgs/{org_a.organization.id}/flows/{flow['id']}/run/"
        events: list[dict[str, Any]] = []
        async with client.stream("POST", url, json={"inputs": {"message": "hi"}, "stream": True}) as response:
            assert response.status_code == 200
            async for line in response.aiter_lines():
                if line.startswith("data: "):
                    events.append(json.loads(line[6:]))
        failed = events[-1]
        assert failed["type"] == "run.failed"
        assert (failed["data"]["code"], failed["data"]["message"]) == ("context_window_exceeded", CONTEXT_MESSAGE)
        run = await Run.objects.aget(pk=failed["run"])
        assert (run.status, run.error_code) == ("failed", "context_window_exceeded")

        streamed = await client.post(
            f"/api/v1/orgs/{org_a.organization.id}/models/{model['id']}/test/stream/", json={"prompt": "hi"}
        )
        assert streamed.status_code == 200
        assert f'"code": "context_window_exceeded", "message": "{CONTEXT_MESSAGE}"' in streamed.text
