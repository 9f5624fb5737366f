"""Reads. Every tenant-owned query here takes the organization and filters by it."""

from __future__ import annotations

from typing import TYPE_CHECKING, TypeVar

from django.db.models import QuerySet

from apps.config.errors import NotFound
from apps.tenancy.models import ApiKey, AuditEvent, Invitation, Membership, Organization

if TYPE_CHECKING:
    from django.contrib.auth.models import User

RowT = TypeVar("RowT", Membership, Invitation, ApiKey)


def organization_list_for_user(*, user: User) -> QuerySet[Membership]:
    return (
        Membership.objects.select_related("organization")
        .filter(user_id=user.pk)
        .order_by("organization__name", "organization__created_at")
    )


def member_list(*, organization: Organization) -> QuerySet[Membership]:
    return Membership.objects.select_related("user").filter(organization=organization).order_by("created_at")


def member_get(*, organization: Organization, member_id: object) -> Membership:
    return _get(member_list(organization=organization), member_id, "Member")


def invitation_list_open(*, organization: Organization) -> QuerySet[Invitation]:
    return Invitation.objects.filter(
        organization=organization, accepted_at__isnull=True, revoked_at__isnull=True
    ).order_by("-created_at")


def invitation_get_open(*, organization: Organization, invitation_id: object) -> Invitation:
    return _get(invitation_list_open(organization=organization), invitation_id, "Invitation")


def api_key_list(*, organization: Organization) -> QuerySet[ApiKey]:
    return ApiKey.objects.select_related("created_by").filter(organization=organization).order_by("-created_at")


def api_key_get(*, organization: Organization, key_id: object) -> ApiKey:
    return _get(api_key_list(organization=organization), key_id, "API key")


def audit_event_list(*, organization: Organization) -> QuerySet[AuditEvent]:
    return AuditEvent.objects.select_related("actor_user", "actor_api_key").filter(organization=organization)


def _get(queryset: QuerySet[RowT], pk: object, label: str) -> RowT:
    try:
        return queryset.get(pk=int(str(pk)))
    except (ValueError, queryset.model.DoesNotExist):
        raise NotFound(f"{label} not found.") from None
