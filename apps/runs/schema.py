"""OpenAPI for the run endpoint, which is a plain async Django view (drf-spectacular documents
only DRF views): added to the generated schema by a post-processing hook."""

from __future__ import annotations

from typing import Any

RUN_PATH = "/api/v1/orgs/{org_id}/flows/{flow_id}/run/"


def _add_component(result: dict[str, Any], serializer_class: type[Any]) -> dict[str, str]:
    """The component of a serializer that no DRF view documents (RunOut, since the runs list and
    trace answer richer shapes), resolved the way drf-spectacular resolves a view's."""
    from drf_spectacular.openapi import AutoSchema
    from drf_spectacular.plumbing import ComponentRegistry
    from rest_framework.views import APIView

    schema = AutoSchema()
    schema.registry = ComponentRegistry()
    schema.method, schema.path, schema.path_regex = "POST", RUN_PATH, RUN_PATH
    schema.view = APIView()
    schema.view.request = None
    ref = schema.resolve_serializer(serializer_class, "response").ref
    components = result.setdefault("components", {}).setdefault("schemas", {})
    for name, component in schema.registry.build({}).get("schemas", {}).items():
        components.setdefault(name, component)
    return ref


def add_run_endpoint(result: dict[str, Any], generator: Any, request: Any, public: bool) -> dict[str, Any]:
    from apps.runs.api.serializers import RunOut

    error = {"$ref": "#/components/schemas/Error"}
    run_out = _add_component(result, RunOut)
    result.setdefault("paths", {})[RUN_PATH] = {
        "post": {
            "operationId": "v1_orgs_flows_run_create",
            "summary": "Run a flow: a JSON result, or Server-Sent Events with stream=true",
            "tags": ["v1"],
            "security": [{"apiKey": []}, {"cookieAuth": []}],
            "parameters": [
                {"name": "org_id", "in": "path", "required": True, "schema": {"type": "string"}},
                {"name": "flow_id", "in": "path", "required": True, "schema": {"type": "string", "format": "uuid"}},
            ],
            "requestBody": {
                "required": True,
                "content": {
                    "application/json": {
                        "schema": {
                            "type": "object",
                            "required": ["inputs"],
                            "additionalProperties": False,
                            "properties": {
                                "inputs": {
                                    "type": "object",
                                    "additionalProperties": True,
                                    "description": 'The run inputs, e.g. {"message": "Hello"}',
                                },
                                "version": {
                                    "type": "string",
                                    "default": "published",
                                    "description": '"published", "draft" or a version number',
                                },
                                "session": {"type": "string", "format": "uuid", "nullable": True},
                                "stream": {"type": "boolean", "default": False},
                            },
                        }
                    }
                },
            },
            "responses": {
                "200": {
                    "description": "The finished run (JSON), or its events as text/event-stream",
                    "content": {
                        "application/json": {"schema": run_out},
                        "text/event-stream": {"schema": {"type": "string"}},
                    },
                },
                **{
                    code: {"description": text, "content": {"application/json": {"schema": error}}}
                    for code, text in [
                        ("400", "Bad input, or flow_invalid with issues"),
                        ("401", "No or bad credentials"),
                        ("403", "Role too low"),
                        ("404", "Flow, version or session not found"),
                    ]
                },
            },
        }
    }
    return result
