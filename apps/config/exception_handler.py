"""The one place where errors become HTTP responses:
{"code": str, "message": str, "fields"?: {field: [messages]}}.
"""

from __future__ import annotations

import sys
from typing import Any

from django.core.exceptions import PermissionDenied as DjangoPermissionDenied
from django.http import Http404, HttpRequest, HttpResponse, JsonResponse
from django.views.defaults import page_not_found
from rest_framework import exceptions as drf
from rest_framework.response import Response
from rest_framework.views import exception_handler as drf_exception_handler

from apps.config.db import DatabaseUnavailable, database_error
from apps.config.errors import TrellisError
from apps.config.wire_errors import wire_error
from flows.errors import FlowError

_DRF_CODES: dict[type[drf.APIException], str] = {
    drf.ParseError: "malformed_json",
    drf.NotAuthenticated: "not_authenticated",
    drf.AuthenticationFailed: "authentication_failed",
    drf.PermissionDenied: "permission_denied",
    drf.NotFound: "not_found",
    drf.MethodNotAllowed: "method_not_allowed",
    drf.UnsupportedMediaType: "unsupported_media_type",
    drf.Throttled: "rate_limited",
    drf.NotAcceptable: "not_acceptable",
}


def _flatten(detail: Any) -> Any:
    if isinstance(detail, dict):
        return {key: _flatten(value) for key, value in detail.items()}
    if isinstance(detail, list):
        return [_flatten(item) for item in detail]
    return str(detail)


def _first_message(fields: dict[str, Any]) -> str:
    for name, messages in fields.items():
        first = messages[0] if isinstance(messages, list) and messages else messages
        if isinstance(first, dict):
            return _first_message(first)
        label = "" if name == "non_field_errors" else f"{name}: "
        return f"{label}{first}"
    return "Invalid input."


def error_body(code: str, message: str, fields: dict[str, Any] | None = None) -> dict[str, Any]:
    body: dict[str, Any] = {"code": code, "message": message}
    if fields:
        body["fields"] = fields
    return body


def database_unavailable_response(unavailable: DatabaseUnavailable) -> JsonResponse:
    """503 with Retry-After for a database that is busy or down (plain Django views, middleware)."""
    body = {**error_body(unavailable.code, unavailable.message), **unavailable.details()}
    response = JsonResponse(body, status=unavailable.status)
    response["Retry-After"] = str(unavailable.retry_after)
    return response


def server_error(request: HttpRequest) -> HttpResponse:
    """handler500: what Django answers for an error no view or middleware handled. A database
    that is busy or down (raised in a middleware: the session's save) is a 503, never a 500."""
    unavailable = database_error(sys.exc_info()[1] or Exception())
    if unavailable is not None:
        return database_unavailable_response(unavailable)
    message = "The server failed on this request; it has been logged."
    return JsonResponse(error_body("internal_error", message), status=500)


def not_found(request: HttpRequest, exception: Exception) -> HttpResponse:
    """handler404: a path no route matches. Under /api/ the answer is the API's JSON error (an
    API client got Django's HTML page before); elsewhere Django's own page (the SPA's catch-all
    route answers every other path anyway)."""
    if request.path.startswith("/api/"):
        message = "No API route at this path: check it against /api/docs/ (paths end with a slash)."
        return JsonResponse(error_body("route_not_found", message), status=404)
    return page_not_found(request, exception)


def exception_handler(exc: Exception, context: dict[str, Any]) -> Response | None:
    if (unavailable := database_error(exc)) is not None:  # busy pool, server down: 503, retry later
        body = {**error_body(unavailable.code, unavailable.message), **unavailable.details()}
        return Response(body, status=unavailable.status, headers={"Retry-After": str(unavailable.retry_after)})
    if isinstance(exc, TrellisError | FlowError):  # app and engine errors: the one table
        wire = wire_error(exc)
        return Response(wire.body(), status=wire.status)
    if isinstance(exc, Http404):
        exc = drf.NotFound()
    elif isinstance(exc, DjangoPermissionDenied):
        exc = drf.PermissionDenied()
    if isinstance(exc, drf.ValidationError):
        fields = _flatten(exc.detail if isinstance(exc.detail, dict) else {"non_field_errors": exc.detail})
        return Response(error_body("invalid", _first_message(fields), fields), status=400)
    response = drf_exception_handler(exc, context)
    if response is None:
        return None
    detail: Any = getattr(exc, "detail", None)
    code = next((c for kind, c in _DRF_CODES.items() if isinstance(exc, kind)), "error")
    message = str(detail) if detail is not None and not isinstance(detail, dict | list) else "Request failed."
    if code == "malformed_json":
        message = f"Malformed JSON body: {message}"
    response.data = error_body(code, message)
    return response
