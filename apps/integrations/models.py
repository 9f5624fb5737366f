"""An organization's integrations: secrets, variables, MCP servers and OpenAPI tool sets.

Secret values are encrypted at rest (apps/config/crypto.py) and never leave the server: the API
takes them and never returns them, flow exports hold only `{{secrets.NAME}}` references, and a
run redacts them from everything it stores (flows.secrets).
"""

from __future__ import annotations

import uuid

from django.db import models


class Secret(models.Model):
    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    organization = models.ForeignKey("tenancy.Organization", on_delete=models.CASCADE, related_name="secrets")
    name = models.CharField(max_length=64)
    description = models.CharField(max_length=500, blank=True)
    value_encrypted = models.TextField()
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["organization", "name"], name="secret_unique_name")]
        ordering = ["name"]

    def __str__(self) -> str:
        return f"secret {self.name}"


class Variable(models.Model):
    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    organization = models.ForeignKey("tenancy.Organization", on_delete=models.CASCADE, related_name="variables")
    name = models.CharField(max_length=64)
    value = models.TextField(blank=True)
    description = models.CharField(max_length=500, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["organization", "name"], name="variable_unique_name")]
        ordering = ["name"]

    def __str__(self) -> str:
        return f"variable {self.name}"


class McpServer(models.Model):
    """A remote MCP server (streamable HTTP or SSE; never stdio in the server process). `tools`
    is what it listed at the last refresh; `disabled_tools` are names the organization turned off."""

    class Transport(models.TextChoices):
        STREAMABLE_HTTP = "streamable_http"
        SSE = "sse"

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    organization = models.ForeignKey("tenancy.Organization", on_delete=models.CASCADE, related_name="mcp_servers")
    name = models.CharField(max_length=40)
    url = models.URLField(max_length=2000)
    transport = models.CharField(max_length=20, choices=Transport.choices, default=Transport.STREAMABLE_HTTP)
    auth = models.JSONField(default=dict, blank=True)  # flows.http.HttpAuth, values as {{secrets.NAME}}
    enabled = models.BooleanField(default=True)
    tools = models.JSONField(default=list, blank=True)  # [{name, description, input_schema}]
    disabled_tools = models.JSONField(default=list, blank=True)
    refreshed_at = models.DateTimeField(null=True, blank=True)
    last_error = models.CharField(max_length=500, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["organization", "name"], name="mcp_server_unique_name")]
        ordering = ["name"]

    def __str__(self) -> str:
        return f"mcp server {self.name}"


class ToolSet(models.Model):
    """Tools from an OpenAPI 3 document: one tool per selected operation, sent to `base_url`."""

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    organization = models.ForeignKey("tenancy.Organization", on_delete=models.CASCADE, related_name="tool_sets")
    name = models.CharField(max_length=40)
    title = models.CharField(max_length=200, blank=True)
    base_url = models.URLField(max_length=2000)
    source_url = models.URLField(max_length=2000, blank=True)
    auth = models.JSONField(default=dict, blank=True)  # flows.http.HttpAuth, values as {{secrets.NAME}}
    operations = models.JSONField(default=list)  # flows.openapi.Operation dumps
    enabled_operations = models.JSONField(default=list, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["organization", "name"], name="tool_set_unique_name")]
        ordering = ["name"]

    def __str__(self) -> str:
        return f"tool set {self.name}"
