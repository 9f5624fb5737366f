"""Reads, always scoped to an organization."""

from __future__ import annotations

import uuid
from typing import TypeVar

from django.db.models import Model, QuerySet

from apps.config.errors import NotFound
from apps.integrations.models import McpServer, Secret, ToolSet, Variable
from apps.tenancy.models import Organization

M = TypeVar("M", bound=Model)


def _get(queryset: QuerySet[M], *, organization: Organization, pk: object, what: str) -> M:
    message, code = f"{what[0].upper()}{what[1:]} not found.", what.lower().replace(" ", "_") + "_not_found"
    try:
        key = uuid.UUID(str(pk))
    except ValueError:
        raise NotFound(message, code=code) from None
    found = queryset.filter(organization=organization, pk=key).first()
    if found is None:
        raise NotFound(message, code=code)
    return found


def secret_list(*, organization: Organization) -> QuerySet[Secret]:
    return Secret.objects.filter(organization=organization).defer("value_encrypted")


def secret_get(*, organization: Organization, secret_id: object) -> Secret:
    return _get(Secret.objects.all(), organization=organization, pk=secret_id, what="secret")


def variable_list(*, organization: Organization) -> QuerySet[Variable]:
    return Variable.objects.filter(organization=organization)


def variable_get(*, organization: Organization, variable_id: object) -> Variable:
    return _get(Variable.objects.all(), organization=organization, pk=variable_id, what="variable")


def mcp_server_list(*, organization: Organization) -> QuerySet[McpServer]:
    return McpServer.objects.filter(organization=organization)


def mcp_server_get(*, organization: Organization, server_id: object) -> McpServer:
    return _get(McpServer.objects.all(), organization=organization, pk=server_id, what="MCP server")


def tool_set_list(*, organization: Organization) -> QuerySet[ToolSet]:
    return ToolSet.objects.filter(organization=organization)


def tool_set_get(*, organization: Organization, tool_set_id: object) -> ToolSet:
    return _get(ToolSet.objects.all(), organization=organization, pk=tool_set_id, what="tool set")
