"""Model clients, built once and shared.

A new HTTP client loads the CA bundle (~60 ms here), so one sync httpx client per process and one
aiohttp session per event loop serve every endpoint: each request carries its endpoint's own
timeouts, and connections to a model server stay alive between runs. Finished chat models are
kept per event loop, keyed by everything they were built from; LangChain chat models hold no
per-call state, so concurrent runs share them.
"""

from __future__ import annotations

import asyncio
import atexit
import contextlib
import threading
from collections import OrderedDict
from collections.abc import Callable, Hashable
from dataclasses import dataclass, field

import aiohttp
import httpx
from langchain_core.language_models import BaseChatModel

MODELS_PER_LOOP = 256
# Hundreds of concurrent streams go to one model server: a default of 100 connections per client
# would queue the rest.
LIMITS = httpx.Limits(max_connections=4096, max_keepalive_connections=512, keepalive_expiry=60)
MAX_CONNECTIONS = 4096
# Below the idle timeout of the servers Trellis talks to (uvicorn's and so vLLM's default is 5 s):
# a pooled connection the server has just closed would fail the next call on it.
KEEPALIVE_S = 4.0

Build = Callable[[httpx.Client, aiohttp.ClientSession | None], BaseChatModel]


@dataclass
class _LoopClients:
    http: aiohttp.ClientSession
    models: OrderedDict[Hashable, BaseChatModel] = field(default_factory=OrderedDict)


_sync_http: httpx.Client | None = None
_sync_http_lock = threading.Lock()
# Keyed by loop (the session refers to its loop, so a weak key would never die); the sessions of
# closed loops (tests run many) are dropped on the next call.
_per_loop: dict[asyncio.AbstractEventLoop, _LoopClients] = {}


def sync_http_client() -> httpx.Client:
    global _sync_http  # noqa: PLW0603  (a process-wide cache, built once)
    with _sync_http_lock:
        if _sync_http is None:
            _sync_http = httpx.Client(limits=LIMITS)
        return _sync_http


def async_http_client() -> aiohttp.ClientSession:
    """This event loop's shared session (call from a coroutine)."""
    return _loop_clients(asyncio.get_running_loop()).http


def _loop_clients(loop: asyncio.AbstractEventLoop) -> _LoopClients:
    clients = _per_loop.get(loop)
    if clients is None:
        for closed in [old for old in _per_loop if old.is_closed()]:
            _forget(_per_loop.pop(closed).http)
        connector = aiohttp.TCPConnector(limit=MAX_CONNECTIONS, limit_per_host=0, keepalive_timeout=KEEPALIVE_S)
        clients = _per_loop[loop] = _LoopClients(http=aiohttp.ClientSession(connector=connector))
    return clients


@atexit.register
def _forget_all() -> None:
    while _per_loop:
        _forget(_per_loop.popitem()[1].http)


def _forget(session: aiohttp.ClientSession) -> None:
    """A closed loop's session: its sockets went with the loop; mark both closed, no warnings."""
    connector = session.connector
    session.detach()
    if connector is not None:
        with contextlib.suppress(Exception):
            connector._close()  # the synchronous half of close(); there is no loop left to await on


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
