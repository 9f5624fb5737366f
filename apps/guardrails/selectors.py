"""Reads: an organization's policies and hits, and the policy that applies to a run."""

from __future__ import annotations

import time
import uuid
from datetime import datetime
from typing import Any

from django.db.models import Count, Q, QuerySet

from apps.config.errors import NotFound
from apps.guardrails.models import GuardHit, Policy
from apps.tenancy.models import Organization
from flows.guards import GuardPolicy

MAX_HITS = 200


def policy_list(*, organization: Organization) -> QuerySet[Policy]:
    return Policy.objects.filter(organization=organization).order_by("widget_id", "-updated_at")


def policy_get(*, organization: Organization, policy_id: object) -> Policy:
    try:
        pk = uuid.UUID(str(policy_id))
    except ValueError:
        raise NotFound("Policy not found.", code="policy_not_found") from None
    policy = policy_list(organization=organization).filter(pk=pk).first()
    if policy is None:
        raise NotFound("Policy not found.", code="policy_not_found")
    return policy


# A run start reads the policy from here for POLICY_CACHE_SECONDS: one query per organization and
# widget every few seconds instead of one per run. A change made through this process applies at
# once (policy_cache_clear); one made through another worker within that time.
POLICY_CACHE_SECONDS = 5.0
_cache: dict[tuple[uuid.UUID, uuid.UUID | None], tuple[float, tuple[Policy, GuardPolicy] | None]] = {}


def policy_cache_clear() -> None:
    _cache.clear()


def policy_for_run(*, organization_id: uuid.UUID, widget_id: uuid.UUID | None) -> tuple[Policy, GuardPolicy] | None:
    """The widget's own enabled policy, else the organization's enabled policy, else none."""
    key = (organization_id, widget_id)
    now = time.monotonic()
    cached = _cache.get(key)
    if cached is not None and cached[0] > now:
        return cached[1]
    found = _policy_for_run(organization_id, widget_id)
    if len(_cache) > 10_000:
        _cache.clear()
    _cache[key] = (now + POLICY_CACHE_SECONDS, found)
    return found


def _policy_for_run(organization_id: uuid.UUID, widget_id: uuid.UUID | None) -> tuple[Policy, GuardPolicy] | None:
    scope = Q(widget_id__isnull=True)
    if widget_id is not None:
        scope |= Q(widget_id=widget_id)
    rows = list(Policy.objects.filter(scope, organization_id=organization_id, enabled=True))
    rows.sort(key=lambda row: row.widget_id is None)  # the widget's first
    if not rows:
        return None
    return rows[0], GuardPolicy.model_validate(rows[0].config)


def hit_list(
    *,
    organization: Organization,
    run_id: str | None = None,
    check: str | None = None,
    before: datetime | None = None,
    limit: int = 50,
) -> list[GuardHit]:
    hits: QuerySet[GuardHit] = GuardHit.objects.filter(organization=organization)
    if run_id is not None:
        try:
            hits = hits.filter(run_id=uuid.UUID(run_id))
        except ValueError:
            return []
    if check:
        hits = hits.filter(check_name=check)
    if before is not None:
        hits = hits.filter(created_at__lt=before)
    return list(hits.order_by("-created_at", "-id")[: max(1, min(limit, MAX_HITS))])


def hit_summary(*, organization: Organization) -> list[dict[str, Any]]:
    """Hits per check, label and action: what the dashboard and alerts read."""
    rows = (
        GuardHit.objects.filter(organization=organization)
        .values("check_name", "label", "action")
        .annotate(count=Count("id"))
        .order_by("-count")
    )
    return [
        {"check": row["check_name"], "label": row["label"], "action": row["action"], "count": row["count"]}
        for row in rows
    ]
