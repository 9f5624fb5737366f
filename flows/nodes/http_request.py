"""HTTP request: call an API through the egress guard and map its JSON answer to fields."""

from __future__ import annotations

import json
from typing import Any
from urllib.parse import quote, urlsplit

from pydantic import BaseModel, ConfigDict, Field

from flows.http import HttpAuth, HttpCallFailed, HttpRequest, Method, send
from flows.ports import Ports
from flows.registry import NodeContext, NodeType, Port, register
from flows.templating import VARIABLE, render, variables
from flows.types import PortType
from flows.values import to_text


class HttpRequestConfig(BaseModel):
    model_config = ConfigDict(extra="forbid")
    method: Method = "GET"
    url: str = Field(
        min_length=1,
        max_length=2000,
        description="https://api.example.com/items/{{id}} — upstream values are URL-encoded",
    )
    headers: dict[str, str] = Field(default_factory=dict, description='e.g. {"Accept": "application/json"}')
    query: dict[str, str] = Field(default_factory=dict, description='Query parameters, e.g. {"q": "{{question}}"}')
    body: str = Field(
        default="",
        max_length=50_000,
        description='JSON body (POST, PUT, PATCH), e.g. {"text": "{{message}}"}; values are JSON-escaped',
    )
    auth: HttpAuth = Field(default_factory=HttpAuth, description="Credentials, normally {{secrets.NAME}}")
    timeout_s: float = Field(default=10.0, ge=0.5, le=60.0, description="Give up after this many seconds")
    response_mapping: dict[str, str] = Field(
        default_factory=dict,
        description='Fields picked from the JSON answer, e.g. {"title": "data.items.0.title"}',
    )
    fail_on_error_status: bool = Field(default=True, description="A 4xx or 5xx answer fails the node")


def _templates(config: HttpRequestConfig) -> list[str]:
    return [config.url, *config.headers.values(), *config.query.values(), config.body]


def _render_url(template: str, inputs: dict[str, Any]) -> str:
    if VARIABLE.fullmatch(template.strip()):  # the whole URL comes from upstream
        return render(template, inputs, to_text)
    return render(template, inputs, lambda value: quote(to_text(value), safe=""))


def _render_body(template: str, inputs: dict[str, Any]) -> Any:
    if not template.strip():
        return None
    text = render(template, inputs, lambda value: json.dumps(to_text(value))[1:-1])
    try:
        return json.loads(text)
    except ValueError:
        raise HttpCallFailed(
            "The body is not valid JSON once its variables are filled in; check its quotes and commas.",
            code="http_body_invalid",
        ) from None


@register
class HttpRequestNode(NodeType[HttpRequestConfig]):
    type, version = "http_request", 1
    title = "HTTP request"
    description = "Calls an HTTP API (public addresses only) and maps its JSON answer to fields."
    category, icon = "tools", "globe"
    config_model = HttpRequestConfig
    outputs = {
        "body": Port(PortType.JSON, description="The answer: JSON when it parses, else its text"),
        "fields": Port(PortType.JSON, description="The response mapping's fields"),
        "status": Port(PortType.JSON, description="The HTTP status code"),
        "text": Port(PortType.TEXT, description="The answer as text"),
    }

    def input_ports(self, config: HttpRequestConfig) -> dict[str, Port]:
        names: dict[str, None] = {}
        for template in _templates(config):
            names.update(dict.fromkeys(variables(template)))
        return {name: Port(PortType.ANY, description=f"Fills {{{{{name}}}}}") for name in names}

    async def run(
        self, config: HttpRequestConfig, inputs: dict[str, Any], ports: Ports, ctx: NodeContext
    ) -> dict[str, Any]:
        url = _render_url(config.url, inputs)
        host = urlsplit(url).hostname or "?"
        request = HttpRequest(
            method=config.method,
            url=url,
            headers={
                **{k: render(v, inputs, to_text) for k, v in config.headers.items()},
                **config.auth.headers(),
            },
            query={k: render(v, inputs, to_text) for k, v in config.query.items()},
            json_body=_render_body(config.body, inputs),
            timeout=config.timeout_s,
        )
        answer = await send(ports.http, request)
        ctx.note("http", {"method": config.method, "host": host, "status": answer.status})
        if config.fail_on_error_status and answer.status >= 400:
            raise HttpCallFailed(f"{host} answered HTTP {answer.status}.", code="http_status")
        return {
            "body": answer.json(),
            "fields": answer.mapped(config.response_mapping),
            "status": answer.status,
            "text": answer.text,
        }
