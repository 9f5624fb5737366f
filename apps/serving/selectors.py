"""Reads. Every query here takes the organization (or, for the async gateway, its id) and
filters by it."""

from __future__ import annotations

from uuid import UUID

from django.db.models import QuerySet

from apps.config.errors import NotFound
from apps.serving.models import ModelEndpoint
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
