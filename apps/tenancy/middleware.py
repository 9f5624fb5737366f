"""API-key scopes, applied once for every HTTP view (DRF views and the async run, stream and
OpenAI-compatible views alike): a read-only key only reads, a runs-only key only runs flows and
reads runs, a key limited to some flows reaches only URLs that name one of them.

Authentication stays with the views (this never admits anything); it only refuses, with 403
`key_scope`, before the view runs. Requests without an API key pass untouched, in both sync and
async mode, with no query and no thread hop; so do keyed requests to the views marked
`checks_key_scope` (the run, OpenAI-compatible views), which apply the same rule to the key their
own authentication reads, in the run start's one database trip.
"""

from __future__ import annotations

import functools
from typing import Any

from django.http import HttpRequest, HttpResponseBase, JsonResponse
from django.urls import Resolver404, resolve

from apps.config.db import in_db_thread
from apps.config.hybrid_middleware import HybridMiddleware
from apps.tenancy.access import api_key_scope_refusal
from apps.tenancy.authentication import raw_key_from_headers
from apps.tenancy.models import ApiKey


def scope_refusal(request: HttpRequest) -> str | None:
    """Why the API key on `request` may not make it (None: no key, an unknown key, or allowed)."""
    raw = raw_key_from_headers(request.headers.get("Authorization", ""), request.headers.get("X-Api-Key", ""))
    if raw is None:
        return None
    parts = raw.split("_", 2)
    if len(parts) != 3:
        return None  # malformed: the view's authentication says so
    key = ApiKey.objects.filter(prefix=parts[1]).only("scope", "flows").first()
    if key is None or (key.scope == "full" and not key.flows):
        return None
    try:
        match = resolve(request.path_info)
    except Resolver404:
        return None
    return api_key_scope_refusal(
        key, method=request.method or "GET", route=match.url_name, flow_id=match.kwargs.get("flow_id")
    )


def _refused(reason: str) -> JsonResponse:
    return JsonResponse({"code": "key_scope", "message": reason}, status=403)


def _view_checks_scope(request: HttpRequest) -> bool:
    """The view applies the same rule in its own database trip (apps.tenancy.http_auth)."""
    return _path_checks_scope(getattr(request, "urlconf", None), request.path_info)


@functools.lru_cache(maxsize=4096)
def _path_checks_scope(urlconf: str | None, path: str) -> bool:
    """Per path (the URLs are fixed for a process): resolving walks the URL patterns, a cost
    on every keyed request that the handler pays once more to find the view."""
    try:
        return bool(getattr(resolve(path, urlconf).func, "checks_key_scope", False))
    except Resolver404:
        return False


def _has_key(request: HttpRequest) -> bool:
    return "authorization" in request.headers or "x-api-key" in request.headers


class ApiKeyScopeMiddleware(HybridMiddleware):
    def __call__(self, request: HttpRequest) -> Any:
        if self.is_async:
            return self._acall(request)
        if _has_key(request) and (reason := scope_refusal(request)) is not None:
            return _refused(reason)
        return self.get_response(request)

    async def _acall(self, request: HttpRequest) -> HttpResponseBase:
        if (
            _has_key(request)
            and not _view_checks_scope(request)
            and (reason := await in_db_thread(scope_refusal)(request)) is not None
        ):
            return _refused(reason)
        response: HttpResponseBase = await self.get_response(request)
        return response
