"""Writes: keyword-only, transactional; publish, rollback, delete and import are audited.

The draft may be semantically invalid (the editor saves work in progress) but is always a
well-formed FlowSpec; a version is only ever made from a draft that validates.
"""

from __future__ import annotations

from typing import Any

from django.db import transaction
from django.db.models import Max

from apps.builder.graphs import check_graph_size, starter_graph, without_secrets
from apps.builder.models import Flow, FlowVersion
from apps.builder.publish_checks import PUBLISH_CHECKS
from apps.builder.selectors import flow_get, flow_version_get
from apps.config.errors import Conflict, InvalidInput
from apps.tenancy.access import OrgAccess
from apps.tenancy.models import Role
from apps.tenancy.services import audit_record
from flows.errors import FlowInvalid, Issue
from flows.validate import parse_spec, validate

EXPORT_FORMAT = "trellis.flow"
EXPORT_FORMAT_VERSION = 1
_EXPORT_KEYS = frozenset({"format", "format_version", "name", "description", "graph"})
MAX_NAME = 120
MAX_DESCRIPTION = 2000


def _normalized_graph(graph: Any) -> dict[str, Any]:
    """The graph as a FlowSpec dict with defaults filled in; a wrong shape is `invalid_graph`."""
    check_graph_size(graph)
    spec, issues = parse_spec(graph)
    if spec is None:
        raise FlowInvalid(
            issues,
            message=f"The graph is not a flow spec: {issues[0].pointer}: {issues[0].message}",
            code="invalid_graph",
        )
    return spec.model_dump(mode="json")


def _locked(access: OrgAccess, flow_id: object) -> Flow:
    flow = flow_get(organization=access.organization, flow_id=flow_id)
    return Flow.objects.select_for_update().get(pk=flow.pk)


@transaction.atomic
def flow_create(*, access: OrgAccess, name: str, description: str = "", graph: Any = None) -> Flow:
    access.require(Role.EDITOR)
    draft = starter_graph() if graph is None else _normalized_graph(graph)
    return Flow.objects.create(
        organization=access.organization,
        name=name.strip(),
        description=description.strip(),
        draft=draft,
        created_by=access.actor.user,
        updated_by=access.actor.user,
    )


@transaction.atomic
def flow_update(*, access: OrgAccess, flow_id: object, name: str | None = None, description: str | None = None) -> Flow:
    access.require(Role.EDITOR)
    flow = _locked(access, flow_id)
    if name is not None:
        flow.name = name.strip()
    if description is not None:
        flow.description = description.strip()
    flow.updated_by = access.actor.user
    flow.save(update_fields=["name", "description", "updated_by", "updated_at"])
    return flow


@transaction.atomic
def flow_delete(*, access: OrgAccess, flow_id: object) -> None:
    access.require(Role.EDITOR)
    flow = _locked(access, flow_id)
    audit_record(
        organization=access.organization,
        actor=access.actor,
        action="flow.delete",
        target=flow,
        data={"name": flow.name, "versions": flow.versions.count()},
    )
    flow.delete()


@transaction.atomic
def flow_duplicate(*, access: OrgAccess, flow_id: object, name: str | None = None) -> Flow:
    """A new flow with a copy of the draft; versions stay with the original."""
    access.require(Role.EDITOR)
    source = flow_get(organization=access.organization, flow_id=flow_id)
    return Flow.objects.create(
        organization=access.organization,
        name=(name or f"{source.name} (copy)").strip()[:MAX_NAME],
        description=source.description,
        draft=source.draft,
        created_by=access.actor.user,
        updated_by=access.actor.user,
    )


@transaction.atomic
def flow_draft_save(*, access: OrgAccess, flow_id: object, graph: Any, base_revision: int) -> tuple[Flow, list[Issue]]:
    """Saves the editor's graph if nobody saved since `base_revision`; returns the flow at its
    new revision and the validation issues of what was saved."""
    access.require(Role.EDITOR)
    draft = _normalized_graph(graph)
    flow = _locked(access, flow_id)
    if base_revision != flow.revision:
        raise Conflict(
            f"The draft changed since you loaded it (you edited revision {base_revision}, "
            f"it is now at revision {flow.revision}). Reload it and apply your change again.",
            code="stale_draft",
        )
    flow.draft = draft
    flow.revision += 1
    flow.updated_by = access.actor.user
    flow.save(update_fields=["draft", "revision", "updated_by", "updated_at"])
    return flow, validate(draft)


@transaction.atomic
def flow_version_publish(
    *, access: OrgAccess, flow_id: object, note: str = "", override_reason: str = ""
) -> FlowVersion:
    access.require(Role.EDITOR)
    flow = _locked(access, flow_id)
    if issues := validate(flow.draft):
        raise FlowInvalid(issues)
    for check in PUBLISH_CHECKS:  # e.g. apps.evaluation's gate; `override_reason`: an admin's, audited there
        check(access=access, flow=flow, override_reason=override_reason)
    number = (flow.versions.aggregate(last=Max("number"))["last"] or 0) + 1
    version = FlowVersion.objects.create(
        flow=flow, number=number, graph=flow.draft, note=note.strip(), created_by=access.actor.user
    )
    flow.published_version = version
    flow.save(update_fields=["published_version", "updated_at"])
    audit_record(
        organization=access.organization,
        actor=access.actor,
        action="flow.publish",
        target=version,
        data={"flow": str(flow.pk), "name": flow.name, "number": number},
    )
    return version


@transaction.atomic
def flow_version_restore(*, access: OrgAccess, flow_id: object, number: int) -> Flow:
    """Copies a version's graph into the draft (a new revision); what is published stays."""
    access.require(Role.EDITOR)
    flow = _locked(access, flow_id)
    version = flow_version_get(flow=flow, number=number)
    flow.draft = version.graph
    flow.revision += 1
    flow.updated_by = access.actor.user
    flow.save(update_fields=["draft", "revision", "updated_by", "updated_at"])
    return flow


@transaction.atomic
def flow_rollback(*, access: OrgAccess, flow_id: object, number: int) -> Flow:
    """Publishes an existing version again (usually an older one); the draft stays as it is."""
    access.require(Role.EDITOR)
    flow = _locked(access, flow_id)
    version = flow_version_get(flow=flow, number=number)
    previous = flow.published_version.number if flow.published_version is not None else None
    flow.published_version = version
    flow.save(update_fields=["published_version", "updated_at"])
    audit_record(
        organization=access.organization,
        actor=access.actor,
        action="flow.rollback",
        target=flow,
        data={"name": flow.name, "from": previous, "to": number},
    )
    return flow


def flow_export(*, flow: Flow) -> dict[str, Any]:
    """A portable copy of the draft. Config keys that look like secrets are left out."""
    graph = dict(flow.draft)
    graph["nodes"] = [{**node, "config": without_secrets(node.get("config", {}))} for node in graph.get("nodes", [])]
    return {
        "format": EXPORT_FORMAT,
        "format_version": EXPORT_FORMAT_VERSION,
        "name": flow.name,
        "description": flow.description,
        "graph": graph,
    }


def _invalid_import(message: str) -> InvalidInput:
    return InvalidInput(message, code="invalid_import")


def _check_import(payload: Any) -> tuple[str, str, Any]:
    if not isinstance(payload, dict):
        raise _invalid_import("An import is a JSON object exported from Trellis.")
    if payload.get("format") != EXPORT_FORMAT:
        raise _invalid_import(f"Not a Trellis flow export: 'format' must be {EXPORT_FORMAT!r}.")
    version = payload.get("format_version")
    if version != EXPORT_FORMAT_VERSION or isinstance(version, bool):
        raise _invalid_import(f"Unsupported format_version {version!r}; this server reads {EXPORT_FORMAT_VERSION}.")
    if unknown := sorted(set(payload) - _EXPORT_KEYS):
        raise _invalid_import(f"Unknown field(s) in the export: {', '.join(unknown)}.")
    name, description = payload.get("name"), payload.get("description", "")
    if not isinstance(name, str) or not name.strip() or len(name.strip()) > MAX_NAME:
        raise _invalid_import(f"'name' must be text of 1 to {MAX_NAME} characters.")
    if not isinstance(description, str) or len(description) > MAX_DESCRIPTION:
        raise _invalid_import(f"'description' must be text of at most {MAX_DESCRIPTION} characters.")
    if not isinstance(payload.get("graph"), dict):
        raise _invalid_import("'graph' must be a JSON object (a flow spec).")
    return name, description, payload["graph"]


@transaction.atomic
def flow_import(*, access: OrgAccess, payload: Any) -> Flow:
    """A new flow from an export (flow_export's format). Its draft may need secrets filled in."""
    access.require(Role.EDITOR)
    name, description, graph = _check_import(payload)
    flow = flow_create(access=access, name=name, description=description, graph=graph)
    audit_record(
        organization=access.organization,
        actor=access.actor,
        action="flow.import",
        target=flow,
        data={"name": flow.name, "nodes": len(flow.draft["nodes"])},
    )
    return flow
