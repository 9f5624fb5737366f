"""Django's own middleware without a thread hop per request in async mode.

Django's `MiddlewareMixin` runs each `process_request` and `process_response` of a sync-written
middleware through `sync_to_async(thread_sensitive=True)` when the request is served async
(uvicorn), and the handler wraps each sync `process_view` the same way: with the seven built-in
middlewares that was ~14 trips to a thread (one new thread per request, `ThreadSensitiveContext`)
for every API call, and they serialized concurrent requests on the GIL handoffs. What these
methods do is pure CPU on the request's headers and cookies (no I/O), so here they run inline
on the event loop; the few cases that can touch the database or a file (a session or messages
that must be saved, a CSRF check that parses a form body) still go through a thread, as before.
Sync mode (the test client, WSGI) is Django's own code, unchanged.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from asgiref.sync import sync_to_async
from django.conf import settings
from django.contrib.auth.middleware import AuthenticationMiddleware
from django.contrib.messages.middleware import MessageMiddleware
from django.contrib.sessions.middleware import SessionMiddleware
from django.http import HttpRequest, HttpResponseBase, HttpResponsePermanentRedirect
from django.middleware.clickjacking import XFrameOptionsMiddleware
from django.middleware.common import CommonMiddleware
from django.middleware.csrf import CsrfViewMiddleware
from django.middleware.security import SecurityMiddleware


class _Inline:
    """`__acall__` without the thread hops; `_response_blocks` says when process_response may
    do I/O (then it runs in a thread, as Django's own mixin would run it)."""

    get_response: Callable[[HttpRequest], Any]

    def _request_blocks(self, request: HttpRequest) -> bool:
        return False

    def _response_blocks(self, request: HttpRequest) -> bool:
        return False

    async def __acall__(self, request: HttpRequest) -> HttpResponseBase:
        response = None
        process_request = getattr(self, "process_request", None)
        if process_request is not None:
            if self._request_blocks(request):
                response = await sync_to_async(process_request, thread_sensitive=True)(request)
            else:
                response = process_request(request)
        response = response or await self.get_response(request)
        process_response = getattr(self, "process_response", None)
        if process_response is not None:
            if self._response_blocks(request):
                response = await sync_to_async(process_response, thread_sensitive=True)(request, response)
            else:
                response = process_response(request, response)
        return response  # type: ignore[no-any-return]


class InlineSecurityMiddleware(_Inline, SecurityMiddleware):
    pass


class InlineSessionMiddleware(_Inline, SessionMiddleware):
    """Reading the cookie is inline (the session loads lazily, in whatever thread reads it);
    saving a modified session is a write, in a thread."""

    def _response_blocks(self, request: HttpRequest) -> bool:
        session = getattr(request, "session", None)
        return session is not None and (bool(session.modified) or settings.SESSION_SAVE_EVERY_REQUEST)


class InlineCommonMiddleware(_Inline, CommonMiddleware):
    """An API path without its trailing slash is served as the path with it, when only that one
    is a route: Django's APPEND_SLASH answers with a redirect, which turns a client's POST into a
    GET (and, with DEBUG on, answers a POST with an error page)."""

    def process_request(self, request: HttpRequest) -> HttpResponsePermanentRedirect | None:
        path = request.path_info
        if path.startswith("/api/") and not path.endswith("/") and self.should_redirect_with_slash(request):
            request.path_info = f"{path}/"
            request.path = f"{request.path}/"
        return super().process_request(request)


class InlineCsrfViewMiddleware(_Inline, CsrfViewMiddleware):
    """The cookie and header checks inline; a check that must read a form body (an unsafe
    request to a view that is not exempt) in a thread, as Django does it."""

    def _request_blocks(self, request: HttpRequest) -> bool:
        return bool(settings.CSRF_USE_SESSIONS)  # the secret is in the session: a read

    async def process_view(  # type: ignore[override]
        self, request: HttpRequest, callback: Any, callback_args: Any, callback_kwargs: Any
    ) -> HttpResponseBase | None:
        check = super().process_view
        safe = getattr(callback, "csrf_exempt", False) or request.method in ("GET", "HEAD", "OPTIONS", "TRACE")
        if safe and not settings.CSRF_USE_SESSIONS:
            return check(request, callback, callback_args, callback_kwargs)
        return await sync_to_async(check, thread_sensitive=True)(request, callback, callback_args, callback_kwargs)

    def __init__(self, get_response: Any) -> None:
        super().__init__(get_response)
        if not self.async_mode:  # sync mode: Django's own method (the handler calls it directly)
            self.process_view = super().process_view  # type: ignore[method-assign,assignment]


class InlineAuthenticationMiddleware(_Inline, AuthenticationMiddleware):
    """Sets the lazy request.user and request.auser (no query until one is read)."""


class InlineMessageMiddleware(_Inline, MessageMiddleware):
    """Messages that were read or added are stored (cookie or session): in a thread."""

    def _response_blocks(self, request: HttpRequest) -> bool:
        storage = getattr(request, "_messages", None)
        return storage is not None and bool(storage.used or storage.added_new)


class InlineXFrameOptionsMiddleware(_Inline, XFrameOptionsMiddleware):
    pass
