"""The public HTTP surface of widgets: the session endpoint, /widget.js and the hosted chat page.

Nothing here reads cookies. The session endpoint checks the Origin against the widget's allowed
origins (a missing Origin is refused) and hands out a short-lived signed session token; the
hosted page carries a strict Content-Security-Policy and frame-ancestors.
"""

from __future__ import annotations

import functools
import html
import json
from pathlib import Path
from typing import Any

from django.conf import settings
from django.http import HttpRequest, HttpResponse, JsonResponse
from django.views.decorators.clickjacking import xframe_options_exempt
from django.views.decorators.csrf import csrf_exempt

from apps.config.db import in_db_thread
from apps.config.errors import Forbidden, NotFound, TrellisError
from apps.config.wire_errors import error_of, wire_error
from apps.widgets.models import Visitor, Widget
from apps.widgets.origins import BadOrigin, normalize_origin, origin_matches, own_origin
from apps.widgets.selectors import conversation_history, conversation_latest, widget_by_public_key
from apps.widgets.tokens import WidgetSession, session_token, visitor_from_credential

MAX_BODY = 4096


def origin_allowed(widget: Widget, origin: str | None, own: str | None) -> bool:
    if origin_matches(origin, widget.allowed_origins):
        return True
    return bool(widget.hosted_page and own and origin_matches(origin, [own]))


def own_origin_of_scope(scope: dict[str, Any], headers: dict[str, str]) -> str | None:
    secure = scope.get("scheme") in {"wss", "https"}
    return own_origin("https" if secure else "http", headers.get("host", ""))


def _own_origin_of_request(request: HttpRequest) -> str | None:
    return own_origin(request.scheme or "http", request.get_host())


def public_config(widget: Widget) -> dict[str, Any]:
    appearance = widget.appearance or {}
    return {
        "title": str(appearance.get("title", "")),
        "greeting": str(appearance.get("greeting", "")),
        "suggestions": [str(s) for s in appearance.get("suggestions", [])][:6],
        "primary_color": str(appearance.get("primary_color", "#4f46e5")),
        "avatar_url": str(appearance.get("avatar_url", "")),
        "position": "left" if appearance.get("position") == "left" else "right",
        "theme": "dark" if appearance.get("theme") == "dark" else "light",
        "show_sources": widget.show_sources,
        "collect_feedback": widget.collect_feedback,
        "max_input_chars": widget.max_input_chars,
    }


def _cors(response: HttpResponse, origin: str | None) -> HttpResponse:
    # Echoed so the widget can read the refusal and say so; a refusal carries no data.
    if origin:
        response["Access-Control-Allow-Origin"] = origin
        response["Vary"] = "Origin"
    return response


def _error(code: str, message: str, status: int, origin: str | None) -> HttpResponse:
    return _cors(error_of(code, message, status).response(), origin)


def _session_payload(key: str, origin: str, own: str | None, raw_visitor: object) -> dict[str, Any]:
    """Every read of the session endpoint, in one database-thread hop."""
    widget = widget_by_public_key(key=key)
    if widget is None:
        raise NotFound("This chat is not available.", code="widget_not_found")
    if not origin_allowed(widget, origin, own):
        raise Forbidden("This chat is not allowed on this website.", code="origin_not_allowed")
    visitor = None
    if isinstance(raw_visitor, str) and len(raw_visitor) < 400:
        visitor = visitor_from_credential(raw_visitor, widget=widget.pk)
        if visitor is not None and not Visitor.objects.filter(pk=visitor, widget=widget).exists():
            visitor = None
    history: list[dict[str, Any]] = []
    if visitor is not None and (conversation := conversation_latest(widget=widget, visitor=visitor)):
        history = conversation_history(conversation=conversation, show_sources=widget.show_sources)
    token = session_token(WidgetSession(widget.pk, widget.public_key, normalize_origin(origin), visitor))
    return {
        "token": token,
        "expires_in": settings.WIDGET_SESSION_TTL,
        "widget": public_config(widget),
        "visitor_known": visitor is not None,
        "history": history,
    }


@csrf_exempt
async def widget_session_view(request: HttpRequest) -> HttpResponse:
    """POST {key, visitor?} -> {token, expires_in, widget, history}. Origin-checked, no cookies.

    Async, with its reads in one pooled database thread: a sync view would get a thread (and a
    database connection) per concurrent request under ASGI.
    """
    origin = request.headers.get("Origin")
    if request.method == "OPTIONS":
        response = HttpResponse(status=204)
        response["Access-Control-Allow-Methods"] = "POST"
        response["Access-Control-Allow-Headers"] = "Content-Type"
        response["Access-Control-Max-Age"] = "600"
        return _cors(response, origin)
    if request.method != "POST":
        return _error("method_not_allowed", f"Method {request.method} is not allowed.", 405, origin)
    if not origin:
        return _error("origin_required", "This endpoint is for browsers: the Origin header is required.", 403, None)
    if len(request.body) > MAX_BODY:
        return _error("invalid", "Request too large.", 400, origin)
    try:
        body = json.loads(request.body or b"{}")
    except ValueError:
        return _error("malformed_json", "Malformed JSON body.", 400, origin)
    if not isinstance(body, dict) or set(body) - {"key", "visitor"} or not isinstance(body.get("key"), str):
        return _error("invalid", 'Send {"key": ..., "visitor"?: ...} only.', 400, origin)
    try:
        payload = await in_db_thread(_session_payload)(
            body["key"], origin, _own_origin_of_request(request), body.get("visitor")
        )
    except TrellisError as refused:  # apps.config.wire_errors
        return _cors(wire_error(refused).response(), origin)
    response = JsonResponse(payload)
    response["Cache-Control"] = "no-store"
    return _cors(response, origin)


@functools.lru_cache(maxsize=4)
def _read_bundle(path: str, mtime_ns: int) -> bytes | None:
    try:
        return Path(path).read_bytes()
    except FileNotFoundError:
        return None


async def widget_script_view(request: HttpRequest) -> HttpResponse:
    """The embeddable bundle (frontend/widget, built into frontend/dist-widget/widget.js)."""
    bundle = settings.FRONTEND_DIST.parent / "dist-widget" / "widget.js"
    try:
        content = _read_bundle(str(bundle), bundle.stat().st_mtime_ns)
    except FileNotFoundError:
        content = None
    if content is None:
        return HttpResponse(
            "// widget.js is not built yet: run `make build`", content_type="text/javascript", status=503
        )
    response = HttpResponse(content, content_type="text/javascript; charset=utf-8")
    response["Cache-Control"] = "public, max-age=300"
    response["Cross-Origin-Resource-Policy"] = "cross-origin"
    return response


HOSTED_PAGE = """<!doctype html>
<html lang="en"><head><meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>{title}</title>
<style>html,body{{margin:0;height:100%;background:{background}}}</style>
</head><body>
<script src="/widget.js" data-key="{key}" data-mode="page" async></script>
<noscript>This chat needs JavaScript.</noscript>
</body></html>
"""


def _csp_safe(origin: str) -> bool:
    try:
        return normalize_origin(origin) == origin
    except BadOrigin:
        return False


def _csp(widget: Widget, request: HttpRequest) -> str:
    host = request.get_host()
    ws = "wss" if request.is_secure() else "ws"
    # Stored origins were validated on save; checked again here, since a header is no place for a
    # row written some other way: only an exact, normalised origin goes into the policy.
    ancestors = " ".join(["'self'", *(origin for origin in widget.allowed_origins if _csp_safe(origin))])
    return "; ".join(
        [
            "default-src 'none'",
            "script-src 'self'",
            "style-src 'self' 'unsafe-inline'",
            f"connect-src 'self' {ws}://{host}",
            "img-src 'self' https: data:",
            "base-uri 'none'",
            "form-action 'none'",
            f"frame-ancestors {ancestors}",
        ]
    )


@xframe_options_exempt  # frame-ancestors below says who may frame it (X-Frame-Options cannot list origins)
async def widget_hosted_view(request: HttpRequest, key: str) -> HttpResponse:
    """The shareable full-page chat: /w/<public key>/."""
    widget = await in_db_thread(widget_by_public_key)(key=key)
    if widget is None or not widget.hosted_page:
        return HttpResponse("This chat is not available.", content_type="text/plain", status=404)
    config = public_config(widget)
    page = HOSTED_PAGE.format(
        title=html.escape(config["title"] or widget.name),
        key=html.escape(widget.public_key),
        background="#0b0f19" if config["theme"] == "dark" else "#f7f7fb",
    )
    response = HttpResponse(page, content_type="text/html; charset=utf-8")
    response["Content-Security-Policy"] = _csp(widget, request)
    response["Referrer-Policy"] = "no-referrer"
    response["Cache-Control"] = "no-cache"
    return response
