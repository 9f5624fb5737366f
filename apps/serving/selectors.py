"""Reads. Every query here takes the organization (or, for the async gateway, its id) and
filters by it."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal
from uuid import UUID

from django.db.models import QuerySet, Sum
from django.utils import timezone

from apps.config.errors import NotFound
from apps.serving.models import ModelCall, ModelEndpoint
from apps.tenancy.models import Organization


def model_endpoint_list(*, organization: Organization) -> QuerySet[ModelEndpoint]:
    return ModelEndpoint.objects.filter(organization=organization).select_related("deployment").order_by("alias")


def model_endpoint_get(*, organization: Organization, endpoint_id: object) -> ModelEndpoint:
    try:
        return model_endpoint_list(organization=organization).get(pk=int(str(endpoint_id)))
    except (ValueError, ModelEndpoint.DoesNotExist):
        raise NotFound("Model endpoint not found.") from None


async def model_endpoint_list_async(*, organization_id: UUID) -> list[ModelEndpoint]:
    """For code on the event loop (runs, the gateway): the async ORM, no sync query."""
    queryset = ModelEndpoint.objects.filter(organization_id=organization_id).select_related("deployment")
    return [endpoint async for endpoint in queryset]


@dataclass(frozen=True)
class CallFilters:
    """The ledger's filters (all optional): alias asked for, alias that answered, status, flow,
    run, user, and a time range [since, until)."""

    alias: str | None = None
    served_by: str | None = None
    status: str | None = None
    flow_id: UUID | None = None
    run_id: UUID | None = None
    user_id: int | None = None
    since: datetime | None = None
    until: datetime | None = None


def model_call_filter(*, organization: Organization, filters: CallFilters) -> QuerySet[ModelCall]:
    """The organization's model calls matching `filters`, newest first (index: organization, at)."""
    queryset = ModelCall.objects.filter(organization=organization)
    exact = {
        "alias": filters.alias,
        "served_by": filters.served_by,
        "status": filters.status,
        "flow_id": filters.flow_id,
        "run_id": filters.run_id,
        "user_id": filters.user_id,
    }
    queryset = queryset.filter(**{name: value for name, value in exact.items() if value not in (None, "")})
    if filters.since is not None:
        queryset = queryset.filter(at__gte=filters.since)
    if filters.until is not None:
        queryset = queryset.filter(at__lt=filters.until)
    return queryset.order_by("-at", "-id")


def model_cost_this_month(*, organization: Organization) -> Decimal:
    """What the organization's model calls cost since the first of this month (UTC)."""
    start = timezone.now().replace(day=1, hour=0, minute=0, second=0, microsecond=0)
    total = ModelCall.objects.filter(organization=organization, at__gte=start).aggregate(total=Sum("cost"))["total"]
    return total if total is not None else Decimal(0)


CACHE_SERVERS = ("cache", "semantic-cache")  # ModelCall.served_by of an answer from a cache


@dataclass(frozen=True)
class CacheFigures:
    calls: int
    hits: int
    saved: Decimal  # what the cached answers cost when they were first asked


def cache_figures_this_month(*, organization: Organization) -> CacheFigures:
    """This month's model calls, how many a cache answered, and what those answers saved."""
    start = timezone.now().replace(day=1, hour=0, minute=0, second=0, microsecond=0)
    calls = ModelCall.objects.filter(organization=organization, at__gte=start)
    hits = calls.filter(served_by__in=CACHE_SERVERS)
    saved = sum(
        (Decimal(str((notes or [{}])[0].get("saved") or 0)) for notes in hits.values_list("attempts", flat=True)),
        Decimal(0),
    )
    return CacheFigures(calls=calls.count(), hits=hits.count(), saved=saved)
