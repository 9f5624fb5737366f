"""One outbound HTTP request as the engine describes it: method, URL, headers, query, JSON body,
auth, timeout and a mapping from the JSON answer to named fields. The HTTP request node, the
`http_request` tool and OpenAPI tools all send through `send`, which uses the ports' egress-guarded
client (flows.ports.HttpClient): nothing here opens a socket itself.

Auth values are usually `{{secrets.NAME}}` references; the app substitutes them before the run and
redacts their values from everything the run stores (flows.secrets).
"""

from __future__ import annotations

import asyncio
import base64
import json
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Literal
from urllib.parse import urlencode, urlsplit, urlunsplit

from pydantic import BaseModel, ConfigDict, Field

from flows.errors import EgressRefused, FlowError
from flows.ports import HttpClient
from flows.templating import lookup

Method = Literal["GET", "POST", "PUT", "PATCH", "DELETE"]
MAX_TIMEOUT_S = 60.0
MAX_ANSWER_CHARS = 4000


class HttpAuth(BaseModel):
    """How a request proves who sends it. Values are templates, normally `{{secrets.NAME}}`."""

    model_config = ConfigDict(extra="forbid")
    type: Literal["none", "bearer", "basic", "api_key"] = "none"
    token: str = Field(default="", max_length=2000, description="Bearer token or API key, e.g. {{secrets.API_KEY}}")
    username: str = Field(default="", max_length=200, description="Basic auth user name")
    password: str = Field(default="", max_length=2000, description="Basic auth password, e.g. {{secrets.PASSWORD}}")
    header: str = Field(
        default="X-API-Key", max_length=100, pattern=r"^[A-Za-z0-9-]+$", description="API key header name"
    )

    def headers(self) -> dict[str, str]:
        match self.type:
            case "bearer":
                return {"Authorization": f"Bearer {self.token}"}
            case "basic":
                pair = base64.b64encode(f"{self.username}:{self.password}".encode()).decode("ascii")
                return {"Authorization": f"Basic {pair}"}
            case "api_key":
                return {self.header: self.token}
        return {}


class HttpCallFailed(FlowError):
    code = "http_failed"


@dataclass
class HttpRequest:
    method: str
    url: str
    headers: Mapping[str, str]
    query: Mapping[str, str]
    json_body: Any = None
    timeout: float = 15.0


@dataclass
class HttpAnswer:
    status: int
    text: str

    def json(self) -> Any:
        """The body as JSON, or the text itself when it is not JSON."""
        try:
            return json.loads(self.text)
        except ValueError:
            return self.text

    def mapped(self, mapping: Mapping[str, str]) -> dict[str, Any]:
        """`{"field": "data.items.0.name"}` -> `{"field": <that value of the JSON answer>}`."""
        body = self.json()
        return {name: lookup(body, path) if isinstance(body, dict) else None for name, path in mapping.items()}


def with_query(url: str, query: Mapping[str, str]) -> str:
    if not query:
        return url
    parts = urlsplit(url)
    extra = urlencode(list(query.items()))
    return urlunsplit(parts._replace(query=f"{parts.query}&{extra}" if parts.query else extra))


async def send(http: HttpClient, request: HttpRequest) -> HttpAnswer:
    """Send through the ports' client (egress-guarded); a timeout or refusal is a FlowError."""
    headers = dict(request.headers)
    body = None
    if request.json_body is not None and request.method.upper() not in {"GET", "DELETE"}:
        body = request.json_body if isinstance(request.json_body, str) else json.dumps(request.json_body)
        if _is_json(body) and not any(k.lower() == "content-type" for k in headers):
            headers["Content-Type"] = "application/json"
    timeout = max(0.1, min(request.timeout, MAX_TIMEOUT_S))
    try:
        async with asyncio.timeout(timeout):
            status, text = await request_via(
                http, request.method, with_query(request.url, request.query), headers, body
            )
    except TimeoutError:
        raise HttpCallFailed(f"No answer within {timeout:g} s.", code="http_timeout") from None
    return HttpAnswer(status, text)


def _is_json(text: str) -> bool:
    try:
        json.loads(text)
    except ValueError:
        return False
    return True


async def request_via(
    http: HttpClient, method: str, url: str, headers: Mapping[str, str], body: str | None
) -> tuple[int, str]:
    try:
        return await http.request(method, url, headers=headers, body=body)
    except EgressRefused:
        raise
    except (OSError, ValueError) as exc:
        raise HttpCallFailed(f"The request failed: {type(exc).__name__}.") from None


def answer_text(answer: HttpAnswer) -> str:
    """What a tool hands back to a model: the status line and the start of the body."""
    return f"HTTP {answer.status}\n{answer.text[:MAX_ANSWER_CHARS]}"
