"""Writes: secrets (admin), variables, MCP servers and OpenAPI tool sets (editor); each audited.

A secret's value is encrypted here and never returned, logged or put in an audit record; outbound
requests (an MCP server's tool list, an OpenAPI document by URL) go through the egress policy.
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from typing import Any

from asgiref.sync import async_to_sync
from django.db import IntegrityError, transaction
from django.utils import timezone
from pydantic import ValidationError

from apps.config.crypto import SecretUnreadable, decrypt, encrypt
from apps.config.errors import Conflict, InvalidInput
from apps.integrations.mcp import mcp_list_tools
from apps.integrations.models import McpServer, Secret, ToolSet, Variable
from apps.serving.egress import EgressClient, EgressPolicy
from apps.tenancy.access import OrgAccess
from apps.tenancy.models import Organization, Role
from apps.tenancy.services import audit_record
from flows.errors import EgressRefused, FlowError
from flows.http import HttpAuth
from flows.openapi import parse_document
from flows.secrets import NAME, REFERENCE, fill

MAX_SECRET_LENGTH = 10_000
MAX_DOCUMENT_BYTES = 2 * 1024 * 1024
SLUG = re.compile(r"^[a-z][a-z0-9_]{0,39}$")


def _name(name: str) -> str:
    if not re.match(NAME, name):
        raise InvalidInput(
            "A name starts with a letter or _ and has only letters, digits and _ (at most 64), e.g. CRM_API_KEY.",
            code="invalid_name",
        )
    return name


def _slug(name: str) -> str:
    if not SLUG.match(name):
        raise InvalidInput(
            "A name is lower-case letters, digits and _ (at most 40), starting with a letter, e.g. crm; "
            "tools are named <name>__<tool>.",
            code="invalid_name",
        )
    return name


def _auth(raw: Any) -> dict[str, Any]:
    try:
        auth = HttpAuth.model_validate(raw or {})
    except ValidationError as exc:
        first = exc.errors()[0]
        where = ".".join(str(part) for part in first["loc"]) or "auth"
        raise InvalidInput(f"auth.{where}: {first['msg']}", code="invalid_auth") from None
    return auth.model_dump()


def _url(url: str) -> str:
    try:
        EgressPolicy().check_url(url)
    except EgressRefused as refused:
        raise InvalidInput(str(refused), code="egress_refused") from None
    return url


# --- secrets ---


def _secret_value(value: str) -> str:
    if not value or len(value) > MAX_SECRET_LENGTH:
        raise InvalidInput(f"A secret's value has 1 to {MAX_SECRET_LENGTH} characters.", code="invalid_value")
    if "{{" in value:
        raise InvalidInput("A secret's value cannot contain {{ (it would read as a reference).", code="invalid_value")
    return value


@transaction.atomic
def secret_create(*, access: OrgAccess, name: str, value: str, description: str = "") -> Secret:
    access.require(Role.ADMIN)
    try:
        with transaction.atomic():
            secret = Secret.objects.create(
                organization=access.organization,
                name=_name(name),
                value_encrypted=encrypt(_secret_value(value)),
                description=description,
            )
    except IntegrityError:
        raise Conflict(f"There is already a secret named {name}.", code="name_taken") from None
    audit_record(organization=access.organization, actor=access.actor, action="secret.create", target=secret)
    return secret


@transaction.atomic
def secret_update(*, access: OrgAccess, secret: Secret, value: str | None, description: str | None) -> Secret:
    access.require(Role.ADMIN)
    fields = ["updated_at"]
    if value is not None:
        secret.value_encrypted = encrypt(_secret_value(value))
        fields.append("value_encrypted")
    if description is not None:
        secret.description = description
        fields.append("description")
    secret.save(update_fields=fields)
    audit_record(
        organization=access.organization,
        actor=access.actor,
        action="secret.update",
        target=secret,
        data={"value_changed": value is not None},
    )
    return secret


@transaction.atomic
def secret_delete(*, access: OrgAccess, secret: Secret) -> None:
    access.require(Role.ADMIN)
    audit_record(
        organization=access.organization, actor=access.actor, action="secret.delete", data={"name": secret.name}
    )
    secret.delete()


def secret_values(*, organization_id: Any, names: set[str] | frozenset[str]) -> dict[str, str]:
    """Decrypted values of the named secrets that exist (for a run or a connection; never returned)."""
    if not names:
        return {}
    values = {}
    for name, token in Secret.objects.filter(organization_id=organization_id, name__in=names).values_list(
        "name", "value_encrypted"
    ):
        try:
            values[name] = decrypt(token)
        except SecretUnreadable:
            raise InvalidInput(
                f"The secret {name} cannot be decrypted (the encryption key changed?): enter it again.",
                code="secret_unreadable",
            ) from None
    return values


def auth_headers(*, organization_id: Any, auth: Mapping[str, Any]) -> tuple[dict[str, str], list[str]]:
    """An HttpAuth's headers with its `{{secrets.NAME}}` filled in, and the values used (to redact)."""
    names = {name for text in auth.values() if isinstance(text, str) for kind, name in REFERENCE.findall(text)}
    secrets = secret_values(organization_id=organization_id, names=names)
    try:
        filled = fill({"nodes": [{"id": "auth", "config": dict(auth)}]}, secrets=secrets, variables={})
    except FlowError as exc:
        raise InvalidInput(str(exc).replace("node 'auth'", "connection"), code=exc.code) from None
    return HttpAuth.model_validate(filled["nodes"][0]["config"]).headers(), list(secrets.values())


# --- variables ---


@transaction.atomic
def variable_put(*, access: OrgAccess, name: str, value: str, description: str = "") -> Variable:
    access.require(Role.EDITOR)
    if len(value) > MAX_SECRET_LENGTH or "{{" in value:
        raise InvalidInput(f"A variable's value has at most {MAX_SECRET_LENGTH} characters and no {{{{.")
    variable, created = Variable.objects.select_for_update().get_or_create(
        organization=access.organization, name=_name(name), defaults={"value": value, "description": description}
    )
    if not created:
        variable.value, variable.description = value, description
        variable.save(update_fields=["value", "description", "updated_at"])
    audit_record(organization=access.organization, actor=access.actor, action="variable.put", target=variable)
    return variable


@transaction.atomic
def variable_delete(*, access: OrgAccess, variable: Variable) -> None:
    access.require(Role.EDITOR)
    audit_record(
        organization=access.organization, actor=access.actor, action="variable.delete", data={"name": variable.name}
    )
    variable.delete()


# --- MCP servers ---


def mcp_server_create(
    *, access: OrgAccess, name: str, url: str, transport: str, auth: Any, enabled: bool = True
) -> McpServer:
    access.require(Role.EDITOR)
    try:
        with transaction.atomic():
            server = McpServer.objects.create(
                organization=access.organization,
                name=_slug(name),
                url=_url(url),
                transport=transport,
                auth=_auth(auth),
                enabled=enabled,
            )
            audit_record(
                organization=access.organization, actor=access.actor, action="mcp_server.create", target=server
            )
    except IntegrityError:
        raise Conflict(f"There is already an MCP server named {name}.", code="name_taken") from None
    return mcp_server_refresh(access=access, server=server)


@transaction.atomic
def mcp_server_update(*, access: OrgAccess, server: McpServer, data: Mapping[str, Any]) -> McpServer:
    access.require(Role.EDITOR)
    if "url" in data:
        server.url = _url(data["url"])
    if "transport" in data:
        server.transport = data["transport"]
    if "auth" in data:
        server.auth = _auth(data["auth"])
    if "enabled" in data:
        server.enabled = bool(data["enabled"])
    if "disabled_tools" in data:
        known = {tool["name"] for tool in server.tools}
        unknown = sorted(set(data["disabled_tools"]) - known)
        if unknown:
            raise InvalidInput(f"This server has no tool named {unknown[0]!r}.", code="tool_not_found")
        server.disabled_tools = sorted(set(data["disabled_tools"]))
    server.save()
    audit_record(organization=access.organization, actor=access.actor, action="mcp_server.update", target=server)
    return server


def mcp_server_refresh(*, access: OrgAccess, server: McpServer) -> McpServer:
    """Connect, list the server's tools and store them; a failure is stored as `last_error`."""
    access.require(Role.EDITOR)
    headers, _ = auth_headers(organization_id=access.organization.pk, auth=server.auth)
    try:
        tools = async_to_sync(mcp_list_tools)(server.url, transport=server.transport, headers=headers)
    except FlowError as exc:
        server.last_error = str(exc)[:500]
        server.save(update_fields=["last_error", "updated_at"])
        return server
    server.tools, server.last_error, server.refreshed_at = tools, "", timezone.now()
    server.save(update_fields=["tools", "last_error", "refreshed_at", "updated_at"])
    return server


@transaction.atomic
def mcp_server_delete(*, access: OrgAccess, server: McpServer) -> None:
    access.require(Role.EDITOR)
    audit_record(
        organization=access.organization, actor=access.actor, action="mcp_server.delete", data={"name": server.name}
    )
    server.delete()


# --- OpenAPI tool sets ---


def _document(*, organization: Organization, text: str | None, url: str | None) -> tuple[Any, str]:
    if url:
        _url(url)
        try:
            status, text = async_to_sync(EgressClient(max_body_bytes=MAX_DOCUMENT_BYTES).request)("GET", url)
        except EgressRefused as refused:
            raise InvalidInput(str(refused), code="egress_refused") from None
        if status >= 400:
            raise InvalidInput(f"Fetching the document answered HTTP {status}.", code="openapi_fetch_failed")
    if not text:
        raise InvalidInput("Give the OpenAPI document (upload) or its URL.", code="openapi_missing")
    try:
        return json.loads(text), url or ""
    except ValueError:
        pass
    import yaml

    try:
        return yaml.safe_load(text), url or ""
    except yaml.YAMLError:
        raise InvalidInput("The document is neither JSON nor YAML.", code="openapi_invalid") from None


def tool_set_import(
    *,
    access: OrgAccess,
    name: str,
    document: str | None,
    url: str | None,
    base_url: str | None,
    auth: Any,
    enabled_operations: list[str] | None = None,
) -> ToolSet:
    access.require(Role.EDITOR)
    raw, source = _document(organization=access.organization, text=document, url=url)
    try:
        title, server, operations = parse_document(raw)
    except FlowError as exc:
        raise InvalidInput(str(exc), code=exc.code) from None
    base = base_url or server
    if base.startswith("/") and source:  # a relative server URL: against the document's own
        from urllib.parse import urljoin

        base = urljoin(source, base)
    if not base:
        raise InvalidInput("The document names no server: give the API's base URL.", code="base_url_missing")
    ids = [op.operation_id for op in operations]
    chosen = ids if enabled_operations is None else enabled_operations
    if unknown := sorted(set(chosen) - set(ids)):
        raise InvalidInput(f"The document has no operation {unknown[0]!r}.", code="operation_not_found")
    try:
        with transaction.atomic():
            tool_set = ToolSet.objects.create(
                organization=access.organization,
                name=_slug(name),
                title=title,
                base_url=_url(base),
                source_url=source,
                auth=_auth(auth),
                operations=[op.model_dump() for op in operations],
                enabled_operations=sorted(set(chosen)),
            )
            audit_record(
                organization=access.organization, actor=access.actor, action="tool_set.import", target=tool_set
            )
    except IntegrityError:
        raise Conflict(f"There is already a tool set named {name}.", code="name_taken") from None
    return tool_set


@transaction.atomic
def tool_set_update(*, access: OrgAccess, tool_set: ToolSet, data: Mapping[str, Any]) -> ToolSet:
    access.require(Role.EDITOR)
    if "base_url" in data:
        tool_set.base_url = _url(data["base_url"])
    if "auth" in data:
        tool_set.auth = _auth(data["auth"])
    if "enabled_operations" in data:
        ids = {op["operation_id"] for op in tool_set.operations}
        if unknown := sorted(set(data["enabled_operations"]) - ids):
            raise InvalidInput(f"This tool set has no operation {unknown[0]!r}.", code="operation_not_found")
        tool_set.enabled_operations = sorted(set(data["enabled_operations"]))
    tool_set.save()
    audit_record(organization=access.organization, actor=access.actor, action="tool_set.update", target=tool_set)
    return tool_set


@transaction.atomic
def tool_set_delete(*, access: OrgAccess, tool_set: ToolSet) -> None:
    access.require(Role.EDITOR)
    audit_record(
        organization=access.organization, actor=access.actor, action="tool_set.delete", data={"name": tool_set.name}
    )
    tool_set.delete()
