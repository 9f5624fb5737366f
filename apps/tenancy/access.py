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

from apps.config.client_ip import request_ip
from apps.config.errors import Forbidden, NotFound
from apps.tenancy.models import ROLE_RANK, ApiKey, ApiKeyScope, Membership, Organization, Role, role_at_least

if TYPE_CHECKING:
    from django.contrib.auth.models import AnonymousUser
    from django.http import HttpRequest
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


def client_ip(request: Request | HttpRequest) -> str | None:
    """The caller's address: apps.config.client_ip's one rule (X-Forwarded-For from trusted
    proxies only), the same for throttles, widget limits and the audit log."""
    address = request_ip(request)
    return None if address == "unknown" else address


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


_UNKNOWN = object()


def api_key_role(key: ApiKey) -> str | None:
    """A key's effective role: the lower of its own role and its creator's CURRENT role in the
    key's organization, so a key is never above the person who made it (demoted creator: demoted
    key). None when the creator is no longer a member (the key acts as nobody). The creator's role
    is read with the key by `api_key_authenticate` (`creator_role`); otherwise it is queried."""
    creator_role = getattr(key, "creator_role", _UNKNOWN)
    if creator_role is _UNKNOWN:
        creator_role = (
            Membership.objects.filter(organization_id=key.organization_id, user_id=key.created_by_id)
            .values_list("role", flat=True)
            .first()
            if key.created_by_id is not None
            else None
        )
        key.creator_role = creator_role  # type: ignore[attr-defined]
    if not isinstance(creator_role, str):
        return None
    return key.role if ROLE_RANK[key.role] <= ROLE_RANK[creator_role] else creator_role


# What a narrowed key may call over HTTP (URL names): runs-only keys run flows, follow, cancel
# and read runs; read-only keys only read. A key limited to some flows reaches only URLs that
# name one of them.
RUN_ROUTES = frozenset(
    {"flow-run", "flow-openai-chat", "run-list", "run-detail", "run-events", "run-cancel", "session-list"}
    | {"session-detail", "auth-me"}
    | {"openai-models", "flow-openai-models", "openai-chat"}
)
# Routes that name no flow in their URL and apply a key's flow limit themselves: the OpenAI
# models list shows only the key's flows; the organization's chat endpoint runs the flow its body
# names, which the run start checks (api_key_check_run).
FLOW_LIMITED_BY_VIEW = frozenset({"auth-me", "openai-models", "flow-openai-models", "openai-chat"})
SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})


def api_key_scope_refusal(key: ApiKey, *, method: str, route: str | None, flow_id: object = None) -> str | None:
    """Why `key`'s scope refuses this HTTP request (None: allowed). One rule for every view:
    the API-key middleware applies it before any view runs."""
    if key.scope == ApiKeyScope.READ and method.upper() not in SAFE_METHODS:
        return "This API key is read-only."
    if key.scope == ApiKeyScope.RUNS and route not in RUN_ROUTES:
        return "This API key may only run flows and read runs."
    if key.flows and route not in FLOW_LIMITED_BY_VIEW and str(flow_id) not in {str(f) for f in key.flows}:
        return "This API key is limited to other flows."
    return None


def api_key_check_run(actor: Actor, flow_id: object) -> None:
    """Forbidden when the actor's API key may not start a run of `flow_id` (any entry point)."""
    key = actor.api_key
    if key is None:
        return
    if key.scope == ApiKeyScope.READ:
        raise Forbidden("This API key is read-only: it cannot start runs.", code="key_scope")
    if key.flows and str(flow_id) not in {str(f) for f in key.flows}:
        raise Forbidden("This API key is limited to other flows.", code="key_scope")


def actor_role(actor: Actor, org_id: uuid.UUID, member_role: str | None) -> str | None:
    """The rule itself: an API key acts in its own organization with its effective role (never
    above its creator's current role); a user with the role of their membership there
    (`member_role`, read by the caller); anyone else has none. For callers that read the
    membership together with other rows (a run start's one query)."""
    if actor.api_key is not None:
        return api_key_role(actor.api_key) if actor.api_key.organization_id == org_id else None
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
