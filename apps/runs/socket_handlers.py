"""Message types of higher apps on the app's one socket (apps.evaluation's `evaluation.subscribe`),
registered in their AppConfig.ready; apps/runs/consumers.py hands such messages over and never
imports those apps (the layers contract)."""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Iterable
from typing import Any

SocketHandler = Callable[[Any, dict[str, Any]], Awaitable[None]]
SOCKET_HANDLERS: dict[str, SocketHandler] = {}


def socket_handler_register(types: Iterable[str], handler: SocketHandler) -> None:
    for kind in types:
        SOCKET_HANDLERS[kind] = handler
