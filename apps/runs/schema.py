"""OpenAPI for the run endpoint, which is a plain async Django view (drf-spectacular documents
only DRF views), and for the socket's messages (apps/runs/protocol.py's models, so the frontend's
generated types name every event and its data): added to the generated schema by a
post-processing hook."""

from __future__ import annotations

from typing import Annotated, Any

from pydantic import Field, TypeAdapter

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
    schema.view.request = None  # type: ignore[assignment]  # resolving a serializer needs no request
    ref = schema.resolve_serializer(serializer_class, "response").ref
    components = result.setdefault("components", {}).setdefault("schemas", {})
    for name, component in schema.registry.build({}).get("schemas", {}).items():
        components.setdefault(name, component)
    return ref


def _openapi_30(node: Any) -> Any:
    """A pydantic JSON schema made valid OpenAPI 3.0: `const` as a one-value enum, `X | None` as
    `nullable`, no `$defs` (hoisted into components by `add_models`), no generated titles."""
    if isinstance(node, list):
        return [_openapi_30(item) for item in node]
    if not isinstance(node, dict):
        return node
    node = {
        key: _openapi_30(value)
        for key, value in node.items()
        if key != "$defs" and not (key == "title" and isinstance(value, str))  # a keyword, not a property
    }
    if "const" in node:
        node["enum"] = [node.pop("const")]
    for key in ("anyOf", "oneOf"):
        options = node.get(key)
        if isinstance(options, list) and {"type": "null"} in options:
            rest = [option for option in options if option != {"type": "null"}]
            del node[key]
            if len(rest) == 1 and "$ref" in rest[0]:
                node["allOf"] = rest
            elif len(rest) == 1:
                node.update(rest[0])
            else:
                node[key] = rest
            node["nullable"] = True
    return node


def add_models(result: dict[str, Any], name: str, union: Any) -> None:
    """`union` (pydantic models discriminated by `type`) as component `name`, and each model as
    its own component."""
    adapter: TypeAdapter[Any] = TypeAdapter(Annotated[union, Field(discriminator="type")])
    schema = adapter.json_schema(ref_template="#/components/schemas/{model}")
    components = result.setdefault("components", {}).setdefault("schemas", {})
    for model, component in schema.get("$defs", {}).items():
        components.setdefault(model, _openapi_30(component))
    components[name] = _openapi_30(schema)


def add_run_endpoint(result: dict[str, Any], generator: Any, request: Any, public: bool) -> dict[str, Any]:
    from apps.runs.api.serializers import RunOut
    from apps.runs.protocol import RunSocketMessage

    add_models(result, "RunSocketMessage", RunSocketMessage)

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
