"""What a run gets from its organization's integrations, read in the run start's database trip.

Only a graph that refers to a secret or a variable, or has a node that calls tools, costs a read:
the references are filled in (flows.secrets.fill), the org's enabled MCP tools and OpenAPI
operations become LangChain tools for `Ports.extra_tools`, and every secret value used (in the
graph or in a tool's auth) goes into the run's `Redactor`, which the live run applies to every
event before it is stored or sent.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any
from uuid import UUID

from langchain_core.tools import BaseTool

from apps.config.errors import InvalidInput
from apps.integrations.mcp import mcp_tool
from apps.integrations.models import McpServer, ToolSet, Variable
from apps.integrations.services import auth_headers, secret_values
from flows.openapi import Operation, operation_tool, tool_name
from flows.ports import HttpClient
from flows.secrets import MissingReference, Redactor, fill, references

# Node types whose config names tools (the tool-call node, the agent); a config with a `tools`
# list counts too.
TOOL_NODE_TYPES = frozenset({"tool", "agent"})


@dataclass
class RunIntegrations:
    graph: dict[str, Any]
    tools: dict[str, BaseTool] = field(default_factory=dict)
    redactor: Redactor | None = None


def uses_tools(graph: dict[str, Any]) -> bool:
    for node in graph.get("nodes") or []:
        if isinstance(node, dict) and (node.get("type") in TOOL_NODE_TYPES or "tools" in (node.get("config") or {})):
            return True
    return False


def integration_tools(*, organization_id: UUID, http: HttpClient) -> tuple[dict[str, BaseTool], list[str]]:
    """The organization's enabled MCP tools and OpenAPI operations, and the secret values their auth uses."""
    tools: dict[str, BaseTool] = {}
    used: list[str] = []
    for server in McpServer.objects.filter(organization_id=organization_id, enabled=True):
        headers, values = auth_headers(organization_id=organization_id, auth=server.auth)
        used += values
        disabled = set(server.disabled_tools)
        for tool in server.tools:
            if tool.get("name") in disabled:
                continue
            made = mcp_tool(server=server.name, url=server.url, transport=server.transport, headers=headers, tool=tool)
            tools[made.name] = made
    for tool_set in ToolSet.objects.filter(organization_id=organization_id):
        headers, values = auth_headers(organization_id=organization_id, auth=tool_set.auth)
        used += values
        enabled = set(tool_set.enabled_operations)
        for raw in tool_set.operations:
            operation = Operation.model_validate(raw)
            if operation.operation_id not in enabled:
                continue
            made = operation_tool(
                prefix=tool_set.name, operation=operation, base_url=tool_set.base_url, auth_headers=headers, http=http
            )
            tools[made.name] = made
    return tools, used


def integration_tool_names(*, organization_id: UUID) -> list[dict[str, str]]:
    """What the editor offers besides the built-in tools: [{name, kind, description}] (no connection made)."""
    names = []
    for server in McpServer.objects.filter(organization_id=organization_id, enabled=True):
        disabled = set(server.disabled_tools)
        names += [
            {"name": tool_name(server.name, t["name"]), "kind": "mcp", "description": str(t.get("description", ""))}
            for t in server.tools
            if t.get("name") not in disabled
        ]
    for tool_set in ToolSet.objects.filter(organization_id=organization_id):
        enabled = set(tool_set.enabled_operations)
        names += [
            {"name": tool_name(tool_set.name, op["operation_id"]), "kind": "openapi", "description": op["summary"]}
            for op in tool_set.operations
            if op["operation_id"] in enabled
        ]
    return names


def run_integrations(*, organization_id: UUID, graph: dict[str, Any], http: HttpClient) -> RunIntegrations:
    """Fill the graph's references and gather the tools; raises flows.secrets.MissingReference
    (a FlowError, nothing written) when the graph names a secret or variable that does not exist."""
    refs = references(graph)
    wants_tools = uses_tools(graph)
    if not (refs.secrets or refs.variables or wants_tools):
        return RunIntegrations(graph=graph)
    secrets = secret_values(organization_id=organization_id, names=refs.secrets)
    variables = dict(
        Variable.objects.filter(organization_id=organization_id, name__in=refs.variables).values_list("name", "value")
    )
    try:
        filled = fill(graph, secrets=secrets, variables=variables)
    except MissingReference as missing:  # a person's fix, before anything is written: 400
        raise InvalidInput(str(missing), code=missing.code) from None
    tools: dict[str, BaseTool] = {}
    used = list(secrets.values())
    if wants_tools:
        tools, tool_secrets = integration_tools(organization_id=organization_id, http=http)
        used += tool_secrets
    redactor = Redactor(used)
    return RunIntegrations(graph=filled, tools=tools, redactor=redactor if redactor else None)
