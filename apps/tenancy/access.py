"""The one place that decides who may touch which organization (Zulip-style access helper).

Views never re-derive permissions inline: they call `access_org_by_id`, which answers 404 for
an organization the caller does not belong to (so ids of other tenants reveal nothing) and 403
for a member whose role is too low.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from typing import TYPE_CHECKING

from django.contrib.auth.models import User

from apps.config.errors import Forbidden, NotFound
from apps.tenancy.models import ApiKey, Membership, Organization, Role, role_at_least

if TYPE_CHECKING:
    from django.contrib.auth.models import AnonymousUser
    from rest_framework.request import Request


@dataclass(frozen=True)
class Actor:
    """Who is acting: a signed-in user, or a program holding an API key."""

    user: User | None
    api_key: ApiKey | None
    ip: str | None = None

    @property
    def label(self) -> str:
        if self.api_key is not None:
            return f"api-key:{self.api_key.prefix}"
        return self.user.get_username() if self.user is not None else "anonymous"


@dataclass(frozen=True)
class OrgAccess:
    organization: Organization
    role: str
    actor: Actor

    def require(self, minimum: str) -> None:
        if not role_at_least(self.role, minimum):
            raise Forbidden(f"This action needs the {minimum} role or higher; you have {self.role}.")


def client_ip(request: Request) -> str | None:
    # Proxy headers are not trusted here; the widgets issue adds a trusted-proxy list.
    return request.META.get("REMOTE_ADDR") or None


def actor_from_request(request: Request) -> Actor:
    if isinstance(request.auth, ApiKey):
        return Actor(user=None, api_key=request.auth, ip=client_ip(request))
    user: User | AnonymousUser = request.user
    return Actor(user=user if isinstance(user, User) else None, api_key=None, ip=client_ip(request))


def _parse_uuid(value: object) -> uuid.UUID | None:
    try:
        return uuid.UUID(str(value))
    except ValueError:
        return None


def actor_role(actor: Actor, org_id: uuid.UUID, member_role: str | None) -> str | None:
    """The rule itself: an API key acts in its own organization with its own role; a user with
    the role of their membership there (`member_role`, read by the caller); anyone else has none.
    For callers that read the membership together with other rows (a run start's one query)."""
    if actor.api_key is not None:
        return actor.api_key.role if actor.api_key.organization_id == org_id else None
    return member_role if actor.user is not None else None


def access_org_by_id(*, actor: Actor, org_id: object, min_role: str = Role.VIEWER) -> OrgAccess:
    parsed = _parse_uuid(org_id)
    not_found = NotFound("Organization not found.")
    if parsed is None:
        raise not_found
    organization: Organization | None = actor.api_key.organization if actor.api_key is not None else None
    member_role = None
    if actor.api_key is None and actor.user is not None:
        membership = (
            Membership.objects.select_related("organization")
            .filter(user_id=actor.user.pk, organization_id=parsed)
            .first()
        )
        if membership is not None:
            organization, member_role = membership.organization, membership.role
    role = actor_role(actor, parsed, member_role)
    if role is None or organization is None:
        raise not_found
    access = OrgAccess(organization, role, actor)
    access.require(min_role)
    return access
