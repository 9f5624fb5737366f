"""Model clients, built once and shared.

A new HTTP client loads the CA bundle (~60 ms here) and a ChatOpenAI left to itself builds two of
them; even with shared HTTP clients a ChatOpenAI costs ~1.5 ms to validate. So: one sync HTTP
client per process and one async HTTP client per event loop serve every endpoint (the SDK sends
each request with the endpoint's own timeouts, and connections to a model server stay alive
between runs), and finished ChatOpenAI objects are kept per event loop, keyed by everything they
were built from. LangChain chat models hold no per-call state, so concurrent runs share them.
"""

from __future__ import annotations

import asyncio
import threading
import weakref
from collections import OrderedDict
from collections.abc import Callable, Hashable
from dataclasses import dataclass, field

import openai
from langchain_openai import ChatOpenAI

MODELS_PER_LOOP = 256

Build = Callable[[openai.DefaultHttpxClient, openai.DefaultAsyncHttpxClient | None], ChatOpenAI]


@dataclass
class _LoopClients:
    http: openai.DefaultAsyncHttpxClient
    models: OrderedDict[Hashable, ChatOpenAI] = field(default_factory=OrderedDict)


_sync_http: openai.DefaultHttpxClient | None = None
_sync_http_lock = threading.Lock()
_per_loop: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, _LoopClients] = weakref.WeakKeyDictionary()


def sync_http_client() -> openai.DefaultHttpxClient:
    global _sync_http  # noqa: PLW0603  (a process-wide cache, built once)
    with _sync_http_lock:
        if _sync_http is None:
            _sync_http = openai.DefaultHttpxClient()
        return _sync_http


def shared_chat_model(key: Hashable, build: Build) -> ChatOpenAI:
    """The model built by `build(sync_http, async_http)` for `key`, reused within this event loop."""
    try:
        loop = asyncio.get_running_loop()
    except RuntimeError:  # no event loop (a sync caller): nothing to share with
        return build(sync_http_client(), None)
    clients = _per_loop.get(loop)
    if clients is None:
        clients = _per_loop[loop] = _LoopClients(http=openai.DefaultAsyncHttpxClient())
    model = clients.models.get(key)
    if model is not None:
        clients.models.move_to_end(key)
        return model
    model = build(sync_http_client(), clients.http)
    clients.models[key] = model
    if len(clients.models) > MODELS_PER_LOOP:
        clients.models.popitem(last=False)
    return model
