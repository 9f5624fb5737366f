"""Middleware that works in both modes, so async views (runs, streams) never get pushed onto
Django's single sync thread by a sync-only layer."""

from __future__ import annotations

import logging
import time
from collections.abc import Awaitable, Callable
from typing import Any

from asgiref.sync import iscoroutinefunction, markcoroutinefunction, sync_to_async
from django.http import HttpRequest, HttpResponseBase
from whitenoise.middleware import WhiteNoiseMiddleware

from apps.config.db import database_error
from apps.config.exception_handler import database_unavailable_response
from apps.config.hybrid_middleware import HybridMiddleware
from apps.config.metrics import observe

logger = logging.getLogger(__name__)


class StaticFilesMiddleware(WhiteNoiseMiddleware):  # type: ignore[misc]
    """WhiteNoise, which is sync-only, taught to answer in async mode too."""

    sync_capable = True
    async_capable = True

    def __init__(self, get_response: Any) -> None:
        super().__init__(get_response)
        self.is_async = iscoroutinefunction(get_response)
        if self.is_async:
            markcoroutinefunction(self)

    def __call__(self, request: HttpRequest) -> Any:
        if self.is_async:
            return self._acall(request)
        return super().__call__(request)

    def _may_be_file(self, url: str) -> bool:
        """find_file's own early answers, without its thread hop: a URL ending in / (no index
        file), or under neither the static prefix nor a served directory, is never a file."""
        if self.index_file is None and url.endswith("/"):
            return False
        return url.startswith(self.static_prefix) or any(url.startswith(prefix) for _, prefix in self.directories)

    async def _acall(self, request: HttpRequest) -> HttpResponseBase:
        if self.autorefresh:
            url = request.path_info
            find = sync_to_async(self.find_file, thread_sensitive=False)
            static_file = await find(url) if self._may_be_file(url) else None
        else:
            static_file = self.files.get(request.path_info)
        if static_file is not None:
            return self.serve(static_file, request)  # type: ignore[no-any-return]
        return await self.get_response(request)  # type: ignore[no-any-return]


class MetricsMiddleware(HybridMiddleware):
    def __call__(self, request: HttpRequest) -> Any:
        if self.is_async:
            return self._acall(request)
        started = time.perf_counter()
        response = self.get_response(request)
        observe(request, response, started)
        return response

    async def _acall(self, request: HttpRequest) -> HttpResponseBase:
        started = time.perf_counter()
        get_response: Callable[[HttpRequest], Awaitable[HttpResponseBase]] = self.get_response  # type: ignore[assignment]
        response = await get_response(request)
        observe(request, response, started)
        return response


class DatabaseUnavailableMiddleware:
    """A view that met a busy pool or a database that is down answers 503 `database_busy` /
    `database_unavailable` with Retry-After, never a 500: for the plain async views (runs over
    HTTP, streams, the widgets' public API), whose errors DRF's handler never sees. What a
    middleware raises is answered the same way by handler500 (exception_handler.server_error)."""

    sync_capable = True
    async_capable = True

    def __init__(self, get_response: Callable[[HttpRequest], Any]) -> None:
        self.get_response = get_response
        if iscoroutinefunction(get_response):
            markcoroutinefunction(self)

    def __call__(self, request: HttpRequest) -> Any:
        return self.get_response(request)

    def process_exception(self, request: HttpRequest, exception: Exception) -> HttpResponseBase | None:
        unavailable = database_error(exception)
        if unavailable is None:
            return None
        logger.warning("%s %s: %s (%s)", request.method, request.path, unavailable.code, exception)
        return database_unavailable_response(unavailable)
