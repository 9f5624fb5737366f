"""The base of Trellis's own middlewares: one class serves a sync stack (tests, WSGI) and an async
one (uvicorn) without a thread hop; a subclass writes `__call__` for the sync path and `_acall`
for the async one, and `__call__` hands over to `_acall` when the stack is async."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from asgiref.sync import iscoroutinefunction, markcoroutinefunction
from django.http import HttpRequest


class HybridMiddleware:
    sync_capable = True
    async_capable = True

    def __init__(self, get_response: Callable[[HttpRequest], Any]) -> None:
        self.get_response = get_response
        self.is_async = iscoroutinefunction(get_response)
        if self.is_async:
            markcoroutinefunction(self)

    def __call__(self, request: HttpRequest) -> Any:
        raise NotImplementedError  # each middleware's own
