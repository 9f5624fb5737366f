"""Model clients, built once and shared.

A new HTTP client loads the CA bundle (~60 ms here), so one sync httpx client per process and one
`HttpPool` per event loop serve every endpoint: each request carries its endpoint's own
timeouts, and connections to a model server stay alive between runs. Finished chat models are
kept per event loop, keyed by everything they were built from; LangChain chat models hold no
per-call state, so concurrent runs share them.
"""

from __future__ import annotations

import asyncio
import threading
from collections import OrderedDict
from collections.abc import Callable, Hashable
from dataclasses import dataclass, field

import httpx
from django.conf import settings
from langchain_core.language_models import BaseChatModel

from apps.serving.httpstream import KEEPALIVE_S, HttpPool

MODELS_PER_LOOP = 256
# Hundreds of concurrent streams go to one model server: a default of 100 connections per client
# would queue the rest.
LIMITS = httpx.Limits(max_connections=4096, max_keepalive_connections=512, keepalive_expiry=60)

Build = Callable[[httpx.Client, HttpPool | None], BaseChatModel]


@dataclass
class _LoopClients:
    http: HttpPool
    models: OrderedDict[Hashable, BaseChatModel] = field(default_factory=OrderedDict)


_sync_http: httpx.Client | None = None
_sync_http_lock = threading.Lock()
# Keyed by loop (the pool's connections refer to their loop, so a weak key would never die); the
# pools of closed loops (tests run many) are dropped on the next call.
_per_loop: dict[asyncio.AbstractEventLoop, _LoopClients] = {}


def sync_http_client() -> httpx.Client:
    global _sync_http  # noqa: PLW0603  (a process-wide cache, built once)
    with _sync_http_lock:
        if _sync_http is None:
            _sync_http = httpx.Client(limits=LIMITS)
        return _sync_http


def async_http_client() -> HttpPool:
    """This event loop's shared connection pool (call from a coroutine)."""
    return _loop_clients(asyncio.get_running_loop()).http


def _loop_clients(loop: asyncio.AbstractEventLoop) -> _LoopClients:
    clients = _per_loop.get(loop)
    if clients is None:
        for closed in [old for old in _per_loop if old.is_closed()]:
            _per_loop.pop(closed).http.close()
        pool = HttpPool(
            keepalive_s=KEEPALIVE_S,
            pace_s=settings.STREAM_PACE_MS / 1000,
            pace_streams=settings.STREAM_PACE_STREAMS,
            pace_longest_s=settings.STREAM_PACE_LOAD_MS / 1000,
            relay_text=settings.STREAM_RELAY,
        )
        clients = _per_loop[loop] = _LoopClients(http=pool)
    return clients


def shared_chat_model(key: Hashable, build: Build) -> BaseChatModel:
    """The model built by `build(sync_http, async_http)` for `key`, reused within this event loop."""
    try:
        loop = asyncio.get_running_loop()
    except RuntimeError:  # no event loop (a sync caller): nothing to share with
        return build(sync_http_client(), None)
    clients = _loop_clients(loop)
    model = clients.models.get(key)
    if model is not None:
        clients.models.move_to_end(key)
        return model
    model = build(sync_http_client(), clients.http)
    clients.models[key] = model
    if len(clients.models) > MODELS_PER_LOOP:
        clients.models.popitem(last=False)
    return model
