from __future__ import annotations

from typing import Any

from drf_spectacular.utils import extend_schema_field
from rest_framework import serializers

from apps.config.serializers import StrictSerializer
from apps.integrations.models import McpServer, Secret, ToolSet, Variable


class SecretIn(StrictSerializer):
    name = serializers.CharField(max_length=64)
    value = serializers.CharField(max_length=10_000, trim_whitespace=False, write_only=True)
    description = serializers.CharField(max_length=500, required=False, default="", allow_blank=True)


class SecretPatch(StrictSerializer):
    value = serializers.CharField(max_length=10_000, trim_whitespace=False, write_only=True, required=False)
    description = serializers.CharField(max_length=500, required=False, allow_blank=True)


class SecretOut(serializers.ModelSerializer):  # type: ignore[type-arg]
    """Never the value: it is write-only (a reference is `{{secrets.NAME}}`)."""

    reference = serializers.SerializerMethodField()

    class Meta:
        model = Secret
        fields = ["id", "name", "description", "reference", "created_at", "updated_at"]

    def get_reference(self, secret: Secret) -> str:
        return "{{secrets.%s}}" % secret.name  # noqa: UP031 (the braces would need doubling)


class VariableIn(StrictSerializer):
    name = serializers.CharField(max_length=64)
    value = serializers.CharField(max_length=10_000, trim_whitespace=False, allow_blank=True)
    description = serializers.CharField(max_length=500, required=False, default="", allow_blank=True)


class VariableOut(serializers.ModelSerializer):  # type: ignore[type-arg]
    reference = serializers.SerializerMethodField()

    class Meta:
        model = Variable
        fields = ["id", "name", "value", "description", "reference", "created_at", "updated_at"]

    def get_reference(self, variable: Variable) -> str:
        return "{{vars.%s}}" % variable.name  # noqa: UP031


AUTH_HELP = (
    'How requests authenticate: {"type": "none" | "bearer" | "basic" | "api_key", "token": "{{secrets.NAME}}", '
    '"username": "...", "password": "{{secrets.NAME}}", "header": "X-API-Key"}'
)


class McpServerIn(StrictSerializer):
    name = serializers.CharField(max_length=40, help_text="lower-case, e.g. crm: its tools are named crm__<tool>")
    url = serializers.URLField(max_length=2000)
    transport = serializers.ChoiceField(choices=McpServer.Transport.choices, default="streamable_http")
    auth = serializers.DictField(required=False, default=dict, help_text=AUTH_HELP)
    enabled = serializers.BooleanField(required=False, default=True)


class McpServerPatch(StrictSerializer):
    url = serializers.URLField(max_length=2000, required=False)
    transport = serializers.ChoiceField(choices=McpServer.Transport.choices, required=False)
    auth = serializers.DictField(required=False, help_text=AUTH_HELP)
    enabled = serializers.BooleanField(required=False)
    disabled_tools = serializers.ListField(child=serializers.CharField(max_length=200), required=False)


class McpToolOut(serializers.Serializer):  # type: ignore[type-arg]
    name = serializers.CharField()
    tool = serializers.CharField(help_text="The name flows use: <server>__<name>")
    description = serializers.CharField()
    input_schema = serializers.DictField()
    enabled = serializers.BooleanField()


class McpServerOut(serializers.ModelSerializer):  # type: ignore[type-arg]
    tools = serializers.SerializerMethodField()

    class Meta:
        model = McpServer
        fields = [
            "id",
            "name",
            "url",
            "transport",
            "auth",
            "enabled",
            "tools",
            "disabled_tools",
            "refreshed_at",
            "last_error",
            "created_at",
            "updated_at",
        ]

    @extend_schema_field(McpToolOut(many=True))
    def get_tools(self, server: McpServer) -> list[dict[str, Any]]:
        from flows.openapi import tool_name

        disabled = set(server.disabled_tools)
        return [
            {
                "name": t["name"],
                "tool": tool_name(server.name, t["name"]),
                "description": t.get("description", ""),
                "input_schema": t.get("input_schema") or {},
                "enabled": t["name"] not in disabled,
            }
            for t in server.tools
        ]


class ToolSetIn(StrictSerializer):
    name = serializers.CharField(max_length=40, help_text="lower-case, e.g. crm: its tools are named crm__<operation>")
    document = serializers.CharField(
        required=False, allow_blank=True, max_length=2_000_000, help_text="The OpenAPI 3 document (JSON or YAML)"
    )
    url = serializers.URLField(required=False, allow_blank=True, max_length=2000, help_text="Or where to fetch it")
    base_url = serializers.URLField(required=False, allow_blank=True, max_length=2000)
    auth = serializers.DictField(required=False, default=dict, help_text=AUTH_HELP)
    enabled_operations = serializers.ListField(
        child=serializers.CharField(max_length=200), required=False, help_text="Absent: all"
    )


class ToolSetPatch(StrictSerializer):
    base_url = serializers.URLField(required=False, max_length=2000)
    auth = serializers.DictField(required=False, help_text=AUTH_HELP)
    enabled_operations = serializers.ListField(child=serializers.CharField(max_length=200), required=False)


class OperationOut(serializers.Serializer):  # type: ignore[type-arg]
    operation_id = serializers.CharField()
    tool = serializers.CharField()
    method = serializers.CharField()
    path = serializers.CharField()
    summary = serializers.CharField()
    enabled = serializers.BooleanField()


class ToolSetOut(serializers.ModelSerializer):  # type: ignore[type-arg]
    operations = serializers.SerializerMethodField()

    class Meta:
        model = ToolSet
        fields = [
            "id",
            "name",
            "title",
            "base_url",
            "source_url",
            "auth",
            "operations",
            "enabled_operations",
            "created_at",
            "updated_at",
        ]

    @extend_schema_field(OperationOut(many=True))
    def get_operations(self, tool_set: ToolSet) -> list[dict[str, Any]]:
        from flows.openapi import tool_name

        enabled = set(tool_set.enabled_operations)
        return [
            {
                "operation_id": op["operation_id"],
                "tool": tool_name(tool_set.name, op["operation_id"]),
                "method": op["method"],
                "path": op["path"],
                "summary": op.get("summary", ""),
                "enabled": op["operation_id"] in enabled,
            }
            for op in tool_set.operations
        ]


class ToolOut(serializers.Serializer):  # type: ignore[type-arg]
    name = serializers.CharField()
    kind = serializers.CharField(help_text="builtin, mcp or openapi")
    description = serializers.CharField()
