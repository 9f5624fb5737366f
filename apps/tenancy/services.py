"""Writes: keyword-only, transactional, each security-relevant action audited."""

from __future__ import annotations

import functools
import hashlib
import hmac
import secrets
from datetime import datetime, timedelta
from typing import Any

from django.contrib.auth.models import User
from django.contrib.auth.password_validation import validate_password
from django.core.exceptions import ValidationError as DjangoValidationError
from django.db import IntegrityError, connection, transaction
from django.utils import timezone
from django.utils.text import slugify

from apps.config.db import bound_cursor, model_from_row, select_list
from apps.config.errors import Conflict, Forbidden, InvalidInput, NotFound
from apps.tenancy.access import Actor, OrgAccess, api_key_role
from apps.tenancy.emails import normalize_email, verified_email
from apps.tenancy.models import (
    ROLE_RANK,
    ApiKey,
    ApiKeyScope,
    AuditEvent,
    EmailAddress,
    Invitation,
    Membership,
    Organization,
    Role,
)
from apps.tenancy.selectors import api_key_get, invitation_get_open, member_get
from apps.tenancy.throttle import Failure

API_KEY_PREFIX = "trl"
INVITATION_LIFETIME = timedelta(days=7)
LAST_USED_RESOLUTION = timedelta(seconds=60)


def _digest(secret: str) -> str:
    return hashlib.sha256(secret.encode()).hexdigest()


def audit_record(
    *, organization: Organization, actor: Actor, action: str, target: Any = None, data: dict[str, Any] | None = None
) -> AuditEvent:
    return AuditEvent.objects.create(
        organization=organization,
        actor_user=actor.user if actor.user is not None and actor.user.pk else None,
        actor_api_key=actor.api_key,
        action=action,
        target_type=type(target).__name__.lower() if target is not None else "",
        target_id=str(target.pk) if target is not None else "",
        data=data or {},
        ip=actor.ip,
    )


# --- organizations ----------------------------------------------------------------------------


def _unique_slug(name: str) -> str:
    base = slugify(name)[:120] or "org"
    slug, n = base, 1
    while Organization.objects.filter(slug=slug).exists():
        n += 1
        slug = f"{base}-{n}"
    return slug


@transaction.atomic
def organization_create(*, actor: Actor, name: str) -> Organization:
    if actor.user is None:
        raise Forbidden("Only a signed-in user can create an organization.")
    organization = Organization.objects.create(name=name.strip(), slug=_unique_slug(name))
    Membership.objects.create(organization=organization, user=actor.user, role=Role.OWNER)
    audit_record(organization=organization, actor=actor, action="organization.create", target=organization)
    return organization


@transaction.atomic
def organization_update(*, access: OrgAccess, name: str) -> Organization:
    access.require(Role.ADMIN)
    organization = Organization.objects.select_for_update().get(pk=access.organization.pk)
    old = organization.name
    organization.name = name.strip()
    organization.save(update_fields=["name"])
    audit_record(
        organization=organization,
        actor=access.actor,
        action="organization.update",
        target=organization,
        data={"name": [old, organization.name]},
    )
    return organization


# --- members ----------------------------------------------------------------------------------


def _check_can_grant(access: OrgAccess, role: str) -> None:
    if ROLE_RANK[role] > ROLE_RANK[access.role]:
        raise Forbidden(f"You cannot grant the {role} role: it is above your own ({access.role}).")


def _check_can_manage(access: OrgAccess, member: Membership) -> None:
    if member.role == Role.OWNER and access.role != Role.OWNER:
        raise Forbidden("Only an owner can change or remove an owner.")


def _owners_left_after(organization: Organization, member: Membership) -> int:
    return Membership.objects.filter(organization=organization, role=Role.OWNER).exclude(pk=member.pk).count()


@transaction.atomic
def member_add(*, access: OrgAccess, email: str, role: str) -> tuple[Invitation, str]:
    """Adding someone by email sends them an invitation, whether or not the address belongs to an
    account: nobody joins an organization without consenting, and the answer is the same either
    way (it never tells whether an address has an account)."""
    return invitation_create(access=access, email=email, role=role)


@transaction.atomic
def member_update_role(*, access: OrgAccess, member_id: object, role: str) -> Membership:
    access.require(Role.ADMIN)
    member = member_get(organization=access.organization, member_id=member_id)
    member = Membership.objects.select_for_update().get(pk=member.pk)
    _check_can_manage(access, member)
    _check_can_grant(access, role)
    if member.role == Role.OWNER and role != Role.OWNER and _owners_left_after(access.organization, member) == 0:
        raise Forbidden("An organization needs at least one owner.", code="last_owner")
    old = member.role
    member.role = role
    member.save(update_fields=["role"])
    audit_record(
        organization=access.organization,
        actor=access.actor,
        action="member.role_change",
        target=member,
        data={"user": member.user.get_username(), "role": [old, role]},
    )
    return member


@transaction.atomic
def member_remove(*, access: OrgAccess, member_id: object) -> None:
    access.require(Role.ADMIN)
    member = member_get(organization=access.organization, member_id=member_id)
    member = Membership.objects.select_for_update().get(pk=member.pk)
    _check_can_manage(access, member)
    if member.role == Role.OWNER and _owners_left_after(access.organization, member) == 0:
        raise Forbidden("An organization needs at least one owner.", code="last_owner")
    audit_record(
        organization=access.organization,
        actor=access.actor,
        action="member.remove",
        target=member,
        data={"user": member.user.get_username(), "role": member.role},
    )
    _revoke_keys_of(access, member, reason="creator_removed")
    member.delete()


def _revoke_keys_of(access: OrgAccess, member: Membership, *, reason: str) -> None:
    """A member's API keys leave with them (each revocation audited)."""
    keys = ApiKey.objects.select_for_update().filter(
        organization=access.organization, created_by_id=member.user_id, revoked_at__isnull=True
    )
    now = timezone.now()
    for key in keys:
        key.revoked_at = now
        key.save(update_fields=["revoked_at"])
        audit_record(
            organization=access.organization,
            actor=access.actor,
            action="api_key.revoke",
            target=key,
            data={"name": key.name, "prefix": key.prefix, "reason": reason},
        )


def login_throttle_audit(*, username: str, ip: str, failure: Failure) -> None:
    """An account's sign-ins were locked after repeated failures: recorded in every organization
    the account belongs to (its admins see the attack). An unknown username records nothing."""
    memberships = Membership.objects.select_related("organization").filter(user__username__iexact=username.strip())
    for membership in memberships:
        audit_record(
            organization=membership.organization,
            actor=Actor(user=None, api_key=None, ip=ip if ip != "unknown" else None),
            action="auth.login_throttled",
            target=membership,
            data={
                "user": membership.user.get_username(),
                "failures": failure.account_failures,
                "locked_s": failure.account_lock_s,
            },
        )


# --- invitations ------------------------------------------------------------------------------


@transaction.atomic
def invitation_create(*, access: OrgAccess, email: str, role: str) -> tuple[Invitation, str]:
    access.require(Role.ADMIN)
    _check_can_grant(access, role)
    email = normalize_email(email)
    member_emails = EmailAddress.objects.filter(
        email=email, verified_at__isnull=False, user__memberships__organization=access.organization
    )
    if member_emails.exists():  # a member of this organization: its admins see its members anyway
        raise Conflict(f"{email} is already a member.", code="already_member")
    token = secrets.token_urlsafe(32)
    try:
        with transaction.atomic():
            invitation = Invitation.objects.create(
                organization=access.organization,
                email=email,
                role=role,
                token_hash=_digest(token),
                invited_by=access.actor.user,
                expires_at=timezone.now() + INVITATION_LIFETIME,
            )
    except IntegrityError:
        raise Conflict(f"{email} already has an open invitation.", code="already_invited") from None
    audit_record(
        organization=access.organization,
        actor=access.actor,
        action="invitation.create",
        target=invitation,
        data={"email": email, "role": role},
    )
    return invitation, token


@transaction.atomic
def invitation_revoke(*, access: OrgAccess, invitation_id: object) -> None:
    access.require(Role.ADMIN)
    invitation = invitation_get_open(organization=access.organization, invitation_id=invitation_id)
    invitation.revoked_at = timezone.now()
    invitation.save(update_fields=["revoked_at"])
    audit_record(
        organization=access.organization,
        actor=access.actor,
        action="invitation.revoke",
        target=invitation,
        data={"email": invitation.email},
    )


@transaction.atomic
def invitation_accept(
    *, token: str, user: User | None, username: str = "", password: str = "", ip: str | None = None
) -> User:
    invitation = (
        Invitation.objects.select_for_update()
        .select_related("organization")
        .filter(token_hash=_digest(token), accepted_at__isnull=True, revoked_at__isnull=True)
        .first()
    )
    if invitation is None or invitation.expires_at < timezone.now():
        raise NotFound("This invitation is unknown, used, revoked or expired.", code="invitation_invalid")
    if user is None:
        if not username or not password:
            raise InvalidInput("Choose a username and a password to create your account.", code="account_required")
        if User.objects.filter(username__iexact=username).exists():
            raise Conflict("That username is taken.", code="username_taken")
        candidate = User(username=username, email=invitation.email)
        try:
            validate_password(password, candidate)
        except DjangoValidationError as exc:
            raise InvalidInput(" ".join(exc.messages), code="weak_password") from None
        candidate.set_password(password)
        candidate.save()
        # The address stays merely claimed: the inviting admin saw the token too, so accepting it
        # proves nothing about the mailbox. Verifying it is a separate link (apps.tenancy.emails).
        user = candidate
    elif verified_email(user) != normalize_email(invitation.email):
        raise Forbidden(
            "This invitation was sent to another email address. Sign in with the account that verified "
            "that address (or verify it under Settings first).",
            code="invitation_email_mismatch",
        )
    if Membership.objects.filter(organization=invitation.organization, user_id=user.pk).exists():
        raise Conflict("You are already a member of this organization.", code="already_member")
    member = Membership.objects.create(organization=invitation.organization, user=user, role=invitation.role)
    invitation.accepted_at = timezone.now()
    invitation.save(update_fields=["accepted_at"])
    audit_record(
        organization=invitation.organization,
        actor=Actor(user=user, api_key=None, ip=ip),
        action="invitation.accept",
        target=member,
        data={"email": invitation.email, "role": invitation.role},
    )
    return user


# --- API keys ---------------------------------------------------------------------------------


@transaction.atomic
def api_key_create(
    *,
    access: OrgAccess,
    name: str,
    role: str,
    scope: str = ApiKeyScope.FULL,
    flows: list[str] | None = None,
    expires_at: datetime | None = None,
) -> tuple[ApiKey, str]:
    """Returns the key row and the full secret; the secret is never stored or shown again. The
    key belongs to the person behind the request (a key made by a key: that key's creator), and
    acts with at most their role for as long as they are a member."""
    access.require(Role.ADMIN)
    _check_can_grant(access, role)
    creator = access.actor.user if access.actor.api_key is None else access.actor.api_key.created_by
    if creator is None:
        raise Forbidden("An API key needs a person behind it.", code="key_needs_creator")
    if scope not in ApiKeyScope.values:
        raise InvalidInput(f"scope: choose one of {', '.join(ApiKeyScope.values)}.")
    if expires_at is not None and expires_at <= timezone.now():
        raise InvalidInput("expires_at: must be in the future.")
    flow_ids = sorted({str(flow) for flow in flows or []})
    prefix = secrets.token_hex(4)
    while ApiKey.objects.filter(prefix=prefix).exists():
        prefix = secrets.token_hex(4)
    secret = secrets.token_urlsafe(32)
    raw = f"{API_KEY_PREFIX}_{prefix}_{secret}"
    key = ApiKey.objects.create(
        organization=access.organization,
        name=name.strip(),
        role=role,
        prefix=prefix,
        secret_hash=_digest(raw),
        created_by=creator,
        scope=scope,
        flows=flow_ids,
        expires_at=expires_at,
    )
    audit_record(
        organization=access.organization,
        actor=access.actor,
        action="api_key.create",
        target=key,
        data={
            "name": key.name,
            "prefix": prefix,
            "role": role,
            "scope": scope,
            "flows": flow_ids,
            "expires_at": expires_at.isoformat() if expires_at else None,
        },
    )
    return key, raw


@transaction.atomic
def api_key_revoke(*, access: OrgAccess, key_id: object) -> ApiKey:
    access.require(Role.ADMIN)
    key = api_key_get(organization=access.organization, key_id=key_id)
    if key.revoked_at is None:
        key.revoked_at = timezone.now()
        key.save(update_fields=["revoked_at"])
        audit_record(
            organization=access.organization,
            actor=access.actor,
            action="api_key.revoke",
            target=key,
            data={"name": key.name, "prefix": key.prefix},
        )
    return key


class MalformedApiKey(ValueError):
    pass


@functools.cache
def _api_key_sql() -> str:
    """The key by its prefix, with its organization, its creator and the creator's role in the
    key's organization (None once they left): one statement, prepared per connection."""
    t = {m: connection.ops.quote_name(m._meta.db_table) for m in (ApiKey, Organization, User, Membership)}
    return (
        f"WITH k AS (SELECT * FROM {t[ApiKey]} WHERE prefix = %s) "  # noqa: S608 - names from the models
        f"SELECT {select_list(ApiKey, 'k')}, {select_list(Organization, 'o')}, {select_list(User, 'u')}, m.role "
        f"FROM k JOIN {t[Organization]} o ON o.id = k.organization_id "
        f"LEFT JOIN {t[User]} u ON u.id = k.created_by_id "
        f"LEFT JOIN {t[Membership]} m ON m.organization_id = k.organization_id AND m.user_id = k.created_by_id"
    )


def _api_key_read(prefix: str) -> ApiKey | None:
    """What `ApiKey.objects.select_related("organization", "created_by")` with the creator's role
    annotated reads, without the ORM: its query's compilation cost more than the database did,
    on every API-key request (the run start's largest cost)."""
    with bound_cursor() as cursor:
        cursor.execute(_api_key_sql(), (prefix,), prepare=True)
        row = cursor.fetchone()
    if row is None:
        return None
    n_key, n_org = len(ApiKey._meta.concrete_fields), len(Organization._meta.concrete_fields)
    n_user = len(User._meta.concrete_fields)
    key = model_from_row(ApiKey, row[:n_key])
    ApiKey.organization.field.set_cached_value(key, model_from_row(Organization, row[n_key : n_key + n_org]))
    creator = row[n_key + n_org : n_key + n_org + n_user]
    ApiKey.created_by.field.set_cached_value(key, model_from_row(User, creator) if creator[0] is not None else None)
    key.creator_role = row[-1]  # type: ignore[attr-defined]  # read by apps.tenancy.access.api_key_role
    return key


def api_key_authenticate(*, raw: str) -> ApiKey | None:
    """The active key matching `raw`, or None. Raises MalformedApiKey for a bad shape."""
    parts = raw.split("_", 2)
    if len(parts) != 3 or parts[0] != API_KEY_PREFIX or len(parts[1]) != 8 or not parts[2]:
        raise MalformedApiKey("malformed API key")
    key = _api_key_read(parts[1])
    if key is None or not hmac.compare_digest(key.secret_hash, _digest(raw)) or not key.is_active:
        return None
    if api_key_role(key) is None:  # its creator left (or never was): the key acts as nobody
        return None
    now = timezone.now()
    if key.last_used_at is None or now - key.last_used_at > LAST_USED_RESOLUTION:
        # At most one write a minute per key: a busy key must not turn every read into a write.
        ApiKey.objects.filter(pk=key.pk).update(last_used_at=now)
        key.last_used_at = now
    return key
