"""MCP servers through the official `mcp` SDK, over streamable HTTP or SSE (never stdio: no
process is started on a tenant's behalf).

Every connection goes through the egress policy (apps/serving/egress.py): the SDK's HTTP client
(httpx2) gets `VettedTransport`, which resolves each request's host, refuses internal addresses
and connects to the vetted address with the original Host header and TLS server name, for the
first request and for every redirect the SDK follows. A session lives for one listing or one call.
"""

from __future__ import annotations

import logging
import time
from collections.abc import AsyncIterator, Mapping
from contextlib import asynccontextmanager
from typing import Any

import httpx2
from langchain_core.runnables import RunnableConfig
from langchain_core.tools import BaseTool, StructuredTool
from mcp import ClientSession
from mcp.client.sse import sse_client
from mcp.client.streamable_http import streamable_http_client

from apps.serving.egress import EgressPolicy
from flows.errors import EgressRefused, FlowError
from flows.openapi import tool_name
from flows.tool_calls import note_call

logger = logging.getLogger(__name__)

CONNECT_TIMEOUT_S = 10.0
CALL_TIMEOUT_S = 60.0
MAX_RESULT_CHARS = 8000
DEFAULT_PORTS = {"http": 80, "https": 443}


class McpFailed(FlowError):
    code = "mcp_failed"


class VettedTransport(httpx2.AsyncBaseTransport):
    """httpx2 transport that asks the egress policy for the address of every request."""

    def __init__(self, policy: EgressPolicy) -> None:
        self.policy = policy
        self.inner = httpx2.AsyncHTTPTransport(trust_env=False)
        self.refused_status: int | None = None  # the last 4xx/5xx answer (the SDK keeps no status)

    async def handle_async_request(self, request: httpx2.Request) -> httpx2.Response:
        url = request.url
        if url.scheme not in DEFAULT_PORTS or not url.host:
            raise EgressRefused("Only http and https URLs with a host are allowed.")
        address = await self.policy.resolve(url.host, url.port or DEFAULT_PORTS[url.scheme])
        request.headers["Host"] = url.netloc.decode("ascii")
        if url.scheme == "https":
            request.extensions = {**request.extensions, "sni_hostname": url.host}
        request.url = url.copy_with(host=address)
        response = await self.inner.handle_async_request(request)
        if response.status_code >= 400:
            self.refused_status = response.status_code
        return response

    async def aclose(self) -> None:
        await self.inner.aclose()


async def _precheck(policy: EgressPolicy, url: str) -> None:
    """A refused address as a clean EgressRefused before the SDK's task groups wrap it."""
    try:
        target = httpx2.URL(url)
    except (httpx2.InvalidURL, TypeError):
        raise EgressRefused("Not a valid URL.") from None
    if target.scheme not in DEFAULT_PORTS or not target.host:
        raise EgressRefused("Only http and https URLs with a host are allowed.")
    await policy.resolve(target.host, target.port or DEFAULT_PORTS[target.scheme])


@asynccontextmanager
async def mcp_session(
    url: str,
    *,
    transport: str,
    headers: Mapping[str, str],
    vetted: VettedTransport | None = None,
    timeout: float = CONNECT_TIMEOUT_S,
) -> AsyncIterator[ClientSession]:
    vetted = vetted or VettedTransport(EgressPolicy())
    await _precheck(vetted.policy, url)

    def factory(
        headers: dict[str, str] | None = None,
        timeout: httpx2.Timeout | None = None,
        auth: httpx2.Auth | None = None,
    ) -> httpx2.AsyncClient:
        return httpx2.AsyncClient(headers=headers, timeout=timeout, auth=auth, transport=vetted, trust_env=False)

    if transport == "sse":
        streams = sse_client(url, headers=dict(headers), timeout=timeout, httpx_client_factory=factory)
        async with streams as (read, write), ClientSession(read, write, read_timeout_seconds=CALL_TIMEOUT_S) as session:
            await session.initialize()
            yield session
        return
    client = factory(headers=dict(headers), timeout=httpx2.Timeout(timeout, read=CALL_TIMEOUT_S))
    async with (
        client,
        streamable_http_client(url, http_client=client) as (read, write),
        ClientSession(read, write, read_timeout_seconds=CALL_TIMEOUT_S) as session,
    ):
        await session.initialize()
        yield session


def _failure(exc: BaseException, vetted: VettedTransport) -> FlowError:
    """What went wrong, for people; the details go to the log only."""
    while isinstance(exc, BaseExceptionGroup) and exc.exceptions:
        exc = exc.exceptions[0]
    if isinstance(exc, FlowError):
        return exc
    logger.warning("MCP server call failed: %s", type(exc).__name__, exc_info=exc)
    if vetted.refused_status is not None:
        return McpFailed(f"The MCP server answered HTTP {vetted.refused_status}.")
    if isinstance(exc, httpx2.HTTPStatusError):
        return McpFailed(f"The MCP server answered HTTP {exc.response.status_code}.")
    if isinstance(exc, httpx2.TimeoutException | TimeoutError):
        return McpFailed("The MCP server did not answer in time.", code="mcp_timeout")
    if isinstance(exc, httpx2.HTTPError | OSError):
        return McpFailed("Cannot connect to the MCP server.")
    return McpFailed(f"The MCP server's answer could not be used ({type(exc).__name__}).")


async def mcp_list_tools(url: str, *, transport: str, headers: Mapping[str, str]) -> list[dict[str, Any]]:
    """The server's tools as [{name, description, input_schema}], or a FlowError saying why not."""
    vetted = VettedTransport(EgressPolicy())
    try:
        async with mcp_session(url, transport=transport, headers=headers, vetted=vetted) as session:
            listed = await session.list_tools()
    except Exception as exc:
        raise _failure(exc, vetted) from None
    return [
        {"name": t.name, "description": (t.description or "")[:2000], "input_schema": t.input_schema or {}}
        for t in listed.tools
    ]


def _result_text(result: Any) -> str:
    parts = []
    for block in getattr(result, "content", None) or []:
        text = getattr(block, "text", None)
        parts.append(text if isinstance(text, str) else f"[{getattr(block, 'type', 'content')}]")
    structured = getattr(result, "structured_content", None)
    if not parts and structured is not None:
        parts.append(str(structured))
    return "\n".join(parts)[:MAX_RESULT_CHARS]


async def mcp_call(
    url: str, *, transport: str, headers: Mapping[str, str], tool: str, arguments: dict[str, Any]
) -> str:
    vetted = VettedTransport(EgressPolicy())
    try:
        async with mcp_session(url, transport=transport, headers=headers, vetted=vetted) as session:
            result = await session.call_tool(tool, arguments)
    except Exception as exc:
        raise _failure(exc, vetted) from None
    text = _result_text(result)
    if getattr(result, "is_error", False):
        raise McpFailed(f"The MCP tool {tool!r} reported an error: {text[:300]}", code="mcp_tool_error")
    return text


def mcp_tool(*, server: str, url: str, transport: str, headers: Mapping[str, str], tool: Mapping[str, Any]) -> BaseTool:
    """A LangChain tool that calls one MCP tool; each call is noted on the calling node's span."""
    name = str(tool["name"])
    schema = tool.get("input_schema") if isinstance(tool.get("input_schema"), dict) else None
    args_schema = schema if schema and schema.get("type") == "object" else {"type": "object", "properties": {}}

    async def run(config: RunnableConfig, **arguments: Any) -> str:
        started = time.perf_counter()
        entry: dict[str, Any] = {"tool": tool_name(server, name), "kind": "mcp", "server": server, "name": name}
        try:
            text = await mcp_call(url, transport=transport, headers=headers, tool=name, arguments=arguments)
        except FlowError as exc:
            note_call(config, {**entry, "ok": False, "error": exc.code, "ms": _ms(started)})
            raise
        note_call(config, {**entry, "ok": True, "ms": _ms(started)})
        return text

    return StructuredTool.from_function(
        coroutine=run,
        name=tool_name(server, name),
        description=(str(tool.get("description") or "") or f"The MCP tool {name} of {server}")[:1000],
        args_schema=args_schema,
    )


def _ms(started: float) -> float:
    return round((time.perf_counter() - started) * 1000, 1)
