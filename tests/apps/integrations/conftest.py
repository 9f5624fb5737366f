"""Real servers for the integrations tests, each in a thread of its own with its own event loop
(so sync and async tests alike reach them): a small business API that wants an API key header
(and serves its own OpenAPI document), and an MCP server built with the official `mcp` SDK over
streamable HTTP and SSE that wants a bearer token."""

from __future__ import annotations

import asyncio
import secrets
import threading
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any, Literal

import pytest
import uvicorn
from mcp.server.mcpserver import MCPServer
from mcp.server.transport_security import TransportSecuritySettings
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route
from starlette.types import ASGIApp, Receive, Scope, Send

from flows.tools import calculate as calculator
from tests.apps.runs.conftest import endpoint, publish_flow, standin_url  # noqa: F401 - fixtures
from tests.conftest import Member
from tests.support.asgi_server import free_port
from tests.support.egress import allow_egress


def serve_in_thread(app: ASGIApp, *, lifespan: Literal["on", "off"] = "off") -> Iterator[str]:
    """`app` under a real uvicorn on 127.0.0.1 in a thread; yields its base URL."""
    port = free_port()
    server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=port, lifespan=lifespan, log_level="warning"))
    thread = threading.Thread(target=lambda: asyncio.run(server.serve()), daemon=True)
    thread.start()
    while not server.started:
        if not thread.is_alive():
            raise RuntimeError("the test server did not start")
        threading.Event().wait(0.01)
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        server.should_exit = True
        thread.join(timeout=10)


@dataclass
class BusinessApi:
    url: str
    key: str  # what its X-Api-Key header must be
    seen: list[dict[str, Any]]  # every request it answered: method, path, query, headers, body

    def document(self) -> dict[str, Any]:
        return openapi_document(self.url)


def openapi_document(server: str) -> dict[str, Any]:
    return {
        "openapi": "3.0.3",
        "info": {"title": "Orders API", "version": "1"},
        "servers": [{"url": server}],
        "paths": {
            "/orders/{order_id}": {
                "get": {
                    "operationId": "getOrder",
                    "summary": "One order by its number",
                    "parameters": [
                        {"name": "order_id", "in": "path", "required": True, "schema": {"type": "integer"}},
                        {"name": "fields", "in": "query", "schema": {"type": "string"}},
                    ],
                }
            },
            "/orders": {
                "post": {
                    "operationId": "createOrder",
                    "summary": "Place an order",
                    "requestBody": {
                        "required": True,
                        "content": {"application/json": {"schema": {"$ref": "#/components/schemas/NewOrder"}}},
                    },
                }
            },
        },
        "components": {"schemas": {"NewOrder": {"type": "object", "properties": {"item": {"type": "string"}}}}},
    }


def business_app(key: str, seen: list[dict[str, Any]]) -> Starlette:
    async def record(request: Request) -> dict[str, Any]:
        entry = {
            "method": request.method,
            "path": request.url.path,
            "query": dict(request.query_params),
            "headers": dict(request.headers),
            "body": (await request.body()).decode(),
        }
        seen.append(entry)
        return entry

    async def order(request: Request) -> Response:
        entry = await record(request)
        if request.headers.get("x-api-key") != key:
            return JSONResponse({"error": "unauthorized"}, status_code=401)
        number = int(request.path_params["order_id"])
        # The answer echoes the key it was sent: redaction must keep it out of every stored row.
        return JSONResponse(
            {
                "order": {"id": number, "status": "shipped", "items": [{"name": f"widget-{number}"}]},
                "debug": {"key_used": entry["headers"].get("x-api-key")},
            }
        )

    async def create(request: Request) -> Response:
        entry = await record(request)
        if request.headers.get("x-api-key") != key:
            return JSONResponse({"error": "unauthorized"}, status_code=401)
        return JSONResponse({"created": True, "received": entry["body"]}, status_code=201)

    async def document(request: Request) -> Response:
        return JSONResponse(openapi_document(str(request.base_url).rstrip("/")))

    return Starlette(
        routes=[
            Route("/orders/{order_id}", order),
            Route("/orders", create, methods=["POST"]),
            Route("/openapi.json", document),
        ]
    )


@pytest.fixture(scope="session")
def business_api() -> Iterator[BusinessApi]:
    key = f"sk-live-{secrets.token_hex(12)}"
    seen: list[dict[str, Any]] = []
    for url in serve_in_thread(business_app(key, seen)):
        allow_egress(url)
        yield BusinessApi(url=url, key=key, seen=seen)


class BearerRequired:
    """The MCP server's own check of the token it was given (as a real hosted server does)."""

    def __init__(self, app: ASGIApp, token: str) -> None:
        self.app, self.token = app, token

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http":
            headers = dict(scope.get("headers") or [])
            if headers.get(b"authorization", b"").decode() != f"Bearer {self.token}":
                await JSONResponse({"error": "unauthorized"}, status_code=401)(scope, receive, send)
                return
        await self.app(scope, receive, send)


def mcp_app() -> MCPServer:
    server = MCPServer("orders-mcp")

    @server.tool()
    def lookup_order(order_id: int) -> str:
        """Looks up an order's status by its number."""
        return f"Order {order_id} is out for delivery (checked by MCP)."

    @server.tool()
    def calculate(expression: str) -> str:
        """Evaluates an arithmetic expression on the MCP server."""
        return f"MCP says {expression} = {calculator(expression)}"

    @server.tool()
    def delete_everything() -> str:
        """A dangerous tool that an organization turns off."""
        return "everything deleted"

    return server


@dataclass
class McpServers:
    streamable_url: str
    sse_url: str
    token: str


@pytest.fixture(scope="session")
def mcp_servers() -> Iterator[McpServers]:
    token = f"mcp-{secrets.token_hex(12)}"
    server = mcp_app()
    # The SDK's DNS-rebinding guard allows only the host names it is told of.
    security = TransportSecuritySettings(enable_dns_rebinding_protection=False)
    streamable = BearerRequired(server.streamable_http_app(transport_security=security), token)
    sse = BearerRequired(server.sse_app(transport_security=security), token)
    for streamable_url in serve_in_thread(streamable, lifespan="on"):
        for sse_url in serve_in_thread(sse):
            allow_egress(streamable_url)
            allow_egress(sse_url)
            yield McpServers(f"{streamable_url}/mcp", f"{sse_url}/sse", token)


def org_url(member: Member, path: str) -> str:
    return f"/api/v1/orgs/{member.organization.id}/{path}"


@pytest.fixture
def add_secret() -> Callable[..., dict[str, Any]]:
    def add(member: Member, name: str, value: str) -> dict[str, Any]:
        response = member.client().post(org_url(member, "secrets/"), {"name": name, "value": value}, format="json")
        assert response.status_code == 201, response.json()
        return dict(response.json())

    return add
