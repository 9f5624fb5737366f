"""OpenAPI for the streaming test prompt, a plain async Django view (drf-spectacular documents
only DRF views): added to the generated schema by a post-processing hook."""

from __future__ import annotations

from typing import Any

TEST_STREAM_PATH = "/api/v1/orgs/{org_id}/models/{endpoint_id}/test/stream/"


# The events' data, as components so the frontend's generated types cover them too.
EVENT_SCHEMAS: dict[str, dict[str, Any]] = {
    "ModelTestTokenEvent": {
        "type": "object",
        "description": "`event: token`: the next piece of the answer",
        "required": ["text"],
        "properties": {"text": {"type": "string"}},
    },
    "ModelTestDoneEvent": {
        "type": "object",
        "description": "`event: done`: the whole answer, its usage and timings",
        "required": ["text", "input_tokens", "output_tokens", "latency_ms", "ttft_ms"],
        "properties": {
            "text": {"type": "string"},
            "input_tokens": {"type": "integer"},
            "output_tokens": {"type": "integer"},
            "latency_ms": {"type": "number", "format": "double"},
            "ttft_ms": {
                "type": "number",
                "format": "double",
                "nullable": True,
                "description": "Time to the first token; null when the answer was empty",
            },
        },
    },
    "ModelTestErrorEvent": {
        "type": "object",
        "description": "`event: error`: the call failed after the stream started",
        "required": ["code", "message"],
        "properties": {
            "code": {
                "type": "string",
                "description": "model_unavailable | model_timeout | rate_limited | budget_exceeded | internal_error",
            },
            "message": {"type": "string"},
        },
    },
}


def add_test_stream_endpoint(result: dict[str, Any], generator: Any, request: Any, public: bool) -> dict[str, Any]:
    error = {"$ref": "#/components/schemas/Error"}
    result.setdefault("components", {}).setdefault("schemas", {}).update(EVENT_SCHEMAS)
    result.setdefault("paths", {})[TEST_STREAM_PATH] = {
        "post": {
            "operationId": "v1_orgs_models_test_stream_create",
            "summary": "Send a test prompt to the model (editor); the answer streams as Server-Sent Events",
            "description": (
                "Events: `token` (ModelTestTokenEvent) per piece in order, then `done` (ModelTestDoneEvent), "
                "or `error` (ModelTestErrorEvent). Refusals before the stream are JSON errors with the status "
                "the JSON test endpoint gives."
            ),
            "tags": ["v1"],
            "security": [{"apiKey": []}, {"cookieAuth": []}],
            "parameters": [
                {"name": "org_id", "in": "path", "required": True, "schema": {"type": "string"}},
                {"name": "endpoint_id", "in": "path", "required": True, "schema": {"type": "integer"}},
            ],
            "requestBody": {
                "required": True,
                "content": {"application/json": {"schema": {"$ref": "#/components/schemas/ModelTestInRequest"}}},
            },
            "responses": {
                "200": {
                    "description": "The answer's events as text/event-stream",
                    "content": {"text/event-stream": {"schema": {"type": "string"}}},
                },
                **{
                    code: {"description": text, "content": {"application/json": {"schema": error}}}
                    for code, text in [
                        ("400", "Bad input, or not_a_chat_model"),
                        ("401", "No or bad credentials"),
                        ("403", "Role too low (editor needed)"),
                        ("404", "Model endpoint not found"),
                        ("429", "budget_exceeded"),
                    ]
                },
            },
        }
    }
    return result
