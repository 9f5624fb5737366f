"""Writes: alert rules (editor role, audited). The webhook secret is generated here, stored
encrypted, and returned once, on creation."""

from __future__ import annotations

import secrets
import uuid
from typing import Any

from django.db import transaction

from apps.builder.models import Flow, FlowVersion
from apps.config.crypto import encrypt
from apps.config.errors import InvalidInput, NotFound
from apps.observability.models import AlertRule
from apps.tenancy.access import OrgAccess
from apps.tenancy.models import Role
from apps.tenancy.services import audit_record


def alert_rule_get(*, access: OrgAccess, rule_id: object) -> AlertRule:
    try:
        pk = uuid.UUID(str(rule_id))
    except ValueError:
        raise NotFound("Alert rule not found.", code="alert_rule_not_found") from None
    rule = AlertRule.objects.filter(organization=access.organization, pk=pk).first()
    if rule is None:
        raise NotFound("Alert rule not found.", code="alert_rule_not_found")
    return rule


def stats_version_check(
    *, access: OrgAccess, flow_id: uuid.UUID | None, version_id: uuid.UUID | None
) -> uuid.UUID | None:
    """The dashboard's version filter: a version of that flow in this organization, else 400."""
    if version_id is None:
        return None
    versions = FlowVersion.objects.filter(pk=version_id, flow__organization=access.organization)
    if flow_id is None or not versions.filter(flow_id=flow_id).exists():
        raise InvalidInput("No such version of this flow in this organization.", code="version_not_found")
    return version_id


def _flow(access: OrgAccess, flow_id: uuid.UUID | None) -> Flow | None:
    if flow_id is None:
        return None
    flow = Flow.objects.filter(organization=access.organization, pk=flow_id).first()
    if flow is None:
        raise InvalidInput("No such flow in this organization.", code="flow_not_found")
    return flow


@transaction.atomic
def alert_rule_create(*, access: OrgAccess, data: dict[str, Any]) -> tuple[AlertRule, str]:
    """The rule and its webhook signing secret (empty without a webhook), shown only now."""
    access.require(Role.EDITOR)
    secret = f"whsec_{secrets.token_urlsafe(24)}" if data.get("webhook_url") else ""
    rule = AlertRule.objects.create(
        organization=access.organization,
        flow=_flow(access, data.pop("flow", None)),
        webhook_secret_encrypted=encrypt(secret) if secret else "",
        **data,
    )
    audit_record(organization=access.organization, actor=access.actor, action="alert_rule.create", target=rule)
    return rule, secret


@transaction.atomic
def alert_rule_update(*, access: OrgAccess, rule_id: object, data: dict[str, Any]) -> AlertRule:
    access.require(Role.EDITOR)
    rule = alert_rule_get(access=access, rule_id=rule_id)
    if "flow" in data:
        rule.flow = _flow(access, data.pop("flow"))
    for field, value in data.items():
        setattr(rule, field, value)
    if rule.webhook_url and not rule.webhook_secret_encrypted:
        rule.webhook_secret_encrypted = encrypt(f"whsec_{secrets.token_urlsafe(24)}")
    rule.save()
    audit_record(organization=access.organization, actor=access.actor, action="alert_rule.update", target=rule)
    return rule


@transaction.atomic
def alert_rule_delete(*, access: OrgAccess, rule_id: object) -> None:
    access.require(Role.EDITOR)
    rule = alert_rule_get(access=access, rule_id=rule_id)
    audit_record(organization=access.organization, actor=access.actor, action="alert_rule.delete", target=rule)
    rule.delete()
