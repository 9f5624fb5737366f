"""Thin views: parse input, call one access check and one service/selector, render."""

from __future__ import annotations

from typing import Any

from django.contrib.auth import authenticate, login, logout
from django.contrib.auth.models import User
from django.utils.decorators import method_decorator
from django.views.decorators.csrf import csrf_protect, ensure_csrf_cookie
from drf_spectacular.utils import OpenApiParameter, extend_schema
from rest_framework import status
from rest_framework.exceptions import NotAuthenticated
from rest_framework.pagination import LimitOffsetPagination
from rest_framework.permissions import AllowAny
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.throttling import ScopedRateThrottle
from rest_framework.views import APIView

from apps.config.errors import InvalidInput
from apps.config.serializers import ErrorSerializer
from apps.tenancy import emails, selectors, services, throttle
from apps.tenancy.access import OrgAccess, actor_from_request, api_key_role, client_ip
from apps.tenancy.api import serializers as s
from apps.tenancy.api.common import ERRORS, org_access, parse_body
from apps.tenancy.authentication import ApiKeyUser
from apps.tenancy.models import Invitation, Role


def _me(request: Request) -> dict[str, Any]:
    user = request.user
    if isinstance(user, ApiKeyUser):
        key = user.key
        org = key.organization
        organizations = [
            {
                "id": org.id,
                "name": org.name,
                "slug": org.slug,
                "role": api_key_role(key) or key.role,
                "created_at": org.created_at,
            }
        ]
        return {
            "id": 0,
            "username": user.username,
            "email": "",
            "email_verified": False,
            "organizations": organizations,
        }
    if not isinstance(user, User):  # unreachable behind IsAuthenticated; keeps the types honest
        raise NotAuthenticated()
    memberships = selectors.organization_list_for_user(user=user)
    verified = emails.verified_email(user)
    return {
        "id": user.pk,
        "username": user.get_username(),
        "email": user.email,
        "email_verified": verified is not None and verified == emails.normalize_email(user.email),
        "organizations": [s.OrganizationOut.from_membership(m) for m in memberships],
    }


# --- auth -------------------------------------------------------------------------------------


class CsrfView(APIView):
    permission_classes = [AllowAny]
    authentication_classes: list[type] = []

    @extend_schema(responses={204: None}, summary="Set the CSRF cookie")
    @method_decorator(ensure_csrf_cookie)
    def get(self, request: Request) -> Response:
        return Response(status=status.HTTP_204_NO_CONTENT)


class ClientIpThrottle(ScopedRateThrottle):
    """DRF's scoped rate, keyed by the one client-IP helper (DRF's own reads X-Forwarded-For from
    anyone when no proxy count is set)."""

    def get_ident(self, request: Request) -> str:
        return client_ip(request) or "unknown"


def _too_many(wait: int) -> Response:
    body = {
        "code": "too_many_attempts",
        "message": f"Too many failed sign-ins: try again in {wait} s.",
        "retry_after": wait,
    }
    return Response(body, status=status.HTTP_429_TOO_MANY_REQUESTS, headers={"Retry-After": str(wait)})


class LoginView(APIView):
    permission_classes = [AllowAny]
    authentication_classes: list[type] = []
    throttle_classes = [ClientIpThrottle]
    throttle_scope = "login"

    @extend_schema(
        request=s.LoginIn, responses={200: s.MeOut, 429: ErrorSerializer, **ERRORS}, summary="Sign in (session)"
    )
    @method_decorator(csrf_protect)
    def post(self, request: Request) -> Response:
        data = parse_body(s.LoginIn, request)
        ip = client_ip(request) or "unknown"
        if wait := throttle.retry_after(username=data["username"], ip=ip):
            return _too_many(wait)  # before the password is checked: a guess during a lock teaches nothing
        user = authenticate(request._request, username=data["username"], password=data["password"])
        if not isinstance(user, User):
            failure = throttle.record_failure(username=data["username"], ip=ip)
            if failure.account_lock_s:
                services.login_throttle_audit(username=data["username"], ip=ip, failure=failure)
            raise InvalidInput("Invalid username or password.", code="invalid_credentials")
        throttle.record_success(username=data["username"])
        login(request._request, user)
        request.user = user
        return Response(s.MeOut(_me(request)).data)


class LogoutView(APIView):
    permission_classes = [AllowAny]

    @extend_schema(request=None, responses={204: None}, summary="Sign out")
    def post(self, request: Request) -> Response:
        logout(request._request)
        return Response(status=status.HTTP_204_NO_CONTENT)


class MeView(APIView):
    @extend_schema(responses={200: s.MeOut, **ERRORS}, summary="The signed-in user and organizations")
    def get(self, request: Request) -> Response:
        return Response(s.MeOut(_me(request)).data)


class InvitationAcceptView(APIView):
    permission_classes = [AllowAny]
    throttle_classes = [ClientIpThrottle]
    throttle_scope = "login"

    @extend_schema(
        request=s.InvitationAcceptIn,
        responses={200: s.MeOut, **ERRORS},
        summary="Accept an invitation (signed in, or creating an account)",
    )
    def post(self, request: Request) -> Response:
        data = parse_body(s.InvitationAcceptIn, request)
        current = request.user if isinstance(request.user, User) else None
        user = services.invitation_accept(
            token=data["token"],
            user=current,
            username=data["username"],
            password=data["password"],
            ip=client_ip(request),
        )
        if current is None:
            login(request._request, user, backend="django.contrib.auth.backends.ModelBackend")
        request.user = user  # DRF sets the wrapped HttpRequest's user too
        return Response(s.MeOut(_me(request)).data)


class EmailView(APIView):
    throttle_classes = [ClientIpThrottle]
    throttle_scope = "login"

    @extend_schema(
        request=s.EmailIn,
        responses={202: s.EmailStartedOut, **ERRORS},
        summary="Set my email address: a verification link goes to it",
    )
    def post(self, request: Request) -> Response:
        data = parse_body(s.EmailIn, request)
        if not isinstance(request.user, User):
            raise InvalidInput("Only a person's account has an email address.", code="not_a_person")
        link = emails.email_verification_start(
            user=request.user,
            email=data["email"],
            link_for=lambda token: request.build_absolute_uri(f"/verify-email?token={token}"),
        )
        body = {
            "email": emails.normalize_email(data["email"]),
            "verify_url": link if emails.links_shown_in_ui() else None,
        }
        return Response(s.EmailStartedOut(body).data, status=status.HTTP_202_ACCEPTED)


class EmailVerifyView(APIView):
    permission_classes = [AllowAny]
    authentication_classes: list[type] = []
    throttle_classes = [ClientIpThrottle]
    throttle_scope = "login"

    @extend_schema(
        request=s.EmailTokenIn,
        responses={200: s.EmailStartedOut, **ERRORS},
        summary="Verify an email address with the token from its link",
    )
    def post(self, request: Request) -> Response:
        data = parse_body(s.EmailTokenIn, request)
        user = emails.email_verify(token=data["token"])
        return Response(s.EmailStartedOut({"email": user.email, "verify_url": None}).data)


# --- organizations ----------------------------------------------------------------------------


class OrganizationListView(APIView):
    @extend_schema(responses={200: s.OrganizationOut(many=True), **ERRORS}, summary="My organizations")
    def get(self, request: Request) -> Response:
        return Response(s.OrganizationOut(_me(request)["organizations"], many=True).data)

    @extend_schema(
        request=s.OrganizationIn,
        responses={201: s.OrganizationOut, **ERRORS},
        summary="Create an organization (you become its owner)",
    )
    def post(self, request: Request) -> Response:
        data = parse_body(s.OrganizationIn, request)
        org = services.organization_create(actor=actor_from_request(request), name=data["name"])
        body = {"id": org.id, "name": org.name, "slug": org.slug, "role": Role.OWNER, "created_at": org.created_at}
        return Response(s.OrganizationOut(body).data, status=status.HTTP_201_CREATED)


class OrganizationDetailView(APIView):
    @extend_schema(responses={200: s.OrganizationOut, **ERRORS}, summary="One organization")
    def get(self, request: Request, org_id: str) -> Response:
        access = org_access(request, org_id)
        return Response(s.OrganizationOut(self._body(access)).data)

    @extend_schema(
        request=s.OrganizationIn, responses={200: s.OrganizationOut, **ERRORS}, summary="Rename an organization (admin)"
    )
    def patch(self, request: Request, org_id: str) -> Response:
        access = org_access(request, org_id, Role.ADMIN)
        data = parse_body(s.OrganizationIn, request)
        org = services.organization_update(access=access, name=data["name"])
        return Response(s.OrganizationOut(self._body(OrgAccess(org, access.role, access.actor))).data)

    @staticmethod
    def _body(access: OrgAccess) -> dict[str, Any]:
        org = access.organization
        return {"id": org.id, "name": org.name, "slug": org.slug, "role": access.role, "created_at": org.created_at}


# --- members ----------------------------------------------------------------------------------


class MemberListView(APIView):
    @extend_schema(responses={200: s.MemberOut(many=True), **ERRORS}, summary="Members")
    def get(self, request: Request, org_id: str) -> Response:
        access = org_access(request, org_id)
        return Response(s.MemberOut(selectors.member_list(organization=access.organization), many=True).data)

    @extend_schema(
        request=s.MemberAddIn,
        responses={201: s.InvitationCreatedOut, **ERRORS},
        summary="Add someone by email (admin): an invitation goes to the address, account or not",
    )
    def post(self, request: Request, org_id: str) -> Response:
        access = org_access(request, org_id, Role.ADMIN)
        data = parse_body(s.MemberAddIn, request)
        invitation, token = services.member_add(access=access, email=data["email"], role=data["role"])
        return _invitation_created(request, invitation, token)


class MemberDetailView(APIView):
    @extend_schema(
        request=s.MemberRoleIn, responses={200: s.MemberOut, **ERRORS}, summary="Change a member's role (admin)"
    )
    def patch(self, request: Request, org_id: str, member_id: int) -> Response:
        access = org_access(request, org_id, Role.ADMIN)
        data = parse_body(s.MemberRoleIn, request)
        member = services.member_update_role(access=access, member_id=member_id, role=data["role"])
        return Response(s.MemberOut(member).data)

    @extend_schema(responses={204: None, **ERRORS}, summary="Remove a member (admin)")
    def delete(self, request: Request, org_id: str, member_id: int) -> Response:
        access = org_access(request, org_id, Role.ADMIN)
        services.member_remove(access=access, member_id=member_id)
        return Response(status=status.HTTP_204_NO_CONTENT)


# --- invitations ------------------------------------------------------------------------------


class InvitationListView(APIView):
    @extend_schema(responses={200: s.InvitationOut(many=True), **ERRORS}, summary="Open invitations (admin)")
    def get(self, request: Request, org_id: str) -> Response:
        access = org_access(request, org_id, Role.ADMIN)
        invitations = selectors.invitation_list_open(organization=access.organization)
        return Response(s.InvitationOut(invitations, many=True).data)

    @extend_schema(
        request=s.InvitationIn,
        responses={201: s.InvitationCreatedOut, **ERRORS},
        summary="Invite by email (admin); the token is shown once",
    )
    def post(self, request: Request, org_id: str) -> Response:
        access = org_access(request, org_id, Role.ADMIN)
        data = parse_body(s.InvitationIn, request)
        invitation, token = services.invitation_create(access=access, email=data["email"], role=data["role"])
        return _invitation_created(request, invitation, token)


def _invitation_created(request: Request, invitation: Invitation, token: str) -> Response:
    """The invitation's link goes to its address (the server log without a mail server) and is
    shown once to the admin who made it."""
    invitation.token = token  # type: ignore[attr-defined]
    invitation.accept_url = request.build_absolute_uri(f"/invite?token={token}")  # type: ignore[attr-defined]
    emails.deliver(
        to=invitation.email,
        subject=f"You are invited to {invitation.organization.name} on Trellis",
        text=f"Open this link to join {invitation.organization.name} as {invitation.role}:\n\n"
        f"{invitation.accept_url}\n",  # type: ignore[attr-defined]
        link=invitation.accept_url,  # type: ignore[attr-defined]
    )
    return Response(s.InvitationCreatedOut(invitation).data, status=status.HTTP_201_CREATED)


class InvitationDetailView(APIView):
    @extend_schema(responses={204: None, **ERRORS}, summary="Revoke an invitation (admin)")
    def delete(self, request: Request, org_id: str, invitation_id: int) -> Response:
        access = org_access(request, org_id, Role.ADMIN)
        services.invitation_revoke(access=access, invitation_id=invitation_id)
        return Response(status=status.HTTP_204_NO_CONTENT)


# --- API keys ---------------------------------------------------------------------------------


class ApiKeyListView(APIView):
    @extend_schema(responses={200: s.ApiKeyOut(many=True), **ERRORS}, summary="API keys (admin)")
    def get(self, request: Request, org_id: str) -> Response:
        access = org_access(request, org_id, Role.ADMIN)
        return Response(s.ApiKeyOut(selectors.api_key_list(organization=access.organization), many=True).data)

    @extend_schema(
        request=s.ApiKeyIn,
        responses={201: s.ApiKeyCreatedOut, **ERRORS},
        summary="Create an API key (admin); the key is shown once",
    )
    def post(self, request: Request, org_id: str) -> Response:
        access = org_access(request, org_id, Role.ADMIN)
        data = parse_body(s.ApiKeyIn, request)
        key, raw = services.api_key_create(
            access=access,
            name=data["name"],
            role=data["role"],
            scope=data["scope"],
            flows=[str(flow) for flow in data["flows"]],
            expires_at=data["expires_at"],
        )
        key.key = raw  # type: ignore[attr-defined]
        return Response(s.ApiKeyCreatedOut(key).data, status=status.HTTP_201_CREATED)


class ApiKeyDetailView(APIView):
    @extend_schema(responses={204: None, **ERRORS}, summary="Revoke an API key (admin)")
    def delete(self, request: Request, org_id: str, key_id: int) -> Response:
        access = org_access(request, org_id, Role.ADMIN)
        services.api_key_revoke(access=access, key_id=key_id)
        return Response(status=status.HTTP_204_NO_CONTENT)


# --- audit ------------------------------------------------------------------------------------


class AuditPagination(LimitOffsetPagination):
    default_limit = 50
    max_limit = 200


class AuditEventListView(APIView):
    @extend_schema(
        responses={200: s.AuditEventPageOut, **ERRORS},
        parameters=[OpenApiParameter("limit", int), OpenApiParameter("offset", int)],
        summary="Audit log, newest first (admin)",
    )
    def get(self, request: Request, org_id: str) -> Response:
        access = org_access(request, org_id, Role.ADMIN)
        paginator = AuditPagination()
        page = paginator.paginate_queryset(
            selectors.audit_event_list(organization=access.organization), request, view=self
        )
        return paginator.get_paginated_response(s.AuditEventOut(page, many=True).data)
