"""Who is calling a plain async Django view (the run endpoint, the model test stream, the
OpenAI-compatible endpoint): an API key, or a signed-in browser session whose unsafe requests
pass Django's CSRF check. DRF views authenticate through DRF; these views are async, so they
cannot, and this is their one helper (raises NotAuthenticated 401, AuthenticationFailed 401,
CsrfFailed 403).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, TypeVar

from django.contrib.auth.models import User
from django.http import HttpRequest, HttpResponse, HttpResponseForbidden
from django.middleware.csrf import CsrfViewMiddleware
from rest_framework import authentication as drf_authentication
from rest_framework import exceptions as drf_exceptions
from rest_framework.request import Request

from apps.config.db import in_db_thread
from apps.config.errors import AuthenticationFailed, CsrfFailed, Forbidden, NotAuthenticated
from apps.tenancy.access import Actor, api_key_scope_refusal, client_ip
from apps.tenancy.authentication import raw_key_from_headers
from apps.tenancy.services import MalformedApiKey, api_key_authenticate

V = TypeVar("V", bound=Callable[..., Any])


def checks_key_scope(view: V) -> V:
    """Marks a view that authenticates with `authenticate_sync` in a database trip of its own:
    the API key's scope is checked there (the same rule, `api_key_scope_refusal`, on the key
    just read), so ApiKeyScopeMiddleware skips its own lookup of the key (a query and a thread
    hop per request)."""
    view.checks_key_scope = True  # type: ignore[attr-defined]
    return view


class _CsrfCheck(CsrfViewMiddleware):
    """Django's own check, run on the plain request (never on a DRF Request: reading its POST
    without parsers raised UnsupportedMediaType, a 500), returning the reason it refused."""

    def _reject(self, request: HttpRequest, reason: str) -> HttpResponse:
        return HttpResponseForbidden(reason)


def _never_called(request: HttpRequest) -> HttpResponse:  # pragma: no cover - a middleware needs one
    raise AssertionError("the CSRF check does not call the view")


def csrf_failure(request: HttpRequest) -> str | None:
    """Why Django's CSRF check refuses this request, or None when it passes."""
    check = _CsrfCheck(_never_called)
    check.process_request(request)
    refused = check.process_view(request, None, (), {})  # type: ignore[arg-type]
    return None if refused is None else refused.content.decode()


def authenticate_sync(request: HttpRequest, *, sessions: bool = True) -> Actor:
    """The caller of `request` (database thread). An API key wins over a cookie and a bad key
    never falls back to it; `sessions=False` accepts API keys only."""
    ip = client_ip(request)  # the one rule: X-Forwarded-For only from TRELLIS_TRUSTED_PROXIES
    raw = raw_key_from_headers(request.headers.get("Authorization", ""), request.headers.get("X-Api-Key", ""))
    if raw is not None:
        try:
            key = api_key_authenticate(raw=raw)
        except MalformedApiKey:
            raise AuthenticationFailed("Malformed API key.") from None
        if key is None:
            raise AuthenticationFailed("Unknown or revoked API key.")
        match = request.resolver_match  # the key's scope, as ApiKeyScopeMiddleware applies it
        if match is not None:
            method, flow_id = request.method or "GET", match.kwargs.get("flow_id")
            if (reason := api_key_scope_refusal(key, method=method, route=match.url_name, flow_id=flow_id)) is not None:
                raise Forbidden(reason, code="key_scope")
        return Actor(user=None, api_key=key, ip=ip)
    if not sessions:
        raise NotAuthenticated("Send an API key: Authorization: Bearer trl_...")
    user: Any = getattr(request, "user", None)  # set lazily by AuthenticationMiddleware
    if not isinstance(user, User) or not user.is_active:
        raise NotAuthenticated("Authentication credentials were not provided.")
    reason = csrf_failure(request)
    if reason is not None:
        raise CsrfFailed(f"CSRF check failed: {reason}. Send the csrftoken cookie's value as X-CSRFToken.")
    return Actor(user=user, api_key=None, ip=ip)


async def authenticate(request: HttpRequest, *, sessions: bool = True) -> Actor:
    """`authenticate_sync` in a database thread (the session and key lookups are queries)."""
    return await in_db_thread(authenticate_sync)(request, sessions=sessions)


class SessionAuthentication(drf_authentication.SessionAuthentication):
    """DRF's session authentication with the CSRF check run on the plain Django request: DRF's own
    runs it on its Request, whose POST parses the body, so a CSRF-less session POST to a multipart
    view answered 415 (and to a view without parsers 500) instead of 403."""

    def enforce_csrf(self, request: Request) -> None:
        reason = csrf_failure(request._request)
        if reason is not None:
            raise drf_exceptions.PermissionDenied(f"CSRF Failed: {reason}")
