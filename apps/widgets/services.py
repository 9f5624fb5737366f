"""Writes: widgets (editor role, audited) and feedback from visitors."""

from __future__ import annotations

from typing import Any
from uuid import UUID

from django.db import transaction

from apps.builder.models import FlowVersion
from apps.builder.selectors import flow_get
from apps.config.errors import InvalidInput, NotFound
from apps.runs.models import Run
from apps.tenancy.access import OrgAccess
from apps.tenancy.models import Role
from apps.tenancy.services import audit_record
from apps.widgets.models import Feedback, Widget, WidgetRun, default_appearance, new_public_key
from apps.widgets.origins import BadOrigin, normalize_origin
from apps.widgets.selectors import widget_get

SETTABLE = (
    "name",
    "enabled",
    "hosted_page",
    "conversation_memory",
    "show_sources",
    "collect_feedback",
    "max_input_chars",
    "visitor_messages_per_minute",
    "ip_messages_per_minute",
    "tokens_per_day",
)


def _origins(raw: list[str]) -> list[str]:
    out: list[str] = []
    for entry in raw:
        try:
            origin = normalize_origin(entry)
        except BadOrigin as exc:
            raise InvalidInput(str(exc), code="invalid_origin") from None
        if origin not in out:
            out.append(origin)
    return out


def _pinned(widget: Widget, number: int | None) -> FlowVersion | None:
    if number is None:
        return None
    version = FlowVersion.objects.filter(flow=widget.flow, number=number).first()
    if version is None:
        raise NotFound(f"Version {number} of this flow not found.", code="version_not_found")
    return version


def _apply(widget: Widget, data: dict[str, Any]) -> None:
    for name in SETTABLE:
        if name in data:
            setattr(widget, name, data[name])
    if "allowed_origins" in data:
        widget.allowed_origins = _origins(data["allowed_origins"])
    if "appearance" in data:
        widget.appearance = {**default_appearance(), **(widget.appearance or {}), **data["appearance"]}
    if "pinned_version" in data:
        widget.pinned_version = _pinned(widget, data["pinned_version"])


@transaction.atomic
def widget_create(*, access: OrgAccess, flow_id: object, data: dict[str, Any]) -> Widget:
    access.require(Role.EDITOR)
    flow = flow_get(organization=access.organization, flow_id=flow_id)
    widget = Widget(organization=access.organization, flow=flow, created_by=access.actor.user)
    _apply(widget, {"name": flow.name, **data})
    widget.save()
    audit_record(organization=access.organization, actor=access.actor, action="widget.create", target=widget)
    return widget


@transaction.atomic
def widget_update(*, access: OrgAccess, widget_id: object, data: dict[str, Any]) -> Widget:
    access.require(Role.EDITOR)
    widget = widget_get(organization=access.organization, widget_id=widget_id)
    if "flow" in data and data["flow"] != widget.flow_id:
        widget.flow = flow_get(organization=access.organization, flow_id=data["flow"])
        widget.pinned_version = None
    _apply(widget, data)
    widget.save()
    audit_record(
        organization=access.organization,
        actor=access.actor,
        action="widget.update",
        target=widget,
        data={"fields": sorted(data)},
    )
    return widget


@transaction.atomic
def widget_delete(*, access: OrgAccess, widget_id: object) -> None:
    access.require(Role.EDITOR)
    widget = widget_get(organization=access.organization, widget_id=widget_id)
    audit_record(organization=access.organization, actor=access.actor, action="widget.delete", target=widget)
    widget.delete()


@transaction.atomic
def widget_rotate_key(*, access: OrgAccess, widget_id: object) -> Widget:
    """A new public key; pages with the old snippet stop working and old session tokens die."""
    access.require(Role.EDITOR)
    widget = widget_get(organization=access.organization, widget_id=widget_id)
    widget.public_key = new_public_key()
    widget.save(update_fields=["public_key", "updated_at"])
    audit_record(organization=access.organization, actor=access.actor, action="widget.rotate_key", target=widget)
    return widget


def feedback_record(*, widget: Widget, visitor: UUID, run_id: UUID, rating: int, comment: str) -> Feedback:
    """A visitor rates an answer they were given (any other run id answers 404)."""
    if not widget.collect_feedback:
        raise InvalidInput("This widget does not collect feedback.", code="feedback_disabled")
    link = WidgetRun.objects.filter(widget=widget, visitor_id=visitor, run_id=run_id).first()
    if link is None or not Run.objects.filter(pk=run_id, organization_id=widget.organization_id).exists():
        raise NotFound("Run not found.", code="run_not_found")
    feedback, _ = Feedback.objects.update_or_create(
        run_id=run_id, defaults={"widget": widget, "rating": rating, "comment": comment[:2000]}
    )
    return feedback
