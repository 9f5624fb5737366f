"""Writes: policies (admin for the organization's, editor for a widget's; audited) and hits."""

from __future__ import annotations

import re
import uuid
from collections.abc import Iterable
from typing import Any

from django.db import transaction
from pydantic import ValidationError

from apps.config.errors import InvalidInput, NotFound
from apps.config.metrics import GUARD_HITS
from apps.guardrails.models import GuardHit, Policy
from apps.guardrails.selectors import policy_cache_clear
from apps.tenancy.access import OrgAccess
from apps.tenancy.models import Role
from apps.tenancy.services import audit_record
from flows.guards import GuardPolicy, Hit

# A host name, or a wildcard over one's subdomains: what the answer check's link allowlist
# compares a link's host with (flows.guards.output.host_allowed).
_HOST = re.compile(r"^(\*\.)?([a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?\.)*[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?$", re.IGNORECASE)


def policy_config_parse(raw: Any) -> GuardPolicy:
    if not isinstance(raw, dict):
        raise InvalidInput("config must be an object.", code="invalid_policy")
    try:
        policy = GuardPolicy.model_validate(raw)
    except ValidationError as exc:
        first = exc.errors()[0]
        where = ".".join(str(part) for part in first["loc"]) or "config"
        raise InvalidInput(f"{where}: {first['msg']}", code="invalid_policy") from None
    # Accepted before, and then silently wrong: a blocked person answered with nothing, and a
    # pasted URL ("https://example.com/help") in the link allowlist that no link's host equals.
    if not policy.block_message.strip():
        raise InvalidInput("block_message: write the message a blocked person sees.", code="invalid_policy")
    for entry in policy.output.allowed_links or []:
        if not _HOST.match(entry.strip()):
            raise InvalidInput(
                f"output.allowed_links: {entry[:80]!r} is not a host; write hosts such as example.com"
                " or *.example.com.",
                code="invalid_policy",
            )
    return policy


def _widget_in(access: OrgAccess, widget_id: object) -> uuid.UUID:
    # The widget model is above this app (it runs flows); reach it through the foreign key.
    widgets = Policy._meta.get_field("widget").related_model._default_manager  # type: ignore[union-attr]
    try:
        pk = uuid.UUID(str(widget_id))
    except ValueError:
        raise NotFound("Widget not found.", code="widget_not_found") from None
    if not widgets.filter(pk=pk, organization=access.organization).exists():
        raise NotFound("Widget not found.", code="widget_not_found")
    return pk


@transaction.atomic
def policy_put(*, access: OrgAccess, widget_id: object | None, config: Any, enabled: bool = True) -> Policy:
    """Create or replace the organization's policy (widget_id None) or a widget's."""
    access.require(Role.EDITOR if widget_id is not None else Role.ADMIN)
    parsed = policy_config_parse(config)
    widget_pk = _widget_in(access, widget_id) if widget_id is not None else None
    scope: dict[str, Any] = {"widget_id": widget_pk} if widget_pk is not None else {"widget__isnull": True}
    policy, created = Policy.objects.select_for_update().get_or_create(
        organization=access.organization,
        **scope,
        defaults={"config": parsed.model_dump(mode="json"), "enabled": enabled, "widget_id": widget_pk},
    )
    if not created:
        policy.config = parsed.model_dump(mode="json")
        policy.enabled = enabled
        policy.save(update_fields=["config", "enabled", "updated_at"])
    audit_record(
        organization=access.organization,
        actor=access.actor,
        action="guard_policy.create" if created else "guard_policy.update",
        target=policy,
        data={"widget": str(widget_pk) if widget_pk else None, "enabled": enabled, "dry_run": parsed.dry_run},
    )
    policy_cache_clear()
    transaction.on_commit(policy_cache_clear)  # and whatever was read meanwhile
    return policy


@transaction.atomic
def policy_delete(*, access: OrgAccess, policy: Policy) -> None:
    access.require(Role.EDITOR if policy.widget_id is not None else Role.ADMIN)
    audit_record(organization=access.organization, actor=access.actor, action="guard_policy.delete", target=policy)
    policy.delete()
    policy_cache_clear()
    transaction.on_commit(policy_cache_clear)


def hits_record(
    *,
    organization_id: uuid.UUID,
    policy: Policy | None,
    run_id: uuid.UUID | None,
    hits: Iterable[Hit],
    stage: str = "input",
) -> list[GuardHit]:
    rows = [
        GuardHit(
            organization_id=organization_id,
            policy=policy,
            run_id=run_id,
            stage=stage,
            source=hit.source[:200],
            check_name=hit.check,
            label=hit.label,
            action=hit.action,
            intended=hit.intended,
            score=hit.score,
            start=hit.start,
            end=hit.end,
        )
        for hit in hits
    ]
    if not rows:
        return []
    created = GuardHit.objects.bulk_create(rows)
    for row in rows:  # the Prometheus series (apps/config/metrics.py): check, action, stage are bounded
        GUARD_HITS.labels(row.check_name, row.action, row.stage).inc()
    return created
