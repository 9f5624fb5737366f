"""Thin views: one access check, parse the input, call one service or selector, render.

Anyone in the organization may list secrets (names only: flows refer to them) and variables;
admins write secrets; editors write variables, MCP servers and tool sets."""

from __future__ import annotations

from drf_spectacular.utils import extend_schema
from rest_framework import status
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from apps.integrations import selectors, services
from apps.integrations.api import serializers as s
from apps.integrations.runtime import integration_tool_names
from apps.tenancy.api.common import ERRORS, org_access, parse_body
from flows.tools import BUILTIN_TOOLS


class SecretListView(APIView):
    @extend_schema(responses={200: s.SecretOut(many=True), **ERRORS}, summary="Secrets (names only, never values)")
    def get(self, request: Request, org_id: str) -> Response:
        access = org_access(request, org_id)
        return Response(s.SecretOut(selectors.secret_list(organization=access.organization), many=True).data)

    @extend_schema(request=s.SecretIn, responses={201: s.SecretOut, **ERRORS}, summary="Add a secret (admin)")
    def post(self, request: Request, org_id: str) -> Response:
        access = org_access(request, org_id)
        data = parse_body(s.SecretIn, request)
        secret = services.secret_create(
            access=access, name=data["name"], value=data["value"], description=data["description"]
        )
        return Response(s.SecretOut(secret).data, status=status.HTTP_201_CREATED)


class SecretDetailView(APIView):
    @extend_schema(request=s.SecretPatch, responses={200: s.SecretOut, **ERRORS}, summary="Replace a secret's value")
    def patch(self, request: Request, org_id: str, secret_id: str) -> Response:
        access = org_access(request, org_id)
        secret = selectors.secret_get(organization=access.organization, secret_id=secret_id)
        data = parse_body(s.SecretPatch, request)
        secret = services.secret_update(
            access=access, secret=secret, value=data.get("value"), description=data.get("description")
        )
        return Response(s.SecretOut(secret).data)

    @extend_schema(responses={204: None, **ERRORS}, summary="Remove a secret (admin)")
    def delete(self, request: Request, org_id: str, secret_id: str) -> Response:
        access = org_access(request, org_id)
        secret = selectors.secret_get(organization=access.organization, secret_id=secret_id)
        services.secret_delete(access=access, secret=secret)
        return Response(status=status.HTTP_204_NO_CONTENT)


class VariableListView(APIView):
    @extend_schema(responses={200: s.VariableOut(many=True), **ERRORS}, summary="Variables")
    def get(self, request: Request, org_id: str) -> Response:
        access = org_access(request, org_id)
        return Response(s.VariableOut(selectors.variable_list(organization=access.organization), many=True).data)

    @extend_schema(request=s.VariableIn, responses={200: s.VariableOut, **ERRORS}, summary="Set a variable (editor)")
    def post(self, request: Request, org_id: str) -> Response:
        access = org_access(request, org_id)
        data = parse_body(s.VariableIn, request)
        variable = services.variable_put(
            access=access, name=data["name"], value=data["value"], description=data["description"]
        )
        return Response(s.VariableOut(variable).data)


class VariableDetailView(APIView):
    @extend_schema(responses={204: None, **ERRORS}, summary="Remove a variable (editor)")
    def delete(self, request: Request, org_id: str, variable_id: str) -> Response:
        access = org_access(request, org_id)
        variable = selectors.variable_get(organization=access.organization, variable_id=variable_id)
        services.variable_delete(access=access, variable=variable)
        return Response(status=status.HTTP_204_NO_CONTENT)


class McpServerListView(APIView):
    @extend_schema(responses={200: s.McpServerOut(many=True), **ERRORS}, summary="MCP servers")
    def get(self, request: Request, org_id: str) -> Response:
        access = org_access(request, org_id)
        return Response(s.McpServerOut(selectors.mcp_server_list(organization=access.organization), many=True).data)

    @extend_schema(
        request=s.McpServerIn,
        responses={201: s.McpServerOut, **ERRORS},
        summary="Connect an MCP server (editor): its tools are listed at once; a failure is its last_error",
    )
    def post(self, request: Request, org_id: str) -> Response:
        access = org_access(request, org_id)
        data = parse_body(s.McpServerIn, request)
        server = services.mcp_server_create(
            access=access,
            name=data["name"],
            url=data["url"],
            transport=data["transport"],
            auth=data["auth"],
            enabled=data["enabled"],
        )
        return Response(s.McpServerOut(server).data, status=status.HTTP_201_CREATED)


class McpServerDetailView(APIView):
    @extend_schema(responses={200: s.McpServerOut, **ERRORS}, summary="An MCP server and its tools")
    def get(self, request: Request, org_id: str, server_id: str) -> Response:
        access = org_access(request, org_id)
        return Response(
            s.McpServerOut(selectors.mcp_server_get(organization=access.organization, server_id=server_id)).data
        )

    @extend_schema(
        request=s.McpServerPatch,
        responses={200: s.McpServerOut, **ERRORS},
        summary="Change an MCP server (editor): URL, auth, enabled, tools turned off",
    )
    def patch(self, request: Request, org_id: str, server_id: str) -> Response:
        access = org_access(request, org_id)
        server = selectors.mcp_server_get(organization=access.organization, server_id=server_id)
        data = parse_body(s.McpServerPatch, request)
        return Response(s.McpServerOut(services.mcp_server_update(access=access, server=server, data=data)).data)

    @extend_schema(responses={204: None, **ERRORS}, summary="Remove an MCP server (editor)")
    def delete(self, request: Request, org_id: str, server_id: str) -> Response:
        access = org_access(request, org_id)
        server = selectors.mcp_server_get(organization=access.organization, server_id=server_id)
        services.mcp_server_delete(access=access, server=server)
        return Response(status=status.HTTP_204_NO_CONTENT)


class McpServerRefreshView(APIView):
    @extend_schema(
        request=None,
        responses={200: s.McpServerOut, **ERRORS},
        summary="Connect again and list the server's tools (editor)",
    )
    def post(self, request: Request, org_id: str, server_id: str) -> Response:
        access = org_access(request, org_id)
        server = selectors.mcp_server_get(organization=access.organization, server_id=server_id)
        return Response(s.McpServerOut(services.mcp_server_refresh(access=access, server=server)).data)


class ToolSetListView(APIView):
    @extend_schema(responses={200: s.ToolSetOut(many=True), **ERRORS}, summary="OpenAPI tool sets")
    def get(self, request: Request, org_id: str) -> Response:
        access = org_access(request, org_id)
        return Response(s.ToolSetOut(selectors.tool_set_list(organization=access.organization), many=True).data)

    @extend_schema(
        request=s.ToolSetIn,
        responses={201: s.ToolSetOut, **ERRORS},
        summary="Import an OpenAPI 3 document (upload or URL) as a tool set (editor)",
    )
    def post(self, request: Request, org_id: str) -> Response:
        access = org_access(request, org_id)
        data = parse_body(s.ToolSetIn, request)
        tool_set = services.tool_set_import(
            access=access,
            name=data["name"],
            document=data.get("document") or None,
            url=data.get("url") or None,
            base_url=data.get("base_url") or None,
            auth=data["auth"],
            enabled_operations=data.get("enabled_operations"),
        )
        return Response(s.ToolSetOut(tool_set).data, status=status.HTTP_201_CREATED)


class ToolSetDetailView(APIView):
    @extend_schema(responses={200: s.ToolSetOut, **ERRORS}, summary="A tool set and its operations")
    def get(self, request: Request, org_id: str, tool_set_id: str) -> Response:
        access = org_access(request, org_id)
        found = selectors.tool_set_get(organization=access.organization, tool_set_id=tool_set_id)
        return Response(s.ToolSetOut(found).data)

    @extend_schema(
        request=s.ToolSetPatch,
        responses={200: s.ToolSetOut, **ERRORS},
        summary="Change a tool set (editor): base URL, auth, operations turned on",
    )
    def patch(self, request: Request, org_id: str, tool_set_id: str) -> Response:
        access = org_access(request, org_id)
        tool_set = selectors.tool_set_get(organization=access.organization, tool_set_id=tool_set_id)
        data = parse_body(s.ToolSetPatch, request)
        return Response(s.ToolSetOut(services.tool_set_update(access=access, tool_set=tool_set, data=data)).data)

    @extend_schema(responses={204: None, **ERRORS}, summary="Remove a tool set (editor)")
    def delete(self, request: Request, org_id: str, tool_set_id: str) -> Response:
        access = org_access(request, org_id)
        tool_set = selectors.tool_set_get(organization=access.organization, tool_set_id=tool_set_id)
        services.tool_set_delete(access=access, tool_set=tool_set)
        return Response(status=status.HTTP_204_NO_CONTENT)


class ToolListView(APIView):
    @extend_schema(
        responses={200: s.ToolOut(many=True), **ERRORS},
        summary="Every tool a flow of this organization can call: built-in, MCP and OpenAPI",
    )
    def get(self, request: Request, org_id: str) -> Response:
        access = org_access(request, org_id)
        tools = [{"name": name, "kind": "builtin", "description": ""} for name in sorted(BUILTIN_TOOLS)]
        tools += integration_tool_names(organization_id=access.organization.pk)
        return Response(s.ToolOut(tools, many=True).data)
